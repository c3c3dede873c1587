"""AWS calls counted on moto's side, and Lambda invocations counted at the local containers.

The handlers run in worker processes (one per Lambda container), so a botocore hook in the bench
process would miss their calls. Every AWS call of the platform, whichever process makes it, ends
up as one HTTP request to the embedded moto server, which runs in this process (werkzeug, one
thread per request). ``install()`` wraps ``DomainDispatcherApplication.__call__`` (moto's WSGI
entry point) and records, per request: the service (from the SigV4 credential scope), the
operation (``X-Amz-Target``, ``Action``, or the REST shape for S3 and Lambda), the request and
response bytes, the time moto spent on it, and for DynamoDB the items and their sizes (moto's own
attribute-size rule) with the read/write request units they cost on demand.

The SQS pollers' empty long-poll receives are recorded as ``idle`` and left out of the counts.
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs

ACCOUNT = "123456789012"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Call:
    service: str
    operation: str
    started: float
    seconds: float
    request_bytes: int
    response_bytes: int
    items: int = 0
    item_bytes: int = 0  # DynamoDB: sum of the items' sizes (written or read)
    wru: float = 0.0
    rru: float = 0.0
    idle: bool = False  # an SQS receive that returned nothing (poller background)
    messages: int = 0
    index_wru: float = 0.0  # of wru: the GSIs' share
    writes: list = field(default_factory=list)  # DynamoDB: each item written, with its units


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enabled: bool = True

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def mark(self) -> int:
        with self.lock:
            return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        with self.lock:
            return list(self.calls[mark:])

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


RECORDER = Recorder()


# -- DynamoDB item sizes and capacity units ------------------------------------------------------

def _item_size(item: dict) -> int:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return sum(len(k.encode()) + DynamoType(v).size() for k, v in item.items())


def _table(region: str, name: str):
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][region].get_table(name)


def item_image(region: str, table_name: str, key: dict) -> dict | None:
    """An item of a table as moto holds it now (read in this process: no request)."""
    return _image(_table(region, table_name), key)


def _image(table, item_or_key: dict) -> dict | None:
    """The item as moto holds it now, in DynamoDB JSON (None if absent)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    hk = item_or_key.get(table.hash_key_attr)
    rk = item_or_key.get(table.range_key_attr) if table.range_key_attr else None
    if hk is None:
        return None
    item = table.get_item(DynamoType(hk), DynamoType(rk) if rk else None)
    return item.to_json()["Attributes"] if item else None


