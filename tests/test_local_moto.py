"""The local platform's DynamoDB (moto, patched by orchestre_local.dynamodb_speed) keeps DynamoDB's
semantics: a cancelled transaction leaves every item as it was, queries see every write; its
responses are the bytes moto's own serializer writes (orchestre_local.dynamodb_serializer)."""

from __future__ import annotations

import os
import random
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


def _value(rnd: random.Random, depth: int = 0) -> dict:
    kinds = ["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"] if depth < 3 else ["S", "N", "B", "BOOL"]
    t = rnd.choice(kinds)
    strings = ["", "a", "é€😀", 'q"u\\o\te\n', "\u2028\x00"]
    if t in ("S", "N"):
        return {t: rnd.choice(strings) if t == "S" else rnd.choice(["0", "-1.5", "1E+3", "12345678901234567890"])}
    if t in ("SS", "NS"):
        return {t: rnd.sample(["a", "b", "é", "z"] if t == "SS" else ["1", "2.5", "-3", "10"], rnd.randint(1, 4))}
    if t == "B":
        return {t: bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 9)))}
    if t == "BS":
        return {t: rnd.sample([b"\x00", b"\xff\xfe", b"abc", b"z" * 5], rnd.randint(1, 4))}
    if t == "M":
        return {t: {rnd.choice(["a", "S", "M", "x y", "é"]): _value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))}}
    if t == "L":
        return {t: [_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]}
    return {t: True if t == "NULL" else rnd.random() < 0.5}


def test_responses_are_the_bytes_moto_serializes(ddb):
    """moto's generic serializer and the local one give the same bytes, on every type of value and
    on values the local one leaves to moto (an empty map key, a None)."""
    from moto.core import serialize
    from moto.core.utils import get_service_model
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import dynamo_to_dict
    from moto.dynamodb import responses
    from moto.dynamodb.responses import DynamoResult

    fast = serialize.get_serializer_class("dynamodb", "json")
    assert fast is not serialize.JSONSerializer and fast._orchestre_fast  # installed by the platform
    assert responses.dynamo_to_dict is not dynamo_to_dict and responses.dynamo_to_dict._orchestre_fast
    model = get_service_model("dynamodb")

    def body(cls, operation: str, result) -> tuple:
        serializer = cls(operation_model=model.operation_model(operation), pretty_print=False,
                         value_picker=serialize.XFormedAttributePicker(response_transformers={}))
        response = serializer.serialize(result)
        return response["status_code"], response["headers"], response["body"]

    rnd = random.Random(7)
    items = [LimitedSizeDict({f"a{i}": DynamoType(_value(rnd)) for i in range(rnd.randint(0, 6))})  # as moto's items
             for _ in range(120)]
    odd = [{"M": {"": {"S": "empty key"}}}, {"L": [None]}, {"S": "x", "N": "1"}, {"X": "unknown"}, {"N": 3}]
    results = [
        ("Query", {"Count": 60, "ScannedCount": 61, "Items": items[:60],
                   "LastEvaluatedKey": {"PK": DynamoType({"B": b"\x00k"}), "SK": DynamoType({"B": "AGs="})},
                   "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}}),
        ("Scan", {"Count": 0, "ScannedCount": 0, "Items": []}),
        ("GetItem", {"Item": items[60]}), ("GetItem", {}),
        ("BatchGetItem", {"Responses": {"t": items[61:80], "u": []}, "UnprocessedKeys": {},
                          "ConsumedCapacity": [{"CapacityUnits": 3, "TableName": "t"}]}),
        ("TransactGetItems", {"Responses": [{"Item": i} for i in items[80:90]] + [{}]}),
        ("UpdateItem", {"Attributes": items[90], "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}),
        ("DeleteItem", {"Attributes": items[91], "ConsumedCapacityUnits": 0.5}),
        ("PutItem", {"Attributes": {f"o{i}": v for i, v in enumerate(odd)}}),
        ("Query", {"Count": 2, "ScannedCount": 2, "Items": [{"a": v} for v in odd] + [{"": {"S": "x"}}]}),
        ("TransactWriteItems", {"ConsumedCapacity": [], "ItemCollectionMetrics": {}}),
    ]
    for operation, result in results:
        reference = dynamo_to_dict(result)
        assert DynamoResult(result).result == reference  # the local dynamo_to_dict is moto's
        expected = body(serialize.JSONSerializer, operation, reference)
        assert body(fast, operation, reference) == expected, operation


def test_every_type_of_value_comes_back_as_written(ddb):
    client, table = ddb
    rnd = random.Random(11)
    p = f"T#{uuid.uuid4().hex}"
    written = []
    for i in range(30):
        item = {"PK": S(p), "SK": S(f"{i:02d}"), "GSI1PK": S(p), "GSI1SK": S(f"{i:02d}"),
                **{f"a{j}": _value(rnd) for j in range(rnd.randint(1, 6))}}
        old = client.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")
        assert "Attributes" not in old
        written.append(item)
    key = {"PK": S(p), "SK": S("00")}
    assert get(ddb, key) == written[0]
    assert client.query(TableName=table, KeyConditionExpression="PK = :p",
                        ExpressionAttributeValues={":p": S(p)})["Items"] == written
    page = client.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :p", Limit=7,
                        ScanIndexForward=False, ExpressionAttributeValues={":p": S(p)})
    assert page["Items"] == written[::-1][:7] and page["Count"] == 7
    assert page["LastEvaluatedKey"] == {k: written[-7][k] for k in ("PK", "SK", "GSI1PK", "GSI1SK")}
    got = client.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"PK": S(p), "SK": S(s)}}}
                                                   for s in ("01", "02", "missing")])["Responses"]
    assert got == [{"Item": written[1]}, {"Item": written[2]}, {}]
    batch = client.batch_get_item(RequestItems={table: {"Keys": [{"PK": S(p), "SK": S(f"{i:02d}")}
                                                                  for i in range(5)]}})["Responses"][table]
    assert sorted(batch, key=lambda i: i["SK"]["S"]) == written[:5]
    new = _value(rnd)
    updated = client.update_item(TableName=table, Key=key, UpdateExpression="SET v = :v",
                                 ExpressionAttributeValues={":v": new}, ReturnValues="ALL_NEW")["Attributes"]
    assert updated == {**written[0], "v": new}
    err = cancelled(ddb, [{"ConditionCheck": {"TableName": table, "Key": key,
                                              "ConditionExpression": "attribute_not_exists(PK)",
                                              "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    assert err.response["CancellationReasons"][0]["Item"] == {**written[0], "v": new}
