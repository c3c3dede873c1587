"""The local platform's DynamoDB (moto, patched by orchestre_local.dynamodb_speed) keeps DynamoDB's
semantics: a cancelled transaction leaves every item as it was, queries see every write."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def ddb(platform):
    return boto3.client("dynamodb"), os.environ["TABLE_NAME"]


def S(v: str) -> dict:
    return {"S": v}


def get(ddb, key: dict) -> dict | None:
    client, table = ddb
    return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def keys_in(ddb, index: str, pk: str) -> list[str]:
    client, table = ddb
    items = client.query(TableName=table, IndexName=index, KeyConditionExpression=f"{index}PK = :p",
                         ExpressionAttributeValues={":p": S(pk)})["Items"]
    return [i["PK"]["S"] for i in items]


def cancelled(ddb, ops: list[dict]) -> ClientError:
    client, _table = ddb
    with pytest.raises(ClientError) as e:
        client.transact_write_items(TransactItems=ops)
    return e.value


def test_transaction_failing_on_its_second_operation_changes_nothing(ddb):
    client, table = ddb
    p = uuid.uuid4().hex
    a = {"PK": S(f"T#{p}#a"), "SK": S("X")}
    client.put_item(TableName=table, Item={**a, "v": {"N": "1"}, "GSI1PK": S(f"T#{p}#one"), "GSI1SK": S("1")})

    # the first operation changes an existing item (and its index key), the second one fails
    err = cancelled(ddb, [
        {"Update": {"TableName": table, "Key": a, "UpdateExpression": "SET v = :two, GSI1PK = :other",
                    "ExpressionAttributeValues": {":two": {"N": "2"}, ":other": S(f"T#{p}#two")}}},
        {"ConditionCheck": {"TableName": table, "Key": {"PK": S(f"T#{p}#missing"), "SK": S("X")},
                            "ConditionExpression": "attribute_exists(PK)"}},
    ])
    assert err.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in err.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert get(ddb, a) == {**a, "v": {"N": "1"}, "GSI1PK": S(f"T#{p}#one"), "GSI1SK": S("1")}
    assert keys_in(ddb, "GSI1", f"T#{p}#one") == [a["PK"]["S"]] and keys_in(ddb, "GSI1", f"T#{p}#two") == []

    # the first operation creates an item, the second one deletes one, the third one fails
    b, d = {"PK": S(f"T#{p}#b"), "SK": S("X")}, {"PK": S(f"T#{p}#d"), "SK": S("X")}
    client.put_item(TableName=table, Item={**d, "GSI1PK": S(f"T#{p}#one"), "GSI1SK": S("2")})
    err = cancelled(ddb, [
        {"Put": {"TableName": table, "Item": {**b, "GSI2PK": S(f"T#{p}#b"), "GSI2SK": S("1")},
                 "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Delete": {"TableName": table, "Key": d}},
        {"Put": {"TableName": table, "Item": {**a, "v": {"N": "3"}}, "ConditionExpression": "v = :two",
                 "ExpressionAttributeValues": {":two": {"N": "2"}}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
    ])
    reasons = err.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "None", "ConditionalCheckFailed"]
    assert reasons[2]["Item"]["v"] == {"N": "1"}
    assert get(ddb, b) is None and keys_in(ddb, "GSI2", f"T#{p}#b") == []
    assert get(ddb, d) == {**d, "GSI1PK": S(f"T#{p}#one"), "GSI1SK": S("2")}
    assert get(ddb, a)["v"] == {"N": "1"} and keys_in(ddb, "GSI1", f"T#{p}#one") == [a["PK"]["S"], d["PK"]["S"]]


def test_transaction_naming_one_item_twice_changes_nothing(ddb):
    _client, table = ddb
    c = {"PK": S(f"T#{uuid.uuid4().hex}"), "SK": S("X")}
    err = cancelled(ddb, [
        {"Put": {"TableName": table, "Item": {**c, "v": {"N": "1"}}}},
        {"Update": {"TableName": table, "Key": c, "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "2"}}}},
    ])
    assert err.response["Error"]["Code"] == "ValidationException"
    assert get(ddb, c) is None


def test_queries_see_every_write(ddb):
    client, table = ddb
    p = uuid.uuid4().hex
    g1, g2 = f"T#{p}#g1", f"T#{p}#g2"
    keys = [{"PK": S(f"T#{p}#{i}"), "SK": S("X")} for i in range(4)]
    for i, k in enumerate(keys[:3]):
        client.put_item(TableName=table, Item={**k, "GSI1PK": S(g1), "GSI1SK": S(str(i))})
    assert keys_in(ddb, "GSI1", g1) == [k["PK"]["S"] for k in keys[:3]]
    client.update_item(TableName=table, Key=keys[0], UpdateExpression="SET GSI1PK = :g",
                       ExpressionAttributeValues={":g": S(g2)})  # moves to another partition
    client.update_item(TableName=table, Key=keys[1], UpdateExpression="REMOVE GSI1PK")  # leaves the index
    client.update_item(TableName=table, Key=keys[3], UpdateExpression="SET GSI1PK = :g, GSI1SK = :s",
                       ExpressionAttributeValues={":g": S(g1), ":s": S("9")})  # created by an update
    assert keys_in(ddb, "GSI1", g1) == [keys[2]["PK"]["S"], keys[3]["PK"]["S"]]
    assert keys_in(ddb, "GSI1", g2) == [keys[0]["PK"]["S"]]
    moved = {**keys[1], "GSI1PK": S(g2), "GSI1SK": S("5")}
    client.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": keys[2]}},
                                                  {"PutRequest": {"Item": moved}}]})
    client.transact_write_items(TransactItems=[{"Delete": {"TableName": table, "Key": keys[3]}}])
    assert keys_in(ddb, "GSI1", g1) == []
    assert keys_in(ddb, "GSI1", g2) == [keys[0]["PK"]["S"], keys[1]["PK"]["S"]]  # by GSI1SK
    found = client.query(TableName=table, KeyConditionExpression="PK = :p",
                         ExpressionAttributeValues={":p": keys[1]["PK"]})["Items"]
    assert found == [moved]
