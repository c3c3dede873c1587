"""Notifications: the subscriptions of structures, and what is sent when an invoice changes status.

- ``SubscriptionService``: a structure's managers subscribe it to events, by email or into an SQS
  queue of theirs (at most 20 subscriptions; each change audited).
- ``Notifier``: for an ``InvoiceStatusChanged`` or ``InvoiceOverdue`` event (docs/events.md), the
  buyer's and the supplier's matching subscriptions (or their default audience,
  ``domain.subscriptions``) get an email in French or English, or the event in their queue.
- ``render``: the emails, from ``orchestre/templates`` (``email.<lang>.txt`` for the layout,
  ``messages.<lang>.json`` for the words: statuses, reasons, what to do next).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from ..domain.common import new_id, now_iso
from ..domain.errors import Conflict, InvalidInput, NotFound
from ..domain.subscriptions import (
    MANAGER_EVENTS,
    MAX_SUBSCRIPTIONS,
    SQS_URL_PATTERN_ENV,
    Channel,
    CreateSubscription,
    Delivery,
    Language,
    NotificationEvent,
    Party,
    Side,
    Subscription,
    check_target,
    event_name,
    plan,
)
from ..platform import EVENT_FAILURES_ENV, QUEUES
from ..repositories.structures import StructureRepository
from ..repositories.subscriptions import (
    Channels,
    DeliveryLog,
    SubscriptionNotFound,
    SubscriptionRepository,
    TooManySubscriptions,
    Undeliverable,
)
from .structures import StructureService

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _platform_queue_urls() -> set[str]:
    """The platform's own queues, never a subscriber's target (no injecting into our pipelines)."""
    envs = [q.env for q in QUEUES] + [EVENT_FAILURES_ENV]
    return {os.environ[env] for env in envs if os.environ.get(env)}


# -- subscriptions -------------------------------------------------------------------------


class SubscriptionService:
    def __init__(self, structures: StructureService | None = None, repo: SubscriptionRepository | None = None,
                 channels: Channels | None = None):
        self.structures = structures or StructureService()
        self.repo = repo or SubscriptionRepository(self.structures.repo.table)
        self.channels = channels or Channels()

    def _not_found(self, subscription_id: str) -> NotFound:
        return NotFound(f"Subscription {subscription_id} not found.", code="SUBSCRIPTION_NOT_FOUND",
                        field="subscription_id")

    def create(self, user_id: str, structure_id: str, cmd: CreateSubscription) -> Subscription:
        self.structures._load_as_manager(user_id, structure_id)
        target = check_target(cmd.channel, cmd.target, os.environ.get(SQS_URL_PATTERN_ENV) or None)
        if cmd.channel is Channel.SQS and target in _platform_queue_urls():
            raise InvalidInput("This queue belongs to the platform.", code="INVALID_SUBSCRIPTION_TARGET",
                               field="target")
        events = [NotificationEvent.ALL] if NotificationEvent.ALL in cmd.events else cmd.events
        subscription = Subscription(subscription_id=new_id(), structure_id=structure_id, channel=cmd.channel,
                                    target=target, events=events, language=cmd.language, created_at=now_iso(),
                                    created_by=user_id)
        if cmd.channel is Channel.SQS:  # the queue must prove it is the subscriber's: it gets a token to confirm
            import hashlib
            import secrets

            token = secrets.token_urlsafe(24)
            subscription.confirmed, subscription.token_sha256 = False, hashlib.sha256(token.encode()).hexdigest()
            path = f"/v1/structures/{structure_id}/subscriptions/{subscription.subscription_id}/confirm"
            try:
                self.channels.send_message(target, {
                    "type": "SubscriptionConfirmation", "subscription_id": subscription.subscription_id,
                    "structure_id": structure_id, "token": token,
                    "confirm": f"POST {path} with {{\"token\": \"<token>\"}}",
                }, subscription.subscription_id, subscription.subscription_id)
            except Exception:  # noqa: BLE001 - no such queue, or it does not let the platform write
                raise InvalidInput("The platform cannot write to this queue: check that it exists and that its "
                                   "policy allows the platform's notification role.",
                                   code="INVALID_SUBSCRIPTION_TARGET", field="target") from None
        audit = self.structures._audit(structure_id, user_id, "SUBSCRIPTION_CREATED", subscription.subscription_id,
                                       channel=cmd.channel.value, address=target, events=[e.value for e in events],
                                       language=cmd.language.value)
        try:
            self.repo.create(subscription, audit)
        except TooManySubscriptions:
            raise Conflict(f"A structure has at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first.",
                           code="TOO_MANY_SUBSCRIPTIONS") from None
        return subscription

    def confirm(self, user_id: str, structure_id: str, subscription_id: str, token: str) -> Subscription:
        import hashlib
        import hmac

        subscription = self.get(user_id, structure_id, subscription_id)
        if subscription.confirmed:
            return subscription
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not subscription.token_sha256 or not hmac.compare_digest(digest, subscription.token_sha256):
            raise InvalidInput("This is not the token sent to the queue.", code="INVALID_CONFIRMATION_TOKEN",
                               field="token")
        confirmed = subscription.model_copy(update={"confirmed": True, "token_sha256": None})
        self.repo.confirm(confirmed, self.structures._audit(structure_id, user_id, "SUBSCRIPTION_CONFIRMED",
                                                            subscription_id))
        return confirmed

    def list(self, user_id: str, structure_id: str, limit: int, page_token: str | None):
        self.structures._load_as_manager(user_id, structure_id)
        return self.repo.list(structure_id, limit, page_token)

    def get(self, user_id: str, structure_id: str, subscription_id: str) -> Subscription:
        self.structures._load_as_manager(user_id, structure_id)
        subscription = self.repo.get(structure_id, subscription_id)
        if subscription is None:
            raise self._not_found(subscription_id)
        return subscription

    def delete(self, user_id: str, structure_id: str, subscription_id: str) -> None:
        subscription = self.get(user_id, structure_id, subscription_id)
        audit = self.structures._audit(structure_id, user_id, "SUBSCRIPTION_DELETED", subscription_id,
                                       channel=subscription.channel.value, address=subscription.target)
        try:
            self.repo.delete(structure_id, subscription_id, audit)
        except SubscriptionNotFound:  # deleted meanwhile by someone else
            raise self._not_found(subscription_id) from None


# -- emails --------------------------------------------------------------------------------


@cache
def _catalog(language: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / f"messages.{language}.json").read_text(encoding="utf-8"))


@cache
def _layout(language: str) -> Template:
    return Template((TEMPLATES / f"email.{language}.txt").read_text(encoding="utf-8"))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def _text(value: Any, limit: int = 200, multiline: bool = False) -> str:
    """A value of the event, safe to print: no control characters, bounded length."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text) if multiline else _CONTROL.sub(" ", text.replace("\n", " "))
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _amount(value: Any, currency: Any, language: str) -> str:
    try:
        number = Decimal(str(value))
        shown = f"{number:,.2f}"
        if language == "fr":
            shown = shown.replace(",", " ").replace(".", ",")
    except (InvalidOperation, ValueError):
        shown = _text(value, 40)
    return f"{shown} {_text(currency, 3)}".strip() if currency else shown


