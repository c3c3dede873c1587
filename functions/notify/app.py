"""Notify: emails and subscribers' SQS messages for invoice status changes and overdue payments.

No HTTP route: EventBridge's rule "status-changed" invokes the function asynchronously with each
bus event (``detail-type``, ``detail``; docs/events.md). Idempotent by the event's ``event_id``:
what was delivered for an event is logged, and a delivery is never made twice (the outbox
publishes at least once; EventBridge and Lambda deliver at least once). If a delivery fails for a
reason that may pass, the others are still made, and the invocation fails: Lambda retries it twice
(the deliveries already made are not repeated), then puts the event in the event-failures queue
(alarmed). Deliveries that can never succeed (a deleted subscriber queue) are reported and do not
fail the event.
"""

from __future__ import annotations

from orchestre.api.http import create_app, logger, make_handler, metrics
from orchestre.services.notifications import NotificationFailed, Notifier

app = create_app()  # no routes: make_handler needs a resolver
notifier = Notifier()


def on_bus_event(event: dict, context) -> dict:
    if "detail-type" not in event:
        logger.warning("unexpected event", extra={"keys": sorted(event)})
        return {}
    # the event's own id (written with the change it announces): a republished event is the same event
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    key = str(detail.get("event_id") or event.get("id") or "")
    if not key:
        raise ValueError("the bus event has no id")
    try:
        outcome = notifier.notify(event, key)
    except NotificationFailed as exc:
        logger.warning("notification failed, to be retried", extra={"event_id": key, "error": str(exc)})
        metrics.add_metric(name="NotificationsRetried", unit="Count", value=1)
        raise
    except ValueError as exc:
        logger.error("malformed event", extra={"event_id": key, "error": str(exc)})
        raise
    if outcome.name is None:
        logger.info("not a notification event", extra={"detail_type": event.get("detail-type"), "event_id": key})
        return {"sent": 0}
    for delivery, code in outcome.undeliverable:
        logger.warning("undeliverable notification", extra={
            "event_id": key, "event": outcome.name, "channel": delivery.channel.value, "error": code,
            "structure_id": delivery.structure_id, "subscription_id": delivery.subscription_id})
    for channel in ("EMAIL", "SQS"):
        sent = sum(1 for d in outcome.sent if d.channel.value == channel)
        if sent:
            metrics.add_metric(name="EmailsSent" if channel == "EMAIL" else "QueueMessagesSent", unit="Count",
                               value=sent)
    if outcome.undeliverable:
        metrics.add_metric(name="NotificationsUndeliverable", unit="Count", value=len(outcome.undeliverable))
    return {"sent": len(outcome.sent), "skipped": len(outcome.skipped), "undeliverable": len(outcome.undeliverable)}


handler = make_handler(app, on_event=on_bus_event)
