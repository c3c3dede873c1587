"""Data access for invoices and flows.

| item | PK | SK | GSI1 (PK / SK) | GSI2 (PK / SK) |
| --- | --- | --- | --- | --- |
| invoice | INV#<id> | INVOICE | SUPPLIER#<structure> / <deposited_at>#<id> | BUYER#<structure> / <deposited_at>#<id> |
| number guard | INVNUM#<seller>#<year>#<number> | GUARD | | |
| flow | FLOW#<id> | FLOW | DEPOSITOR#<id> / <received_at>#<flow> | |
"""

from __future__ import annotations

from typing import Any

from ..domain.flows import Flow, FlowStatus
from ..domain.invoices import Invoice
from .dynamo import ConditionFailed, Table, put_op


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
        item.update(inv.model_dump(mode="json", exclude_none=True))
        return item

    def create(self, invoice: Invoice, guard_seller: str) -> None:
        """Create the invoice and its (seller, year, number) guard atomically.

        The same flow re-run after a crash finds its own guard and is told the invoice exists.
        """
        guard = {
            "PK": number_guard_pk(guard_seller, invoice.issue_date.year, invoice.number), "SK": "GUARD",
            "type": "GUARD", "invoice_id": invoice.invoice_id,
        }
        try:
            self.table.transact([put_op(guard, "attribute_not_exists(PK)"),
                                 put_op(self._item(invoice), "attribute_not_exists(PK)")])
        except ConditionFailed as exc:
            if exc.index == 0:
                raise DuplicateInvoice((exc.item or {}).get("invoice_id", "?")) from None
            raise

    def find_number(self, seller: str, year: int, number: str) -> str | None:
        guard = self.table.get(number_guard_pk(seller, year, number), "GUARD", consistent=True)
        return guard["invoice_id"] if guard else None

    def get(self, invoice_id: str) -> Invoice | None:
        item = self.table.get(f"INV#{invoice_id}", "INVOICE")
        return Invoice.model_validate(item) if item else None


class FlowRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    @staticmethod
    def _item(flow: Flow) -> dict[str, Any]:
        item = {"PK": f"FLOW#{flow.flow_id}", "SK": "FLOW", "type": "FLOW",
                "GSI1PK": f"DEPOSITOR#{flow.depositor_id}", "GSI1SK": f"{flow.received_at}#{flow.flow_id}"}
        item.update(flow.model_dump(mode="json", exclude_none=True))
        return item

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
