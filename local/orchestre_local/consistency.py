"""DynamoDB's atomicity, restored in moto.

DynamoDB applies each write (and each transaction) atomically: a conditional write that loses a
race fails. moto's DynamoDB backend checks conditions and writes without a lock, and its server
answers requests on several threads, so two conditional writes racing could both succeed. Each
write operation is serialized here, as DynamoDB does per item. Touches moto internals: moto's
version is pinned.
"""

from __future__ import annotations

import functools
import threading

_lock = threading.RLock()
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def serialize_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_orchestre_serialized", False):
            continue

        @functools.wraps(original)
        def serialized(self, *args, __original=original, **kwargs):
            with _lock:
                return __original(self, *args, **kwargs)

        serialized._orchestre_serialized = True
        setattr(DynamoDBBackend, name, serialized)
