"""Create the platform's resources in moto from the same spec the CDK app deploys."""

from __future__ import annotations

import io
import json
import zipfile

import boto3

from orchestre import platform as spec


def provision(region: str) -> dict[str, str]:
    """Create tables, buckets, queues, bus, sender identity and the user pool. Returns extra env.

    Bucket notifications come apart (``notify_buckets``), once saved data is back in the buckets."""
    ddb = boto3.client("dynamodb", region_name=region)
    for t in spec.TABLES:
        attrs = {t.pk: "S"}
        keys = [{"AttributeName": t.pk, "KeyType": "HASH"}]
        if t.sk:
            attrs[t.sk] = "S"
            keys.append({"AttributeName": t.sk, "KeyType": "RANGE"})
        gsis = []
        for ix in t.indexes:
            attrs[ix.pk] = attrs[ix.sk] = "S"
            gsis.append({
                "IndexName": ix.name,
                "KeySchema": [{"AttributeName": ix.pk, "KeyType": "HASH"}, {"AttributeName": ix.sk, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": ix.projection},
            })
        args = {
            "TableName": t.local_name,
            "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in attrs.items()],
            "KeySchema": keys,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if gsis:
            args["GlobalSecondaryIndexes"] = gsis
        if t.stream:
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": t.stream}
        ddb.create_table(**args)
        if t.ttl_attribute:
            ddb.update_time_to_live(TableName=t.local_name,
                                    TimeToLiveSpecification={"Enabled": True, "AttributeName": t.ttl_attribute})

    env: dict[str, str] = {}
    arns: dict[str, str] = {}
    sqs = boto3.client("sqs", region_name=region)
    for q in spec.QUEUES:
        dlq = sqs.create_queue(QueueName=f"{q.local_name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=q.local_name, Attributes={
            "VisibilityTimeout": str(q.visibility_timeout_s),
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{q.max_receive_count}"}}',
        })["QueueUrl"]
        env[q.env] = url
        arns[q.key] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    s3 = boto3.client("s3", region_name=region)
    for b in spec.BUCKETS:
        s3.create_bucket(Bucket=b.local_name, CreateBucketConfiguration={"LocationConstraint": region})
        if b.versioned:
            s3.put_bucket_versioning(Bucket=b.local_name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(Bucket=b.local_name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        s3.put_public_access_block(Bucket=b.local_name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})

    # Functions exist in moto's Lambda (their code runs in the local containers, see lambdas.py), so
    # that workflows invoke them by ARN as on AWS.
    role = boto3.client("iam", region_name=region).create_role(
        RoleName="orchestre-local", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=region)
    function_arns = {}
    for fn in spec.FUNCTIONS:
        function_arns[fn.name] = lam.create_function(
            FunctionName=fn.name, Runtime="python3.12", Role=role, Handler=fn.handler,
            Code={"ZipFile": _stub_zip()}, Timeout=fn.timeout_s, MemorySize=fn.memory_mb,
        )["FunctionArn"]
    sfn = boto3.client("stepfunctions", region_name=region)
    for machine in spec.STATE_MACHINES:
        definition = machine.definition_path.read_text(encoding="utf-8")
        for placeholder, function_name in machine.functions.items():
            definition = definition.replace("${" + placeholder + "}", function_arns[function_name])
        env[machine.env] = sfn.create_state_machine(
            name=machine.local_name, definition=definition, roleArn=role, type=machine.type,
        )["stateMachineArn"]
    # Where failed event deliveries and invocations end (EventBridge target DLQ, Lambda on-failure).
    failures = sqs.create_queue(QueueName=spec.EVENT_FAILURES_LOCAL_NAME)["QueueUrl"]
    env["EVENT_FAILURES_QUEUE_URL"] = failures
    failures_arn = sqs.get_queue_attributes(QueueUrl=failures, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=region)
    events.create_event_bus(Name=spec.EVENT_BUS_LOCAL_NAME)
    state_machine_arns = {m.key: env[m.env] for m in spec.STATE_MACHINES}
    for rule in spec.EVENT_RULES:
        name = f"orchestre-{rule.key}"
        kind, key = rule.target
        target = {"Id": key, "Arn": {"queue": arns, "function": function_arns,
                                     "state_machine": state_machine_arns}[kind][key]}
        if kind == "state_machine":
            target.update(InputPath="$.detail", RoleArn=role)
        if kind != "queue":
            target["DeadLetterConfig"] = {"Arn": failures_arn}
        events.put_rule(Name=name, EventBusName=spec.EVENT_BUS_LOCAL_NAME, State="ENABLED",
                        EventPattern=json.dumps({"source": ["orchestre"], "detail-type": list(rule.detail_types)}))
        events.put_targets(Rule=name, EventBusName=spec.EVENT_BUS_LOCAL_NAME, Targets=[target])

    boto3.client("ses", region_name=region).verify_email_identity(EmailAddress=spec.SES_SENDER_LOCAL)

    idp = boto3.client("cognito-idp", region_name=region)
    pool = idp.create_user_pool(
        PoolName=spec.USER_POOL_LOCAL_NAME,
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": dict(spec.PASSWORD_POLICY)},
    )["UserPool"]
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="orchestre-api", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    for group, description in spec.USER_POOL_GROUPS:
        idp.create_group(UserPoolId=pool["Id"], GroupName=group, Description=description)
    env[spec.USER_POOL_ENV] = pool["Id"]
    env[spec.USER_POOL_CLIENT_ENV] = client["ClientId"]
    return env


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("app.py", "# the real code runs in the local containers\n")
    return buffer.getvalue()


def notify_buckets(region: str, env: dict[str, str]) -> None:
    """The buckets' ObjectCreated notifications to their queues (``Bucket.notifications``)."""
    sqs = boto3.client("sqs", region_name=region)
    s3 = boto3.client("s3", region_name=region)
    arns = {q.key: sqs.get_queue_attributes(QueueUrl=env[q.env], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for q in spec.QUEUES}
    for b in spec.BUCKETS:
        if b.notifications:
            s3.put_bucket_notification_configuration(Bucket=b.local_name, NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": arns[queue], "Events": ["s3:ObjectCreated:*"],
                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}}
                    for prefix, queue in b.notifications
                ]})
