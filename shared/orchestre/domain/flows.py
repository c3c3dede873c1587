"""Flows: files deposited through the API or dropped over EDI, and their integration reports."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .common import Record
from .deposit import Violation
from .invoices import Channel, ValidationReport


class FlowStatus(StrEnum):
    RECEIVED = "RECEIVED"
    IN_PROGRESS = "IN_PROGRESS"
    INTEGRATED = "INTEGRATED"
    REJECTED = "REJECTED"

    @property
    def chorus(self) -> str:
        """The same status in Chorus Pro's vocabulary."""
        return {"RECEIVED": "IN_RECU", "IN_PROGRESS": "IN_EN_COURS_TRAITEMENT", "INTEGRATED": "IN_INTEGRE",
                "REJECTED": "IN_REJETE"}[self.value]


class FlowInvoice(Record):
    invoice_id: str | None = None
    number: str | None = None
    status: str  # DEPOSEE, or REJECTED
    errors: list[Violation] = Field(default_factory=list)


class Flow(Record):
    flow_id: str
    channel: Channel
    depositor_id: str  # user or technical account
    file_name: str
    size: int
    sha256: str
    original_key: str
    status: FlowStatus = FlowStatus.RECEIVED
    received_at: str
    started_at: str | None = None
    finished_at: str | None = None
    validation: ValidationReport | None = None
    invoices: list[FlowInvoice] = Field(default_factory=list)
    source: dict[str, str] = Field(default_factory=dict)  # EDI: bucket, key, account
    version: int = 1
