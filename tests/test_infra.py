"""The CDK app: synthesized once, then checked against the spec, cdk-nag and cfn-lint.

Expectations are derived from ``orchestre.platform`` (the spec), so adding a table, a
bucket, a layer, a function, a route, a queue (with its consumer), a bucket notification, an
event rule or a workflow there is checked here without edits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import types
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO / "infra", REPO / "shared"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from aws_cdk import aws_cognito as cognito  # noqa: E402
from aws_cdk import aws_iam as iam  # noqa: E402
from aws_cdk import aws_s3 as s3  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402
from constructs import Construct  # noqa: E402
from orchestre import platform  # noqa: E402
from orchestre_infra import build_app  # noqa: E402
from orchestre_infra.api import STAGE_NAME  # noqa: E402
from orchestre_infra.compute import (  # noqa: E402
    MAX_UNZIPPED_BYTES,
    METRICS_NAMESPACE,
    PLACEHOLDER,
)
from orchestre_infra.observability import METRIC_ALARMS  # noqa: E402
from orchestre_infra.storage import EVENT_SOURCE  # noqa: E402
from orchestre_infra.naming import logical_id, pascal  # noqa: E402

CFN_LINT_REGIONS = ["eu-west-3"]  # Paris
# cfn-lint findings tolerated, each with its reason. Everything else (errors and warnings) fails.
CFN_LINT_IGNORED = {
    # lambda.Function and sfn.StateMachine always add DependsOn [role, role default policy]
    # so that the policy exists before first use; the role is also referenced by GetAtt,
    # which makes that half of the DependsOn redundant. Likewise Custom::S3BucketNotifications
    # depends on the destination queue construct so as to wait for its queue policy (S3 checks
    # it can send when the configuration is written); the queue half is redundant with the
    # GetAtt of its ARN. Harmless, not controllable from the L2s.
    "W3005": lambda match: "enforced by a 'GetAtt'" in match.message
    and (
        match.message.endswith(("/Properties/Role'", "/Properties/RoleArn'"))
        or (
            "/Properties/NotificationConfiguration/QueueConfigurations/" in match.message
            and match.message.endswith("/QueueArn'")
        )
    ),
}


# -- fixtures --------------------------------------------------------------------------------
def _layers_dir(dest: Path, layers) -> Path:
    """Layer folders like `make layers` makes, without pip: <key>/python/ for every spec layer,
    the domain package where the layer ships it, a placeholder file otherwise."""
    for layer in layers:
        python = dest / layer.key / "python"
        if layer.include_domain:
            shutil.copytree(
                REPO / "shared" / "orchestre",
                python / "orchestre",
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        else:
            python.mkdir(parents=True)
            (python / "PLACEHOLDER.txt").write_text(f"{layer.key}: {layer.requirements}\n")
    return dest


def _functions_root(dest: Path, functions) -> Path:
    """The real function folders where they have an app.py, a stub handler otherwise."""
    for f in functions:
        real = REPO / "functions" / f.name
        target = dest / f.name
        if (real / "app.py").is_file():
            shutil.copytree(real, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.mkdir(parents=True)
            (target / "app.py").write_text("def handler(event, context):\n    return {}\n")
    return dest


def _synthesize(tmp: Path, **kwargs) -> types.SimpleNamespace:
    """Build the app exactly as infra/app.py does (cdk-nag plugin registered) and synthesize."""
    spec = kwargs.get("spec", platform)
    app, stack = build_app(
        layers_dir=_layers_dir(tmp / "layers", spec.LAYERS),
        functions_root=_functions_root(tmp / "functions", spec.FUNCTIONS),
        outdir=tmp / "cdk.out",
        **kwargs,
    )
    # The same rules the plugin runs during synthesis, kept for a readable report.
    nag_report = AwsSolutionsChecks(verbose=True).validate_scope(app)
    try:
        template, error = Template.from_stack(stack), None
    except RuntimeError as exc:  # the validation plugin refused the synthesis
        template, error = None, exc
    return types.SimpleNamespace(
        app=app, stack=stack, template=template, synth_error=error, nag=nag_report, tmp=tmp
    )


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return _synthesize(tmp_path_factory.mktemp("infra"))


@pytest.fixture(scope="module")
def template(synth) -> Template:
    if synth.template is None:
        pytest.fail(f"synthesis failed ({synth.synth_error}); see test_cdk_nag_reports_nothing")
    return synth.template


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template.to_json()["Resources"]


def _of_type(resources: dict, cfn_type: str) -> dict:
    return {lid: r for lid, r in resources.items() if r["Type"] == cfn_type}


def _findings(report) -> list[str]:
    return [
        f"{v.severity} {v.rule_name}: {', '.join(r.construct_path for r in v.violating_resources)}"
        for v in report.violations
    ]


def _functions_by_name(resources: dict) -> dict[str, tuple[str, dict]]:
    """The spec's functions (not the CDK's own handlers, such as the bucket notifications one)."""
    out = {}
    for lid, r in _of_type(resources, "AWS::Lambda::Function").items():
        name = r["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        if name is not None:
            out[name] = (lid, r["Properties"])
    return out


def _spec_with(**changes) -> types.SimpleNamespace:
    """A copy of the spec's constants with some replaced."""
    spec = types.SimpleNamespace(**{n: getattr(platform, n) for n in dir(platform) if n.isupper()})
    for name, value in changes.items():
        setattr(spec, name, value)
    return spec


# -- cdk-nag and cfn-lint ------------------------------------------------------------------
def test_cdk_nag_reports_nothing(synth):
    """AwsSolutions: no unacknowledged error or warning, and the plugin let synthesis pass."""
    assert _findings(synth.nag) == []
    assert synth.nag.success
    assert synth.synth_error is None
    report = json.loads((synth.tmp / "cdk.out" / "validation-report.json").read_text())
    assert [p for p in report["pluginReports"] if p.get("violations")] == []