def _writes(req: dict, op: str) -> list[tuple[str, str, dict, bool]]:
    """(kind, table, item or key, transactional) of each item a write request touches."""
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(op.removesuffix("Item"), req["TableName"], req.get("Item") or req.get("Key") or {}, False)]
    if op == "TransactWriteItems":
        out = []
        for entry in req.get("TransactItems", []):
            (kind, body), = entry.items()
            out.append((kind, body["TableName"], body.get("Item") or body.get("Key") or {}, True))
        return out
    if op == "BatchWriteItem":
        return [("Put" if "PutRequest" in r else "Delete", table,
                 (r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key", {}), False)
                for table, requests in req.get("RequestItems", {}).items() for r in requests]
    return []


def _units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _projected(index, table, image: dict | None) -> dict | None:
    """The index entry of an item (None when the item lacks the index's keys: sparse)."""
    if image is None or any(k not in image for k in index.schema_key_attrs):
        return None
    kind = (index.projection or {}).get("ProjectionType", "ALL")
    if kind == "ALL":
        return image
    keep = set(index.schema_key_attrs) | {table.hash_key_attr, table.range_key_attr}
    if kind == "INCLUDE":
        keep |= set(index.projection.get("NonKeyAttributes", []))
    return {k: v for k, v in image.items() if k in keep}


def write_units(table, before: dict | None, after: dict | None, transactional: bool,
                condition_check: bool = False) -> tuple[float, float]:
    """On-demand write request units of one item write: (base table, indexes).

    Base table: ceil(KB) of the larger of the item before and after, doubled in a transaction.
    Each GSI (its projection, not the whole item): a new entry is one write of ceil(projected KB),
    a removed entry one write, a changed index key a delete plus a put, a changed projection one
    write, and nothing when the projected attributes did not change (KEYS_ONLY / INCLUDE).
    """
    size = max(_item_size(before or {}), _item_size(after or {}))
    base = _units(size) * (2 if transactional else 1)
    if condition_check:
        return float(base), 0.0
    index_units = 0
    for index in getattr(table, "global_indexes", []) or []:
        old, new = _projected(index, table, before), _projected(index, table, after)
        if old is None and new is None or old == new:
            continue
        if old is None or new is None:
            index_units += _units(_item_size(old or new))
        elif any(old.get(k) != new.get(k) for k in index.schema_key_attrs):
            index_units += _units(_item_size(old)) + _units(_item_size(new))
        else:
            index_units += _units(max(_item_size(old), _item_size(new)))
    return float(base), float(index_units)


def before_images(region: str, req: dict, op: str) -> list:
    """Read, before moto applies a write, the items it will touch (for the units of the write)."""
    out = []
    for kind, name, item, transactional in _writes(req, op):
        try:
            table = _table(region, name)
            out.append((kind, table, item, transactional, _image(table, item)))
        except Exception:  # noqa: BLE001 - unknown table: moto answers the error itself
            continue
    return out


def _dynamodb_writes(call: Call, touched: list, failed: bool) -> None:
    for kind, table, item, transactional, before in touched:
        after = None if failed else (_image(table, item) if kind != "ConditionCheck" else before)
        if failed:  # a refused condition still costs the write on the base table
            after = before
        base, index = write_units(table, before, after, transactional, kind == "ConditionCheck" or failed)
        call.items += 1
        call.item_bytes += _item_size(after or before or item)
        call.wru += base + index
        call.index_wru += index
        sk = str(next(iter((item.get(table.range_key_attr) or {}).values()), "")) if table.range_key_attr else ""
        call.writes.append({"kind": kind, "sk": sk.split("#")[0], "base": base, "index": index})


def _dynamodb(call: Call, region: str, req: dict, resp: dict) -> None:
    op = call.operation
    if op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
        return  # counted by _dynamodb_writes, from the images before and after
    if op == "GetItem":
        item = resp.get("Item") or {}
        size = _item_size(item) if item else 0
        call.items, call.item_bytes = (1 if item else 0), size
        call.rru = max(1, math.ceil(size / 4096)) * (1 if req.get("ConsistentRead") else 0.5)
    elif op in ("Query", "Scan"):
        items = resp.get("Items", [])
        size = sum(_item_size(i) for i in items)
        call.items, call.item_bytes = len(items), size
        call.rru = max(1, math.ceil(size / 4096)) * (1 if req.get("ConsistentRead") else 0.5)
    elif op == "TransactGetItems":
        for r in resp.get("Responses", []):
            item = r.get("Item") or {}
            size = _item_size(item)
            call.items += 1
            call.item_bytes += size
            call.rru += max(1, math.ceil(size / 4096)) * 2
    elif op == "BatchGetItem":
        for items in resp.get("Responses", {}).values():
            for item in items:
                size = _item_size(item)
                call.items += 1
                call.item_bytes += size
                call.rru += max(1, math.ceil(size / 4096)) * (0.5)


# -- the WSGI wrapper ------------------------------------------------------------------------------

def _operation(service: str, environ: dict, body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    ctype = environ.get("CONTENT_TYPE", "")
    if body and "x-www-form-urlencoded" in ctype:
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
    if service == "lambda":
        return "Invoke" if path.endswith("/invocations") else f"{method} {path}"
    if service == "s3":
        has_key = path.strip("/").count("/") >= 1 or not environ.get("HTTP_HOST", "").startswith("127.")
        if method == "PUT":
            return "CopyObject" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else ("PutObject" if has_key else "CreateBucket")
        if method == "GET":
            return "GetObject" if has_key else "ListObjects"
        if method == "HEAD":
            return "HeadObject" if has_key else "HeadBucket"
        if method == "DELETE":
            return "DeleteObject"
        if method == "POST":
            return "DeleteObjects" if "delete" in query else "PostObject"
    return f"{method} {path.split('/')[1] if '/' in path else path}"


def install() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication.__call__, "_bench", False):
        return
    original = DomainDispatcherApplication.__call__

    def __call__(self, environ, start_response):
        if not RECORDER.enabled:
            return original(self, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        auth = environ.get("HTTP_AUTHORIZATION", "") or environ.get("QUERY_STRING", "").replace("%2F", "/")
        m = _SCOPE.search(auth) or re.search(r"X-Amz-Credential=[^/]+/\d{8}/([^/]+)/([^/&]+)/aws4_request", auth)
        region, service = (m.group(1), m.group(2)) if m else ("eu-west-3", "unsigned")
        if service == "unsigned" and environ.get("PATH_INFO", "").startswith("/moto-api"):
            return original(self, environ, start_response)
        operation = _operation(service, environ, body)
        touched: list = []
        if service == "dynamodb":
            try:
                touched = before_images(region, json.loads(body or b"{}"), operation)
            except Exception:  # noqa: BLE001 - a counting detail must not break the platform
                touched = []
        started = time.perf_counter()
        out = list(original(self, environ, start_response))
        seconds = time.perf_counter() - started
        payload = b"".join(x if isinstance(x, bytes) else x.encode() for x in out)
        call = Call(service, operation, started, seconds, len(body), len(payload))
        try:
            if service == "dynamodb":
                _dynamodb_writes(call, touched, failed=b'"__type"' in payload[:200])
                _dynamodb(call, region, json.loads(body or b"{}"), json.loads(payload or b"{}"))
            elif service == "sqs" and call.operation == "ReceiveMessage":
                call.messages = payload.count(b'"MessageId"') + payload.count(b"<MessageId>")
                call.idle = call.messages == 0
            elif service == "s3" and call.operation == "PutObject":
                call.items, call.item_bytes = 1, len(body)
        except Exception:  # noqa: BLE001 - a counting detail must not break the platform
            pass
        RECORDER.add(call)
        return out

    __call__._bench = True
    DomainDispatcherApplication.__call__ = __call__


# -- Lambda invocations, at the local containers ------------------------------------------------

@dataclass
class Invocation:
    function: str
    started: float
    seconds: float  # round trip seen by the caller (container queueing and IPC included)
    handler_seconds: float = 0.0  # the handler's run, measured in the container: what Lambda bills
    cpu_seconds: float = 0.0  # the CPU part of it (the rest waits on AWS calls)


INVOCATIONS: list[Invocation] = []
_inv_lock = threading.Lock()


def install_invocations(containers) -> None:
    """Record every Lambda invocation (API, queue pollers, workflow tasks) with its duration."""
    from orchestre_local.functions import last_invocation

    original = containers.invoke

    def invoke(name, event):
        started = time.perf_counter()
        last_invocation.wall = last_invocation.cpu = 0.0
        try:
            return original(name, event)
        finally:
            with _inv_lock:
                INVOCATIONS.append(Invocation(name, started, time.perf_counter() - started,
                                              last_invocation.wall, last_invocation.cpu))

    containers.invoke = invoke


def invocations_since(t0: float, t1: float | None = None) -> list[Invocation]:
    with _inv_lock:
        return [i for i in INVOCATIONS if i.started >= t0 and (t1 is None or i.started <= t1)]


def summarize(calls: list[Call]) -> dict:
    """Counts by service.operation (idle receives and lambda:Invoke from workflows apart)."""
    counted = [c for c in calls if not c.idle]
    by_op = Counter(f"{c.service}.{c.operation}" for c in counted)
    return {
        "total": sum(1 for c in counted if c.service != "lambda"),
        "by_operation": dict(sorted(by_op.items())),
        "scans": by_op.get("dynamodb.Scan", 0),
        "dynamodb_wru": round(sum(c.wru for c in counted), 2),
        "dynamodb_rru": round(sum(c.rru for c in counted), 2),
        "dynamodb_index_wru": round(sum(c.index_wru for c in counted), 2),
        "dynamodb_writes": _write_breakdown(counted),
        "dynamodb_items_written": sum(c.items for c in counted if c.wru),
        "dynamodb_items_read": sum(c.items for c in counted if c.rru),
        "dynamodb_item_bytes_written": sum(c.item_bytes for c in counted if c.wru),
        "dynamodb_item_bytes_read": sum(c.item_bytes for c in counted if c.rru),
        "s3_bytes_put": sum(c.item_bytes for c in counted if c.service == "s3" and c.operation == "PutObject"),
        "request_bytes": sum(c.request_bytes for c in counted),
        "response_bytes": sum(c.response_bytes for c in counted),
        "sqs_receives_with_messages": sum(1 for c in counted if c.operation == "ReceiveMessage"),
        "sqs_idle_receives": sum(1 for c in calls if c.idle),
    }


def _write_breakdown(calls: list[Call]) -> dict:
    """WRU by operation and item kind (sort key prefix): ``TransactWriteItems/Put INVOICE`` …"""
    out: dict[str, dict] = {}
    for c in calls:
        for w in c.writes:
            row = out.setdefault(f"{c.operation}/{w['kind']} {w['sk']}", {"items": 0, "base": 0.0, "index": 0.0})
            row["items"] += 1
            row["base"] += w["base"]
            row["index"] += w["index"]
    return dict(sorted(out.items(), key=lambda kv: -(kv[1]["base"] + kv[1]["index"])))


def moto_seconds(calls: list[Call]) -> float:
    """Time moto spent answering: workflow→Lambda invokes (platform code) and long polls excluded."""
    return sum(c.seconds for c in calls if c.service != "lambda" and c.operation != "ReceiveMessage")
