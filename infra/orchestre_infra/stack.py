"""OrchestreStack: every AWS resource of the platform, generated from the spec.

The spec is ``orchestre.platform`` (shared/orchestre/platform.py): tables, buckets, queues,
functions with their routes and schedules, and workflows are looped over, never listed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from .api import Api, route_methods
from .auth import Identity
from .compute import LOG_RETENTION, Compute, subscriber_forwarders
from .naming import pascal
from .observability import Observability
from .storage import Storage

DEFAULT_SENDER_DOMAIN = "orchestre.example"


def _flag(value: Any) -> bool:
    """A boolean context value: true in cdk.json, or the string "true" from `cdk -c key=true`."""
    return str(value).lower() == "true"


class OrchestreStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layers_dir: str | Path,
        functions_root: str | Path | None = None,
        workflows_root: str | Path | None = None,
        spec: Any = None,
        sender_domain: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("description", "Orchestre: serverless public e-invoicing platform")
        super().__init__(scope, construct_id, **kwargs)
        if spec is None:
            from orchestre import platform as spec
        layers_dir = Path(layers_dir)
        for layer in spec.LAYERS:
            content = layers_dir / layer.key / "python" / ("orchestre" if layer.include_domain else "")
            if not content.is_dir():
                raise FileNotFoundError(
                    f"Lambda layer {layer.key!r} not found: {content} (run `make layers`)"
                )
        functions_root = Path(functions_root or Path(spec.REPO_ROOT) / "functions")
        workflows_root = Path(workflows_root or Path(spec.REPO_ROOT) / "workflows")
        sender_domain = (
            sender_domain or self.node.try_get_context("sender_domain") or DEFAULT_SENDER_DOMAIN
        )
        # Test stages only: confirm sign-ups without the emailed code (-c auto_confirm_users=true).
        auto_confirm_users = _flag(self.node.try_get_context("auto_confirm_users"))
        # Structure managers must sign in with a second factor (TOTP); operators can change it at run time.
        mfa_flag = self.node.try_get_context("mfa_required_for_managers")
        mfa_required = True if mfa_flag is None else _flag(mfa_flag)

        self.storage = Storage(self, "Storage", spec=spec)
        self.identity = Identity(
            self,
            "Identity",
            sender_domain=sender_domain,
            cognito_email_via_ses=_flag(self.node.try_get_context("cognito_email_via_ses")),
            groups=tuple(getattr(spec, "USER_POOL_GROUPS", ())),
        )
        self.compute = Compute(
            self,
            "Compute",
            spec=spec,
            layers_dir=layers_dir,
            functions_root=functions_root,
            workflows_root=workflows_root,
            storage=self.storage,
            identity=self.identity,
            auto_confirm_users=auto_confirm_users,
            mfa_required_for_managers=mfa_required,
        )
        self.api = (
            Api(
                self,
                "Api",
                spec=spec,
                functions=self.compute.functions,
                user_pool=self.identity.user_pool,
                log_retention=LOG_RETENTION,
            )
            if route_methods(spec)
            else None
        )
        self.observability = Observability(
            self,
            "Observability",
            functions=self.compute.functions,
            api=self.api,
            state_machines=self.compute.state_machines,
            dead_letter_queues=self.storage.dead_letter_queues,
        )
        self._outputs(spec)

    def _outputs(self, spec: Any) -> None:
        if self.api is not None:
            CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="REST API base URL")
        CfnOutput(self, "UserPoolId", value=self.identity.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.identity.client.user_pool_client_id)
        CfnOutput(self, "SesSender", value=self.identity.sender)
        CfnOutput(self, "EventBusName", value=self.storage.event_bus.event_bus_name)
        CfnOutput(self, "AlarmTopicArn", value=self.observability.topic.topic_arn)
        for t in spec.TABLES:
            CfnOutput(self, f"{pascal(t.key)}TableName", value=self.storage.tables[t.key].table_name)
        for b in spec.BUCKETS:
            CfnOutput(
                self, f"{pascal(b.key)}BucketName", value=self.storage.buckets[b.key].bucket_name
            )
        for q in spec.QUEUES:
            CfnOutput(self, f"{pascal(q.key)}QueueUrl", value=self.storage.queues[q.key].queue_url)
        for m in spec.STATE_MACHINES:
            CfnOutput(
                self,
                f"{pascal(m.key)}StateMachineArn",
                value=self.compute.state_machines[m.key].state_machine_arn,
            )
        for name in sorted(subscriber_forwarders(spec) & set(self.compute.roles)):
            CfnOutput(
                self,
                f"{pascal(name)}RoleArn",
                value=self.compute.roles[name].role_arn,
                description=f"Role of the {name} function: subscribers' SQS queue policies must "
                "allow it sqs:SendMessage",
            )