def _date(value: Any, language: str) -> str:
    try:
        d = date.fromisoformat(str(value)[:10])
    except ValueError:
        return _text(value, 40)
    month = _catalog(language)["months"][d.month - 1]
    day = "1er" if language == "fr" and d.day == 1 else str(d.day)
    return f"{day} {month} {d.year}"


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


def render(delivery: Delivery, name: str, detail: dict[str, Any], names: dict[Side, str]) -> Email:
    """The email of the event ``name`` to one side of the invoice, in the delivery's language."""
    language = Language(delivery.language).value
    words = _catalog(language)
    if name in MANAGER_EVENTS:  # a structure's event, not a payment request's
        template = words[MANAGER_EVENTS[name]]
        if "subject" not in template:  # one wording per status (a delegation's)
            template = template.get(str(detail.get("status")), template["default"])
        values = {"structure": _text(names.get(Side.SUPPLIER) or detail.get("structure_name") or "—"),
                  "date": _date(str(detail.get("at") or "")[:10], language),
                  "farm": _text(detail.get("beneficiary_name") or "—"), "delegate": _text(detail.get("delegate_name") or "—"),
                  "scope": _text(detail.get("scope") or ""), "until": _date(str(detail.get("until") or ""), language)}
        return Email(Template(template["subject"]).safe_substitute(values),
                     Template(template["body"]).safe_substitute(values).strip() + "\n")
    labels = words["labels"]
    doc_type = detail.get("document_type") if detail.get("document_type") in words["document"] else "INVOICE"
    doc = words["document"][doc_type]
    side = delivery.side
    other = Side.BUYER if side is Side.SUPPLIER else Side.SUPPLIER
    overdue = name == NotificationEvent.OVERDUE.value
    deadline = name == NotificationEvent.WORKS_DEADLINE.value
    kind = "overdue" if overdue else "deadline" if deadline else "status"
    status = _text(detail.get("status") or "", 60)
    status_words = words["status"].get(status, status)
    number = _text(detail.get("number") or detail.get("invoice_id") or "?", 80)

    facts: list[tuple[str, str]] = [
        (doc["label"], number),
        (labels["amount"], _amount(detail.get("amount_with_vat"), detail.get("currency"), language)),
        (labels["other"][doc_type][side.value], _text(names.get(other) or "—")),
    ]
    if detail.get("service_code"):
        facts.append((labels["service"], _text(detail["service_code"], 100)))
    if detail.get("billing_frame"):
        facts.append((labels["frame"], _text(detail["billing_frame"], 10)))
    works = detail.get("works") if isinstance(detail.get("works"), dict) else {}
    if works.get("deadline_at"):
        facts.append((labels["deadline"], _date(str(works["deadline_at"])[:10], language)))
    if status:
        code = detail.get("lifecycle_code")
        shown = f"{status_words} ({labels['code']} {code})" if isinstance(code, int) else status_words
        facts.append((labels["current_status"] if overdue else labels["status"], shown))
    if detail.get("reason_code"):
        reason = _text(detail["reason_code"], 40)
        described = words["reasons"].get(reason)
        facts.append((labels["reason"], f"{reason} ({described})" if described else reason))
    if detail.get("comment"):
        facts.append((labels["comment"], _text(detail["comment"], 2000, multiline=True)))
    if detail.get("mandate_number"):
        facts.append((labels["mandate_number"], _text(detail["mandate_number"], 80)))
    if detail.get("payment_due_date"):
        facts.append((labels["payment_due_date"], _date(detail["payment_due_date"], language)))
    if overdue:
        days = detail.get("days_late")
        if isinstance(days, int):
            facts.append((labels["days_late"], f"{days} {labels['day'] if days == 1 else labels['days']}"))
        if detail.get("late_interest") is not None:
            facts.append((labels["late_interest"], _amount(detail["late_interest"], detail.get("currency"), language)))
        if detail.get("fixed_indemnity") is not None:
            facts.append((labels["fixed_indemnity"],
                          _amount(detail["fixed_indemnity"], detail.get("currency"), language)))

    key = name if overdue or deadline else status
    steps = words["next"]
    step = (steps.get(doc_type, {}).get(side.value, {}).get(key) or steps[side.value].get(key)
            or steps[side.value]["default"])
    recipient = _text(names.get(side) or "—")
    why = words["why"]["subscription" if delivery.subscription_id else "default"]

    sep = labels["separator"]
    body = _layout(language).substitute(
        intro=words["intro"][kind][doc_type][side.value],
        facts="\n".join(f"  - {label}{sep}{_indent(value)}" for label, value in facts),
        meaning=words["meaning"].get(key, ""),
        next_step=Template(step).safe_substitute(doc),
        informational=words["informational"] if detail.get("informational") is True else "",
        why=Template(why).safe_substitute(recipient=recipient),
    )
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    deadline_words = _date(str(works.get("deadline_at") or detail.get("deadline_at") or "")[:10], language) \
        if (works.get("deadline_at") or detail.get("deadline_at")) else ""
    subject = Template(words["subject"][kind]).safe_substitute(document=doc["label"], number=number,
                                                               status=status_words, deadline=deadline_words)
    return Email(_text(subject, 200), body)


