"""Invoices: what a deposited file says (EN 16931 terms), what a portal user types, what we store.

Money and quantities are ``Decimal``: never float.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .common import Command, Record

Amount = Annotated[Decimal, Field(max_digits=19, decimal_places=6)]


class Syntax(StrEnum):
    CII = "CII"
    UBL = "UBL"


class Profile(StrEnum):
    MINIMUM = "minimum"
    BASICWL = "basicwl"
    BASIC = "basic"
    EN16931 = "en16931"
    EXTENDED = "extended"
    UBL = "ubl"  # UBL 2.1 checked against CEN's EN 16931 rules


# --- validation report --------------------------------------------------------------------


class ValidationIssue(Record):
    rule: str  # failed assertion id (BR-09, FX-SCH-A-000026…) or XSD, XML_SYNTAX, NO_INVOICE_XML…
    message: str
    location: str | None = None  # XPath of the failing node, when known
    business_term: str | None = None  # BT-xx / BG-xx named by the rule, when known


class ValidationReport(Record):
    valid: bool
    syntax: Syntax | None = None
    profile: Profile | None = None
    errors: list[ValidationIssue] = Field(default_factory=list)
    warnings: list[ValidationIssue] = Field(default_factory=list)


# --- what a file says -----------------------------------------------------------------------


class Party(Record):
    name: str | None = None  # BT-27 / BT-44
    siret: str | None = None  # BT-29/BT-46 with scheme 0009, or BT-30/BT-47 of 14 digits
    siren: str | None = None  # scheme 0002, or the first 9 digits of the SIRET
    identifiers: list[dict[str, str | None]] = Field(default_factory=list)  # [{"id", "scheme"}] as found
    vat_id: str | None = None  # BT-31 / BT-48
    country_code: str | None = None  # BT-40 / BT-55


class VatBreakdown(Record):
    category: str  # BT-118
    rate: Decimal | None = None  # BT-119
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117
    exemption_reason: str | None = None  # BT-120


class InvoiceLine(Record):
    line_id: str  # BT-126
    name: str | None = None  # BT-153
    quantity: Decimal | None = None  # BT-129
    unit_code: str | None = None  # BT-130
    net_price: Decimal | None = None  # BT-146
    net_amount: Decimal | None = None  # BT-131
    vat_category: str | None = None  # BT-151
    vat_rate: Decimal | None = None  # BT-152


class Totals(Record):
    line_total: Decimal | None = None  # BT-106
    allowance_total: Decimal | None = None  # BT-107
    charge_total: Decimal | None = None  # BT-108
    tax_exclusive: Decimal | None = None  # BT-109
    tax_amount: Decimal | None = None  # BT-110
    tax_inclusive: Decimal  # BT-112
    prepaid: Decimal | None = None  # BT-113
    payable: Decimal | None = None  # BT-115


class InvoiceDocument(Record):
    """The EN 16931 content of an invoice file, normalised (CII and UBL alike)."""

    syntax: Syntax
    profile: Profile | None = None
    number: str  # BT-1
    issue_date: date  # BT-2
    type_code: str  # BT-3: 380, 381, 384, 386, 389…
    currency: str  # BT-5
    due_date: date | None = None  # BT-9
    buyer_reference: str | None = None  # BT-10: the buyer's service code
    purchase_order: str | None = None  # BT-13: the legal commitment (EJ)
    preceding_invoices: list[str] = Field(default_factory=list)  # BT-25
    specification_id: str | None = None  # BT-24
    seller: Party
    buyer: Party
    totals: Totals
    vat_breakdown: list[VatBreakdown] = Field(default_factory=list)
    lines: list[InvoiceLine] = Field(default_factory=list)

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in CREDIT_NOTE_TYPES


CREDIT_NOTE_TYPES = frozenset({"381", "261", "262", "296", "308", "396", "420", "458", "532"})


# --- portal entry (POST /v1/invoices) -------------------------------------------------------


class InvoiceKind(StrEnum):
    FACTURE = "FACTURE"  # 380
    AVOIR = "AVOIR"  # 381 credit note
    ACOMPTE = "ACOMPTE"  # 386 prepayment invoice

    @property
    def type_code(self) -> str:
        return {"FACTURE": "380", "AVOIR": "381", "ACOMPTE": "386"}[self.value]


class BillingFrame(StrEnum):
    A1 = "A1"  # supplier invoice
    A2 = "A2"  # invoice already paid
    A9 = "A9"  # subcontractor invoice
    A12 = "A12"  # co-contractor invoice


VatCategory = Literal["S", "Z", "E", "AE", "K", "G", "O", "L", "M"]


class LineInput(Command):
    description: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    quantity: Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=4)]
    unit_code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")] = "C62"  # UN/ECE rec 20: C62 = unit
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=4)]  # net, without VAT
    vat_category: VatCategory = "S"
    vat_rate: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] = Decimal("20")
    exemption_reason: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _vat(self):
        if self.vat_category == "S" and self.vat_rate <= 0:
            raise ValueError("standard-rated lines (S) need a VAT rate above 0")
        if self.vat_category in ("Z", "E", "AE", "K", "G", "O") and self.vat_rate != 0:
            raise ValueError(f"category {self.vat_category} has a VAT rate of 0")
        if self.vat_category in ("E", "AE", "K", "G", "O") and not self.exemption_reason:
            raise ValueError(f"category {self.vat_category} needs an exemption_reason")
        return self


class AttachmentInput(Command):
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[^/\\\x00-\x1f]+$")]
    content_base64: Annotated[str, StringConstraints(min_length=1)]
    description: Annotated[str, StringConstraints(max_length=200)] | None = None


class PortalInvoice(Command):
    """An invoice typed in the portal or sent as JSON by an integrator."""

    supplier_structure_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    recipient_identifier: Annotated[str, StringConstraints(min_length=9, max_length=20)]  # buyer SIRET
    service_code: Annotated[str, StringConstraints(max_length=100)] | None = None
    legal_commitment: Annotated[str, StringConstraints(max_length=50)] | None = None
    number: Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9/_.\-]+$")]
    kind: InvoiceKind = InvoiceKind.FACTURE
    billing_frame: BillingFrame = BillingFrame.A1
    issue_date: date
    due_date: date | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"
    preceding_invoice: Annotated[str, StringConstraints(max_length=20)] | None = None  # required for AVOIR
    payment_terms: Annotated[str, StringConstraints(max_length=200)] | None = None
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None
    lines: Annotated[list[LineInput], Field(min_length=1, max_length=500)]
    attachments: Annotated[list[AttachmentInput], Field(max_length=20)] = Field(default_factory=list)
    pdf_base64: str | None = Field(default=None, description="The supplier's own PDF; rendered if absent.")

    @model_validator(mode="after")
    def _credit_note(self):
        if self.kind is InvoiceKind.AVOIR and not self.preceding_invoice:
            raise ValueError("a credit note (AVOIR) names the invoice it corrects: preceding_invoice")
        if self.due_date and self.due_date < self.issue_date:
            raise ValueError("due_date is before issue_date")
        return self


# --- stored invoices ------------------------------------------------------------------------


class Channel(StrEnum):
    API = "API"  # POST /v1/flows
    EDI = "EDI"  # file dropped in the exchange bucket by a technical account
    PORTAL = "PORTAL"  # POST /v1/invoices (typed invoice)


class InvoiceFiles(Record):
    original_key: str | None = None  # the deposited file, content-addressed (originals/<sha256>)
    xml_key: str  # the invoice XML (CII or UBL): the original itself when a CII or UBL file was deposited
    pdf_key: str | None = None  # the readable PDF (Factur-X), when there is one
    attachment_keys: dict[str, str] = Field(default_factory=dict)  # file name -> key


class HistoryEntry(Record):
    invoice_id: str
    at: str
    status: str
    previous_status: str | None = None
    lifecycle_code: int | None = None
    actor_role: str  # PLATFORM, RECIPIENT, SUPPLIER
    actor_id: str | None = None
    reason_code: str | None = None
    comment: str | None = None
    mandate_number: str | None = None
    details: dict = Field(default_factory=dict)


class Invoice(Record):
    """A payment request of the lifecycle engine: an invoice, a revenue order, a works piece, a justice
    fee memo."""

    invoice_id: str
    document_type: Literal["INVOICE", "REVENUE_ORDER", "WORKS_PIECE", "JUSTICE_MEMO", "TIC_REQUEST"] = "INVOICE"
    informational: bool = False  # revenue orders: statuses have no legal value
    number: str
    type_code: str
    billing_frame: str = "A1"
    supplier_structure_id: str
    supplier_identifier: str
    buyer_structure_id: str
    buyer_identifier: str
    service_code: str | None = None
    legal_commitment: str | None = None
    issue_date: date
    due_date: date | None = None
    currency: str
    amount_without_vat: Decimal | None = None
    vat_amount: Decimal | None = None
    amount_with_vat: Decimal
    amount_due: Decimal | None = None
    status: str = "DEPOSEE"
    channel: Channel
    flow_id: str | None = None
    depositor_id: str
    syntax: Syntax
    profile: Profile | None = None
    files: InvoiceFiles
    # The EN 16931 data, as extracted at deposit: not stored (the XML file is the record; the
    # table item keeps what lists, rules and the clock need, under 1 KB: see bench/RESULTS.md).
    document: InvoiceDocument | None = None
    deposited_at: str
    updated_at: str
    version: int = 1
    mandate_number: str | None = None
    last_reason_code: str | None = None
    last_comment: str | None = None
    routing_error: str | None = None  # why the routing workflow parked it (EN_ERREUR)
    payment_clock: dict | None = None  # domain.payment.PaymentClock, once made available
    overdue_notified: bool = False
    works: dict | None = None  # domain.works.WorksInfo: a piece of a works contract, or its payable document
    justice: dict | None = None  # domain.justice.JusticeInfo: a justice fee memo
    tic: dict | None = None  # domain.tic.TicInfo: a TIC refund request