def test_cdk_nag_catches_a_broken_resource(synth):
    """The check is not vacuous: non-compliant resources added to the stack are reported,
    errors and warnings alike, and acknowledgements on other constructs do not hide them."""
    stack = synth.stack
    node_id = "DeliberatelyBrokenCanary"
    holder = Construct(stack, node_id)
    try:
        s3.CfnBucket(holder, "UnencryptedBucket")  # no logging, no TLS-only policy
        cognito.CfnUserPool(holder, "WeakUserPool")  # no MFA (a warning), no password policy
        role = iam.Role(holder, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
        report = AwsSolutionsChecks().validate_scope(stack)
    finally:
        stack.node.try_remove_child(node_id)
    found = {v.rule_name: v.severity for v in report.violations}
    for paths in (r.construct_path for v in report.violations for r in v.violating_resources):
        assert node_id in paths, f"a finding outside the canary: {paths}"
    assert found.get("AwsSolutions-S1") == "error"
    assert found.get("AwsSolutions-S10") == "error"
    assert found.get("AwsSolutions-COG2") == "warning"
    assert found.get("AwsSolutions-IAM5[Action::s3:*]") == "error"
    assert found.get("AwsSolutions-IAM5[Resource::*]") == "error"  # acknowledged elsewhere only


def _cfn_lint(template_json: dict) -> list[str]:
    from cfnlint.api import lint

    matches = lint(json.dumps(template_json), regions=CFN_LINT_REGIONS)
    return [
        f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path or []))})"
        for m in matches
        if not (m.rule.id in CFN_LINT_IGNORED and CFN_LINT_IGNORED[m.rule.id](m))
    ]


def test_cfn_lint_reports_nothing(template):
    assert _cfn_lint(template.to_json()) == []


# -- data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", platform.TABLES, ids=lambda t: t.key)
def test_table(template, table):
    key_schema = [{"AttributeName": table.pk, "KeyType": "HASH"}]
    if table.sk:
        key_schema.append({"AttributeName": table.sk, "KeyType": "RANGE"})
    gsis = [
        {
            "IndexName": i.name,
            "KeySchema": [
                {"AttributeName": i.pk, "KeyType": "HASH"},
                {"AttributeName": i.sk, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": i.projection},
        }
        for i in table.indexes
    ]
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "KeySchema": key_schema,
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "DeletionProtectionEnabled": True,
                "SSESpecification": {"SSEEnabled": True},
                "GlobalSecondaryIndexes": (
                    Match.array_equals(gsis) if gsis else Match.absent()
                ),
                "TimeToLiveSpecification": (
                    {"AttributeName": table.ttl_attribute, "Enabled": True}
                    if table.ttl_attribute
                    else Match.absent()
                ),
            },
        },
    )


def test_table_count(template):
    template.resource_count_is("AWS::DynamoDB::Table", len(platform.TABLES))


def test_buckets_encrypted_versioned_private_tls_only(resources):
    buckets = _of_type(resources, "AWS::S3::Bucket")
    # One per spec bucket plus the server access log bucket.
    assert len(buckets) == len(platform.BUCKETS) + 1
    policies = _of_type(resources, "AWS::S3::BucketPolicy").values()
    for lid, bucket in buckets.items():
        props = bucket["Properties"]
        assert bucket["DeletionPolicy"] == "Retain", lid
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert sse[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), lid
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, lid
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, lid
        tls_only = [
            st
            for p in policies
            if p["Properties"]["Bucket"] == {"Ref": lid}
            for st in p["Properties"]["PolicyDocument"]["Statement"]
            if st["Effect"] == "Deny"
            and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and st["Action"] == "s3:*"
        ]
        assert tls_only, f"{lid} has no TLS-only bucket policy"


def test_data_buckets_log_access_and_keep_invoices(resources):
    buckets = _of_type(resources, "AWS::S3::Bucket")
    data = {lid: b for lid, b in buckets.items() if "LoggingConfiguration" in b["Properties"]}
    assert len(data) == len(platform.BUCKETS)
    log_buckets = {
        json.dumps(b["Properties"]["LoggingConfiguration"]["DestinationBucketName"])
        for b in data.values()
    }
    (log_bucket,) = log_buckets
    assert json.loads(log_bucket)["Ref"] in buckets
    for lid, bucket in data.items():
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        # Nothing current ever expires; old versions move to cheaper storage.
        assert not any("ExpirationInDays" in r or "ExpirationDate" in r for r in rules), lid
        transitions = [t for r in rules for t in r.get("NoncurrentVersionTransitions", [])]
        assert {t["StorageClass"] for t in transitions} >= {"GLACIER"}, lid
        noncurrent_expiry = [
            r["NoncurrentVersionExpiration"]["NoncurrentDays"]
            for r in rules
            if "NoncurrentVersionExpiration" in r
        ]
        assert all(days >= 3650 for days in noncurrent_expiry), lid


