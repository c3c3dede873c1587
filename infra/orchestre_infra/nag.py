"""cdk-nag acknowledgements, each with its reason, in one place.

cdk-nag 3.x is a CDK policy-validation plugin (``Validations.of(app).add_plugins(...)``) and
findings are acknowledged with CDK's native ``Validations.of(construct).acknowledge(...)``.
An acknowledgement applies to the construct and everything under it, and granular rules
(IAM4, IAM5) must be acknowledged finding by finding (``AwsSolutions-IAM5[Resource::*]``):
there is no blanket "all IAM5 findings" acknowledgement, so a new wildcard shows up.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

# Reasons reused on several constructs.
XRAY_RESOURCE = (
    "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; "
    "AWS requires Resource '*' (added by active tracing)."
)
GSI_RESOURCE = (
    "Items of this table under the partition-key prefixes the function declares "
    "(dynamodb:LeadingKeys, shared/orchestre/platform.py)."
)
OBJECTS_RESOURCE = (
    "Objects of this bucket under one key prefix the function declares (shared/orchestre/platform.py): "
    "object keys are chosen at run time within it."
)
TASK_TOKENS = (
    "Step Functions' SendTaskSuccess/Failure/Heartbeat name no resource (the task token says which "
    "execution): IAM authorizes them on '*' only."
)
LAMBDA_RUNTIME = (
    "Python 3.12 is pinned on purpose: the layer (make layer) is built with pip for "
    "--python-version 3.12, and the runtime must match the layer's compiled wheels."
)
SUBSCRIBER_QUEUES = (
    "Subscriber queues are chosen by users at run time and live in their own AWS accounts, so "
    "sqs:SendMessage cannot name them in advance: the statement is limited to queues outside this "
    "account (aws:ResourceAccount), and the subscriber's queue policy must allow this role "
    "(its ARN is a stack output; see infra/README.md)."
)
EXPRESS_LOG_LEVEL = (
    "Express workflow run once per invoice: its executions carry invoices and personal data, so it "
    "logs ERROR events only, without execution data (input/output), rather than ALL; failed and "
    "timed-out executions raise alarms and X-Ray traces every execution."
)
EVENT_FAILURES_QUEUE = (
    "This queue is itself a dead-letter queue: EventBridge's for the rules' function and workflow "
    "targets, and the Lambda on-failure destination of the functions the rules invoke. It is "
    "alarmed; a dead-letter queue of its own would only move the problem."
)
PUBLIC_ROUTE = (
    "Public route declared in shared/orchestre/platform.py (public=True): sign-up, sign-up "
    "confirmation, token issuance or the OpenAPI/Swagger documentation must be reachable "
    "without a token."
)

METHOD_NOT_ALLOWED = (
    "The ANY method of a resource catches only the methods its routes do not serve and answers 405 "
    "from a mock integration: no function runs, no data is read, so there is nothing to authorize."
)


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_all(construct: IConstruct, rules: dict[str, str]) -> None:
    for rule, reason in rules.items():
        acknowledge(construct, rule, reason)
