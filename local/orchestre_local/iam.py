"""Least privilege on this machine: each function's AWS calls checked against its IAM policy.

On AWS every call a function makes is authorized against its role's policy, which the CDK app
generates from the function's declared access (``orchestre.policy``). moto checks nothing, so a
function could read what it may not and only fail once deployed. Here, a botocore hook in each
Lambda container turns every API call into the IAM requests AWS would evaluate (action, resource
ARN, condition keys such as ``dynamodb:LeadingKeys``) and refuses, with AWS's ``AccessDenied``
error, what the same policy document does not allow. The policy is the one the CDK app deploys,
built by the same code from the same spec, with the local resources' ARNs.

Covered: the DynamoDB item, query and batch/transaction operations (one request per item, as IAM
evaluates them), S3 objects, SQS, EventBridge, Step Functions, Cognito's IAM-authorized operations
(those signed with no credentials, such as ``SignUp``, need none) and SES. Anything else is
refused, so that a new kind of call gets its rule here first.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from orchestre import platform as spec

ACCOUNT = "123456789012"
# Queues that are not the platform's stand for subscribers' queues, which on AWS are in other
# accounts (the policy lets notify send to any queue outside the platform's account).
SUBSCRIBER_ACCOUNT = "210987654321"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)


# -- from an API call to IAM requests ---------------------------------------------------------

class Resolver:
    """Physical names of the local platform -> ARNs and key schemas."""

    def __init__(self, region: str, env: dict[str, str] | None = None):
        self.region = region
        self.env = env if env is not None else dict(os.environ)
        self.tables = {self.env.get(t.env, t.local_name): t for t in spec.TABLES}
        self.platform_queues = {q.local_name for q in spec.QUEUES} | {f"{q.local_name}-dlq" for q in spec.QUEUES} | {
            spec.EVENT_FAILURES_LOCAL_NAME}

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"

    def queue_arn(self, url_or_name: str) -> str:
        name = urlsplit(url_or_name).path.rstrip("/").rsplit("/", 1)[-1] if "/" in url_or_name else url_or_name
        account = ACCOUNT if name in self.platform_queues else SUBSCRIBER_ACCOUNT
        return f"arn:aws:sqs:{self.region}:{account}:{name}"

    def bus_arn(self, name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:events:{self.region}:{ACCOUNT}:event-bus/{name}"

    def user_pool_arn(self, pool_id: str) -> str:
        return f"arn:aws:cognito-idp:{self.region}:{ACCOUNT}:userpool/{pool_id}"

    def identity_arns(self, source: str) -> list[str]:
        address = source.rsplit("<", 1)[-1].rstrip(">").strip()
        return [f"arn:aws:ses:{self.region}:{ACCOUNT}:identity/{address}",
                f"arn:aws:ses:{self.region}:{ACCOUNT}:identity/{address.rsplit('@', 1)[-1]}"]


def _key_value(av: dict | None) -> str:
    if not av:
        return ""
    value = next(iter(av.values()))
    return value if isinstance(value, str) else json.dumps(value)


def _partition(table: spec.Table | None, key: dict, index: str | None = None) -> str:
    if table is None:
        return ""
    attr = table.pk if index is None else next((ix.pk for ix in table.indexes if ix.name == index), table.pk)
    return _key_value(key.get(attr))


def _query_partition(table: spec.Table | None, params: dict) -> str:
    """The partition key value of a Query: the ``#name = :value`` of its hash key."""
    if table is None:
        return ""
    index = params.get("IndexName")
    attr = table.pk if not index else next((ix.pk for ix in table.indexes if ix.name == index), "")
    names = {v: k for k, v in (params.get("ExpressionAttributeNames") or {}).items()}
    values = params.get("ExpressionAttributeValues") or {}
    expression = params.get("KeyConditionExpression") or ""
    for name in (names.get(attr), attr):
        if name and (m := re.search(re.escape(name) + r"\s*=\s*(:\w+)", expression)):
            return _key_value(values.get(m.group(1)))
    return ""