def test_the_cdk_cli_runs_the_app_from_the_root(tmp_path):
    """`npx cdk synth|deploy` at the root runs cdk.json's "app" as the CLI does: through a shell, with
    CDK_OUTDIR, the environment it resolved and the context of `-c` options. (The layers are the light
    ones of these tests: without ORCHESTRE_LAYERS_DIR, `make cdk-app` builds the real ones.)"""
    import subprocess

    cdk_json = json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))
    assert not (REPO / "infra" / "cdk.json").exists(), "one cdk.json, at the root"
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"),
           "ORCHESTRE_LAYERS_DIR": str(_layers_dir(tmp_path / "layers", platform.LAYERS)),
           "CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-3",
           "CDK_CONTEXT_JSON": json.dumps({**cdk_json["context"], "sender_domain": "factures.example.fr"})}
    run = subprocess.run(cdk_json["app"], shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    synthesized = json.loads((tmp_path / "out" / "Orchestre.template.json").read_text(encoding="utf-8"))
    identities = [r["Properties"]["EmailIdentity"] for r in synthesized["Resources"].values()
                  if r["Type"] == "AWS::SES::EmailIdentity"]
    assert identities == ["factures.example.fr"]  # the -c context reached the app


def test_event_bus_and_sender_identity(template):
    template.resource_count_is("AWS::Events::EventBus", 1)
    template.has_resource_properties(
        "AWS::SES::EmailIdentity", {"EmailIdentity": "orchestre.example"}
    )


# -- identity --------------------------------------------------------------------------------
def test_user_pool(template):
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "UsernameAttributes": ["email"],
                    "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
                    "Policies": {
                        "PasswordPolicy": Match.object_like(
                            {
                                "MinimumLength": 12,
                                "RequireLowercase": True,
                                "RequireUppercase": True,
                                "RequireNumbers": True,
                            }
                        )
                    },
                    "AccountRecoverySetting": {
                        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
                    },
                }
            ),
        },
    )


def test_user_pool_client(template):
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "ExplicitAuthFlows": Match.array_with(["ALLOW_USER_PASSWORD_AUTH"]),
            "GenerateSecret": False,
        },
    )


# -- functions -------------------------------------------------------------------------------
def test_one_function_per_spec_entry(resources):
    functions = _functions_by_name(resources)
    assert sorted(functions) == sorted(f.name for f in platform.FUNCTIONS)
    # Plus the CDK's handler of Custom::S3BucketNotifications when a bucket notifies a queue.
    cdk_handlers = 1 if any(b.notifications for b in platform.BUCKETS) else 0
    assert len(_of_type(resources, "AWS::Lambda::Function")) == len(functions) + cdk_handlers
    expected_env = {t.env for t in platform.TABLES} | {b.env for b in platform.BUCKETS}
    expected_env |= {q.env for q in platform.QUEUES} | {m.env for m in platform.STATE_MACHINES}
    expected_env |= {
        platform.EVENT_BUS_ENV,
        platform.USER_POOL_ENV,
        platform.USER_POOL_CLIENT_ENV,
        platform.SES_SENDER_ENV,
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "LOG_LEVEL",
    }
    for spec_fn in platform.FUNCTIONS:
        _, props = functions[spec_fn.name]
        assert props["Handler"] == "app.handler"
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert props["MemorySize"] == spec_fn.memory_mb
        assert props["Timeout"] == spec_fn.timeout_s
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "LogGroup" in props["LoggingConfig"]
        env = props["Environment"]["Variables"]
        assert expected_env <= set(env), spec_fn.name
        assert env["POWERTOOLS_SERVICE_NAME"] == spec_fn.name
        assert env["AUTO_CONFIRM_USERS"] == "false"  # production default: emailed codes
        # Local platform only (moto queue URLs): on AWS the functions' own default applies.
        assert "SQS_URL_PATTERN" not in env, spec_fn.name


def test_function_log_groups_have_retention(resources):
    for name, (_, props) in _functions_by_name(resources).items():
        log_group = resources[props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] > 0, name


def test_layers_per_function(synth, resources):
    """One layer version per spec layer; each function carries exactly its spec's layers, in order."""
    layers = _of_type(resources, "AWS::Lambda::LayerVersion")
    assert len(layers) == len(platform.LAYERS)
    layer_ids = {l.key: logical_id(synth.stack.compute.layers[l.key]) for l in platform.LAYERS}
    for layer in platform.LAYERS:
        props = layers[layer_ids[layer.key]]["Properties"]
        assert props["CompatibleRuntimes"] == ["python3.12"]
        assert props["CompatibleArchitectures"] == ["x86_64"]
        assert layer.requirements in props["Description"]
    functions = _functions_by_name(resources)
    for spec_fn in platform.FUNCTIONS:
        _, props = functions[spec_fn.name]
        assert props["Layers"] == [{"Ref": layer_ids[key]} for key in spec_fn.layers], spec_fn.name


