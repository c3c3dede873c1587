"""Domain events on the EventBridge bus (documented in docs/events.md).

Services do not publish: each event is written with the change it announces (the outbox attributes
of an item, ``invoices.outbox``), and the outbox function publishes what the table's stream brings.
"""

from __future__ import annotations

from typing import Any

from . import aws

SOURCE = "orchestre"
BUS_ENV = "EVENT_BUS_NAME"
MAX_ENTRIES = 10  # PutEvents takes at most 10 entries


class EventPublisher:
    def publish_many(self, events: list[tuple[str, str]]) -> list[int]:
        """Publish (detail-type, detail JSON) pairs, in order; the indexes of those that failed."""
        failed: list[int] = []
        for start in range(0, len(events), MAX_ENTRIES):
            chunk = events[start:start + MAX_ENTRIES]
            out = aws.client("events").put_events(Entries=[
                {"Source": SOURCE, "DetailType": detail_type, "EventBusName": aws.env(BUS_ENV), "Detail": detail}
                for detail_type, detail in chunk])
            if out.get("FailedEntryCount"):
                failed += [start + i for i, e in enumerate(out["Entries"]) if e.get("ErrorCode")]
                failed += range(start + len(chunk), len(events))  # not tried: they come back in order
                break
        return failed

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        import json

        if self.publish_many([(detail_type, json.dumps(detail, default=str))]):
            raise RuntimeError(f"event {detail_type} not published")