def _dynamodb(op: str, p: dict, r: Resolver) -> list[Request]:
    def item(action: str, table_name: str, key: dict) -> Request:
        table = r.tables.get(table_name)
        return Request(action, r.table_arn(table_name), {"dynamodb:LeadingKeys": [_partition(table, key)]})

    if op in ("GetItem", "DeleteItem", "UpdateItem"):
        return [item(f"dynamodb:{op}", p["TableName"], p["Key"])]
    if op == "PutItem":
        return [item("dynamodb:PutItem", p["TableName"], p["Item"])]
    if op == "Query":
        resource = r.table_arn(p["TableName"]) + (f"/index/{p['IndexName']}" if p.get("IndexName") else "")
        return [Request("dynamodb:Query", resource,
                        {"dynamodb:LeadingKeys": [_query_partition(r.tables.get(p["TableName"]), p)]})]
    if op == "TransactWriteItems":
        kinds = {"Put": ("dynamodb:PutItem", "Item"), "Update": ("dynamodb:UpdateItem", "Key"),
                 "Delete": ("dynamodb:DeleteItem", "Key"), "ConditionCheck": ("dynamodb:ConditionCheckItem", "Key")}
        out = []
        for entry in p["TransactItems"]:
            kind, body = next(iter(entry.items()))
            action, key = kinds[kind]
            out.append(item(action, body["TableName"], body[key]))
        return out
    if op == "TransactGetItems":
        return [item("dynamodb:GetItem", e["Get"]["TableName"], e["Get"]["Key"]) for e in p["TransactItems"]]
    if op == "BatchGetItem":
        return [item("dynamodb:BatchGetItem", name, key) for name, req in p["RequestItems"].items()
                for key in req["Keys"]]
    if op == "BatchWriteItem":
        return [item("dynamodb:BatchWriteItem", name, w.get("PutRequest", {}).get("Item") or w["DeleteRequest"]["Key"])
                for name, writes in p["RequestItems"].items() for w in writes]
    if op in ("Scan", "DescribeTable", "DescribeTimeToLive"):
        return [Request(f"dynamodb:{op}", r.table_arn(p["TableName"]))]
    return [Request(f"dynamodb:{op}", "*")]


