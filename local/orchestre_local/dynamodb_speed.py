"""moto's DynamoDB at the local platform's scale: two requests no longer cost the whole table.

moto 5.2.5 (pinned) answers two requests in time proportional to the whole table, so the local
platform slows down as its table fills (the bench writes thousands of items):

* ``TransactWriteItems`` deep-copies every table the transaction names
  (``DynamoDBBackend.transact_write_items``: ``copy.deepcopy(self.tables[name])``) to put the copy
  back if the transaction is cancelled.
* ``Query`` lists every item of the table, sorted (``Table.all_items()``), then keeps the queried
  partition: on the base table as on an index.

Patched here, with the same results:

1. Rollback by item. Writes are serialized (``consistency.py``; this patch takes the same lock), so
   during a transaction only its own operations change the table, and each one changes only the
   item of its key. The items the transaction names are copied before it runs (or noted absent);
   moto's own code then runs, its table copy made a no-op (``Table`` copies to itself in moto's
   ``copy.deepcopy`` while a guarded transaction runs); if it raises, the copies are put back and
   the items it created are removed. Errors are moto's (same code); the final state is the one
   moto's table copy gave. On a table with a stream, the records the transaction appended are
   taken back too (stream records are state). Where moto forgets to roll back (an entry holding two operations, a table named by
   its ARN), this rolls back too, as DynamoDB does.
2. Candidates by partition. ``Table.query`` runs moto's code with ``all_items()`` returning only
   the candidates, sorted as moto sorts them: on the base table the items stored under the
   queried hash key; on an index the items whose attribute of the first hash-key condition has the
   queried value, from an inverted index (attribute -> value -> item keys) kept per table. moto
   then filters, sorts, pages and projects them as before; the candidates include every item its
   hash-key filter keeps, so the result is the same. The inverted index is built on first use and
   kept up to date where items change: ``Table.put_item`` and ``Table.delete_item`` (put, delete,
   batch, transactions, PartiQL and import all go through them), ``DynamoDBBackend.update_item``
   (it edits the stored item in place) and the rollback of 1. Candidates are read under the write
   lock.
3. The responses are moto's bytes, written without walking each attribute through the botocore
   model: ``dynamodb_serializer``, installed here.

Table of 20,000 items in the platform's layout, through the moto server: a transaction of two
conditional puts 3.4 s -> 5 ms, a 50-item index query 0.92 s -> 0.11 s (what remained was moto's
response serializer, independent of the table's size: ~17 ms with ``dynamodb_serializer``), a
base-table query 0.74 s -> 5 ms.

Touches moto internals: moto's version is pinned. Installed with ``serialize_dynamodb_writes``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading

from .consistency import _lock

_ATTR = "_orchestre_postings"  # Table attribute: {attribute name: (value -> {item key}, item key -> value)}
_OTHER = object()  # values that cannot be dictionary keys (sets, lists, maps): always candidates
_local = threading.local()  # .guarded: in a transaction we roll back; .candidates: (table, items)


def speed_up_dynamodb() -> None:
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    from .dynamodb_serializer import fast_dynamodb_responses

    fast_dynamodb_responses()
    if getattr(Table.query, "_orchestre_fast", False):
        return
    backend_module.copy = _ModelsCopy(Table)
    _patch(DynamoDBBackend, "transact_write_items", _transact_write_items)
    _patch(DynamoDBBackend, "update_item", _update_item)
    _patch(Table, "put_item", _put_item)
    _patch(Table, "delete_item", _delete_item)
    _patch(Table, "all_items", _all_items)
    _patch(Table, "query", _query)


def _patch(cls, name, wrapper) -> None:
    original = getattr(cls, name)

    @functools.wraps(original)
    def method(self, *args, **kwargs):
        return wrapper(self, original, *args, **kwargs)

    method._orchestre_fast = True
    setattr(cls, name, method)


class _ModelsCopy:
    """``copy`` as seen by moto.dynamodb.models: a Table copies to itself in a guarded transaction."""

    def __init__(self, table_cls):
        self._table_cls = table_cls

    def deepcopy(self, x, memo=None):
        if getattr(_local, "guarded", False) and isinstance(x, self._table_cls):
            return x
        return copy.deepcopy(x, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


# -- item keys -----------------------------------------------------------------------------------
def _key(table, attrs):
    """(hash, range) of the item ``attrs`` (an item or a key) names in ``table``."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _stored(table, key):
    from moto.dynamodb.models.dynamo_type import Item

    hash_value, range_value = key
    part = table.items.get(hash_value)
    item = part.get(range_value) if table.range_key_attr and isinstance(part, dict) else part
    return item if isinstance(item, Item) else None


