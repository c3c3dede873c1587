"""Data access for invoices and flows.

| item | PK | SK | GSI1 (PK / SK) | GSI2 (PK / SK) |
| --- | --- | --- | --- | --- |
| invoice | INV#<id> | INVOICE | SUPPLIER#<structure> / <deposited_at>#<id> | BUYER#<structure> / <deposited_at>#<id> |
| number guard | INVNUM#<seller>#<year>#<number> | GUARD | | |
| flow | FLOW#<id> | FLOW | DEPOSITOR#<id> / <received_at>#<flow> | |
| status history | INV#<id> | HIST#<at>#<rand> | | |

The sparse GSI3 holds the invoices whose payment clock runs (``DUE#<due date>`` / id: the job reads
the last days' partitions to find the invoices that became late), the invoices being routed
(``ROUTING#<day>``: a sweep restarts the ones that stay there) and unfinished flows.
"""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from ..domain.flows import Flow, FlowStatus
from ..domain.invoices import HistoryEntry, Invoice
from ..domain.lifecycle import CLOCK_RUNNING, Status

ROUTING = frozenset({Status.DEPOSEE.value, Status.EN_COURS_ACHEMINEMENT.value})
from ..domain.payment import PaymentClock, due_date
from .dynamo import ConditionFailed, Page, Table, put_op


class DuplicateInvoice(Exception):
    def __init__(self, invoice_id: str):
        super().__init__(invoice_id)
        self.invoice_id = invoice_id


def number_guard_pk(seller: str, year: int, number: str) -> str:
    return f"INVNUM#{seller}#{year}#{number.strip().upper()}"


class InvoiceRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    @staticmethod
    def _item(inv: Invoice) -> dict[str, Any]:
        item = {
            "PK": f"INV#{inv.invoice_id}", "SK": "INVOICE", "type": "INVOICE",
            "GSI1PK": f"SUPPLIER#{inv.supplier_structure_id}", "GSI1SK": f"{inv.deposited_at}#{inv.invoice_id}",
            "GSI2PK": f"BUYER#{inv.buyer_structure_id}", "GSI2SK": f"{inv.deposited_at}#{inv.invoice_id}",
        }
        item.update(inv.model_dump(mode="json", exclude_none=True, exclude={"document"}))  # document: in S3
        item["amount_num"] = Decimal(str(inv.amount_with_vat))  # numeric, for amount filters
        clock = PaymentClock.model_validate(inv.payment_clock) if inv.payment_clock else None
        if (clock is not None and inv.status in CLOCK_RUNNING and clock.paid_at is None
                and clock.suspended_since is None):
            item["GSI3PK"] = f"DUE#{due_date(clock).isoformat()}"
            item["GSI3SK"] = inv.invoice_id
        elif inv.status in ROUTING:  # being routed: a sweep restarts it if it stays there
            item["GSI3PK"] = f"ROUTING#{inv.updated_at[:10]}"
            item["GSI3SK"] = f"{inv.updated_at}#{inv.invoice_id}"
        return item

    def routing_since(self, day: str, limit: int = 100, page_token: str | None = None) -> Page:
        """Invoices still being routed (DEPOSEE, EN_COURS_ACHEMINEMENT) last changed on ``day``."""
        return self.table.query(f"ROUTING#{day}", index="GSI3", limit=limit, page_token=page_token)

    @staticmethod
    def _history_op(entry: HistoryEntry) -> dict:
        item = {"PK": f"INV#{entry.invoice_id}", "SK": f"HIST#{entry.at}#{secrets.token_hex(3)}", "type": "HISTORY"}
        item.update(entry.model_dump(mode="json", exclude_none=True))
        return put_op(item)

    def create(self, invoice: Invoice, guard_seller: str, history: HistoryEntry | None = None) -> None:
        """Create the invoice and its (seller, year, number) guard atomically.

        The same flow re-run after a crash finds its own guard and is told the invoice exists.
        """
        guard = {
            "PK": number_guard_pk(guard_seller, invoice.issue_date.year, invoice.number), "SK": "GUARD",
            "type": "GUARD", "invoice_id": invoice.invoice_id,
        }
        try:
            self.table.transact([put_op(guard, "attribute_not_exists(PK)"),
                                 put_op(self._item(invoice), "attribute_not_exists(PK)"),
                                 *([self._history_op(history)] if history else [])])
        except ConditionFailed as exc:
            if exc.index == 0:
                raise DuplicateInvoice((exc.item or {}).get("invoice_id", "?")) from None
            raise

    def find_number(self, seller: str, year: int, number: str) -> str | None:
        guard = self.table.get(number_guard_pk(seller, year, number), "GUARD", consistent=True)
        return guard["invoice_id"] if guard else None

    def get(self, invoice_id: str, consistent: bool = False) -> Invoice | None:
        item = self.table.get(f"INV#{invoice_id}", "INVOICE", consistent=consistent)
        return Invoice.model_validate(item) if item else None

    def transition(self, after: Invoice, before: Invoice, history: HistoryEntry) -> None:
        """Write ``after`` if the invoice is still at ``before``'s status and version (ConditionFailed
        otherwise, with the current item), with its history entry, atomically."""
        op = put_op(self._item(after), "#s = :s AND #v = :v", {"#s": "status", "#v": "version"},
                    {":s": before.status, ":v": before.version})
        self.table.transact([op, self._history_op(history)])

    def history(self, invoice_id: str, limit: int, page_token: str | None) -> tuple[list[HistoryEntry], str | None]:
        page = self.table.query(f"INV#{invoice_id}", begins_with="HIST#", limit=limit, page_token=page_token)
        return [HistoryEntry.model_validate(i) for i in page.items], page.next_token

    def list(self, side: str, structure_id: str, *, limit: int, page_token: str | None, since: date | None,
             until: date | None, filters: list[tuple[str, str, Any]]) -> tuple[list[Invoice], str | None]:
        """A structure's issued (side SUPPLIER, GSI1) or received (side RECIPIENT, GSI2) invoices,
        newest first, by key; other criteria filter within that query."""
        index = "GSI1" if side == "SUPPLIER" else "GSI2"
        prefix = "SUPPLIER#" if side == "SUPPLIER" else "BUYER#"
        page = self.table.query(f"{prefix}{structure_id}", index=index, limit=limit, page_token=page_token,
                                newest_first=True, sort_between=(since.isoformat() if since else None,
                                                                 (until.isoformat() + "~") if until else None),
                                filters=filters)
        return [Invoice.model_validate(i) for i in page.items], page.next_token

    def due_on(self, day: date, limit: int = 100, page_token: str | None = None) -> Page:
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