def _indent(value: str) -> str:
    return value.replace("\n", "\n    ")


# -- the notifier --------------------------------------------------------------------------


class NotificationFailed(Exception):
    """Some deliveries of an event failed for a reason a retry may cure: the event is retried."""


@dataclass
class Outcome:
    name: str | None = None  # the event name; None: not a notification event
    sent: list[Delivery] = field(default_factory=list)
    skipped: list[Delivery] = field(default_factory=list)  # done on a previous attempt
    undeliverable: list[tuple[Delivery, str]] = field(default_factory=list)


_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Notifier:
    def __init__(self, structures: StructureRepository | None = None,
                 subscriptions: SubscriptionRepository | None = None, channels: Channels | None = None,
                 log: DeliveryLog | None = None):
        self.structures = structures or StructureRepository()
        self.subscriptions = subscriptions or SubscriptionRepository(self.structures.table)
        self.channels = channels or Channels()
        self.log = log or DeliveryLog()

    def _managers(self, detail: dict[str, Any]) -> tuple[list[Party], dict[Side, str]]:
        """A structure's event (its billing mandate revoked): to each of its managers, at their own address."""
        from ..domain.models import AttachmentStatus, Role
        from ..repositories.structures import UserRepository

        structure_id = detail.get("structure_id")
        if not isinstance(structure_id, str) or not _ID.match(structure_id):
            raise ValueError("the event has no valid structure_id")
        structure = self.structures.get(structure_id)
        if structure is None:
            return [], {}
        users = UserRepository(self.structures.table)
        parties, token = [], None
        while True:
            members, token = self.structures.list_attachments(structure_id, AttachmentStatus.VALIDEE, 100, token)
            for m in members:
                user = users.get(m.user_id) if m.role in (Role.PRIMARY_MANAGER, Role.SECONDARY_MANAGER) else None
                if user is not None and not user.acts_as and not user.disabled:
                    parties.append(Party(Side.SUPPLIER, structure_id, (), user.email))
            if not token:
                return parties, {Side.SUPPLIER: structure.name}

    def _parties(self, detail: dict[str, Any]) -> tuple[list[Party], dict[Side, str]]:
        parties: list[Party] = []
        names: dict[Side, str] = {}
        wanted = [(Side.BUYER, detail.get("buyer_structure_id"), "buyer_structure_id"),
                  (Side.SUPPLIER, detail.get("supplier_structure_id"), "supplier_structure_id")]
        # also told (a works piece's MOE whose delay passed): as an addressee
        wanted += [(Side.BUYER, s, "also_structure_ids") for s in (detail.get("also_structure_ids") or [])[:5]]
        seen: set[str] = set()
        for side, structure_id, attr in wanted:
            if not isinstance(structure_id, str) or not _ID.match(structure_id):
                raise ValueError(f"the event has no valid {attr}")
            if structure_id in seen:
                continue
            seen.add(structure_id)
            structure = self.structures.get(structure_id)
            if structure is None:
                continue
            names.setdefault(side, structure.name)
            parties.append(Party(side, structure_id, tuple(self.subscriptions.all(structure_id)), structure.email))
        return parties, names

    def notify(self, event: dict[str, Any], event_key: str) -> Outcome:
        """Send the notifications of one bus event. Deliveries that fail for good are reported in
        the outcome; if any fails otherwise, the others are still made, then NotificationFailed
        is raised so the event comes back, and what succeeded is not sent again."""
        detail_type = event.get("detail-type")
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise ValueError("the event has no detail")
        name = event_name(str(detail_type), detail)
        outcome = Outcome(name)
        if name is None:
            return outcome
        parties, names = self._managers(detail) if name in MANAGER_EVENTS else self._parties(detail)
        deliveries = plan(name, parties)
        if not deliveries:
            return outcome
        # an event may come more than once (a retry, a republication): claimed, with what was delivered
        done = self.log.claim(event_key)
        if done is None:  # another copy is being handled now: it delivers, or comes back by its retry
            outcome.skipped.extend(deliveries)
            return outcome
        try:
            failed = self._deliver_all(deliveries, done, name, str(detail_type), detail, names, event_key, outcome)
        finally:  # what was made is recorded, and the claim released, whatever happened
            self.log.record(event_key, [d.key for d in outcome.sent] + [d.key for d, _ in outcome.undeliverable])
        if failed:
            raise NotificationFailed("; ".join(f"{d.channel.value} {d.subscription_id or 'default'}: "
                                               f"{type(e).__name__}: {e}" for d, e in failed)) from failed[0][1]
        return outcome

    def _deliver_all(self, deliveries: list[Delivery], done: set[str], name: str, detail_type: str,
                     detail: dict[str, Any], names: dict[Side, str], event_key: str,
                     outcome: Outcome) -> list[tuple[Delivery, Exception]]:
        reserved = _platform_queue_urls()
        failed: list[tuple[Delivery, Exception]] = []
        for d in deliveries:
            if d.key in done:
                outcome.skipped.append(d)
                continue
            try:
                if d.channel is Channel.SQS and d.target in reserved:
                    raise Undeliverable("ReservedQueue", "a platform queue is not a subscriber's target")
                self._deliver(d, name, detail_type, detail, names, event_key)
                outcome.sent.append(d)
            except Undeliverable as exc:
                outcome.undeliverable.append((d, exc.code))
            except Exception as exc:  # noqa: BLE001 - retried with the event; the others go on
                failed.append((d, exc))
        return failed

    def _deliver(self, d: Delivery, name: str, detail_type: str, detail: dict[str, Any], names: dict[Side, str],
                 event_key: str) -> None:
        if d.channel is Channel.EMAIL:
            email = render(d, name, detail, names)
            self.channels.send_email(d.target, email.subject, email.body)
            return
        body = {**detail, "detail_type": detail_type}
        dedup = hashlib.sha256(f"{event_key}|{d.target}".encode()).hexdigest()[:64]
        self.channels.send_message(d.target, body, group_id=str(detail.get("invoice_id") or event_key),
                                   dedup_id=dedup)