# -- 1. rollback by item -------------------------------------------------------------------------
def _transact_write_items(self, original, transact_items, *args, **kwargs):
    with _lock:
        snapshot = {}  # (table id, key) -> (table, key, copy of the item or None)
        tables = []
        for entry in transact_items if isinstance(transact_items, list) else ():
            for op_type, op in (entry.items() if isinstance(entry, dict) else ()):
                try:
                    table = self.get_table(op["TableName"])
                    key = _key(table, op["Item"] if op_type == "Put" else op["Key"])
                    if (id(table), key) not in snapshot:
                        snapshot[id(table), key] = (table, key, copy.deepcopy(_stored(table, key)))
                except Exception:  # noqa: S112 - moto fails this operation before it writes
                    continue
                tables.append(table)
        # stream records are state too: those the cancelled transaction appended are taken back
        streams = {id(t): (t.stream_shard, len(t.stream_shard.items)) for t in tables if t.stream_shard is not None}
        _local.guarded = True
        try:
            return original(self, transact_items, *args, **kwargs)
        except BaseException:
            for table, key, item in snapshot.values():
                _put_back(table, key, item)
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        finally:
            _local.guarded = False


def _put_back(table, key, item) -> None:
    hash_value, range_value = key
    if table.range_key_attr:
        if item is not None:
            table.items[hash_value][range_value] = item
        elif isinstance(table.items.get(hash_value), dict):
            table.items[hash_value].pop(range_value, None)
    elif item is not None:
        table.items[hash_value] = item
    else:
        table.items.pop(hash_value, None)
    _reindex(table, key)


# -- 2. candidates by partition ------------------------------------------------------------------
def _value_key(value):
    try:
        key = (value.type, value.cast_value)
        hash(key)
        return key
    except TypeError:
        return _OTHER


def _postings(table, attr):
    """The inverted index of ``attr`` in ``table`` (built on first use; call under the lock)."""
    postings = table.__dict__.setdefault(_ATTR, {})
    if attr not in postings:
        by_value, by_key = {}, {}
        for part in list(table.items.values()):
            for item in (list(part.values()) if isinstance(part, dict) else [part]):
                value = item.attrs.get(attr)
                if value is not None:
                    key, vk = (item.hash_key, item.range_key), _value_key(value)
                    by_value.setdefault(vk, {})[key] = None
                    by_key[key] = vk
        postings[attr] = (by_value, by_key)
    return postings[attr]


def _reindex(table, key) -> None:
    """After the item of ``key`` changed (or went): move it in every inverted index of the table."""
    postings = table.__dict__.get(_ATTR)
    if not postings:
        return
    item = _stored(table, key)
    for attr, (by_value, by_key) in postings.items():
        old = by_key.pop(key, None)
        if old is not None:
            bucket = by_value[old]
            bucket.pop(key, None)
            if not bucket:
                del by_value[old]
        value = item.attrs.get(attr) if item is not None else None
        if value is not None:
            vk = _value_key(value)
            by_value.setdefault(vk, {})[key] = None
            by_key[key] = vk


def _reindex_or_forget(table, attrs) -> None:
    try:
        key = _key(table, attrs)
    except Exception:  # the key cannot be read: rebuild the postings on next use
        table.__dict__.pop(_ATTR, None)
    else:
        _reindex(table, key)


def _put_item(self, original, item_attrs, *args, **kwargs):
    with _lock:
        try:
            return original(self, item_attrs, *args, **kwargs)
        finally:
            _reindex_or_forget(self, item_attrs)


def _delete_item(self, original, hash_key, range_key, *args, **kwargs):
    with _lock:
        try:
            return original(self, hash_key, range_key, *args, **kwargs)
        finally:
            _reindex(self, (hash_key, range_key if self.range_key_attr else None))


def _update_item(self, original, table_name, key, *args, **kwargs):
    with _lock:
        try:
            return original(self, table_name, key, *args, **kwargs)
        finally:
            try:
                table = self.get_table(table_name)
            except Exception:  # noqa: S110 - no table, nothing changed
                pass
            else:
                _reindex_or_forget(table, key)


def _all_items(self, original):
    pending = getattr(_local, "candidates", None)
    if pending is not None and pending[0] is self:
        _local.candidates = None
        return pending[1]
    return original(self)


@functools.cache
def _signature(function):
    return inspect.signature(function)


def _query(self, original, *args, **kwargs):
    call = _signature(original).bind(self, *args, **kwargs)
    candidates = _candidates(self, call.arguments.get("hash_key"), call.arguments.get("index_name"),
                             call.arguments.get("hash_key_conditions"))
    if candidates is None:
        return original(self, *args, **kwargs)
    candidates.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)  # as all_items()
    _local.candidates = (self, candidates)
    try:
        return original(self, *args, **kwargs)
    finally:
        _local.candidates = None


def _candidates(table, hash_key, index_name, hash_key_conditions):
    """A superset of the items moto's query keeps by hash key, or None (moto walks every item)."""
    from moto.dynamodb.models.dynamo_type import Item

    with _lock:
        if not index_name:
            if hash_key is None:
                return None
            part = table.items.get(hash_key)
            items = list(part.values()) if isinstance(part, dict) else [part]
            return [i for i in items if isinstance(i, Item)]
        if index_name not in {i.name for i in table.all_indexes()} or not hash_key_conditions:
            return None
        attr, value = hash_key_conditions[0]
        vk = _value_key(value)
        if vk is _OTHER:
            return None
        by_value, _by_key = _postings(table, attr)
        keys = [*by_value.get(vk, ()), *by_value.get(_OTHER, ())]
        return [item for item in (_stored(table, k) for k in keys) if item is not None]
