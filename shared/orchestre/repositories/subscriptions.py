"""Subscriptions of structures, the channels notifications go out through, and a delivery log.

Items of the main table:

| item | PK | SK |
| --- | --- | --- |
| subscription | STRUCT#<id> | SUBS#<subscription> |
| subscription counter (at most 20) | STRUCT#<id> | COUNTER#SUBSCRIPTIONS |

A subscription is created or deleted in one transaction with the structure's counter (the
limit holds under concurrent requests) and its audit event.

The delivery log (idempotency table, expiring after a day) remembers the deliveries made for an
event, so that a retry or a republication of the same event does not repeat them.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..domain.models import AuditEvent
from ..domain.subscriptions import MAX_SUBSCRIPTIONS, Subscription, sqs_region
from ..platform import TABLES
from . import aws
from .dynamo import ConditionFailed, Table, put_op, to_av, update_op
from .structures import StructureRepository, structure_pk

COUNTER_SK = "COUNTER#SUBSCRIPTIONS"
_IDEMPOTENCY_ENV = next(t.env for t in TABLES if t.key == "idempotency")


class TooManySubscriptions(Exception):
    pass


class SubscriptionNotFound(Exception):
    pass


class SubscriptionRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    @staticmethod
    def _item(s: Subscription) -> dict[str, Any]:
        item = {"PK": structure_pk(s.structure_id), "SK": f"SUBS#{s.subscription_id}", "type": "SUBSCRIPTION"}
        item.update(s.model_dump(mode="json", exclude_none=True))
        if s.token_sha256:
            item["token_sha256"] = s.token_sha256  # excluded from the model's dumps (responses)
        return item

    def create(self, subscription: Subscription, audit: AuditEvent) -> None:
        """Add a subscription if the structure has fewer than the maximum (TooManySubscriptions)."""
        pk = structure_pk(subscription.structure_id)
        count = update_op(pk, COUNTER_SK, "SET #c = if_not_exists(#c, :zero) + :one, #t = :type",
                          {"#c": "count", "#t": "type"},
                          {":zero": 0, ":one": 1, ":max": MAX_SUBSCRIPTIONS, ":type": "COUNTER"},
                          condition="attribute_not_exists(#c) OR #c < :max")
        try:
            self.table.transact([count, put_op(self._item(subscription), "attribute_not_exists(PK)"),
                                 StructureRepository._audit_op(audit)])
        except ConditionFailed as exc:
            if exc.index == 0:
                raise TooManySubscriptions() from None
            raise

    def delete(self, structure_id: str, subscription_id: str, audit: AuditEvent) -> None:
        pk = structure_pk(structure_id)
        remove = {"Delete": {"Key": to_av({"PK": pk, "SK": f"SUBS#{subscription_id}"}),
                             "ConditionExpression": "attribute_exists(PK)"}}
        count = update_op(pk, COUNTER_SK, "SET #c = #c - :one", {"#c": "count"}, {":one": 1, ":zero": 0},
                          condition="#c > :zero")
        try:
            self.table.transact([remove, count, StructureRepository._audit_op(audit)])
        except ConditionFailed as exc:
            if exc.index == 0:
                raise SubscriptionNotFound() from None
            raise

    def confirm(self, subscription: Subscription, audit: AuditEvent) -> None:
        self.table.transact([put_op(self._item(subscription), "attribute_exists(PK)"),
                             StructureRepository._audit_op(audit)])

    def get(self, structure_id: str, subscription_id: str) -> Subscription | None:
        item = self.table.get(structure_pk(structure_id), f"SUBS#{subscription_id}")
        return Subscription.model_validate(item) if item else None

    def list(self, structure_id: str, limit: int = 50, page_token: str | None = None
             ) -> tuple[list[Subscription], str | None]:
        page = self.table.query(structure_pk(structure_id), begins_with="SUBS#", limit=limit, page_token=page_token)
        return [Subscription.model_validate(i) for i in page.items], page.next_token

    def all(self, structure_id: str) -> list[Subscription]:
        items, _ = self.list(structure_id, limit=MAX_SUBSCRIPTIONS * 2)  # one page holds them all
        return items


# -- channels ------------------------------------------------------------------------------

# Errors that a retry will not cure: the address or queue is wrong, gone, or closed to us.
PERMANENT_ERRORS = frozenset({
    "MessageRejected", "InvalidParameterValue", "MailFromDomainNotVerifiedException",
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue", "AccessDenied",
    "AccessDeniedException", "InvalidAddress", "InvalidClientTokenId", "KMS.AccessDeniedException",
    "KMS.NotFoundException", "KMS.DisabledException", "InvalidMessageContents",
})


class Undeliverable(Exception):
    """A delivery failed for good (bad or closed target): not worth retrying."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def _classify(exc: ClientError) -> Exception:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    if code in PERMANENT_ERRORS:
        return Undeliverable(code, error.get("Message", ""))
    return exc


