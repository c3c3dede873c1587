"""Least privilege: each function may touch only its declared access, locally as on AWS.

The policy is generated from the spec (``orchestre.policy``); the CDK app deploys it (checked in
``test_infra.py``), and every local Lambda container evaluates each AWS call against it
(``orchestre_local.iam``). Here: the evaluation itself, and real calls through a container's hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orchestre import platform as spec
from orchestre.policy import LocalArns, statements
from orchestre_local.iam import Policy, Request, Resolver, requests_of

REGION, ACCOUNT = "eu-west-3", "123456789012"


def policy_of(name: str) -> Policy:
    return Policy(statements(spec.function(name), LocalArns(REGION, ACCOUNT, dict(os.environ))))


def table(name: str = "orchestre-main") -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def test_every_function_declares_its_access_and_docs_none():
    assert statements(spec.function("docs"), LocalArns(REGION, ACCOUNT, {})) == []
    for fn in spec.FUNCTIONS:
        if fn.name != "docs":
            assert fn.access, f"{fn.name} declares no access"


@pytest.mark.parametrize("function,request_,allowed", [
    ("docs", Request("dynamodb:GetItem", table(), {"dynamodb:LeadingKeys": ["STRUCT#1"]}), False),
    ("notify", Request("dynamodb:GetItem", table(), {"dynamodb:LeadingKeys": ["STRUCT#1"]}), True),
    ("notify", Request("dynamodb:PutItem", table(), {"dynamodb:LeadingKeys": ["INV#1"]}), False),
    ("notify", Request("dynamodb:UpdateItem", table(), {"dynamodb:LeadingKeys": ["STRUCT#1"]}), False),
    ("process", Request("dynamodb:PutItem", table(), {"dynamodb:LeadingKeys": ["INV#1"]}), True),
    ("process", Request("dynamodb:PutItem", table(), {"dynamodb:LeadingKeys": ["STRUCT#1"]}), False),
    # one key of a batch outside the prefixes refuses the batch (ForAllValues)
    ("process", Request("dynamodb:BatchGetItem", table(), {"dynamodb:LeadingKeys": ["INV#1", "MFA#1"]}), False),
    ("accounts", Request("dynamodb:GetItem", table(), {"dynamodb:LeadingKeys": ["MFA#1"]}), True),
    ("structures", Request("dynamodb:GetItem", table(), {"dynamodb:LeadingKeys": ["MFA#1"]}), False),
    ("process", Request("dynamodb:Query", table() + "/index/GSI2", {"dynamodb:LeadingKeys": ["BUYER#1"]}), True),
    ("process", Request("dynamodb:Query", table() + "/index/GSI2", {"dynamodb:LeadingKeys": ["DIRID#PUBLIC"]}), True),
    ("directory", Request("dynamodb:Query", table() + "/index/GSI3", {"dynamodb:LeadingKeys": ["DUE#1"]}), False),
    ("directory", Request("dynamodb:Scan", table()), False),
    ("directory", Request("s3:PutObject", "arn:aws:s3:::orchestre-documents/exports/latest.csv"), True),
    ("directory", Request("s3:GetObject", "arn:aws:s3:::orchestre-documents/invoices/x/invoice.pdf"), False),
    ("deposit", Request("s3:PutObject", "arn:aws:s3:::orchestre-exchange/outbound/a/f.report.json"), True),
    ("deposit", Request("s3:PutObject", "arn:aws:s3:::orchestre-exchange/inbound/a/f.pdf"), False),
    ("notify", Request("sqs:SendMessage", f"arn:aws:sqs:{REGION}:210987654321:subscriber",
                       {"aws:ResourceAccount": ["210987654321"]}), True),
    ("notify", Request("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:orchestre-flows",
                       {"aws:ResourceAccount": [ACCOUNT]}), False),  # not the platform's own queues
    ("accounts", Request("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orchestre-events"), False),
])
def test_the_policy_of_each_function(platform, function, request_, allowed):
    assert policy_of(function).allows(request_) is allowed


def test_a_transaction_is_checked_item_by_item(platform):
    params = {"TransactItems": [
        {"Put": {"TableName": "orchestre-main", "Item": {"PK": {"S": "INV#1"}, "SK": {"S": "INVOICE"}}}},
        {"ConditionCheck": {"TableName": "orchestre-main", "Key": {"PK": {"S": "STRUCT#1"}, "SK": {"S": "PROFILE"}},
                            "ConditionExpression": "attribute_exists(PK)"}},
    ]}
    reqs = requests_of("dynamodb", "TransactWriteItems", params, Resolver(REGION))
    assert [(r.action, r.context["dynamodb:LeadingKeys"]) for r in reqs] == [
        ("dynamodb:PutItem", ["INV#1"]), ("dynamodb:ConditionCheckItem", ["STRUCT#1"])]
    process = policy_of("process")
    assert all(process.allows(r) for r in reqs)  # it writes invoices and may read structures
    assert not policy_of("notify").allows(reqs[0])


CALL = """
import json, sys, boto3
from botocore.exceptions import ClientError
from orchestre_local.iam import install
install(sys.argv[1], "eu-west-3")
ddb = boto3.client("dynamodb")
try:
    if sys.argv[2] == "put":
        ddb.put_item(TableName="orchestre-main", Item={"PK": {"S": "INV#x"}, "SK": {"S": "INVOICE"}})
    else:
        ddb.get_item(TableName="orchestre-main", Key={"PK": {"S": sys.argv[3]}, "SK": {"S": "PROFILE"}})
    print(json.dumps({"ok": True}))
except ClientError as e:
    print(json.dumps({"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}))
"""


@pytest.mark.parametrize("function,args,denied", [
    ("docs", ["get", "STRUCT#x"], True),       # the docs function cannot read the table
    ("notify", ["put"], True),                 # the notify function cannot write invoices
    ("notify", ["get", "STRUCT#x"], False),    # it reads subscriptions
    ("process", ["put"], False),
])
def test_a_container_call_outside_the_policy_is_refused(platform, function, args, denied):
    """The same hook as in every local Lambda container, on a real call to the local DynamoDB."""
    out = subprocess.run([sys.executable, "-c", CALL, function, *args], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "ORCHESTRE_IAM": "enforce"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if denied:
        assert result["code"] == "AccessDeniedException" and f"assumed-role/{function}" in result["message"], result
    else:
        assert result == {"ok": True}, result
