"""Lambda event source mappings on DynamoDB streams, on this machine (``platform.STREAMS``).

As on AWS: the table's stream records, in order, filtered by the mapping's pattern (records that do
not match are skipped and cost no invocation), handed to the function in batches of up to
``batch_size`` as an ``aws:dynamodb`` event. The function reports the first record that failed
(``batchItemFailures``): that record and those after it come again, after a backoff, until they
pass or ``max_attempts`` is reached; then the batch's description goes to the event-failures
queue (Lambda's on-failure destination for streams sends the shard and sequence range, not the
records) and the mapping moves on. A crashed invocation counts as a failed attempt of the batch.

moto keeps stream records in memory and never trims them: records consumed here are dropped.
The records of the data put back at start (state.py) are not delivered again: a mapping starts at
the stream's end when the platform starts. Touches moto internals (its stream shard): pinned.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import boto3

from orchestre import platform as spec

from .consistency import _lock
from .functions import Containers, FunctionError

log = logging.getLogger("orchestre_local.streams")
BACKOFF_S = (0.2, 0.4, 0.8, 1.6, 2.0)


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event filtering, for the rules the spec uses: literal values, ``exists``, ``prefix``."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(matches(p, value.get(k, _MISSING)) for k, p in pattern.items())
    if isinstance(pattern, list):
        for rule in pattern:
            if isinstance(rule, dict):
                if "exists" in rule and (value is not _MISSING) == bool(rule["exists"]):
                    return True
                if "prefix" in rule and isinstance(value, str) and value.startswith(rule["prefix"]):
                    return True
            elif value is not _MISSING and value == rule:
                return True
        return False
    return pattern == value


_MISSING = object()


class StreamPoller:
    def __init__(self, stream: spec.Stream, containers: Containers, region: str, failures_queue_url: str):
        self.stream = stream
        self.containers = containers
        self.region = region
        self.failures_queue_url = failures_queue_url
        table = next(t for t in spec.TABLES if t.key == stream.table)
        self.table_name = table.local_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{stream.table}-{stream.function}",
                                        daemon=True)
        self.position: int | None = None  # sequence number of the next record to read
        self.batches = 0

    def _shard(self):
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends["123456789012"][self.region].get_table(self.table_name).stream_shard

    def start(self) -> StreamPoller:
        shard = self._shard()
        with _lock:
            self.position = shard.starting_sequence_number + len(shard.items)  # the data put back is not replayed
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _read(self) -> list[dict]:
        """The next records (as the stream gives them), from ``position``, matching or not."""
        shard = self._shard()
        with _lock:
            start = self.position - shard.starting_sequence_number
            return [r.record for r in shard.items[start:start + self.stream.batch_size * 4]]

    def _trim(self) -> None:
        shard = self._shard()
        with _lock:
            done = self.position - shard.starting_sequence_number
            if done > 0:
                del shard.items[:done]
                shard.starting_sequence_number += done

    def _run(self) -> None:
        self._attempts = 0
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # noqa: BLE001 - the platform stopping, a broken worker: the batch comes again
                log.exception("%s: stream batch not delivered; retrying", self.stream.function)
                if self._stop.wait(0.5):
                    return

    def _step(self) -> None:
        """Read and deliver one batch, as Lambda's event source mapping does."""
        try:
            records = self._read()
        except Exception:  # noqa: BLE001 - the table is being replaced (a reset), or the platform stops
            self._stop.wait(0.5)
            return
        if not records:
            self._stop.wait(0.1)
            return
        batch, last = [], None
        for r in records:
            last = int(r["dynamodb"]["SequenceNumber"])
            if matches(self.stream.filter, r):
                batch.append(self._event_record(r))
                if len(batch) == self.stream.batch_size:
                    break
        if not batch:  # nothing to deliver: skipped, as Lambda's filter does
            self.position = last + 1
            self._trim()
            return
        failed_at = self._invoke(batch)
        if failed_at is None:
            self.position = int(batch[-1]["dynamodb"]["SequenceNumber"]) + 1
            self._trim()
            self._attempts = 0
            return
        self._attempts += 1
        self.position = failed_at  # that record and those after it come again
        if self._attempts >= self.stream.max_attempts:
            self._give_up(batch, failed_at)
            self.position = int(batch[-1]["dynamodb"]["SequenceNumber"]) + 1
            self._trim()
            self._attempts = 0
            return
        self._stop.wait(BACKOFF_S[min(self._attempts, len(BACKOFF_S)) - 1])

    def _event_record(self, r: dict) -> dict:
        out = json.loads(json.dumps(r, default=str))
        out.update(awsRegion=self.region, eventVersion="1.1",
                   eventSourceARN=f"arn:aws:dynamodb:{self.region}:123456789012:table/{self.table_name}/stream/local")
        return out

    def _invoke(self, batch: list[dict]) -> int | None:
        """None if the batch passed, else the sequence number to start again from."""
        self.batches += 1
        try:
            result = self.containers.invoke(self.stream.function, {"Records": batch}) or {}
        except FunctionError as exc:
            log.warning("%s failed on a batch of %d stream records: %s", self.stream.function, len(batch), exc)
            return int(batch[0]["dynamodb"]["SequenceNumber"])
        failures = result.get("batchItemFailures") or []
        if not failures:
            return None
        first = int(batch[0]["dynamodb"]["SequenceNumber"])
        try:
            failed_at = min(int(f["itemIdentifier"]) for f in failures)
        except (KeyError, TypeError, ValueError):  # not a sequence number of the batch: all of it again
            return first
        return max(failed_at, first)

    def _give_up(self, batch: list[dict], failed_at: int) -> None:
        record = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": self.stream.max_attempts,
                               "functionArn": f"arn:aws:lambda:{self.region}:123456789012:function:{self.stream.function}"},
            "DDBStreamBatchInfo": {"shardId": "local", "startSequenceNumber": str(failed_at),
                                   "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                                   "batchSize": len(batch), "streamArn": batch[0]["eventSourceARN"]},
        }
        log.error("%s: stream records dropped after %d attempts", self.stream.function, self.stream.max_attempts)
        try:
            boto3.client("sqs", region_name=self.region).send_message(QueueUrl=self.failures_queue_url,
                                                                       MessageBody=json.dumps(record))
        except Exception:  # noqa: BLE001
            log.exception("the failure record could not be queued")