@cache
def _sqs_client(region: str | None):
    if region is None or region == aws.client("sqs").meta.region_name:
        return aws.client("sqs")
    # a subscriber's queue in another region is reached through that region's endpoint
    return boto3.client("sqs", region_name=region, config=aws._CONFIG)


class Channels:
    """Where notifications go out: emails through SES, messages into subscribers' SQS queues."""

    def send_email(self, to: str, subject: str, body: str) -> str:
        try:
            out = aws.client("ses").send_email(
                Source=aws.env("SES_SENDER"),
                Destination={"ToAddresses": [to]},
                Message={"Subject": {"Data": subject, "Charset": "UTF-8"},
                         "Body": {"Text": {"Data": body, "Charset": "UTF-8"}}},
            )
        except ClientError as exc:
            raise _classify(exc) from exc
        return out["MessageId"]

    def send_message(self, queue_url: str, body: dict, group_id: str, dedup_id: str) -> str:
        args: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": json.dumps(body, default=str)}
        if queue_url.endswith(".fifo"):
            args.update(MessageGroupId=group_id, MessageDeduplicationId=dedup_id)
        try:
            out = _sqs_client(sqs_region(queue_url)).send_message(**args)
        except ClientError as exc:
            raise _classify(exc) from exc
        return out["MessageId"]


class DeliveryLog:
    """Deliveries already made for an event (by its event_id), kept a day: a second delivery of the same
    event (a retry, a republication by the outbox) does not make them again. Handling a copy starts by
    claiming the event for a short lease (a conditional write): a copy arriving while another is being
    handled is dropped, since that one makes every delivery or comes back by its own retry."""

    TTL_SECONDS = 24 * 3600
    LEASE_SECONDS = 40  # longer than the notify function's timeout (30 s, platform.py); its retries come later

    @property
    def _table(self) -> str:
        return aws.env(_IDEMPOTENCY_ENV)

    @staticmethod
    def _key(event_key: str) -> dict:
        return {"id": {"S": f"notify-deliveries#{event_key}"}}

    def claim(self, event_key: str) -> set[str] | None:
        """The deliveries made already for this event, now claimed; None while another copy holds it."""
        moment = int(time.time())
        try:
            out = aws.client("dynamodb").update_item(
                TableName=self._table, Key=self._key(event_key),
                UpdateExpression="SET #l = :until, #e = :exp",
                ConditionExpression="attribute_not_exists(#l) OR #l < :now",
                ExpressionAttributeNames={"#l": "lease_until", "#e": "expiration"},
                ExpressionAttributeValues={":until": {"N": str(moment + self.LEASE_SECONDS)},
                                           ":now": {"N": str(moment)},
                                           ":exp": {"N": str(moment + self.TTL_SECONDS)}},
                ReturnValues="ALL_NEW")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return set(out["Attributes"].get("delivered", {}).get("SS", []))

    def record(self, event_key: str, delivery_keys: list[str]) -> None:
        """The deliveries made (none: only the claim is released)."""
        names = {"#l": "lease_until"}
        values: dict = {}
        expression = "REMOVE #l"
        if delivery_keys:
            expression = "ADD #d :keys REMOVE #l"
            names["#d"] = "delivered"
            values[":keys"] = {"SS": sorted(set(delivery_keys))}
        aws.client("dynamodb").update_item(TableName=self._table, Key=self._key(event_key),
                                           UpdateExpression=expression, ExpressionAttributeNames=names,
                                           **({"ExpressionAttributeValues": values} if values else {}))