"""Lambda functions (one per spec entry), their schedules, and the Step Functions workflows."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from orchestre import policy

from . import nag
from .auth import Identity
from .naming import nag_ref, pascal
from .storage import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS, EVENT_SOURCE, Storage

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
FUNCTION_EXCLUDES = ["__pycache__", "*.pyc", ".pytest_cache", "tests"]
# .built: the Makefile's stamp. The layers' bytecode is shipped (compiled for Lambda's Python by
# `make layers`): without it every cold start compiles pydantic, Powertools and the domain again.
LAYER_EXCLUDES = [".built"]
# A function invoked by an event rule (asynchronously): Lambda retries a failed invocation twice,
# then sends the event to the event-failures queue.
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = Duration.hours(6)
# Lambda quotas: layers per function, and function code plus all its layers, unzipped.
MAX_LAYERS_PER_FUNCTION = 5
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# Queue event sources: Lambda waits up to this long to fill a batch (fewer, fuller invocations of
# the consumer, hence fewer concurrent environments and cold starts during a burst of EDI drops).
MAX_BATCHING_WINDOW = Duration.seconds(5)
METRICS_NAMESPACE = "Orchestre"
LOG_LEVEL = "INFO"

STATE_MACHINE_TYPES = {"STANDARD": sfn.StateMachineType.STANDARD, "EXPRESS": sfn.StateMachineType.EXPRESS}


def subscriber_forwarders(spec: Any) -> set[str]:
    """Functions that send to subscribers' queues (in other accounts): their role ARNs are outputs."""
    return {f.name for f in spec.FUNCTIONS
            if any(getattr(a, "subscriber_queues", False) for a in getattr(f, "access", ()))}


class CdkArns:
    """The spec's resources as CloudFormation references, for orchestre.policy (and how cdk-nag
    names each one in its IAM5 findings, to acknowledge the prefixes of object keys by name)."""

    def __init__(self, stack: Stack, storage: Storage, identity: Identity, state_machine_arns: dict[str, str]):
        self.stack, self.storage, self.identity, self.machines = stack, storage, identity, state_machine_arns
        self._names: dict[str, tuple[str, str]] = {}  # resolved token string -> (nag name, reason)

    def _named(self, arn: str, nag_name: str, reason: str) -> str:
        self._names[arn] = (nag_name, reason)
        return arn

    def table(self, key: str) -> str:
        table = self.storage.tables[key]
        return self._named(table.table_arn, nag_ref(table, "Arn"), nag.GSI_RESOURCE)

    def bucket(self, key: str) -> str:
        bucket = self.storage.buckets[key]
        return self._named(bucket.bucket_arn, nag_ref(bucket, "Arn"), nag.OBJECTS_RESOURCE)

    def queue(self, key: str) -> str:
        return self.storage.queues[key].queue_arn

    def bus(self) -> str:
        return self.storage.event_bus.event_bus_arn

    def state_machine(self, key: str) -> str:
        return self.machines[key]

    def user_pool(self) -> str:
        return self.identity.user_pool.user_pool_arn

    def email_identity(self) -> str:
        return self.stack.format_arn(service="ses", resource="identity", resource_name=self.identity.sender_domain)

    def account(self) -> str:
        return self.stack.account

    def partition(self) -> str:
        return self.stack.partition

    def nag_name(self, resource: str) -> str | None:
        """``<Bucket.Arn>/exports/*`` for a resource made of a named ARN and a suffix."""
        if resource.startswith("arn:") and not Token.is_unresolved(resource):
            return resource
        for arn, (name, _) in self._names.items():
            if resource.startswith(arn):
                return name + resource[len(arn):]
        if "sqs:*:*:*" in resource:  # arn:${Partition}:sqs:*:*:*
            partition = "<AWS::Partition>" if Token.is_unresolved(self.stack.partition) else self.stack.partition
            return f"arn:{partition}:sqs:*:*:*"
        return None

    def reason(self, resource: str) -> str:
        if "sqs:*:*:*" in resource:
            return nag.SUBSCRIBER_QUEUES
        return next((why for arn, (_, why) in self._names.items() if resource.startswith(arn)), nag.OBJECTS_RESOURCE)

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def tree_size(path: Path, exclude: tuple[str, ...] = ("__pycache__",)) -> int:
    """Bytes of the regular files under ``path`` (what Lambda counts once unzipped)."""
    total = 0
    for f in Path(path).rglob("*"):
        if f.is_file() and not f.is_symlink() and not any(part in exclude for part in f.parts):
            total += f.stat().st_size
    return total


