"""The local platform's data on disk: ``make run`` keeps it across restarts (``make reset`` drops it).

What is kept, read from moto's backends in this process (the moto server runs here):

- every item of the spec's DynamoDB tables;
- the latest version of every object of the spec's buckets, with its metadata (the bytes in
  ``blobs/``, one file per content, named by its ETag);
- every SQS queue and its messages (the spec's queues and those users created, such as
  subscribers' queues);
- the user pool's users (ids, passwords, status, groups, MFA settings) and their live tokens;
- the emails sent (``/_local/emails``).

Resources themselves are not kept: they are created from the spec at each start (so a new table
index or queue of the spec appears), then the data is put back, before bucket notifications are
set (restored ``inbound/`` drops are not integrated twice) and before any function runs. Workflow
executions are not kept: a routing cut short is restarted by the process function's sweep.

``state.json`` is written whole and renamed into place, after the blobs it names: a crash leaves the
previous save. The platform saves every ``interval`` seconds when something changed (a counter
bumped by moto's write operations) and on a clean stop, so a crash loses at most that interval.
Touches moto internals: moto's version is pinned.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import time
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from orchestre import platform as spec

from .files import atomic_write

log = logging.getLogger("orchestre_local.state")
ACCOUNT = "123456789012"
FORMAT = 1
# Operations of moto's backends that only read: everything else counts as a change.
_READS = ("get_", "list_", "describe_", "head_", "receive_message", "query", "scan", "batch_get_item",
          "transact_get_items", "admin_get_", "reset", "default_vpc_endpoint_service")
_generation = 0
_generation_lock = threading.Lock()


def _bump() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def track_writes() -> None:
    """Count the changes made through moto's backends (DynamoDB, S3, SQS, Cognito, SES)."""
    from moto.cognitoidp.models import CognitoIdpBackend
    from moto.dynamodb.models import DynamoDBBackend
    from moto.s3.models import S3Backend
    from moto.ses.models import SESBackend
    from moto.sqs.models import SQSBackend

    for cls in (DynamoDBBackend, S3Backend, SQSBackend, CognitoIdpBackend, SESBackend):
        for name, member in list(vars(cls).items()):
            if name.startswith("_") or name.startswith(_READS) or not inspect.isfunction(member):
                continue
            if getattr(member, "_orchestre_tracked", False):
                continue

            @functools.wraps(member)
            def tracked(self, *args, __original=member, **kwargs):
                try:
                    return __original(self, *args, **kwargs)
                finally:
                    _bump()

            tracked._orchestre_tracked = True
            setattr(cls, name, tracked)


def _backends(backend_dict) -> list:
    out = []
    for account in list(backend_dict.keys()):
        for region in list(backend_dict[account].keys()):
            out.append(backend_dict[account][region])
    return out


def _plain(value: Any) -> Any:
    """A JSON form of a moto model attribute, or ``_SKIP``."""
    if isinstance(value, Enum):
        return {"__enum__": value.value}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, tuple):
        return {"__tuple__": [_plain(v) for v in value]}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


def _unplain(value: Any, enums: dict[str, type[Enum]] | None = None, key: str | None = None) -> Any:
    if isinstance(value, dict):
        if "__datetime__" in value:
            return datetime.fromisoformat(value["__datetime__"])
        if "__enum__" in value:
            cls = (enums or {}).get(key or "")
            return cls(value["__enum__"]) if cls else value["__enum__"]
        if "__tuple__" in value:
            return tuple(_unplain(v) for v in value["__tuple__"])
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


