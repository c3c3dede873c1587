"""Data access for invoices and flows.

| item | PK | SK | GSI1 (PK / SK) | GSI2 (PK / SK) |
| --- | --- | --- | --- | --- |
| invoice | INV#<id> | INVOICE | SUPPLIER#<structure> / <deposited_at> | BUYER#<structure> / <deposited_at> |
| justice memo | INV#<id> | INVOICE | MEMOPROVIDER#<structure> / <deposited_at> | MEMOCOURT#<court> / <deposited_at> (once sent) |
| number guard | INVNUM#<seller>#<year>#<number> | GUARD | | |
| memo number guard | MEMONUM#<provider>#<number> | GUARD | | |
| flow | FLOW#<id> | FLOW | DEPOSITOR#<id> / <received_at>#<flow> | |
| status history | INV#<id> | HIST#<at>#<rand> | | |

The sparse GSI3 (keys only) holds the invoices whose payment clock runs (``DUE#<due date>`` / id:
the job reads the last days' partitions to find the invoices that became late), the invoices being
routed (``ROUTING#<day>`` / ``<since>#<id>``: a sweep restarts the ones that stay there), the
parked ones (``PARKED`` / ``<since>#<id>``, for operators) and unfinished flows (``PENDINGFLOW#<day>``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ..domain.flows import Flow, FlowStatus
from ..domain.invoices import HistoryEntry, Invoice
from ..domain.lifecycle import CLOCK_RUNNING, Status
from ..domain.payment import PaymentClock, due_date
from .dynamo import ConditionFailed, Page, Table, put_op

ROUTING = frozenset({Status.DEPOSEE.value, Status.EN_COURS_ACHEMINEMENT.value})
PARKED = "PARKED"


def _relative(key: str, base: str) -> str:
    return "~/" + key[len(base):] if key.startswith(base) else key


def _absolute(key: str, base: str) -> str:
    return base + key[2:] if key.startswith("~/") else key


# (detail-type, detail): a domain event, written with the change it announces
Event = tuple[str, dict[str, Any]]
EVENT_TYPE, EVENT_DETAIL = "event_type", "event_detail"


def outbox(event: Event, event_id: str) -> dict[str, Any]:
    """The attributes that make an item the outbox of its event: the ``outbox`` function, fed by the
    table's stream, publishes every item inserted with them (``platform.STREAMS``). ``event_id`` is
    stable: consumers are idempotent by it (a retried publication is the same event)."""
    detail_type, detail = event
    return {EVENT_TYPE: detail_type, EVENT_DETAIL: json.dumps({**detail, "event_id": event_id}, default=str,
                                                              separators=(",", ":"))}


@dataclass(frozen=True)
class Change:
    """A move of a payment request: the record after it, as read before it, its history entry, its event."""

    after: Invoice
    before: Invoice
    history: HistoryEntry
    event: Event | None = None


@dataclass(frozen=True)
class Creation:
    """A new payment request, its number guard's owner (the seller), its history entry, its event."""

    record: Invoice
    guard_owner: str
    history: HistoryEntry | None = None
    event: Event | None = None
    # the number guard's key when it is not the invoice one (memos: ``memo_guard_pk``); "" for none
    # (a draft whose number the platform gives at submission)
    guard_pk: str | None = None


class DuplicateInvoice(Exception):
    def __init__(self, invoice_id: str):
        super().__init__(invoice_id)
        self.invoice_id = invoice_id


def number_guard_pk(seller: str, year: int, number: str) -> str:
    return f"INVNUM#{seller}#{year}#{number.strip().upper()}"


def memo_guard_pk(provider: str, number: str) -> str:
    """A memo's number is unique for its provider, whatever the year."""
    return f"MEMONUM#{provider}#{number.strip().upper()}"


# Where each kind of payment request is listed: (its issuer's prefix in GSI1, its addressee's in GSI2).
# Works pieces are listed by their contract, not as invoices.
LISTINGS: dict[str, tuple[str | None, str | None]] = {
    "INVOICE": ("SUPPLIER#", "BUYER#"), "REVENUE_ORDER": ("SUPPLIER#", "BUYER#"),
    "WORKS_PIECE": (None, None), "JUSTICE_MEMO": ("MEMOPROVIDER#", "MEMOCOURT#"),
    "TIC_REQUEST": ("TICFARM#", "TICSERVICE#"),
}


class InvoiceRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    # The invoice item is kept under 1 KB: every write of it costs ceil(KB) units, twice in a
    # transaction, plus its two listing indexes (bench/RESULTS.md). What the key already says is
    # not repeated (the id, both structures), defaults are not written, and file keys under the
    # invoice's own prefix are stored relative to it.
    _DEFAULTS = {"document_type": "INVOICE", "informational": False, "overdue_notified": False, "billing_frame": "A1"}

    @classmethod
    def _item(cls, inv: Invoice, routing_since: str | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {"PK": f"INV#{inv.invoice_id}", "SK": "INVOICE"}
        issuer, addressee = LISTINGS.get(inv.document_type, (None, None))
        listed = issuer == "SUPPLIER#"  # as an invoice: the structures are in the index keys only
        if issuer:
            item.update({"GSI1PK": f"{issuer}{inv.supplier_structure_id}", "GSI1SK": inv.deposited_at})
        if addressee and inv.status != Status.BROUILLON.value:  # a draft is its issuer's alone
            item.update({"GSI2PK": f"{addressee}{inv.buyer_structure_id}", "GSI2SK": inv.deposited_at})
        data = inv.model_dump(mode="json", exclude_none=True,
                              exclude={"document", "invoice_id", *(("supplier_structure_id", "buyer_structure_id")
                                                                   if listed else ())})
        for name, default in cls._DEFAULTS.items():
            if data.get(name) == default:
                del data[name]
        base = f"invoices/{inv.invoice_id}/"
        data["files"] = {k: (_relative(v, base) if k != "attachment_keys" else {n: _relative(x, base) for n, x in v.items()})
                         for k, v in data["files"].items() if v}
        if inv.payment_clock:
            data["payment_clock"] = {k: v for k, v in inv.payment_clock.items() if v is not None}
        item.update(data)
        item["amount_num"] = Decimal(str(inv.amount_with_vat))  # numeric, for amount filters
        clock = PaymentClock.model_validate(inv.payment_clock) if inv.payment_clock else None
        if (clock is not None and inv.status in CLOCK_RUNNING and clock.paid_at is None
                and clock.suspended_since is None):
            item["GSI3PK"] = f"DUE#{due_date(clock).isoformat()}"
            item["GSI3SK"] = inv.invoice_id
        elif inv.status in ROUTING:  # being routed: a sweep restarts it if it stays there
            since = routing_since or inv.updated_at  # the same key through the routing: no index rewrite
            item["GSI3PK"] = f"ROUTING#{since[:10]}"
            item["GSI3SK"] = f"{since}#{inv.invoice_id}"
        elif inv.status == Status.EN_ERREUR.value:  # parked: operators list them (few, rare)
            item["GSI3PK"] = PARKED
            item["GSI3SK"] = f"{inv.updated_at}#{inv.invoice_id}"
        elif inv.works and inv.works.get("deadline_at"):  # a works deadline runs: the job wakes it (no scan)
            wake = inv.works["reminder_at"] if inv.works.get("reminder_at") and not inv.works.get("reminded") \
                else inv.works["deadline_at"]
            item["GSI3PK"] = f"WORKSDUE#{wake[:10]}"
            item["GSI3SK"] = f"{wake}#{inv.invoice_id}"
        return item

    @staticmethod
    def _load(item: dict[str, Any]) -> Invoice:
        data = dict(item)
        invoice_id = data["PK"].removeprefix("INV#")
        data.setdefault("invoice_id", invoice_id)  # items written before the compact layout have it
        if data.get("GSI1PK", "").startswith("SUPPLIER#"):  # listed invoices: the structures are in the index keys
            data.setdefault("supplier_structure_id", data["GSI1PK"].removeprefix("SUPPLIER#"))
            data.setdefault("buyer_structure_id", data["GSI2PK"].removeprefix("BUYER#"))
        base = f"invoices/{invoice_id}/"
        files = dict(data.get("files") or {})
        for k, v in files.items():
            files[k] = {n: _absolute(x, base) for n, x in v.items()} if isinstance(v, dict) else _absolute(v, base)
        files.setdefault("xml_key", "")
        data["files"] = files
        return Invoice.model_validate(data)

    @staticmethod
    def routing_entry(item: dict[str, Any]) -> tuple[str, str]:
        """(invoice id, routing start) of a ``routing_since`` index entry (keys only)."""
        return item["PK"].removeprefix("INV#"), item["GSI3SK"].rsplit("#", 1)[0]

    def routing_since(self, day: str, limit: int = 100, page_token: str | None = None) -> Page:
        """Invoices still being routed (DEPOSEE, EN_COURS_ACHEMINEMENT) that entered routing on
        ``day`` (keys only: see ``routing_entry``)."""
        return self.table.query(f"ROUTING#{day}", index="GSI3", limit=limit, page_token=page_token)

    @staticmethod
    def _history_op(entry: HistoryEntry, event: Event | None = None) -> dict:
        """The history entry; with ``event``, also the outbox of the change (see ``outbox``)."""
        item = {"PK": f"INV#{entry.invoice_id}", "SK": f"HIST#{entry.at}#{secrets.token_hex(3)}", "type": "HISTORY"}
        item.update(entry.model_dump(mode="json", exclude_none=True))
        if event is not None:
            item.update(outbox(event, f"{entry.invoice_id}/{item['SK'].removeprefix('HIST#')}"))
        return put_op(item)

    def create(self, invoice: Invoice, guard_seller: str, history: HistoryEntry | None = None,
               event: Event | None = None) -> None:
        """Create the invoice and its (seller, year, number) guard atomically, with its history
        entry and the event that announces it (the outbox).

        The same flow re-run after a crash finds its own guard and is told the invoice exists.
        """
        self.commit([], [Creation(invoice, guard_seller, history, event)])

    def commit(self, changes: list[Change], creations: list[Creation], extra_ops: list[dict] | None = None) -> None:
        """Moves (conditional on the status and version each left), creations (each with its number
        guard: DuplicateInvoice), their history entries and events, and ``extra_ops``, atomically."""
        ops: list[dict] = []
        guards: dict[int, Creation] = {}
        for c in creations:
            guard = number_guard_pk(c.guard_owner, c.record.issue_date.year, c.record.number) \
                if c.guard_pk is None else c.guard_pk
            if guard:
                guards[len(ops)] = c
                ops.append(self.guard_op(guard, c.record.invoice_id))
            ops.append(put_op(self._item(c.record), "attribute_not_exists(PK)"))
            if c.history is not None:
                ops.append(self._history_op(c.history, c.event))
            elif c.event is not None:  # the outbox is the history entry: without one the event would be lost
                raise ValueError(f"the event of {c.record.invoice_id} needs its history entry")
        for ch in changes:
            routing_since = ch.before.updated_at if ch.before.status == Status.DEPOSEE.value else None
            ops.append(put_op(self._item(ch.after, routing_since), "#s = :s AND #v = :v",
                              {"#s": "status", "#v": "version"}, {":s": ch.before.status, ":v": ch.before.version}))
            ops.append(self._history_op(ch.history, ch.event))
        ops += extra_ops or []
        try:
            self.table.transact(ops)
        except ConditionFailed as exc:
            if exc.index in guards:
                raise DuplicateInvoice((exc.item or {}).get("invoice_id", "?")) from None
            raise

    @staticmethod
    def guard_op(guard_pk: str, invoice_id: str) -> dict:
        """A number guard: ConditionFailed (DuplicateInvoice in ``commit``) if the number is taken."""
        return put_op({"PK": guard_pk, "SK": "GUARD", "type": "GUARD", "invoice_id": invoice_id},
                      "attribute_not_exists(PK)")

    def guard_holder(self, guard_pk: str) -> str | None:
        item = self.table.get(guard_pk, "GUARD", consistent=True)
        return item["invoice_id"] if item else None

    def find_number(self, seller: str, year: int, number: str) -> str | None:
        guard = self.table.get(number_guard_pk(seller, year, number), "GUARD", consistent=True)
        return guard["invoice_id"] if guard else None

    def get(self, invoice_id: str, consistent: bool = False) -> Invoice | None:
        item = self.table.get(f"INV#{invoice_id}", "INVOICE", consistent=consistent)
        return self._load(item) if item else None

    def transition(self, after: Invoice, before: Invoice, history: HistoryEntry, event: Event | None = None) -> None:
        """Write ``after`` if the invoice is still at ``before``'s status and version (ConditionFailed
        otherwise, with the current item), with its history entry and its event, atomically."""
        self.commit([Change(after, before, history, event)], [])

    def history(self, invoice_id: str, limit: int, page_token: str | None) -> tuple[list[HistoryEntry], str | None]:
        page = self.table.query(f"INV#{invoice_id}", begins_with="HIST#", limit=limit, page_token=page_token)
        return [HistoryEntry.model_validate(i) for i in page.items], page.next_token

    def list(self, side: str, structure_id: str, *, limit: int, page_token: str | None, since: date | None,
             until: date | None, filters: list[tuple[str, str, Any]],
             document_type: str = "INVOICE") -> tuple[list[Invoice], str | None]:
        """A structure's issued (side SUPPLIER, GSI1) or received (side RECIPIENT, GSI2) payment requests of
        a kind (invoices and revenue orders, or memos), newest first, by key; other criteria filter."""
        index = "GSI1" if side == "SUPPLIER" else "GSI2"
        prefix = LISTINGS[document_type][0 if side == "SUPPLIER" else 1]
        page = self.table.query(f"{prefix}{structure_id}", index=index, limit=limit, page_token=page_token,
                                newest_first=True, sort_between=(since.isoformat() if since else None,
                                                                 (until.isoformat() + "~") if until else None),
                                filters=filters)
        return [self._load(i) for i in page.items], page.next_token

    def parked(self, limit: int, page_token: str | None) -> tuple[list[Invoice], str | None]:
        """Invoices parked EN_ERREUR, newest first (the index holds keys: the items are read in one batch)."""
        page = self.table.query(PARKED, index="GSI3", limit=limit, page_token=page_token, newest_first=True)
        items = {i["PK"]: i for i in self.table.batch_get([(i["PK"], i["SK"]) for i in page.items])}
        return [self._load(items[i["PK"]]) for i in page.items if i["PK"] in items], page.next_token

    def works_due(self, day: str, until: str, limit: int = 100, page_token: str | None = None) -> Page:
        """Works pieces whose deadline (or its reminder) falls on ``day`` at or before ``until`` (keys only)."""
        return self.table.query(f"WORKSDUE#{day}", index="GSI3", limit=limit, page_token=page_token,
                                sort_between=(None, until + "~"))

    def get_many(self, invoice_ids: list[str]) -> dict[str, Invoice]:
        items = self.table.batch_get([(f"INV#{i}", "INVOICE") for i in invoice_ids])
        return {i["PK"].removeprefix("INV#"): self._load(i) for i in items}

    def due_on(self, day: date, limit: int = 100, page_token: str | None = None) -> Page:
        """Invoices whose payment clock runs and falls due on ``day`` (keys only: ``PK`` names the invoice)."""
        return self.table.query(f"DUE#{day.isoformat()}", index="GSI3", limit=limit, page_token=page_token)


class FlowRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    @staticmethod
    def _item(flow: Flow) -> dict[str, Any]:
        item = {"PK": f"FLOW#{flow.flow_id}", "SK": "FLOW", "type": "FLOW",
                "GSI1PK": f"DEPOSITOR#{flow.depositor_id}", "GSI1SK": f"{flow.received_at}#{flow.flow_id}"}
        item.update(flow.model_dump(mode="json", exclude_none=True))
        if flow.status in (FlowStatus.RECEIVED, FlowStatus.IN_PROGRESS):  # sparse: unfinished flows, by day
            item["GSI3PK"] = f"PENDINGFLOW#{flow.received_at[:10]}"
            item["GSI3SK"] = f"{flow.received_at}#{flow.flow_id}"
        return item

    def pending(self, day: str, limit: int = 100, page_token: str | None = None) -> Page:
        """Unfinished flows received on ``day`` (YYYY-MM-DD), oldest first."""
        return self.table.query(f"PENDINGFLOW#{day}", index="GSI3", limit=limit, page_token=page_token)

    def create(self, flow: Flow) -> bool:
        """Record a received flow; False if it exists already (a redelivered EDI event)."""
        try:
            self.table.put(self._item(flow), "attribute_not_exists(PK)")
            return True
        except ConditionFailed:
            return False

    def get(self, flow_id: str, consistent: bool = False) -> Flow | None:
        item = self.table.get(f"FLOW#{flow_id}", "FLOW", consistent=consistent)
        return Flow.model_validate(item) if item else None

    def claim(self, flow: Flow, started_at: str, stale_before: str) -> bool:
        """RECEIVED (or IN_PROGRESS abandoned before ``stale_before``) -> IN_PROGRESS, by one worker only."""
        try:
            self.table.update(
                f"FLOW#{flow.flow_id}", "FLOW",
                "SET #s = :busy, started_at = :now, version = version + :one",
                names={"#s": "status"},
                values={":busy": FlowStatus.IN_PROGRESS.value, ":now": started_at, ":one": 1,
                        ":new": FlowStatus.RECEIVED.value, ":stale": stale_before},
                condition="#s = :new OR (#s = :busy AND started_at < :stale)",
            )
            return True
        except ConditionFailed:
            return False

    def save(self, flow: Flow) -> None:
        self.table.put(self._item(flow))

    def finish(self, flow: Flow) -> None:
        """Write the report of a flow this worker claimed."""
        self.table.put(self._item(flow), "#s = :busy", {"#s": "status"}, {":busy": FlowStatus.IN_PROGRESS.value})
