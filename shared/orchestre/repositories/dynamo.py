"""A thin layer over the DynamoDB client: typed items, conditional writes, transactions, cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..domain.errors import InvalidInput
from ..platform import TABLES
from . import aws

_ser = TypeSerializer()
_deser = TypeDeserializer()
MAIN_TABLE_ENV = next(t.env for t in TABLES if t.key == "main")


def to_av(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def from_av(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deser.deserialize(v) for k, v in item.items()}


class ConditionFailed(Exception):
    """A conditional write lost: ``index`` is the failed operation of a transaction (0 otherwise)."""

    def __init__(self, index: int = 0, item: dict | None = None):
        super().__init__(f"condition failed at operation {index}")
        self.index = index
        self.item = item


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


def all_items(fetch: Callable[[str | None], Page]) -> Iterator[dict[str, Any]]:
    """Every item of a paginated query: ``fetch(page_token)`` returns one page."""
    token = None
    while True:
        page = fetch(token)
        yield from page.items
        token = page.next_token
        if not token:
            return


def encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str | None, partition_attr: str, partition_value: str,
                 key_attrs: frozenset[str] | None = None) -> dict[str, Any] | None:
    """Decode a cursor and check it belongs to the same query (no reading another partition) and
    holds exactly the key attributes of the table or index (``key_attrs``)."""
    if not token:
        return None
    bad = InvalidInput("The page_token is not valid for this query.", code="INVALID_PAGE_TOKEN", field="page_token")
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise bad from None
    if not isinstance(key, dict) or len(key) > 4:
        raise bad
    if key_attrs is not None and set(key) != key_attrs:
        raise bad
    if key.get(partition_attr) != {"S": partition_value}:
        raise bad
    for value in key.values():
        if not (isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)):
            raise bad
    return key


class Table:
    """One DynamoDB table, named by the environment (same layout locally and on AWS)."""

    def __init__(self, env_name: str = MAIN_TABLE_ENV):
        self._env_name = env_name

    @property
    def name(self) -> str:
        return aws.env(self._env_name)

    @property
    def _client(self):
        return aws.client("dynamodb")

    def get(self, pk: str, sk: str, consistent: bool = False) -> dict[str, Any] | None:
        out = self._client.get_item(
            TableName=self.name, Key=to_av({"PK": pk, "SK": sk}), ConsistentRead=consistent
        )
        return from_av(out["Item"]) if "Item" in out else None

    def put(self, item: dict[str, Any], condition: str | None = None, names=None, values=None) -> None:
        args: dict[str, Any] = {"TableName": self.name, "Item": to_av(item)}
        _condition(args, condition, names, values)
        args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            self._client.put_item(**args)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                old = exc.response.get("Item")
                raise ConditionFailed(0, from_av(old) if old else None) from None
            raise

    def update(
        self, pk: str, sk: str, expression: str, names=None, values=None, condition: str | None = None
    ) -> dict[str, Any]:
        args: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_av({"PK": pk, "SK": sk}),
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        _condition(args, condition, names, values)
        try:
            return from_av(self._client.update_item(**args)["Attributes"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                old = exc.response.get("Item")
                raise ConditionFailed(0, from_av(old) if old else None) from None
            raise

    def delete(self, pk: str, sk: str, condition: str | None = None, names=None, values=None) -> None:
        args: dict[str, Any] = {"TableName": self.name, "Key": to_av({"PK": pk, "SK": sk})}
        _condition(args, condition, names, values)
        try:
            self._client.delete_item(**args)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed() from None
            raise

    def batch_put(self, items: list[dict[str, Any]]) -> None:
        """Unconditional puts, 25 at a time (BatchWriteItem; unprocessed items retried with a backoff):
        for idempotent items only, whose key says what they are (writing one twice changes nothing)."""
        import time

        for start in range(0, len(items), 25):
            request = {self.name: [{"PutRequest": {"Item": to_av(i)}} for i in items[start:start + 25]]}
            for attempt in range(8):
                request = self._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(0.05 * 2 ** attempt)
            if request:
                raise RuntimeError(f"{len(request[self.name])} items still unprocessed")

    def batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The items of these keys that exist (BatchGetItem, 100 at a time; unprocessed keys retried)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request = {self.name: {"Keys": [to_av({"PK": pk, "SK": sk}) for pk, sk in keys[start:start + 100]]}}
            for _ in range(8):
                answer = self._client.batch_get_item(RequestItems=request)
                out += [from_av(i) for i in answer.get("Responses", {}).get(self.name, [])]
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out

    def transact(self, operations: list[dict[str, Any]]) -> None:
        """Run operations made by ``put_op`` / ``update_op`` / ``check_op`` atomically."""
        items = []
        for op in operations:
            kind, body = next(iter(op.items()))
            items.append({kind: {"TableName": self.name, **body}})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            for index, reason in enumerate(reasons):
                if reason.get("Code") == "ConditionalCheckFailed":
                    old = reason.get("Item")
                    raise ConditionFailed(index, from_av(old) if old else None) from None
            raise

    def query(
        self,
        partition_value: str,
        *,
        index: str | None = None,
        begins_with: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
        newest_first: bool = False,
        sort_between: tuple[str | None, str | None] | None = None,
        filters: list[tuple[str, str, Any]] | None = None,
    ) -> Page:
        """A key query (never a scan). ``sort_between`` bounds the sort key; ``filters`` are
        ``(attribute, "=" | ">=" | "<=", value)`` applied to the items read (a page may then hold
        fewer than ``limit``)."""
        pk_attr, sk_attr = ("PK", "SK") if index is None else (f"{index}PK", f"{index}SK")
        args: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_attr},
            "ExpressionAttributeValues": {":pk": {"S": partition_value}},
            "Limit": limit,
            "ScanIndexForward": not newest_first,
        }
        if index:
            args["IndexName"] = index
        if begins_with:
            args["KeyConditionExpression"] += " AND begins_with(#sk, :prefix)"
            args["ExpressionAttributeNames"]["#sk"] = sk_attr
            args["ExpressionAttributeValues"][":prefix"] = {"S": begins_with}
        attrs = frozenset({"PK", "SK", pk_attr, sk_attr})
        low, high = sort_between or (None, None)
        if low or high:
            names, values = args["ExpressionAttributeNames"], args["ExpressionAttributeValues"]
            names["#sk"] = sk_attr
            if low and high:
                args["KeyConditionExpression"] += " AND #sk BETWEEN :low AND :high"
                values[":low"], values[":high"] = {"S": low}, {"S": high}
            elif low:
                args["KeyConditionExpression"] += " AND #sk >= :low"
                values[":low"] = {"S": low}
            else:
                args["KeyConditionExpression"] += " AND #sk <= :high"
                values[":high"] = {"S": high}
        if filters:
            clauses = []
            for i, (attr, op, operand) in enumerate(filters):
                args["ExpressionAttributeNames"][f"#f{i}"] = attr
                args["ExpressionAttributeValues"][f":f{i}"] = _ser.serialize(operand)
                clauses.append(f"#f{i} {op} :f{i}")
            args["FilterExpression"] = " AND ".join(clauses)
        start = decode_token(page_token, pk_attr, partition_value, attrs)
        if start:
            args["ExclusiveStartKey"] = start
        out = self._client.query(**args)
        return Page([from_av(i) for i in out.get("Items", [])], encode_token(out.get("LastEvaluatedKey")))


def _condition(args: dict, condition: str | None, names, values) -> None:
    if condition:
        args["ConditionExpression"] = condition
    if names:
        args["ExpressionAttributeNames"] = names
    if values:
        args["ExpressionAttributeValues"] = to_av(values)


def put_op(item: dict[str, Any], condition: str | None = None, names=None, values=None) -> dict:
    body: dict[str, Any] = {"Item": to_av(item)}
    _condition(body, condition, names, values)
    if condition:
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Put": body}


def update_op(pk: str, sk: str, expression: str, names=None, values=None, condition: str | None = None) -> dict:
    body: dict[str, Any] = {"Key": to_av({"PK": pk, "SK": sk}), "UpdateExpression": expression}
    _condition(body, condition, names, values)
    if condition:
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": body}


def delete_op(pk: str, sk: str) -> dict:
    return {"Delete": {"Key": to_av({"PK": pk, "SK": sk})}}