def _s3(op: str, p: dict, r: Resolver) -> list[Request]:
    bucket = p.get("Bucket", "")
    obj = f"arn:aws:s3:::{bucket}/{p.get('Key', '')}"
    if op in ("GetObject", "HeadObject"):
        out = [Request("s3:GetObject", obj)]
        if p.get("VersionId"):
            out.append(Request("s3:GetObjectVersion", obj))
        return out
    if op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        return [Request("s3:PutObject", obj)]
    if op in ("DeleteObject", "AbortMultipartUpload"):
        return [Request(f"s3:{op}", obj)]
    if op == "CopyObject":
        source = p["CopySource"] if isinstance(p["CopySource"], str) else f"{p['CopySource']['Bucket']}/{p['CopySource']['Key']}"
        return [Request("s3:GetObject", f"arn:aws:s3:::{source.lstrip('/')}"), Request("s3:PutObject", obj)]
    if op in ("ListObjectsV2", "ListObjects", "ListObjectVersions"):
        return [Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": [p.get("Prefix", "")]})]
    return [Request(f"s3:{op}", f"arn:aws:s3:::{bucket}")]


def _sqs(op: str, p: dict, r: Resolver) -> list[Request]:
    if op == "GetQueueUrl":
        return [Request("sqs:GetQueueUrl", r.queue_arn(p["QueueName"]))]
    if "QueueUrl" in p:
        action = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                  "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}.get(op, op)
        arn = r.queue_arn(p["QueueUrl"])
        return [Request(f"sqs:{action}", arn, {"aws:ResourceAccount": [arn.split(":")[4]]})]
    return [Request(f"sqs:{op}", "*")]


def _events(op: str, p: dict, r: Resolver) -> list[Request]:
    if op == "PutEvents":
        return [Request("events:PutEvents", r.bus_arn(e.get("EventBusName") or "default")) for e in p["Entries"]]
    return [Request(f"events:{op}", "*")]


def _states(op: str, p: dict, r: Resolver) -> list[Request]:
    if "stateMachineArn" in p:
        return [Request(f"states:{op}", p["stateMachineArn"])]
    if "executionArn" in p:
        return [Request(f"states:{op}", p["executionArn"])]
    return [Request(f"states:{op}", "*")]  # SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat


def _cognito(op: str, p: dict, r: Resolver) -> list[Request]:
    return [Request(f"cognito-idp:{op}", r.user_pool_arn(p.get("UserPoolId", "")) if "UserPoolId" in p else "*")]


def _ses(op: str, p: dict, r: Resolver) -> list[Request]:
    source = p.get("Source") or p.get("FromEmailAddress") or ""
    return [Request(f"ses:{op}", " | ".join(r.identity_arns(source)))]  # either identity may allow it


HANDLERS = {"dynamodb": _dynamodb, "s3": _s3, "sqs": _sqs, "events": _events, "states": _states,
            "cognito-idp": _cognito, "ses": _ses}


def requests_of(signing_name: str, operation: str, params: dict, resolver: Resolver) -> list[Request]:
    handler = HANDLERS.get(signing_name)
    if handler is None:
        return [Request(f"{signing_name}:{operation}", "*")]
    return handler(operation, params, resolver)


# -- evaluating a policy ------------------------------------------------------------------------

def _like(value: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def _condition_holds(condition: dict, context: dict[str, list[str]]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            expected = expected if isinstance(expected, list) else [expected]
            values = context.get(key)
            if operator == "ForAllValues:StringLike":
                if values is None or not all(_like(v, expected) for v in values):
                    return False
            elif operator == "StringLike":
                if not values or not all(_like(v, expected) for v in values):
                    return False
            elif operator == "StringEquals":
                if not values or not all(v in expected for v in values):
                    return False
            elif operator == "StringNotEquals":
                if not values or any(v in expected for v in values):
                    return False
            else:
                return False  # an operator this evaluator does not know: it does not allow
    return True


class Policy:
    def __init__(self, statements: list[dict]):
        self.statements = [s for s in statements if s.get("Effect") == "Allow"]

    def allows(self, request: Request) -> bool:
        resources = request.resource.split(" | ")
        for s in self.statements:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if not _like(request.action, actions):
                continue
            patterns = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            if not any(_like(resource, patterns) for resource in resources):
                continue
            if _condition_holds(s.get("Condition") or {}, request.context):
                return True
        return False


# -- the hook in a Lambda container ------------------------------------------------------------

class AccessDenied(Exception):
    pass


def install(function_name: str, region: str) -> None:
    """Check every AWS call of this process against the function's policy (the local containers)."""
    import boto3
    from botocore.exceptions import ClientError

    from orchestre.policy import LocalArns, statements

    fn = spec.function(function_name)
    resolver = Resolver(region)
    policy = Policy(statements(fn, LocalArns(region, ACCOUNT, os.environ)))
    record = os.environ.get("ORCHESTRE_IAM_RECORD")  # a file: every request is written there too
    enforce = os.environ.get("ORCHESTRE_IAM", "enforce") != "record"  # record: write, refuse nothing

    def check(params, model, **_kwargs):
        if model.auth_type == "none":  # signed with no credentials: IAM is not asked (Cognito's SignUp...)
            return
        signing = model.service_model.signing_name
        for req in requests_of(signing, model.name, params, resolver):
            if record:
                with open(record, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"function": function_name, "action": req.action, "resource": req.resource,
                                        "context": req.context}) + "\n")
            if enforce and not policy.allows(req):
                code = {"dynamodb": "AccessDeniedException", "s3": "AccessDenied"}.get(signing, "AccessDenied")
                raise ClientError({"Error": {"Code": code, "Message": (
                    f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{function_name}/{function_name} is not "
                    f"authorized to perform: {req.action} on resource: {req.resource} "
                    f"(context {req.context}) because no identity-based policy allows it")},
                    "ResponseMetadata": {"HTTPStatusCode": 400 if signing == "dynamodb" else 403}}, model.name)

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("provide-client-params", check)
