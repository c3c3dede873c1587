"""The deposit rules, applied to every channel (API flow, EDI drop, portal entry).

One pure function decides; the service gathers what it needs (structures, service, depositor's
attachment). Each failure is a ``Violation`` with a stable code, the 2026 reform's reason code
where one exists, and the business term at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from . import access
from .common import Record
from .errors import DomainError
from .invoices import InvoiceDocument
from .models import Attachment, Permission, Service, Space, Structure


class Violation(Record):
    code: str
    reason_code: str | None = None  # 2026 lifecycle reason code (DOUBLON, DEST_INC, CODE_ROUTAGE_ERR…)
    message: str
    field: str | None = None  # BT-xx at fault


@dataclass
class DepositContext:
    seller: Structure | None
    depositor: Attachment | None  # the depositor's attachment to the seller
    buyer: Structure | None
    buyer_matches: int  # how many public structures the buyer identifier designates
    service: Service | None  # the buyer's service named by BT-10, if any


def check(doc: InvoiceDocument, ctx: DepositContext, today: date) -> list[Violation]:
    out: list[Violation] = []
    if ctx.seller is None:
        out.append(Violation(code="SELLER_UNKNOWN", reason_code="SIRET_ERR", field="BT-29",
                             message="The seller (BT-29/BT-30 SIRET or BT-31 VAT id) is not a structure of the platform."))
    else:
        try:
            access.require_space(ctx.depositor, ctx.seller, Space.INVOICES_ISSUED, Permission.MODIFICATION)
        except DomainError:
            out.append(Violation(code="DEPOSITOR_NOT_ALLOWED", field="BT-29",
                                 message="You do not act for the seller with MODIFICATION on INVOICES_ISSUED."))
    out.extend(check_recipient(ctx, doc.buyer_reference, doc.purchase_order, today))
    if doc.is_credit_note and not doc.preceding_invoices:
        out.append(Violation(code="CREDIT_NOTE_WITHOUT_INVOICE", field="BT-25",
                             message="A credit note names the invoice it corrects (BT-25)."))
    return out


def check_recipient(ctx: DepositContext, code: str | None, commitment: str | None, today: date) -> list[Violation]:
    """The recipient's side: an active public buyer receiving invoices, its service (BT-10) and
    the legal commitment (BT-13) its billing parameters ask for. Deposits and recycles alike."""
    out: list[Violation] = []
    if ctx.buyer is None:
        if ctx.buyer_matches > 1:
            out.append(Violation(code="BUYER_AMBIGUOUS", reason_code="DEST_INC", field="BT-46",
                                 message="The buyer SIREN designates several establishments: give the SIRET."))
        else:
            out.append(Violation(code="BUYER_UNKNOWN", reason_code="DEST_INC", field="BT-46",
                                 message="The buyer (BT-46/BT-47 SIRET or SIREN) is not a public structure of the platform."))
        return out
    if not ctx.buyer.is_public or ctx.buyer.status != "ACTIVE":
        out.append(Violation(code="BUYER_NOT_PUBLIC", reason_code="DEST_ERR", field="BT-46",
                             message="The buyer is not an active public structure."))
        return out
    if not ctx.buyer.has_space(Space.INVOICES_RECEIVED):
        out.append(Violation(code="BUYER_NOT_RECEIVING", reason_code="DEST_ERR", field="BT-46",
                             message="The buyer does not receive invoices on the platform (space closed)."))
    billing = ctx.buyer.billing
    if billing.service_code_required and not code:
        out.append(Violation(code="SERVICE_CODE_REQUIRED", reason_code="CODE_ROUTAGE_ERR", field="BT-10",
                             message="This buyer requires its service code in BT-10 (buyer reference)."))
    if code:
        if ctx.service is None:
            out.append(Violation(code="SERVICE_UNKNOWN", reason_code="CODE_ROUTAGE_ERR", field="BT-10",
                                 message=f"The buyer has no service {code!r}; see the directory for its services."))
        elif not ctx.service.is_available(today):
            out.append(Violation(code="SERVICE_INACTIVE", reason_code="CODE_ROUTAGE_ERR", field="BT-10",
                                 message=f"The buyer's service {code!r} does not receive invoices today."))
    needs_commitment = billing.legal_commitment_required or bool(ctx.service and ctx.service.legal_commitment_required)
    if needs_commitment and not commitment:
        out.append(Violation(code="LEGAL_COMMITMENT_REQUIRED", reason_code="CMD_ERR", field="BT-13",
                             message="This buyer (or service) requires the legal commitment (EJ) in BT-13."))
    if billing.service_code_or_commitment_required and not code and not commitment:
        out.append(Violation(code="SERVICE_CODE_OR_COMMITMENT_REQUIRED", reason_code="CODE_ROUTAGE_ERR",
                             field="BT-10", message="This buyer requires a service code (BT-10) or an EJ (BT-13)."))
    return out


def duplicate(number: str, year: int, existing_invoice_id: str) -> Violation:
    return Violation(code="DOUBLON", reason_code="DOUBLON", field="BT-1",
                     message=f"Invoice {number} of {year} was already deposited by this seller ({existing_invoice_id}).")
