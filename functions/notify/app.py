"""Notify: emails and subscribers' SQS messages for invoice status changes and overdue payments.

No HTTP route: the function consumes the notifications queue, fed by the EventBridge rule
"status-changed". Each record is a bus event (``detail-type``, ``detail``; docs/events.md). A
record whose deliveries partly failed is reported as a batch item failure, so only it comes back
(the deliveries that succeeded are not repeated); after the queue's receive limit it goes to the
dead-letter queue.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orchestre.api.http import create_app, logger, make_handler, metrics
from orchestre.services.notifications import NotificationFailed, Notifier

app = create_app()  # no routes: make_handler needs a resolver
notifier = Notifier()
processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord) -> None:
    event = json.loads(record.body)
    if not isinstance(event, dict):
        raise ValueError("the message is not a bus event")
    key = str(event.get("id") or record.message_id)
    try:
        retried = int(record.attributes.approximate_receive_count or 1) > 1
    except (TypeError, ValueError):
        retried = True
    try:
        outcome = notifier.notify(event, key, retried=retried)
    except NotificationFailed as exc:
        logger.warning("notification failed, to be retried", extra={"event_id": key, "error": str(exc)})
        metrics.add_metric(name="NotificationsRetried", unit="Count", value=1)
        raise
    except ValueError as exc:
        logger.error("malformed event", extra={"event_id": key, "error": str(exc)})
        raise
    if outcome.name is None:
        logger.info("not a notification event", extra={"detail_type": event.get("detail-type"), "event_id": key})
        return
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


def on_queue(event: dict, context) -> dict:
    if not event.get("Records"):
        logger.warning("unexpected event", extra={"keys": sorted(event)})
        return {}
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)


handler = make_handler(app, on_event=on_queue)
