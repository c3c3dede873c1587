"""Document generation: invoice arithmetic, CII (Factur-X EN 16931) XML, PDF and Factur-X PDF.

* :func:`compute` (``totals``): line net amounts, VAT breakdown, totals — all invoice arithmetic;
* :func:`build_cii` (``cii``): the CII D16B XML of the Factur-X EN 16931 profile;
* :func:`render_pdf`, :func:`to_facturx` (``pdf``): the readable PDF and its Factur-X packaging;
* :func:`generate` (``pipeline``): all of it for one :class:`PortalInvoice`.

``pdf`` (fpdf2, factur-x, pypdf) is imported on first use only: computing and writing the XML do
not pay its ~0.3 s import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cii import EN16931_GUIDELINE, InvoiceDataError, build_cii, check_rules, effective_due_date, to_document
from .parties import PartyInfo, french_vat_id
from .pipeline import GeneratedInvoice, attachment_files, generate
from .totals import ComputedInvoice, compute, money

if TYPE_CHECKING:  # pragma: no cover
    from .pdf import format_amount, render_pdf, to_facturx

_LAZY = {"render_pdf", "to_facturx", "format_amount"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import pdf

        return getattr(pdf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EN16931_GUIDELINE",
    "ComputedInvoice",
    "GeneratedInvoice",
    "InvoiceDataError",
    "PartyInfo",
    "attachment_files",
    "build_cii",
    "check_rules",
    "compute",
    "effective_due_date",
    "format_amount",
    "french_vat_id",
    "generate",
    "money",
    "render_pdf",
    "to_document",
    "to_facturx",
]