class StateStore:
    def __init__(self, directory: Path, region: str):
        self.dir = Path(directory)
        self.region = region
        self.file = self.dir / "state.json"
        self.blobs = self.dir / "blobs"
        self._saved_generation = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._save_lock = threading.Lock()
        self.last_save_s = 0.0

    def exists(self) -> bool:
        return self.file.exists()

    # -- saving ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {"format": FORMAT, "saved_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                "dynamodb": self._dynamodb(), "s3": self._s3(), "sqs": self._sqs(), "cognito": self._cognito(),
                "ses": self._ses()}

    def save(self, force: bool = False) -> bool:
        """Write the state if it changed since the last save (or ``force``). True if written."""
        with self._save_lock:
            generation = _generation
            if not force and generation == self._saved_generation:
                return False
            started = time.perf_counter()
            self.dir.mkdir(parents=True, exist_ok=True)
            state = self.snapshot()
            atomic_write(self.file, json.dumps(state, ensure_ascii=False, separators=(",", ":")))
            self._saved_generation = generation
            self.last_save_s = time.perf_counter() - started
            return True

    def _dynamodb(self) -> dict[str, list]:
        from moto.dynamodb.models import dynamodb_backends

        from .consistency import _lock

        out: dict[str, list] = {}
        with _lock:  # writes are serialized under this lock: the snapshot is one moment of the tables
            for backend in _backends(dynamodb_backends):
                for t in spec.TABLES:
                    table = backend.tables.get(t.local_name)
                    if table is not None:
                        out[t.local_name] = [item.to_json()["Attributes"] for item in table.all_items()]
        return out

    def _s3(self) -> dict[str, list]:
        from moto.s3.models import FakeKey, s3_backends

        self.blobs.mkdir(parents=True, exist_ok=True)
        out: dict[str, list] = {}
        names = {b.local_name for b in spec.BUCKETS}
        for backend in _backends(s3_backends):
            for name, bucket in list(backend.buckets.items()):
                if name not in names:
                    continue
                objects = []
                for key_name in list(bucket.keys.keys()):
                    key = bucket.keys.get(key_name)
                    if not isinstance(key, FakeKey):  # a delete marker: the object is gone
                        continue
                    blob = key.etag.strip('"')
                    path = self.blobs / blob
                    if not path.exists():
                        atomic_write(path, key.value)
                    objects.append({"key": key_name, "blob": blob, "metadata": dict(key.metadata)})
                out[name] = objects
        return out

    def _sqs(self) -> list[dict]:
        from moto.sqs.models import sqs_backends

        settable = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
                    "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "VisibilityTimeout", "FifoQueue",
                    "ContentBasedDeduplication")
        out = []
        for backend in _backends(sqs_backends):
            for name, queue in list(backend.queues.items()):
                attributes = queue.attributes if isinstance(getattr(queue, "attributes", None), dict) else {}
                out.append({
                    "name": name,
                    "attributes": {k: str(v) for k, v in attributes.items() if k in settable and v not in (None, "")},
                    "messages": [{"body": m.body, "attributes": m.message_attributes,
                                  "group_id": getattr(m, "group_id", None),
                                  "deduplication_id": getattr(m, "deduplication_id", None)}
                                 for m in list(queue._messages)],
                })
        return out

    def _cognito(self) -> dict[str, Any]:
        from moto.cognitoidp.models import cognitoidp_backends

        out: dict[str, Any] = {}
        for backend in _backends(cognitoidp_backends):
            for pool in list(backend.user_pools.values()):
                users = []
                for user in list(pool.users.values()):
                    fields = {}
                    for k, v in vars(user).items():
                        if k in ("groups", "attribute_lookup"):
                            continue
                        try:
                            fields[k] = _plain(v)
                        except TypeError:
                            continue
                    fields["groups"] = sorted(g.group_name for g in user.groups)
                    users.append(fields)
                tokens = {}
                for attr in ("access_tokens", "refresh_tokens", "id_tokens"):
                    try:
                        tokens[attr] = _plain(dict(getattr(pool, attr, {}) or {}))
                    except TypeError:
                        continue
                out[pool.name] = {"users": users, "tokens": tokens}
        return out

    def _ses(self) -> list[dict]:
        from moto.ses.models import Message, ses_backends

        out = []
        for backend in _backends(ses_backends):
            for m in list(getattr(backend, "sent_messages", [])):
                if isinstance(m, Message):
                    out.append({"id": m.id, "source": m.source, "subject": m.subject, "body": m.body,
                                "destinations": m.destinations})
        return out

    # -- restoring -------------------------------------------------------------------------

    def restore(self) -> dict[str, int]:
        """Put the saved data back into the freshly provisioned resources. Returns counts."""
        state = json.loads(self.file.read_text(encoding="utf-8"))
        if state.get("format") != FORMAT:
            raise RuntimeError(f"{self.file}: unknown state format {state.get('format')}; make reset starts afresh")
        counts = {"items": self._restore_dynamodb(state.get("dynamodb", {})),
                  "objects": self._restore_s3(state.get("s3", {})),
                  "messages": self._restore_sqs(state.get("sqs", [])),
                  "users": self._restore_cognito(state.get("cognito", {})),
                  "emails": self._restore_ses(state.get("ses", []))}
        self._saved_generation = _generation
        return counts

    def _backend(self, backend_dict):
        return backend_dict[ACCOUNT][self.region]

    def _restore_dynamodb(self, tables: dict[str, list]) -> int:
        from moto.dynamodb.models import dynamodb_backends

        backend = self._backend(dynamodb_backends)
        n = 0
        for name, items in tables.items():
            if name not in backend.tables:
                log.warning("state: table %s is no longer in the spec; its %d items are dropped", name, len(items))
                continue
            for attrs in items:
                backend.put_item(name, attrs)
                n += 1
        return n

    def _restore_s3(self, buckets: dict[str, list]) -> int:
        from moto.s3.models import s3_backends

        backend = s3_backends[ACCOUNT]["aws"]
        n = 0
        for name, objects in buckets.items():
            if name not in backend.buckets:
                continue
            for obj in objects:
                path = self.blobs / obj["blob"]
                if not path.exists():
                    log.warning("state: the bytes of s3://%s/%s are missing; skipped", name, obj["key"])
                    continue
                key = backend.put_object(name, obj["key"], path.read_bytes())
                key.set_metadata(obj.get("metadata") or {}, replace=True)
                n += 1
        return n

    def _restore_sqs(self, queues: list[dict]) -> int:
        import boto3

        sqs = boto3.client("sqs", region_name=self.region)
        existing = {url.rsplit("/", 1)[-1]: url for url in sqs.list_queues().get("QueueUrls", [])}
        redrives = []
        for q in queues:
            if q["name"] not in existing:
                attributes = {k: v for k, v in q["attributes"].items() if k != "RedrivePolicy"}
                existing[q["name"]] = sqs.create_queue(QueueName=q["name"], Attributes=attributes)["QueueUrl"]
                if "RedrivePolicy" in q["attributes"]:
                    redrives.append((existing[q["name"]], q["attributes"]["RedrivePolicy"]))
        for url, policy in redrives:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy})
        n = 0
        for q in queues:
            url = existing[q["name"]]
            for start in range(0, len(q["messages"]), 10):
                entries = []
                for i, m in enumerate(q["messages"][start:start + 10]):
                    entry: dict[str, Any] = {"Id": str(i), "MessageBody": m["body"]}
                    if m.get("attributes"):
                        entry["MessageAttributes"] = m["attributes"]
                    if m.get("group_id"):
                        entry["MessageGroupId"] = m["group_id"]
                    if m.get("deduplication_id"):
                        entry["MessageDeduplicationId"] = m["deduplication_id"]
                    entries.append(entry)
                sqs.send_message_batch(QueueUrl=url, Entries=entries)
                n += len(entries)
        return n

    def _restore_cognito(self, pools: dict[str, Any]) -> int:
        from moto.cognitoidp.models import CognitoIdpUser, UserStatus, cognitoidp_backends
        from moto.cognitoidp.utils import flatten_attrs

        backend = self._backend(cognitoidp_backends)
        by_name = {p.name: p for p in backend.user_pools.values()}
        n = 0
        for name, saved in pools.items():
            pool = by_name.get(name)
            if pool is None:
                continue
            for fields in saved["users"]:
                user = CognitoIdpUser(pool.id, fields.get("username"), fields.get("password"),
                                      UserStatus.CONFIRMED, fields.get("attributes") or [])
                groups = fields.pop("groups", [])
                for k, v in fields.items():
                    if k != "user_pool_id":
                        setattr(user, k, _unplain(v, {"status": UserStatus}, k))
                user.attribute_lookup = flatten_attrs(user.attributes)
                for group_name in groups:
                    group = pool.groups.get(group_name)
                    if group is not None:
                        group.users.add(user)
                        user.groups.add(group)
                pool.users[user.username] = user
                n += 1
            for attr, tokens in saved.get("tokens", {}).items():
                getattr(pool, attr).update(_unplain(tokens))
        return n

    def _restore_ses(self, emails: list[dict]) -> int:
        from moto.ses.models import Message, ses_backends

        backend = self._backend(ses_backends)
        for e in emails:
            backend.sent_messages.append(Message(e["id"], e["source"], e["subject"], e["body"], e["destinations"]))
        return len(emails)

    # -- on a timer ------------------------------------------------------------------------

    def start_autosave(self, interval: float = 2.0) -> StateStore:
        def loop():
            while not self._stop.wait(interval):
                try:
                    self.save()
                except Exception:  # noqa: BLE001 - a failed save is retried at the next tick
                    log.exception("state: save failed")

        self._thread = threading.Thread(target=loop, name="state-autosave", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop saving on a timer and save a last time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.save()
        self.collect_blobs()

    def collect_blobs(self) -> None:
        """Remove the blobs no saved object names (replaced or deleted objects)."""
        if not self.file.exists() or not self.blobs.exists():
            return
        state = json.loads(self.file.read_text(encoding="utf-8"))
        used = {o["blob"] for objects in state.get("s3", {}).values() for o in objects}
        for path in self.blobs.iterdir():
            if path.name not in used:
                path.unlink(missing_ok=True)
