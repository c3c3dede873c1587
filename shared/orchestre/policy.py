"""A function's IAM policy, from its declared access (``platform.Function.access``).

One generator for both sides: the CDK app turns these statements into the function role's policy
(with CloudFormation references as ARNs), and the local platform evaluates every AWS call of a
function against the same statements (with the local resources' ARNs, ``orchestre_local.iam``).
A test compares the synthesized template's policies with what this module says, so that nothing
else is ever granted.

Plain data, no boto3, no CDK.
"""

from __future__ import annotations

from typing import Protocol

from . import platform as spec

TABLE_READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]
TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
               "dynamodb:ConditionCheckItem"]
OBJECT_READ = ["s3:GetObject", "s3:GetObjectVersion"]
OBJECT_WRITE = ["s3:PutObject"]
# Without ListBucket, S3 answers 403 instead of 404 for a missing object: the functions need the 404.
BUCKET_LIST = ["s3:ListBucket"]
QUEUE_SEND = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
TASK_TOKENS = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
EMAIL = ["ses:SendEmail", "ses:SendRawEmail"]


class Arns(Protocol):
    """The ARNs of the spec's resources: CloudFormation references in the CDK app, plain strings locally."""

    def table(self, key: str) -> str: ...
    def bucket(self, key: str) -> str: ...
    def queue(self, key: str) -> str: ...
    def bus(self) -> str: ...
    def state_machine(self, key: str) -> str: ...
    def user_pool(self) -> str: ...
    def email_identity(self) -> str: ...
    def account(self) -> str: ...
    def partition(self) -> str: ...


def _leading(prefixes: tuple[str, ...]) -> dict:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{p}*" for p in sorted(prefixes)]}}


def statements(fn: spec.Function, arns: Arns) -> list[dict]:
    """The IAM statements of ``fn``'s declared access, in a stable order (one per kind of grant)."""
    out: list[dict] = []
    for access in fn.access:
        if isinstance(access, spec.TableAccess):
            table = arns.table(access.table)
            if access.any_key:
                actions = (TABLE_READ if access.read else []) + (TABLE_WRITE if access.write else [])
                out.append({"Effect": "Allow", "Action": sorted(set(actions)), "Resource": table})
                continue
            readable = tuple(sorted(set(access.read) | set(access.write)))  # what it writes it may read back
            if readable:
                out.append({"Effect": "Allow", "Action": TABLE_READ, "Resource": table,
                            "Condition": _leading(readable)})
            if access.write:
                out.append({"Effect": "Allow", "Action": TABLE_WRITE, "Resource": table,
                            "Condition": _leading(access.write)})
            by_index: dict[str, set[str]] = {}
            for index, prefixes in access.indexes:
                by_index.setdefault(index, set()).update(prefixes)
            for index, prefixes in sorted(by_index.items()):
                out.append({"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": f"{table}/index/{index}",
                            "Condition": _leading(tuple(prefixes))})
        elif isinstance(access, spec.BucketAccess):
            bucket = arns.bucket(access.bucket)
            out.append({"Effect": "Allow", "Action": BUCKET_LIST, "Resource": bucket})
            if access.read:
                out.append({"Effect": "Allow", "Action": OBJECT_READ,
                            "Resource": [f"{bucket}/{p}*" for p in sorted(access.read)]})
            if access.write:
                out.append({"Effect": "Allow", "Action": OBJECT_WRITE,
                            "Resource": [f"{bucket}/{p}*" for p in sorted(access.write)]})
        else:
            out += _services(access, arns)
    return out


def _services(access: spec.ServiceAccess, arns: Arns) -> list[dict]:
    out: list[dict] = []
    if access.send_to:
        out.append({"Effect": "Allow", "Action": QUEUE_SEND, "Resource": [arns.queue(k) for k in access.send_to]})
    if access.publish:
        out.append({"Effect": "Allow", "Action": ["events:PutEvents"], "Resource": arns.bus()})
    if access.start:
        out.append({"Effect": "Allow", "Action": ["states:StartExecution"],
                    "Resource": [arns.state_machine(k) for k in access.start]})
    if access.task_tokens:  # task-token calls name no resource: IAM authorizes them on "*"
        out.append({"Effect": "Allow", "Action": TASK_TOKENS, "Resource": "*"})
    if access.user_pool:
        out.append({"Effect": "Allow", "Action": sorted(f"cognito-idp:{a}" for a in access.user_pool),
                    "Resource": arns.user_pool()})
    if access.send_email:
        out.append({"Effect": "Allow", "Action": EMAIL, "Resource": arns.email_identity()})
    if access.subscriber_queues:
        # queues users subscribe, in their own accounts: any queue outside the platform's account
        out.append({"Effect": "Allow", "Action": ["sqs:SendMessage"],
                    "Resource": f"arn:{arns.partition()}:sqs:*:*:*",
                    "Condition": {"StringNotEquals": {"aws:ResourceAccount": arns.account()}}})
    return out


class LocalArns:
    """The local platform's ARNs (moto: one account, physical names from the environment)."""

    def __init__(self, region: str, account: str, env: dict[str, str]):
        self.region, self._account, self.env = region, account, env

    def table(self, key: str) -> str:
        t = next(t for t in spec.TABLES if t.key == key)
        return f"arn:aws:dynamodb:{self.region}:{self._account}:table/{self.env.get(t.env, t.local_name)}"

    def bucket(self, key: str) -> str:
        b = next(b for b in spec.BUCKETS if b.key == key)
        return f"arn:aws:s3:::{self.env.get(b.env, b.local_name)}"

    def queue(self, key: str) -> str:
        q = next(q for q in spec.QUEUES if q.key == key)
        return f"arn:aws:sqs:{self.region}:{self._account}:{q.local_name}"

    def bus(self) -> str:
        return f"arn:aws:events:{self.region}:{self._account}:event-bus/{self.env.get(spec.EVENT_BUS_ENV)}"

    def state_machine(self, key: str) -> str:
        m = next(m for m in spec.STATE_MACHINES if m.key == key)
        return self.env.get(m.env, "")

    def user_pool(self) -> str:
        return f"arn:aws:cognito-idp:{self.region}:{self._account}:userpool/{self.env.get(spec.USER_POOL_ENV, '')}"

    def email_identity(self) -> str:
        return f"arn:aws:ses:{self.region}:{self._account}:identity/{self.env.get(spec.SES_SENDER_ENV, '')}"

    def account(self) -> str:
        return self._account

    def partition(self) -> str:
        return "aws"
