"""Domain events on the EventBridge bus (documented in docs/events.md).

Services do not publish: each event is written with the change it announces (the outbox attributes
of an item, ``invoices.outbox``), and the outbox function publishes what the table's stream brings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import aws

SOURCE = "orchestre"
BUS_ENV = "EVENT_BUS_NAME"
MAX_ENTRIES = 10  # PutEvents takes at most 10 entries
MAX_REQUEST_BYTES = 256 * 1024  # ... of at most 256 KiB together
# Entry error codes that another attempt may cure; any other (a malformed or refused entry) never will.
TRANSIENT_ERRORS = frozenset({"InternalFailure", "InternalException", "ThrottlingException", "ServiceUnavailable"})


def entry_size(detail_type: str, detail: str) -> int:
    """An entry's size as EventBridge counts it (the UTF-8 bytes of Source, DetailType and Detail)."""
    return len(SOURCE.encode()) + len(detail_type.encode()) + len(detail.encode())


@dataclass
class Published:
    """What became of a list of events: ``retry``, the indexes to publish again (in order: the first
    failure and every one after it); ``rejected``, those the bus will never take, with the reason."""

    retry: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)


class EventPublisher:
    def publish_many(self, events: list[tuple[str, str]]) -> Published:
        """Publish (detail-type, detail JSON) pairs, in order, in as few PutEvents calls as the limits
        allow. A call that raises comes back to the caller (nothing after it is tried)."""
        out = Published()
        chunk: list[int] = []
        size = 0
        for i, (detail_type, detail) in enumerate(events):
            n = entry_size(detail_type, detail)
            if n > MAX_REQUEST_BYTES:
                out.rejected[i] = f"EntryTooLarge: {n} bytes (at most {MAX_REQUEST_BYTES})"
                continue
            if chunk and (len(chunk) == MAX_ENTRIES or size + n > MAX_REQUEST_BYTES):
                if not self._put(events, chunk, out):
                    out.retry += [j for j in range(chunk[-1] + 1, len(events)) if j not in out.rejected]
                    return out
                chunk, size = [], 0
            chunk.append(i)
            size += n
        if chunk:
            self._put(events, chunk, out)
        return out

    def _put(self, events: list[tuple[str, str]], chunk: list[int], out: Published) -> bool:
        """One PutEvents call; False once an entry must be published again (it and the rest of the chunk
        come back, in order)."""
        reply = aws.client("events").put_events(Entries=[
            {"Source": SOURCE, "DetailType": events[i][0], "EventBusName": aws.env(BUS_ENV), "Detail": events[i][1]}
            for i in chunk])
        if not reply.get("FailedEntryCount"):
            return True
        for position, (i, entry) in enumerate(zip(chunk, reply["Entries"], strict=False)):
            code = entry.get("ErrorCode")
            if not code:
                continue
            if code not in TRANSIENT_ERRORS:
                out.rejected[i] = f"{code}: {entry.get('ErrorMessage', '')}"
                continue
            out.retry += [j for j in chunk[position:] if j not in out.rejected]
            return False
        return True

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        import json

        result = self.publish_many([(detail_type, json.dumps(detail, default=str))])
        if result.retry or result.rejected:
            raise RuntimeError(f"event {detail_type} not published: {result}")


class ParkedEvents:
    """Events the bus refused for good (too large, malformed), kept for operators instead of blocking
    the stream behind them: ``OUTBOX#PARKED`` / ``<at>#<event_id>``, with the key of the item that
    carried the event (its history entry, where the event stays written). Attribute names differ from
    the outbox's, so the stream's filter does not bring them back."""

    PK = "OUTBOX#PARKED"

    def __init__(self, table=None):
        from .dynamo import Table

        self.table = table or Table()

    def park(self, detail_type: str, detail: str, source_key: dict[str, str], reason: str, at: str) -> None:
        import json

        try:
            event_id = str(json.loads(detail).get("event_id") or "")
        except ValueError:
            event_id = ""
        item = {"PK": self.PK, "SK": f"{at}#{event_id or source_key.get('SK', '')}", "type": "PARKED_EVENT",
                "parked_type": detail_type, "event_id": event_id, "source_key": source_key, "reason": reason,
                "at": at}
        if len(detail.encode()) <= 300_000:  # the item's limit is 400 KB; larger ones stay in their source
            item["parked_detail"] = detail
        self.table.put(item)

    def list(self, limit: int, page_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        page = self.table.query(self.PK, limit=limit, page_token=page_token, newest_first=True)
        return [{k: i.get(k) for k in ("at", "parked_type", "event_id", "source_key", "reason", "parked_detail")}
                for i in page.items], page.next_token