def check_function_layers(spec: Any, layer_sizes: dict[str, int], code_sizes: dict[str, int]) -> None:
    """Each function names known layers, within Lambda's count and unzipped size quotas."""
    for f in spec.FUNCTIONS:
        unknown = [k for k in f.layers if k not in layer_sizes]
        if unknown:
            raise ValueError(f"function {f.name!r}: unknown layers {unknown} (LAYERS: {sorted(layer_sizes)})")
        if len(set(f.layers)) != len(f.layers):
            raise ValueError(f"function {f.name!r}: a layer is listed twice in {f.layers}")
        if len(f.layers) > MAX_LAYERS_PER_FUNCTION:
            raise ValueError(
                f"function {f.name!r}: {len(f.layers)} layers, Lambda allows {MAX_LAYERS_PER_FUNCTION}"
            )
        size = code_sizes[f.name] + sum(layer_sizes[k] for k in f.layers)
        if size > MAX_UNZIPPED_BYTES:
            raise ValueError(
                f"function {f.name!r}: code and layers {list(f.layers)} weigh {size / 2**20:.0f} MiB "
                f"unzipped, over Lambda's {MAX_UNZIPPED_BYTES // 2**20} MiB"
            )


class Compute(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Any,
        layers_dir: Path,
        functions_root: Path,
        workflows_root: Path,
        storage: Storage,
        identity: Identity,
        auto_confirm_users: bool = False,
        mfa_required_for_managers: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.schedules: dict[str, events.Rule] = {}
        self.state_machines: dict[str, sfn.StateMachine] = {}

        # Checked before any asset is staged: a wrong spec fails fast, with the reason.
        for machine in spec.STATE_MACHINES:
            machine_type = getattr(machine, "type", "STANDARD")
            if machine_type not in STATE_MACHINE_TYPES:
                raise ValueError(
                    f"state machine {machine.key!r}: type {machine_type!r} is not one of "
                    f"{sorted(STATE_MACHINE_TYPES)}"
                )
        layer_dirs = {layer.key: Path(layers_dir) / layer.key for layer in spec.LAYERS}
        code_dirs = {f.name: Path(functions_root) / f.name for f in spec.FUNCTIONS}
        for f in spec.FUNCTIONS:
            if not code_dirs[f.name].is_dir():
                raise FileNotFoundError(f"function {f.name!r}: no code folder {code_dirs[f.name]}")
        check_function_layers(
            spec,
            {key: tree_size(path, tuple(LAYER_EXCLUDES)) for key, path in layer_dirs.items()},
            {name: tree_size(path, tuple(FUNCTION_EXCLUDES)) for name, path in code_dirs.items()},
        )

        # One layer version per spec layer; each function carries the ones it names, in order.
        self.layers: dict[str, lambda_.LayerVersion] = {}
        for layer in spec.LAYERS:
            contents = f"requirements/{layer.requirements}"
            if layer.include_domain:
                contents = f"orchestre domain package and {contents}"
            self.layers[layer.key] = lambda_.LayerVersion(
                self,
                f"{pascal(layer.key)}Layer",
                code=lambda_.Code.from_asset(str(layer_dirs[layer.key]), exclude=LAYER_EXCLUDES),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description=f"{layer.key} layer: {contents}",
            )

        # State machine ARNs are built from fixed names rather than referenced, so that a
        # function may start a workflow that invokes that same function (no dependency cycle).
        state_machine_names = {
            m.key: f"{stack.stack_name}-{pascal(m.key)}" for m in spec.STATE_MACHINES
        }
        state_machine_arns = {
            key: stack.format_arn(
                service="states",
                resource="stateMachine",
                resource_name=name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for key, name in state_machine_names.items()
        }
        self.state_machine_arns = state_machine_arns

        environment = {t.env: storage.tables[t.key].table_name for t in spec.TABLES}
        environment.update({b.env: storage.buckets[b.key].bucket_name for b in spec.BUCKETS})
        environment.update({q.env: storage.queues[q.key].queue_url for q in spec.QUEUES})
        environment.update({m.env: state_machine_arns[m.key] for m in spec.STATE_MACHINES})
        environment[spec.EVENT_FAILURES_ENV] = storage.event_failures.queue_url
        environment.update(
            {
                spec.EVENT_BUS_ENV: storage.event_bus.event_bus_name,
                spec.USER_POOL_ENV: identity.user_pool.user_pool_id,
                spec.USER_POOL_CLIENT_ENV: identity.client.user_pool_client_id,
                spec.SES_SENDER_ENV: identity.sender,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "LOG_LEVEL": LOG_LEVEL,
                "AUTO_CONFIRM_USERS": "true" if auto_confirm_users else "false",
                "MFA_REQUIRED_FOR_MANAGERS": "true" if mfa_required_for_managers else "false",
            }
        )

        for f in spec.FUNCTIONS:
            code_dir = code_dirs[f.name]
            module = f.handler.rpartition(".")[0]
            if not any((code_dir / p).is_file() for p in (f"{module}.py", f"{module}/__init__.py")):
                warnings.warn(
                    f"function {f.name!r}: no {module}.py in {code_dir} for handler "
                    f"{f.handler!r}; the template synthesizes but the function cannot run",
                    stacklevel=2,
                )
            name = pascal(f.name)
            log_group = logs.LogGroup(self, f"{name}LogGroup", retention=LOG_RETENTION)
            role = iam.Role(
                self,
                f"{name}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"Orchestre function {f.name}",
            )
            # Instead of the AWSLambdaBasicExecutionRole managed policy: write to its own log group.
            log_group.grant_write(role)
            fn = lambda_.Function(
                self,
                f"{name}Function",
                description=f.description,
                runtime=RUNTIME,
                architecture=ARCHITECTURE,
                handler=f.handler,
                code=lambda_.Code.from_asset(str(code_dir), exclude=FUNCTION_EXCLUDES),
                layers=[self.layers[key] for key in f.layers],
                memory_size=f.memory_mb,
                timeout=Duration.seconds(f.timeout_s),
                environment={**environment, "POWERTOOLS_SERVICE_NAME": f.name},
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
                role=role,
            )
            self._grant(fn, role, f, spec, storage, identity, state_machine_arns)
            nag.acknowledge(fn, "AwsSolutions-L1", nag.LAMBDA_RUNTIME)
            self.functions[f.name] = fn
            self.roles[f.name] = role
            self.log_groups[f.name] = log_group

            if f.schedule:
                self.schedules[f.name] = events.Rule(
                    self,
                    f"{name}Schedule",
                    description=f"Runs {f.name} on {f.schedule}",
                    schedule=events.Schedule.expression(f.schedule),
                    targets=[
                        targets.LambdaFunction(
                            fn, retry_attempts=2, max_event_age=Duration.hours(1)
                        )
                    ],
                )

        self.event_sources: dict[str, event_sources.SqsEventSource] = {}
        for q in spec.QUEUES:
            if q.consumer is not None:
                self.event_sources[q.key] = self._consume(q, spec, storage)
        self.stream_sources: dict[tuple[str, str], event_sources.DynamoEventSource] = {}
        for stream in getattr(spec, "STREAMS", ()):
            self.stream_sources[stream.table, stream.function] = self._read_stream(stream, storage)

        for machine in spec.STATE_MACHINES:
            self.state_machines[machine.key] = self._state_machine(
                machine, Path(workflows_root), state_machine_names[machine.key]
            )

        self.event_rules: dict[str, events.Rule] = {}
        self._async_configured: set[str] = set()
        for rule in getattr(spec, "EVENT_RULES", ()):
            self.event_rules[rule.key] = self._event_rule(rule, storage, getattr(spec, "EVENT_SOURCE", EVENT_SOURCE))

    def _event_rule(self, rule: Any, storage: Storage, source: str) -> events.Rule:
        """Events of the bus with one of the rule's detail types go to its target.

        - A queue: the CDK adds the queue policy statements letting EventBridge send from this
          rule only (aws:SourceArn), to the queue and to its dead-letter queue, where
          undeliverable events land (already alarmed; a redrive moves them on to the queue).
        - A function: invoked asynchronously with the event; a failed invocation is retried
          twice by Lambda, then goes to the event-failures queue, as do events EventBridge could
          not deliver.
        - A state machine: an execution per event, with the event's ``detail`` as input
          (EventBridge's own role may start that workflow only); undeliverable events go to the
          event-failures queue.
        """
        if not rule.detail_types:
            raise ValueError(f"event rule {rule.key!r}: no detail types (it would match every event)")
        kind, key = rule.target
        retry = {"max_event_age": EVENT_MAX_AGE, "retry_attempts": EVENT_RETRY_ATTEMPTS}
        if kind == "queue":
            if key not in storage.queues:
                raise ValueError(f"event rule {rule.key!r}: unknown queue {key!r}")
            target: events.IRuleTarget = targets.SqsQueue(
                storage.queues[key], dead_letter_queue=storage.dead_letter_queues[key], **retry
            )
        elif kind == "function":
            if key not in self.functions:
                raise ValueError(f"event rule {rule.key!r}: unknown function {key!r}")
            fn = self.functions[key]
            if key not in self._async_configured:  # once per function, however many rules invoke it
                fn.configure_async_invoke(
                    retry_attempts=ASYNC_RETRY_ATTEMPTS,
                    max_event_age=ASYNC_MAX_EVENT_AGE,
                    on_failure=destinations.SqsDestination(storage.event_failures),
                )
                self._async_configured.add(key)
            target = targets.LambdaFunction(fn, dead_letter_queue=storage.event_failures, **retry)
        else:
            if key not in self.state_machines:
                raise ValueError(f"event rule {rule.key!r}: unknown state machine {key!r}")
            target = targets.SfnStateMachine(
                self.state_machines[key],
                input=events.RuleTargetInput.from_event_path("$.detail"),
                dead_letter_queue=storage.event_failures,
                **retry,
            )
        return events.Rule(
            self,
            f"{pascal(rule.key)}EventRule",
            event_bus=storage.event_bus,
            description=f"{', '.join(rule.detail_types)} events to the {key} {kind.replace('_', ' ')}",
            event_pattern=events.EventPattern(source=[source], detail_type=list(rule.detail_types)),
            targets=[target],
        )

    def _grant(
        self,
        fn: lambda_.Function,
        role: iam.Role,
        f: Any,
        spec: Any,
        storage: Storage,
        identity: Identity,
        state_machine_arns: dict[str, str],
    ) -> None:
        """The function's declared access, exactly (orchestre.policy: the statements the local platform
        enforces too). Its log group, X-Ray and what the CDK adds for its event sources come apart."""
        arns = CdkArns(Stack.of(self), storage, identity, state_machine_arns)
        acks = {"AwsSolutions-IAM5[Resource::*]": nag.XRAY_RESOURCE}
        for statement in policy.statements(f, arns):
            role.add_to_principal_policy(iam.PolicyStatement.from_json(statement))
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                key = arns.nag_name(resource)
                if key and key.endswith("*"):
                    acks[f"AwsSolutions-IAM5[Resource::{key}]"] = arns.reason(resource)
        if any(s["Resource"] == "*" for s in policy.statements(f, arns)):
            acks["AwsSolutions-IAM5[Resource::*]"] = nag.XRAY_RESOURCE + " " + nag.TASK_TOKENS
        nag.acknowledge_all(role, acks)

    def _read_stream(self, stream: Any, storage: Storage) -> event_sources.DynamoEventSource:
        """A table's stream read by a function, in order, only the records its filter matches; a failing
        record is retried with those after it, then the batch is described in the event-failures queue."""
        if stream.function not in self.functions:
            raise ValueError(f"stream of {stream.table!r}: {stream.function!r} is not a function of the spec")
        table = storage.tables.get(stream.table)
        if table is None or table.table_stream_arn is None:
            raise ValueError(f"stream of {stream.table!r}: the table has no stream (Table.stream)")
        source = event_sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=stream.batch_size,
            bisect_batch_on_error=False,  # the function reports the first failed record itself
            report_batch_item_failures=True,
            retry_attempts=stream.max_attempts - 1,
            on_failure=event_sources.SqsDlq(storage.event_failures),
            filters=[lambda_.FilterCriteria.filter(stream.filter)],
        )
        self.functions[stream.function].add_event_source(source)  # also grants reading the stream
        return source

    def _consume(self, q: Any, spec: Any, storage: Storage) -> event_sources.SqsEventSource:
        """The queue's consumer invoked with batches; failed records alone go back to the queue."""
        if q.consumer not in self.functions:
            raise ValueError(f"queue {q.key!r}: consumer {q.consumer!r} is not a function of the spec")
        consumer = next(f for f in spec.FUNCTIONS if f.name == q.consumer)
        # Lambda refuses the event source mapping otherwise (AWS recommends 6x the timeout,
        # which tests/test_infra.py checks).
        if q.visibility_timeout_s < consumer.timeout_s:
            raise ValueError(
                f"queue {q.key!r}: visibility timeout {q.visibility_timeout_s}s is shorter than "
                f"the timeout of its consumer {q.consumer!r} ({consumer.timeout_s}s)"
            )
        source = event_sources.SqsEventSource(
            storage.queues[q.key],
            batch_size=q.batch_size,
            max_batching_window=MAX_BATCHING_WINDOW,
            report_batch_item_failures=True,
        )
        self.functions[q.consumer].add_event_source(source)  # also grants consume to the consumer
        return source

    def _state_machine(self, machine: Any, workflows_root: Path, name: str) -> sfn.StateMachine:
        path = workflows_root / machine.definition
        text = path.read_text(encoding="utf-8")
        json.loads(text)  # fail here, not at deployment, on a malformed definition
        used = set(PLACEHOLDER.findall(text))
        missing = used - set(machine.functions)
        if missing:
            raise ValueError(f"{path}: placeholders without a function: {sorted(missing)}")
        unknown = set(machine.functions.values()) - set(self.functions)
        if unknown:
            raise ValueError(f"state machine {machine.key!r}: unknown functions {sorted(unknown)}")

        node_id = pascal(machine.key)
        machine_type = getattr(machine, "type", "STANDARD")
        log_group = logs.LogGroup(self, f"{node_id}StateMachineLogGroup", retention=LOG_RETENTION)
        invoked = [self.functions[fname] for fname in machine.functions.values()]
        # Executions carry invoices and personal data: never their input and output in the logs.
        # STANDARD: every event (the service keeps the execution history anyway). EXPRESS (one
        # execution per invoice, no history kept by the service): errors only; failed and
        # timed-out executions raise alarms, and X-Ray traces every execution.
        express = machine_type == "EXPRESS"
        state_machine = sfn.StateMachine(
            self,
            f"{node_id}StateMachine",
            state_machine_name=name,
            state_machine_type=STATE_MACHINE_TYPES[machine_type],
            definition_body=sfn.DefinitionBody.from_string(text),  # inline: reviewable in the template
            definition_substitutions={
                placeholder: self.functions[fname].function_arn
                for placeholder, fname in machine.functions.items()
            },
            logs=sfn.LogOptions(
                destination=log_group,
                level=sfn.LogLevel.ERROR if express else sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
            tracing_enabled=True,
        )
        if express:
            nag.acknowledge(state_machine, "AwsSolutions-SF1", nag.EXPRESS_LOG_LEVEL)
        if invoked:
            # Unqualified ARNs only (what the substitution inserts): no "<arn>:*" wildcard.
            state_machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=sorted({fn.function_arn for fn in invoked}, key=str),
                )
            )
        nag.acknowledge(
            state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions log delivery (logs:CreateLogDelivery, PutResourcePolicy, ...) and X-Ray "
            "tracing do not support resource-level permissions; AWS requires Resource '*'.",
        )
        return state_machine