def _role_statements(resources: dict, function_props: dict) -> list[dict]:
    role = function_props["Role"]["Fn::GetAtt"][0]
    assert not resources[role]["Properties"].get("ManagedPolicyArns"), "managed policy on a role"
    return [
        st
        for p in _of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _allows(statements: list[dict], action: str, resource) -> bool:
    def listed(value):
        return value if isinstance(value, list) else [value]

    return any(
        st["Effect"] == "Allow" and action in listed(st["Action"]) and resource in listed(st["Resource"])
        for st in statements
    )


def _arn(lid: str) -> dict:
    return {"Fn::GetAtt": [lid, "Arn"]}


SQS_CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")


def _atoms(statements: list[dict]) -> set[tuple[str, str, str]]:
    """(action, resource, condition) of each grant, however the CDK merged the statements."""
    def listed(value):
        return value if isinstance(value, list) else [value]

    return {(a, json.dumps(r, sort_keys=True), json.dumps(st.get("Condition") or {}, sort_keys=True))
            for st in statements if st["Effect"] == "Allow" for a in listed(st["Action"]) for r in listed(st["Resource"])}


def _infrastructure(synth, name: str) -> set[tuple[str, str, str]]:
    """What a function's role holds besides its declared access: writing its own logs, X-Ray, and what
    the CDK grants for its queue event source and its asynchronous on-failure destination."""
    stack, storage = synth.stack, synth.stack.storage
    resolve = stack.resolve
    out = _atoms([{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                   "Resource": resolve(synth.stack.compute.log_groups[name].log_group_arn)},
                  {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}])
    for q in platform.QUEUES:
        if q.consumer == name:
            out |= _atoms([{"Effect": "Allow", "Action": [*SQS_CONSUME, "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                            "Resource": resolve(storage.queues[q.key].queue_arn)}])
    failure_destination = _atoms([{"Effect": "Allow", "Resource": resolve(storage.event_failures.queue_arn),
                                   "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]}])
    if any(r.function == name for r in platform.EVENT_RULES):
        out |= failure_destination
    for stream in platform.STREAMS:
        if stream.function == name:  # the stream it reads, and where a batch that keeps failing goes
            out |= _atoms([{"Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"},
                           {"Effect": "Allow", "Resource": resolve(storage.tables[stream.table].table_stream_arn),
                            "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]}])
            out |= failure_destination
    return out


def test_function_policies_are_their_declared_access(synth, resources):
    """Each role grants the function's declared access (orchestre.policy, the policy the local platform
    enforces) and nothing else but its logs, X-Ray and the CDK's event-source grants."""
    from orchestre import policy
    from orchestre_infra.compute import CdkArns

    stack = synth.stack
    arns = CdkArns(stack, stack.storage, stack.identity, stack.compute.state_machine_arns)
    functions = _functions_by_name(resources)
    for f in platform.FUNCTIONS:
        _, props = functions[f.name]
        declared = _atoms(stack.resolve(policy.statements(f, arns)))
        granted = _atoms(_role_statements(resources, props))
        extra = granted - declared - _infrastructure(synth, f.name)
        assert not extra, (f.name, sorted(extra))
        missing = declared - granted
        assert not missing, (f.name, sorted(missing))
    docs = _role_statements(resources, functions["docs"][1])
    assert not [st for st in docs if any(str(a).startswith(("dynamodb:", "s3:")) for a in
                                         (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]))]


def test_no_function_may_delete_object_versions_or_scan(resources):
    actions = {a for p in _of_type(resources, "AWS::IAM::Policy").values()
               for st in p["Properties"]["PolicyDocument"]["Statement"]
               for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    assert "s3:DeleteObjectVersion" not in actions  # 10-year retention: no purge
    assert "dynamodb:Scan" not in actions and not any(a.endswith(":*") for a in actions)


# -- queues and bucket notifications -----------------------------------------------------------
def test_queue_consumers(synth, resources):
    """Every queue with a consumer feeds it in batches of the spec's size, with partial failures."""
    functions = _functions_by_name(resources)
    mappings = list(_of_type(resources, "AWS::Lambda::EventSourceMapping").values())
    consumed = [q for q in platform.QUEUES if q.consumer]
    assert len(mappings) == len(consumed) + len(platform.STREAMS)
    for q in consumed:
        queue_id = logical_id(synth.stack.storage.queues[q.key])
        function_id, function_props = functions[q.consumer]
        (mapping,) = [
            m["Properties"] for m in mappings if m["Properties"]["EventSourceArn"] == _arn(queue_id)
        ]
        assert mapping["FunctionName"] == {"Ref": function_id}, q.key
        assert mapping["BatchSize"] == q.batch_size, q.key
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], q.key
        assert mapping.get("Enabled", True) is True, q.key
        # AWS: the visibility timeout at least 6 x the consumer's timeout (retries when throttled).
        visibility = resources[queue_id]["Properties"]["VisibilityTimeout"]
        assert visibility == q.visibility_timeout_s
        assert visibility >= 6 * function_props["Timeout"], (q.key, visibility, function_props["Timeout"])


def test_stream_consumers(synth, resources):
    """The outbox: the table's stream, filtered, read in order by its function; a batch that keeps
    failing is described in the event-failures queue."""
    functions = _functions_by_name(resources)
    mappings = [m["Properties"] for m in _of_type(resources, "AWS::Lambda::EventSourceMapping").values()]
    for stream in platform.STREAMS:
        table_id = logical_id(synth.stack.storage.tables[stream.table])
        table = next(t for t in platform.TABLES if t.key == stream.table)
        assert resources[table_id]["Properties"]["StreamSpecification"] == {"StreamViewType": table.stream}
        (mapping,) = [m for m in mappings if m["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}]
        assert mapping["FunctionName"] == {"Ref": functions[stream.function][0]}
        assert mapping["StartingPosition"] == "TRIM_HORIZON" and mapping["BatchSize"] == stream.batch_size
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["MaximumRetryAttempts"] == stream.max_attempts - 1
        assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"]) == stream.filter
        failures = logical_id(synth.stack.storage.event_failures)
        assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == _arn(failures)


def test_queues_dead_letters_and_alarms(synth, resources):
    storage = synth.stack.storage
    alarms = list(_of_type(resources, "AWS::CloudWatch::Alarm").values())
    for q in platform.QUEUES:
        queue = resources[logical_id(storage.queues[q.key])]["Properties"]
        dlq_id = logical_id(storage.dead_letter_queues[q.key])
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": _arn(dlq_id),
            "maxReceiveCount": q.max_receive_count,
        }
        for props in (queue, resources[dlq_id]["Properties"]):
            assert props["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in props, q.key
        assert any(
            a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and a["Properties"]["Namespace"] == "AWS/SQS"
            and a["Properties"]["Dimensions"]
            == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
            for a in alarms
        ), q.key


def test_bucket_notifications(synth, resources):
    """ObjectCreated under each prefix goes to its queue (EDI drops under inbound/ to flows), and
    each queue lets S3 send from that bucket only. SSE-SQS queues: no KMS key policy needed."""
    storage = synth.stack.storage
    configs = {
        json.dumps(r["Properties"]["BucketName"]): r["Properties"]
        for r in _of_type(resources, "Custom::S3BucketNotifications").values()
    }
    notifying = [b for b in platform.BUCKETS if b.notifications]
    assert len(configs) == len(notifying)
    assert any(("inbound/", "flows") in b.notifications for b in notifying)  # the EDI drop, at least
    queue_policies = list(_of_type(resources, "AWS::SQS::QueuePolicy").values())
    for b in notifying:
        bucket_id = logical_id(storage.buckets[b.key])
        props = configs[json.dumps({"Ref": bucket_id})]
        assert props["NotificationConfiguration"] == {
            "QueueConfigurations": [
                {
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                    "QueueArn": _arn(logical_id(storage.queues[queue_key])),
                }
                for prefix, queue_key in b.notifications
            ]
        }, b.key
        for _, queue_key in b.notifications:
            queue_id = logical_id(storage.queues[queue_key])
            assert "KmsMasterKeyId" not in resources[queue_id]["Properties"]
            assert any(
                st["Effect"] == "Allow"
                and st["Principal"] == {"Service": "s3.amazonaws.com"}
                and "sqs:SendMessage" in st["Action"]
                and st["Resource"] == _arn(queue_id)
                and st["Condition"] == {"ArnLike": {"aws:SourceArn": _arn(bucket_id)}}
                for p in queue_policies
                if p["Properties"]["Queues"] == [{"Ref": queue_id}]
                for st in p["Properties"]["PolicyDocument"]["Statement"]
            ), (b.key, queue_key)


def test_schedules(resources):
    functions = _functions_by_name(resources)
    rules = _of_type(resources, "AWS::Events::Rule").values()
    scheduled = [f for f in platform.FUNCTIONS if f.schedule]
    assert len([r for r in rules if "ScheduleExpression" in r["Properties"]]) == len(scheduled)
    for f in scheduled:
        lid, _ = functions[f.name]
        assert any(
            r["Properties"].get("ScheduleExpression") == f.schedule
            and r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [lid, "Arn"]}
            for r in rules
        ), f.name


def _statements_of(resources: dict, policy_type: str, target_key: str, target: dict) -> list[dict]:
    return [
        st
        for p in _of_type(resources, policy_type).values()
        if target in p["Properties"][target_key]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_event_rules(synth, resources):
    """Each EVENT_RULES entry: a rule on the platform bus (source orchestre, its detail types) with
    its one target. A queue: undeliverable events go to that queue's dead-letter queue and the queue
    policies let EventBridge send from that rule only. A function: invoked asynchronously, retried
    twice, then the event goes to the event-failures queue (as do undeliverable events). A state
    machine: started with the event's detail by a role that may start it only."""
    storage, compute = synth.stack.storage, synth.stack.compute
    bus = {"Ref": logical_id(storage.event_bus)}
    on_bus = {lid: r["Properties"] for lid, r in _of_type(resources, "AWS::Events::Rule").items()
              if r["Properties"].get("EventBusName") == bus}
    assert len(on_bus) == len(platform.EVENT_RULES)
    assert platform.EVENT_RULES, "the spec routes no event"
    failures_id = logical_id(storage.event_failures)
    functions = _functions_by_name(resources)
    for rule in platform.EVENT_RULES:
        rule_id = logical_id(compute.event_rules[rule.key])
        props = on_bus[rule_id]
        assert props["EventPattern"] == {"source": [EVENT_SOURCE], "detail-type": list(rule.detail_types)}
        (target,) = props["Targets"]
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
        kind, key = rule.target
        if kind == "function":
            fn_id = functions[key][0]
            assert target["Arn"] == _arn(fn_id) and target["DeadLetterConfig"] == {"Arn": _arn(failures_id)}
            (config,) = [c["Properties"] for c in _of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
                         if c["Properties"]["FunctionName"] == {"Ref": fn_id}]
            assert config["MaximumRetryAttempts"] == 2
            assert config["DestinationConfig"] == {"OnFailure": {"Destination": _arn(failures_id)}}
            continue
        if kind == "state_machine":
            sm_id = logical_id(compute.state_machines[key])
            assert target["Arn"] == {"Ref": sm_id} and target["InputPath"] == "$.detail"
            assert target["DeadLetterConfig"] == {"Arn": _arn(failures_id)}
            role_id = target["RoleArn"]["Fn::GetAtt"][0]
            starts = [st for p in _of_type(resources, "AWS::IAM::Policy").values()
                      if {"Ref": role_id} in p["Properties"]["Roles"]
                      for st in p["Properties"]["PolicyDocument"]["Statement"]]
            assert starts == [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": sm_id}}]
            continue
        queue_id = logical_id(storage.queues[key])
        dlq_id = logical_id(storage.dead_letter_queues[key])
        assert target["Arn"] == _arn(queue_id), rule.key
        assert target["DeadLetterConfig"] == {"Arn": _arn(dlq_id)}, rule.key
        for sqs_id in (queue_id, dlq_id):
            assert any(
                st["Effect"] == "Allow"
                and st["Principal"] == {"Service": "events.amazonaws.com"}
                and "sqs:SendMessage" in st["Action"]
                and st["Resource"] == _arn(sqs_id)
                and st["Condition"] == {"ArnEquals": {"aws:SourceArn": _arn(rule_id)}}
                for st in _statements_of(resources, "AWS::SQS::QueuePolicy", "Queues", {"Ref": sqs_id})
            ), (rule.key, sqs_id)


def _check_state_machine(stack, resources: dict, machine) -> None:
    """The spec's workflow as deployed: type, inline definition with every placeholder mapped to its
    function's ARN, logging without execution data, tracing, invoke and start permissions."""
    machines = _of_type(resources, "AWS::StepFunctions::StateMachine")
    sm_id = logical_id(stack.compute.state_machines[machine.key])
    props = machines[sm_id]["Properties"]
    functions = _functions_by_name(resources)
    assert props["StateMachineType"] == machine.type
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == ("ERROR" if machine.type == "EXPRESS" else "ALL")
    assert logging["IncludeExecutionData"] is False  # invoices and personal data stay out of the logs
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert resources[log_group_id]["Properties"]["RetentionInDays"] > 0

    # The definition is inline; CloudFormation substitutes each ${Placeholder} with its function.
    definition = props["DefinitionString"]
    assert isinstance(definition, str) and json.loads(definition)["States"]
    placeholders = set(PLACEHOLDER.findall(definition))
    assert placeholders == set(machine.functions), machine.key  # none left over, none unused
    assert props["DefinitionSubstitutions"] == {
        placeholder: _arn(functions[fname][0]) for placeholder, fname in machine.functions.items()
    }

    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    statements = _statements_of(resources, "AWS::IAM::Policy", "Roles", {"Ref": role_id})
    for fname in set(machine.functions.values()):
        assert _allows(statements, "lambda:InvokeFunction", _arn(functions[fname][0])), fname
    # Every function knows the workflow's ARN (built from its fixed name); those that declare so start it.
    arn_suffix = f":stateMachine:{props['StateMachineName']}"
    for name, (_, fn_props) in functions.items():
        env = fn_props["Environment"]["Variables"][machine.env]
        assert env["Fn::Join"][1][-1] == arn_suffix, name
        fn_statements = _role_statements(resources, fn_props)
        starts = any(machine.key in getattr(a, "start", ()) for a in platform.function(name).access)
        assert _allows(fn_statements, "states:StartExecution", env) is starts, name


@pytest.mark.parametrize("machine", platform.STATE_MACHINES, ids=lambda m: m.key)
def test_state_machine(synth, resources, machine):
    _check_state_machine(synth.stack, resources, machine)


def test_state_machine_alarms(synth, resources):
    alarms = [a["Properties"] for a in _of_type(resources, "AWS::CloudWatch::Alarm").values()]
    for machine in platform.STATE_MACHINES:
        dimension = {"Name": "StateMachineArn", "Value": {"Ref": logical_id(synth.stack.compute.state_machines[machine.key])}}
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            assert any(
                a["Namespace"] == "AWS/States" and a["MetricName"] == metric and a["Dimensions"] == [dimension]
                for a in alarms
            ), (machine.key, metric)
    expected = [(f, m) for f, m, _ in METRIC_ALARMS if any(spec_fn.name == f for spec_fn in platform.FUNCTIONS)]
    assert expected, "no business metric alarm"
    for function_name, metric in expected:
        assert any(
            a["Namespace"] == METRICS_NAMESPACE
            and a["MetricName"] == metric
            and a["Dimensions"] == [{"Name": "service", "Value": function_name}]
            and a["Statistic"] == "Sum"
            for a in alarms
        ), (function_name, metric)


# -- API -------------------------------------------------------------------------------------
def _api_methods(resources: dict) -> dict[tuple[str, str], dict]:
    """(full resource path, HTTP method) -> Method properties, rebuilt from the template."""
    api_resources = _of_type(resources, "AWS::ApiGateway::Resource")

    def path_of(ref: dict) -> str:
        if "Fn::GetAtt" in ref:  # the root resource
            return ""
        res = api_resources[ref["Ref"]]["Properties"]
        return f"{path_of(res['ParentId'])}/{res['PathPart']}"

    return {
        (path_of(m["Properties"]["ResourceId"]) or "/", m["Properties"]["HttpMethod"]): m[
            "Properties"
        ]
        for m in _of_type(resources, "AWS::ApiGateway::Method").values()
    }


def _expected_methods() -> dict[tuple[str, str], tuple[str, bool]]:
    return {
        (route.path, method.upper()): (f.name, route.public)
        for f in platform.FUNCTIONS
        for route in f.routes
        for method in route.methods
    }


def test_api_methods_match_the_spec(resources):
    declared = _expected_methods()
    served = {k: v for k, v in _api_methods(resources).items() if v["Integration"]["Type"] != "MOCK"
              and (k in declared or k[1] != "ANY")}  # the ANY of a {proxy+} resource: its other methods
    assert sorted(served) == sorted(declared)


def test_other_methods_get_405(resources):
    """A path's other methods reach its ANY method: a mock answering 405 problem+json with Allow, as the
    local gateway answers (paths served by ANY leave it to their function's resolver)."""
    methods = _api_methods(resources)
    mocks = {k: v for k, v in methods.items() if v["Integration"]["Type"] == "MOCK"}
    by_path: dict[str, set[str]] = {}
    for path, verb in _expected_methods():
        by_path.setdefault(path, set()).add(verb)
    assert sorted(mocks) == sorted((p, "ANY") for p, verbs in by_path.items()
                                   if "ANY" not in verbs and not p.endswith("+}"))
    # under {proxy+} the function's resolver answers (it knows each path's methods), with the route's authorizer
    functions = _functions_by_name(resources)
    for path, verbs in by_path.items():
        if path.endswith("+}") and "ANY" not in verbs:
            any_method = methods[(path, "ANY")]
            function_name, public = _expected_methods()[(path, sorted(verbs)[0])]
            assert functions[function_name][0] in json.dumps(any_method["Integration"]["Uri"])
            assert any_method["AuthorizationType"] == ("NONE" if public else "COGNITO_USER_POOLS")
    for (path, _), props in mocks.items():
        [response] = props["Integration"]["IntegrationResponses"]
        assert response["StatusCode"] == "405" and props["AuthorizationType"] == "NONE"
        assert response["ResponseParameters"]["method.response.header.Allow"] == f"'{', '.join(sorted(by_path[path]))}'"
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert body["code"] == "METHOD_NOT_ALLOWED" and body["correlation_id"] == "$context.requestId"


def test_api_resources_are_shared(resources):
    """One resource per path: methods of several functions on one path (POST /v1/invoices by
    deposit, GET by process) hang off the same resource, each with its own integration."""
    siblings = [(json.dumps(r["Properties"]["ParentId"]), r["Properties"]["PathPart"])
                for r in _of_type(resources, "AWS::ApiGateway::Resource").values()]
    assert len(siblings) == len(set(siblings))
    by_path: dict[str, set[str]] = {}
    for (path, _), (function_name, _) in _expected_methods().items():
        by_path.setdefault(path, set()).add(function_name)
    shared = {path for path, names in by_path.items() if len(names) > 1}
    methods = _api_methods(resources)
    functions = _functions_by_name(resources)
    for (path, verb), (function_name, _) in _expected_methods().items():
        if path in shared:
            assert functions[function_name][0] in json.dumps(methods[(path, verb)]["Integration"]["Uri"])


def test_api_authorization(resources):
    methods = _api_methods(resources)
    (authorizer_id, authorizer), = _of_type(resources, "AWS::ApiGateway::Authorizer").items()
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    functions = _functions_by_name(resources)
    for key, (function_name, public) in _expected_methods().items():
        props = methods[key]
        if public:
            assert props["AuthorizationType"] == "NONE", key
            assert "AuthorizerId" not in props, key
        else:
            assert props["AuthorizationType"] == "COGNITO_USER_POOLS", key
            assert props["AuthorizerId"] == {"Ref": authorizer_id}, key
            assert props["AuthorizationScopes"] == [platform.AUTH_SCOPE], key
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY", key
        assert functions[function_name][0] in json.dumps(integration["Uri"]), key


def test_api_stage(template):
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": STAGE_NAME,
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "MetricsEnabled": True,
                            "LoggingLevel": "ERROR",
                            "ThrottlingRateLimit": Match.any_value(),
                            "ThrottlingBurstLimit": Match.any_value(),
                        }
                    )
                ]
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestBody": True, "ValidateRequestParameters": True},
    )


# -- observability ---------------------------------------------------------------------------
def test_alarms_and_dashboard(resources, template):
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm").values()
    (topic_id, topic), = _of_type(resources, "AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]

    def has_alarm(metric: str, dimension: dict) -> bool:
        return any(
            a["Properties"]["MetricName"] == metric
            and dimension in a["Properties"]["Dimensions"]
            and a["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
            for a in alarms
        )

    for name, (lid, _) in _functions_by_name(resources).items():
        assert has_alarm("Errors", {"Name": "FunctionName", "Value": {"Ref": lid}}), name
        assert has_alarm("Throttles", {"Name": "FunctionName", "Value": {"Ref": lid}}), name
    assert any(a["Properties"]["MetricName"] == "5XXError" for a in alarms)
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_outputs(template):
    outputs = template.to_json()["Outputs"]
    expected = {"ApiUrl", "UserPoolId", "UserPoolClientId", "AlarmTopicArn", "EventBusName"}
    expected |= {f"{pascal(t.key)}TableName" for t in platform.TABLES}
    expected |= {f"{pascal(b.key)}BucketName" for b in platform.BUCKETS}
    expected |= {f"{pascal(q.key)}QueueUrl" for q in platform.QUEUES}
    expected |= {f"{pascal(m.key)}StateMachineArn" for m in platform.STATE_MACHINES}
    from orchestre_infra.compute import subscriber_forwarders

    forwarders = subscriber_forwarders(platform)
    expected |= {f"{pascal(name)}RoleArn" for name in forwarders}
    assert expected <= set(outputs)
    functions = _functions_by_name(template.to_json()["Resources"])
    for name in forwarders:  # subscribers allow this role in their queue policies
        assert outputs[f"{pascal(name)}RoleArn"]["Value"] == functions[name][1]["Role"]


# -- spec features not used yet: a queue without a consumer, a STANDARD workflow -------------
@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """The spec plus one queue and one STANDARD workflow, to check the code paths later work will use."""
    tmp = tmp_path_factory.mktemp("infra-extended")
    workflows = tmp / "workflows"
    shutil.copytree(REPO / "workflows", workflows)  # the spec's own workflows
    (workflows / "export.asl.json").write_text(
        json.dumps(
            {
                "StartAt": "Export",
                "States": {
                    "Export": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "${ExportFunction}", "Payload.$": "$"},
                        "End": True,
                    }
                },
            }
        )
    )
    canary = platform.Queue("canary", "CANARY_QUEUE_URL", "orchestre-canary")
    # a second rule invoking the notify function: Lambda's async settings are made once per function
    also_notify = platform.EventRule("also-notify", ("SomethingElse",), function="notify")
    spec = _spec_with(QUEUES=(*platform.QUEUES, canary), EVENT_RULES=(*platform.EVENT_RULES, also_notify))
    spec.STATE_MACHINES = (
        *platform.STATE_MACHINES,
        platform.StateMachine(
            "export",
            "EXPORT_STATE_MACHINE_ARN",
            "orchestre-export",
            "export.asl.json",
            {"ExportFunction": platform.FUNCTIONS[0].name},
        ),
    )
    return _synthesize(tmp, spec=spec, workflows_root=workflows), spec


def test_queues_and_workflows(extended):
    result, spec = extended
    assert _findings(result.nag) == [] and result.synth_error is None
    template = result.template
    resources = template.to_json()["Resources"]
    assert _cfn_lint(template.to_json()) == []

    queues = _of_type(resources, "AWS::SQS::Queue")
    redriven = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    # each spec queue and its dead-letter queue, and the event-failures queue
    assert len(queues) == 2 * len(spec.QUEUES) + 1 and len(redriven) == len(spec.QUEUES)
    for q in queues.values():
        assert q["Properties"]["SqsManagedSseEnabled"] is True

    assert len(_of_type(resources, "AWS::StepFunctions::StateMachine")) == len(spec.STATE_MACHINES)
    for machine in spec.STATE_MACHINES:
        _check_state_machine(result.stack, resources, machine)
    for _, props in _functions_by_name(resources).values():
        env = props["Environment"]["Variables"]
        assert {"CANARY_QUEUE_URL", "EXPORT_STATE_MACHINE_ARN"} <= set(env)
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm").values()
    failed = [a for a in alarms if a["Properties"]["MetricName"] == "ExecutionsFailed"]
    assert len(failed) == len(spec.STATE_MACHINES)
    assert len(_of_type(resources, "AWS::Lambda::EventInvokeConfig")) == 1  # notify's, for both rules


def test_workflow_placeholders_must_be_mapped(tmp_path):
    """A ${Placeholder} in the ASL without a function fails the synthesis early."""
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "w.asl.json").write_text('{"StartAt": "A", "States": {"A": {"Type": "Task", '
                                          '"Resource": "${Missing}", "End": true}}}')
    for machine in platform.STATE_MACHINES:  # the spec's own, which functions declare they start
        shutil.copy(machine.definition_path, workflows / machine.definition)
    spec = _spec_with(STATE_MACHINES=(*platform.STATE_MACHINES,
                                      platform.StateMachine("w", "W_ARN", "w", "w.asl.json", {})))
    with pytest.raises(ValueError, match="Missing"):
        build_app(
            layers_dir=_layers_dir(tmp_path / "layers", spec.LAYERS),
            functions_root=_functions_root(tmp_path / "functions", spec.FUNCTIONS),
            workflows_root=workflows,
            outdir=tmp_path / "cdk.out",
            spec=spec,
        )


def test_gateway_errors_are_problems(resources):
    """Errors API Gateway answers itself (authorizer, unknown route, throttling) are problem+json too."""
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in resources.values() if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    for kind, status, code in (("UNAUTHORIZED", "401", "UNAUTHENTICATED"),
                               ("MISSING_AUTHENTICATION_TOKEN", "404", "ROUTE_NOT_FOUND"),
                               ("THROTTLED", "429", "THROTTLED"), ("DEFAULT_5XX", "502", "BAD_GATEWAY")):
        props = responses[kind]
        assert props.get("StatusCode") == status
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert body["code"] == code and body["correlation_id"] == "$context.requestId"


# The function with the most layers (deposit: core, pdf, validation) and the first consumed queue.
HEAVIEST = max(platform.FUNCTIONS, key=lambda f: len(f.layers))
CONSUMED = next(q for q in platform.QUEUES if q.consumer)


def function_timeout(queue) -> int:
    return platform.function(queue.consumer).timeout_s


def _heaviest_with(**changes):
    return tuple(dataclasses.replace(f, **changes) if f == HEAVIEST else f for f in platform.FUNCTIONS)


def _consumed_with(**changes):
    return tuple(dataclasses.replace(q, **changes) if q == CONSUMED else q for q in platform.QUEUES)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"FUNCTIONS": _heaviest_with(layers=("core", "saxon"))}, ValueError, "unknown layers"),
        ({"FUNCTIONS": _heaviest_with(layers=("core",) * 6)}, ValueError, "listed twice"),
        ({"QUEUES": _consumed_with(consumer="nobody")}, ValueError, "consumer 'nobody'"),
        (
            {"QUEUES": _consumed_with(visibility_timeout_s=function_timeout(CONSUMED) - 1)},
            ValueError,
            "shorter than the timeout",
        ),
        (
            {"BUCKETS": tuple(dataclasses.replace(b, notifications=(("in/", "nope"),))
                              for b in platform.BUCKETS)},
            ValueError,
            "unknown queue 'nope'",
        ),
        (
            {"LAYERS": (*platform.LAYERS, platform.Layer("unbuilt", "unbuilt.txt", False))},
            FileNotFoundError,
            "make layers",
        ),
        (
            {"EVENT_RULES": (platform.EventRule("lost", ("Lost",), queue="nope"),)},
            ValueError,
            "event rule 'lost': unknown queue 'nope'",
        ),
        (
            {"STATE_MACHINES": tuple(dataclasses.replace(m, type="express")
                                     for m in platform.STATE_MACHINES)},
            ValueError,
            "type 'express' is not one of",
        ),
    ],
    ids=["unknown-layer", "layer-twice", "unknown-consumer", "short-visibility", "unknown-queue",
         "layer-not-built", "rule-unknown-queue", "workflow-type"],
)
def test_spec_errors_fail_the_synthesis(tmp_path, changes, error, match):
    """A spec the deployment would reject (or that cannot work) fails at synthesis, with the reason."""
    spec = _spec_with(**changes)
    built = [l for l in spec.LAYERS if l.key != "unbuilt"]  # in the spec, not built
    with pytest.raises(error, match=match):
        build_app(
            layers_dir=_layers_dir(tmp_path / "layers", built),
            functions_root=_functions_root(tmp_path / "functions", spec.FUNCTIONS),
            outdir=tmp_path / "cdk.out",
            spec=spec,
            nag=False,
        )


def test_layers_over_the_lambda_size_quota_fail_the_synthesis(tmp_path):
    """Code plus layers over 250 MB unzipped is refused at synthesis, not at deployment."""
    layers = _layers_dir(tmp_path / "layers", platform.LAYERS)
    with open(layers / HEAVIEST.layers[-1] / "python" / "heavy.bin", "wb") as f:
        f.truncate(MAX_UNZIPPED_BYTES)  # sparse: its size without the disk space
    expected = f"function '{HEAVIEST.name}': code and layers {list(HEAVIEST.layers)}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        build_app(
            layers_dir=layers,
            functions_root=_functions_root(tmp_path / "functions", platform.FUNCTIONS),
            outdir=tmp_path / "cdk.out",
            nag=False,
        )
