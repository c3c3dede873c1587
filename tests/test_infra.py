"""The CDK app: synthesized once, then checked against the spec, cdk-nag and cfn-lint.

Expectations are derived from ``orchestre.platform`` (the spec), so adding a table, a
bucket, a function, a route, a queue or a workflow there is checked here without edits.
"""

from __future__ import annotations

import json
import os
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
from orchestre_infra.naming import pascal  # noqa: E402

CFN_LINT_REGIONS = ["eu-west-3"]  # Paris
# cfn-lint findings tolerated, each with its reason. Everything else (errors and warnings) fails.
CFN_LINT_IGNORED = {
    # lambda.Function and sfn.StateMachine always add DependsOn [role, role default policy]
    # so that the policy exists before first use; the role is also referenced by GetAtt,
    # which makes that half of the DependsOn redundant. Harmless, not controllable from the L2.
    "W3005": lambda match: "enforced by a 'GetAtt'" in match.message
    and match.message.endswith(("/Properties/Role'", "/Properties/RoleArn'")),
}


# -- fixtures --------------------------------------------------------------------------------
def _copy_package(dest: Path) -> Path:
    """A layer folder like `make layer` makes, without pip: python/orchestre only."""
    shutil.copytree(
        REPO / "shared" / "orchestre",
        dest / "python" / "orchestre",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
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
        layer_dir=_copy_package(tmp / "layer"),
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
    out = {}
    for lid, r in _of_type(resources, "AWS::Lambda::Function").items():
        name = r["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        out[name] = (lid, r["Properties"])
    return out


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
            "Projection": {"ProjectionType": "ALL"},
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
    (layer_id,) = _of_type(resources, "AWS::Lambda::LayerVersion")
    assert resources[layer_id]["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    expected_env = {t.env for t in platform.TABLES} | {b.env for b in platform.BUCKETS}
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
        assert props["Layers"] == [{"Ref": layer_id}]
        assert props["MemorySize"] == spec_fn.memory_mb
        assert props["Timeout"] == spec_fn.timeout_s
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "LogGroup" in props["LoggingConfig"]
        env = props["Environment"]["Variables"]
        assert expected_env <= set(env), spec_fn.name
        assert env["POWERTOOLS_SERVICE_NAME"] == spec_fn.name
        assert env["AUTO_CONFIRM_USERS"] == "false"  # production default: emailed codes


def test_function_log_groups_have_retention(resources):
    for name, (_, props) in _functions_by_name(resources).items():
        log_group = resources[props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] > 0, name


def _role_statements(resources: dict, function_props: dict) -> list[dict]:
    role = function_props["Role"]["Fn::GetAtt"][0]
    assert not resources[role]["Properties"].get("ManagedPolicyArns"), "managed policy on a role"
    return [
        st
        for p in _of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_function_grants(resources):
    functions = _functions_by_name(resources)
    for name, (_, props) in functions.items():
        actions = {
            a
            for st in _role_statements(resources, props)
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        }
        assert {"dynamodb:Query", "dynamodb:PutItem", "s3:GetObject", "s3:PutObject"} <= actions
        assert "events:PutEvents" in actions
        assert "s3:DeleteObjectVersion" not in actions  # 10-year retention: no purge
        cognito_admin = {a for a in actions if a.startswith("cognito-idp:")}
        if name == "accounts":
            assert cognito_admin == {
                "cognito-idp:SignUp",
                "cognito-idp:AdminConfirmSignUp",
                "cognito-idp:AdminDeleteUser",
                "cognito-idp:InitiateAuth",
                "cognito-idp:ConfirmSignUp",
            }
        else:
            assert cognito_admin == set(), name


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
    assert sorted(_api_methods(resources)) == sorted(_expected_methods())


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
    assert expected <= set(outputs)


# -- spec features not used yet: queues and workflows ------------------------------------------
@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """The spec plus one queue and one workflow, to check the code paths later work will use."""
    tmp = tmp_path_factory.mktemp("infra-extended")
    workflows = tmp / "workflows"
    workflows.mkdir()
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
    names = [n for n in dir(platform) if n.isupper()]
    spec = types.SimpleNamespace(**{n: getattr(platform, n) for n in names})
    spec.QUEUES = (*platform.QUEUES, platform.Queue("canary", "CANARY_QUEUE_URL", "orchestre-canary"))
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
    assert len(queues) == 2 * len(spec.QUEUES) and len(redriven) == len(spec.QUEUES)
    for q in queues.values():
        assert q["Properties"]["SqsManagedSseEnabled"] is True

    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
        },
    )
    (machine,) = _of_type(resources, "AWS::StepFunctions::StateMachine").values()
    invoked, _ = _functions_by_name(resources)[platform.FUNCTIONS[0].name]
    assert machine["Properties"]["DefinitionSubstitutions"] == {
        "ExportFunction": {"Fn::GetAtt": [invoked, "Arn"]}
    }
    for _, props in _functions_by_name(resources).values():
        env = props["Environment"]["Variables"]
        assert {"CANARY_QUEUE_URL", "EXPORT_STATE_MACHINE_ARN"} <= set(env)
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm").values()
    assert any(a["Properties"]["MetricName"] == "ExecutionsFailed" for a in alarms)


def test_workflow_placeholders_must_be_mapped(tmp_path):
    """A ${Placeholder} in the ASL without a function fails the synthesis early."""
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "w.asl.json").write_text('{"StartAt": "A", "States": {"A": {"Type": "Task", '
                                          '"Resource": "${Missing}", "End": true}}}')
    spec = types.SimpleNamespace(**{n: getattr(platform, n) for n in dir(platform) if n.isupper()})
    spec.STATE_MACHINES = (platform.StateMachine("w", "W_ARN", "w", "w.asl.json", {}),)
    with pytest.raises(ValueError, match="Missing"):
        build_app(
            layer_dir=_copy_package(tmp_path / "layer"),
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
