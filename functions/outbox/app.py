"""Outbox: publishes to the bus the events written with the changes they announce.

A service never publishes after a write (a crash in between would lose the event): it writes the
event with the change, in the same transaction, as the outbox attributes of an item (history
entries today: ``repositories/invoices.outbox``). The table's stream brings those inserts here (an
event source mapping with a filter: other records never invoke the function), in order; they are
published in order, ten per PutEvents. A record that fails is reported with those after it
(``batchItemFailures``: the stream retries from it), so an event is published at least once; its
``event_id`` is stable, and consumers are idempotent by it (notify).
"""

from __future__ import annotations

from orchestre.api.http import create_app, logger, make_handler, metrics
from orchestre.repositories.events import EventPublisher
from orchestre.repositories.invoices import EVENT_DETAIL, EVENT_TYPE

app = create_app()  # no routes: make_handler needs a resolver
publisher = EventPublisher()


def on_stream(event: dict, context) -> dict:
    records = [r for r in event.get("Records", []) if r.get("eventSource") == "aws:dynamodb"]
    pending = []
    for r in records:
        image = (r.get("dynamodb") or {}).get("NewImage") or {}
        if r.get("eventName") == "INSERT" and EVENT_TYPE in image and EVENT_DETAIL in image:
            pending.append((r["dynamodb"]["SequenceNumber"], image[EVENT_TYPE]["S"], image[EVENT_DETAIL]["S"]))
    if not pending:
        return {"batchItemFailures": []}
    try:
        failed = publisher.publish_many([(t, d) for _, t, d in pending])
    except Exception:  # noqa: BLE001 - the whole batch comes back
        logger.exception("events not published", extra={"count": len(pending)})
        metrics.add_metric(name="OutboxPublishFailures", unit="Count", value=len(pending))
        return {"batchItemFailures": [{"itemIdentifier": pending[0][0]}]}
    if failed:
        first = min(failed)  # this one and every one after it come back, in order
        logger.warning("events not published, to be retried", extra={"failed": len(failed)})
        metrics.add_metric(name="OutboxPublishFailures", unit="Count", value=len(pending) - first)
        metrics.add_metric(name="EventsPublished", unit="Count", value=first)
        return {"batchItemFailures": [{"itemIdentifier": pending[first][0]}]}
    metrics.add_metric(name="EventsPublished", unit="Count", value=len(pending))
    return {"batchItemFailures": []}


handler = make_handler(app, on_event=on_stream)
