"""Outbox: publishes to the bus the events written with the changes they announce.

A service never publishes after a write (a crash in between would lose the event): it writes the
event with the change, in the same transaction, as the outbox attributes of an item (history
entries today: ``repositories/invoices.outbox``). The table's stream brings those inserts here (an
event source mapping with a filter: other records never invoke the function), in order; they are
published in order, in as few PutEvents calls as the limits allow. A record that fails for now is
reported with those after it (``batchItemFailures``: the stream retries from it, as long as the
stream keeps it), so an event is published at least once; its ``event_id`` is stable, and consumers
are idempotent by it (notify). An event the bus will never take (too large, malformed) is parked
for operators (``GET /v1/admin/events/parked``) instead of holding back every event behind it.
"""

from __future__ import annotations

from orchestre.api.http import create_app, logger, make_handler, metrics
from orchestre.domain.common import now_iso
from orchestre.repositories.events import EventPublisher, ParkedEvents
from orchestre.repositories.invoices import EVENT_DETAIL, EVENT_TYPE

app = create_app()  # no routes: make_handler needs a resolver
publisher = EventPublisher()
parked = ParkedEvents()


def on_stream(event: dict, context) -> dict:
    records = [r for r in event.get("Records", []) if r.get("eventSource") == "aws:dynamodb"]
    pending = []
    for r in records:
        image = (r.get("dynamodb") or {}).get("NewImage") or {}
        if r.get("eventName") == "INSERT" and EVENT_TYPE in image and EVENT_DETAIL in image:
            keys = {k: v.get("S", "") for k, v in (r["dynamodb"].get("Keys") or {}).items()}
            pending.append((r["dynamodb"]["SequenceNumber"], image[EVENT_TYPE]["S"], image[EVENT_DETAIL]["S"], keys))
    if not pending:
        return {"batchItemFailures": []}
    try:
        result = publisher.publish_many([(t, d) for _, t, d, _ in pending])
    except Exception:  # noqa: BLE001 - the whole batch comes back
        logger.exception("events not published", extra={"count": len(pending)})
        metrics.add_metric(name="OutboxPublishFailures", unit="Count", value=len(pending))
        return {"batchItemFailures": [{"itemIdentifier": pending[0][0]}]}
    first = min(result.retry) if result.retry else len(pending)
    for i, reason in sorted(result.rejected.items()):
        if i < first:  # those after the first failure are tried again with it
            _, detail_type, detail, keys = pending[i]
            logger.error("event refused by the bus, parked", extra={"detail_type": detail_type, "reason": reason,
                                                                     "source_key": keys})
            parked.park(detail_type, detail, keys, reason, now_iso())
            metrics.add_metric(name="OutboxEventsParked", unit="Count", value=1)
    published = first - len([i for i in result.rejected if i < first])
    metrics.add_metric(name="EventsPublished", unit="Count", value=published)
    if result.retry:
        logger.warning("events not published, to be retried", extra={"failed": len(pending) - first})
        metrics.add_metric(name="OutboxPublishFailures", unit="Count", value=len(pending) - first)
        return {"batchItemFailures": [{"itemIdentifier": pending[first][0]}]}
    return {"batchItemFailures": []}


handler = make_handler(app, on_event=on_stream)
