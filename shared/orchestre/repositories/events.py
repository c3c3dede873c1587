"""Domain events on the EventBridge bus (documented in docs/events.md)."""

from __future__ import annotations

import json
from typing import Any

from . import aws

SOURCE = "orchestre"
BUS_ENV = "EVENT_BUS_NAME"


class EventPublisher:
    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        out = aws.client("events").put_events(Entries=[{
            "Source": SOURCE, "DetailType": detail_type, "EventBusName": aws.env(BUS_ENV),
            "Detail": json.dumps(detail, default=str),
        }])
        if out.get("FailedEntryCount"):
            raise RuntimeError(f"event {detail_type} not published: {out['Entries']}")
