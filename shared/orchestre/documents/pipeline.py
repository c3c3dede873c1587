"""From a portal invoice to its files: computed amounts, CII XML, Factur-X PDF."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from orchestre.domain.errors import InvalidInput
from orchestre.domain.invoices import InvoiceDocument, PortalInvoice

from .cii import build_cii, to_document
from .parties import PartyInfo
from .totals import ComputedInvoice, compute


@dataclass(frozen=True)
class GeneratedInvoice:
    computed: ComputedInvoice
    document: InvoiceDocument
    xml: bytes  # the CII, as embedded
    pdf: bytes  # the Factur-X PDF
    rendered: bool  # True when the PDF was drawn by us, False when it is the supplier's


def _decode(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("The content is not valid base64.", code="INVALID_BASE64", field=field) from exc


def attachment_files(invoice: PortalInvoice) -> dict[str, bytes]:
    """The decoded attachments by file name (names must be unique and not factur-x.xml)."""
    files: dict[str, bytes] = {}
    for index, attachment in enumerate(invoice.attachments):
        name = attachment.file_name
        field = f"attachments.{index}"
        if name in files:
            raise InvalidInput(f"Two attachments are named {name}.", code="DUPLICATE_ATTACHMENT", field=field)
        if name.lower() in ("factur-x.xml", "zugferd-invoice.xml", "order-x.xml"):
            raise InvalidInput(f"{name} is reserved for the invoice XML.", code="RESERVED_FILE_NAME", field=field)
        files[name] = _decode(attachment.content_base64, f"{field}.content_base64")
    return files


def generate(invoice: PortalInvoice, seller: PartyInfo, buyer: PartyInfo) -> GeneratedInvoice:
    """Compute, write the CII, render (or take the supplier's) PDF and make it a Factur-X PDF."""
    from .pdf import pdf_metadata_of, render_pdf, to_facturx  # fpdf2 costs ~0.3 s to import: only when needed

    computed = compute(invoice.lines)
    xml = build_cii(invoice, seller, buyer, computed)
    document = to_document(invoice, seller, buyer, computed)
    files = attachment_files(invoice)
    if invoice.pdf_base64:
        base = _decode(invoice.pdf_base64, "pdf_base64")
    else:
        base = render_pdf(
            document, seller, buyer, str(invoice.billing_frame),
            note=invoice.note, payment_terms=invoice.payment_terms, attachment_names=list(files),
        )
    pdf = to_facturx(base, xml, files or None, pdf_metadata=pdf_metadata_of(document))
    return GeneratedInvoice(computed=computed, document=document, xml=xml, pdf=pdf, rendered=not invoice.pdf_base64)
