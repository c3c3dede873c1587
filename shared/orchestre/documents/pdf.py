"""The readable side of an invoice: an A4 French PDF (fpdf2) and its Factur-X packaging (factur-x).

``render_pdf`` draws the invoice with the bundled DejaVu Sans (embedded and subset, so accents
render and text is extractable) and declares PDF/A-3B to fpdf2, which then refuses what PDF/A
forbids and adds the sRGB output intent. ``to_facturx`` embeds the CII XML as ``factur-x.xml``
(AFRelationship Data) with factur-x's ``generate_from_binary``, which also writes the Factur-X
XMP (PDF/A-3B identification + the Factur-X extension schema, level EN 16931). It works the same
on a PDF the supplier uploaded, with the limits listed in :func:`to_facturx`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from orchestre.domain.common import now as clock_now
from orchestre.domain.errors import InvalidInput
from orchestre.domain.invoices import InvoiceDocument

from .parties import PartyInfo

log = logging.getLogger(__name__)

FONT_FAMILY = "DejaVu"
_FONT_DIRS = (Path(__file__).with_name("fonts"), Path("/usr/share/fonts/truetype/dejavu"))
_TITLES = {
    "380": "FACTURE",
    "381": "AVOIR",
    "384": "FACTURE RECTIFICATIVE",
    "386": "FACTURE D'ACOMPTE",
    "389": "AUTOFACTURE",
}
_UNITS = {
    "C62": "unité", "H87": "pièce", "XPP": "pièce", "EA": "unité", "HUR": "heure", "MIN": "minute",
    "DAY": "jour", "WEE": "semaine", "MON": "mois", "ANN": "an", "KGM": "kg", "GRM": "g", "TNE": "t",
    "MTR": "m", "KMT": "km", "MTK": "m²", "MTQ": "m³", "LTR": "l", "KWH": "kWh", "LS": "forfait",
    "E48": "service", "SET": "lot",
}
_CATEGORIES = {
    "S": "TVA", "Z": "TVA à taux zéro", "E": "Exonéré de TVA", "AE": "Autoliquidation",
    "K": "Livraison intracommunautaire", "G": "Exportation hors UE", "O": "Hors champ de la TVA",
    "L": "IGIC (Canaries)", "M": "IPSI (Ceuta et Melilla)",
}
_SHORT_CATEGORIES = {"Z": "0\u00a0%", "E": "Exo.", "AE": "Autoliq.", "K": "Intracom.", "G": "Export", "O": "Hors champ"}
_GREY = (90, 90, 90)
_ROW_FILL = (246, 248, 251)
# the lines and the VAT breakdown tables look alike
_TABLE_STYLE = {"borders_layout": "HORIZONTAL_LINES", "cell_fill_color": _ROW_FILL, "cell_fill_mode": "ROWS",
                "line_height": 4.6, "padding": (1.2, 1.2)}
_LIGHT = (235, 239, 244)
_ACCENT = (20, 60, 110)


# --- formatting ----------------------------------------------------------------------------


def format_amount(value: Decimal | None, currency: str = "EUR") -> str:
    """French format: ``1 234,56 €`` (no-break spaces), the ISO code for other currencies."""
    if value is None:
        return ""
    sign = "-" if value < 0 else ""
    whole, _, cents = f"{abs(value).quantize(Decimal('0.01'), ROUND_HALF_UP):.2f}".partition(".")
    text = f"{sign}{int(whole):,}".replace(",", "\u00a0") + "," + cents
    return f"{text}\u00a0{'€' if currency == 'EUR' else currency}"


def format_number(value: Decimal | None, *, min_decimals: int = 0) -> str:
    """A quantity, price or rate in French: ``1,5``, ``0,335``, ``20``."""
    if value is None:
        return ""
    value = value.normalize()
    if -value.as_tuple().exponent < min_decimals:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-min_decimals))
    whole, _, decimals = format(abs(value), "f").partition(".")
    text = f"{int(whole):,}".replace(",", "\u00a0") + (f",{decimals}" if decimals else "")
    return ("-" if value < 0 else "") + text


def _date(value) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _rate(rate: Decimal | None) -> str:
    return "" if rate is None else f"{format_number(rate)}\u00a0%"


def title_of(type_code: str) -> str:
    return _TITLES.get(type_code, "FACTURE")


def pdf_metadata_of(document: InvoiceDocument) -> dict[str, str]:
    """French PDF metadata (Info and XMP) for :func:`to_facturx`."""
    title = title_of(document.type_code).capitalize()
    seller = document.seller.name or ""
    buyer = document.buyer.name or ""
    return {
        "author": seller,
        "keywords": "Factur-X, EN 16931, " + title,
        "title": f"{title} {document.number} – {seller}",
        "subject": f"{title} {document.number} du {_date(document.issue_date)}, de {seller} pour {buyer}",
    }


# --- rendering -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _font_files() -> tuple[Path, Path] | None:
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    log.warning("DejaVu Sans not found: rendering with core fonts (windows-1252, not PDF/A)")
    return None


class _InvoicePdf(FPDF):
    def __init__(self, footer_text: str, unicode_font: bool):
        super().__init__(
            orientation="P", unit="mm", format="A4", enforce_compliance="PDFA_3B" if unicode_font else None
        )
        self.footer_text = footer_text
        self.unicode_font = unicode_font
        self.family = FONT_FAMILY if unicode_font else "helvetica"
        if not unicode_font:
            self.core_fonts_encoding = "windows-1252"

    def normalize_text(self, text: str) -> str:
        """fpdf2 hook: a character the font cannot draw becomes "?" instead of vanishing."""
        if not self.unicode_font:
            text = text.encode("windows-1252", "replace").decode("windows-1252")
        else:
            cmap = getattr(self.current_font, "cmap", None)
            if cmap and any(ord(c) not in cmap and c not in "\n\r\t" for c in text):
                text = "".join(c if ord(c) in cmap or c in "\n\r\t" else "?" for c in text)
        return super().normalize_text(text)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 7.5)
        self.set_text_color(*_GREY)
        self.cell(0, 4, self.footer_text, align="L")
        self.cell(0, 4, f"Page {self.page_no()}/{{nb}}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _party_lines(party: PartyInfo) -> list[str]:
    lines = [line for line in (party.address_line, party.address_line2) if line]
    city = " ".join(part for part in (party.postal_code, party.city) if part)
    if city:
        lines.append(city)
    if party.country_code != "FR":
        lines.append(party.country_code)
    if party.siret:
        lines.append(f"SIRET : {party.siret}")
    if party.identifier:
        lines.append(f"Identifiant : {party.identifier}")
    if party.vat_id:
        lines.append(f"N° TVA : {party.vat_id}")
    return lines


def render_pdf(
    document: InvoiceDocument,
    seller: PartyInfo,
    buyer: PartyInfo,
    billing_frame: str,
    *,
    note: str | None = None,
    payment_terms: str | None = None,
    attachment_names: Iterable[str] = (),
) -> bytes:
    """A clean A4 French invoice of ``document`` (PDF/A-3B-minded, fonts embedded)."""
    fonts = _font_files()
    title = title_of(document.type_code)
    currency = document.currency
    pdf = _InvoicePdf(
        f"Document généré par Orchestre · {title.capitalize()} {document.number} · Factur-X EN 16931",
        unicode_font=fonts is not None,
    )
    if fonts:
        pdf.add_font(FONT_FAMILY, "", str(fonts[0]))
        pdf.add_font(FONT_FAMILY, "B", str(fonts[1]))
    family = pdf.family
    pdf.set_title(f"{title.capitalize()} {document.number}")
    pdf.set_author(seller.name)
    pdf.set_subject(f"{title.capitalize()} {document.number} de {seller.name} pour {buyer.name}")
    pdf.set_creator("Orchestre")
    pdf.set_lang("fr-FR")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    width = pdf.epw

    # Title, number and references
    pdf.set_text_color(*_ACCENT)
    pdf.set_font(family, "B", 20)
    pdf.cell(width / 2, 10, title)
    pdf.set_font(family, "B", 12)
    pdf.cell(width / 2, 10, f"N° {document.number}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    facts = [("Date d'émission", _date(document.issue_date))]
    if document.due_date:
        facts.append(("Date d'échéance", _date(document.due_date)))
    facts.append(("Cadre de facturation", billing_frame))
    facts.append(("Devise", currency))
    if document.buyer_reference:
        facts.append(("Code service", document.buyer_reference))
    if document.purchase_order:
        facts.append(("Engagement juridique", document.purchase_order))
    for reference in document.preceding_invoices:
        facts.append(("Facture d'origine", reference))
    per_row = 4
    column = width / per_row
    for start in range(0, len(facts), per_row):
        chunk = facts[start:start + per_row]
        y = pdf.get_y()
        for index, (label, _) in enumerate(chunk):
            pdf.set_xy(pdf.l_margin + index * column, y)
            pdf.set_font(family, "", 7.5)
            pdf.set_text_color(*_GREY)
            pdf.cell(column - 2, 4, label)
        for index, (_, value) in enumerate(chunk):
            pdf.set_xy(pdf.l_margin + index * column, y + 4)
            pdf.set_font(family, "B", 9.5)
            pdf.set_text_color(0, 0, 0)
            pdf.multi_cell(column - 2, 4.8, value, align="L", new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_xy(pdf.l_margin, y + 11)
    pdf.set_draw_color(*_ACCENT)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.set_draw_color(0, 0, 0)
    pdf.ln(5)

    # Seller and buyer blocks
    top = pdf.get_y()
    gap = 6
    block = (width - gap) / 2
    bottoms = []
    for index, (label, party) in enumerate((("Émetteur", seller), ("Destinataire", buyer))):
        x = pdf.l_margin + index * (block + gap)
        pdf.set_xy(x, top)
        pdf.set_fill_color(*_LIGHT)
        pdf.set_font(family, "B", 8)
        pdf.set_text_color(*_GREY)
        pdf.cell(block, 5, label.upper(), fill=True, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font(family, "B", 10)
        pdf.multi_cell(block, 5, party.name, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(family, "", 9)
        for line in _party_lines(party):
            pdf.multi_cell(block, 4.5, line, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        bottoms.append(pdf.get_y())
    pdf.set_xy(pdf.l_margin, max(bottoms) + 6)

    # Lines (BG-25)
    heading = FontFace(family=family, emphasis="BOLD", color=(255, 255, 255), fill_color=_ACCENT, size_pt=8.5)
    pdf.set_font(family, "", 8.5)
    with pdf.table(
        col_widths=(7, 64, 14, 15, 23, 16, 25),
        text_align=("RIGHT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=heading,
        **_TABLE_STYLE,
        width=width,
    ) as table:
        row = table.row()
        for text in ("N°", "Désignation", "Qté", "Unité", "PU HT", "TVA", "Montant HT"):
            row.cell(text)
        for line in document.lines:
            row = table.row()
            row.cell(line.line_id)
            row.cell(line.name or "")
            row.cell(format_number(line.quantity))
            row.cell(_UNITS.get(line.unit_code or "", line.unit_code or ""))
            row.cell(format_number(line.net_price, min_decimals=2))
            row.cell(_rate(line.vat_rate) if line.vat_category in ("S", "L", "M") else
                     _SHORT_CATEGORIES.get(line.vat_category or "", line.vat_category or ""))
            row.cell(format_amount(line.net_amount, currency))
    pdf.ln(5)

    # VAT breakdown (BG-23) on the left, totals (BG-22) on the right
    top = pdf.get_y()
    if top > pdf.h - 75:
        pdf.add_page()
        top = pdf.get_y()
    left = width * 0.58
    pdf.set_font(family, "", 8.5)
    with pdf.table(
        col_widths=(46, 25, 22),
        text_align=("LEFT", "RIGHT", "RIGHT"),
        headings_style=heading,
        **_TABLE_STYLE,
        width=left,
        align="LEFT",
    ) as table:
        row = table.row()
        for text in ("TVA", "Base HT", "Montant TVA"):
            row.cell(text)
        for group in document.vat_breakdown:
            label = _CATEGORIES.get(group.category, group.category)
            if group.category in ("S", "L", "M") or (group.rate and group.rate > 0):
                label = f"{label} {_rate(group.rate)}"
            if group.exemption_reason:
                label = f"{label}\n{group.exemption_reason}"
            row = table.row()
            row.cell(label)
            row.cell(format_amount(group.taxable_amount, currency))
            row.cell(format_amount(group.tax_amount, currency))
    bottom_left = pdf.get_y()

    totals = document.totals
    x = pdf.l_margin + left + 8
    box = width - left - 8
    pdf.set_xy(x, top)
    rows = [("Total HT", totals.tax_exclusive), ("Total TVA", totals.tax_amount), ("Total TTC", totals.tax_inclusive)]
    if totals.prepaid:
        rows.append(("Déjà payé", totals.prepaid))
    for label, value in rows:
        pdf.set_x(x)
        pdf.set_font(family, "B" if label == "Total TTC" else "", 9.5)
        pdf.cell(box * 0.5, 6, label)
        pdf.cell(box * 0.5, 6, format_amount(value, currency), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(x)
    pdf.set_fill_color(*_ACCENT)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(family, "B", 10.5)
    due_label = "À rembourser" if document.is_credit_note else "Net à payer"
    pdf.cell(box * 0.5, 8, f" {due_label}", fill=True)
    pdf.cell(box * 0.5, 8, format_amount(totals.payable, currency) + " ", align="R", fill=True,
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(max(bottom_left, pdf.get_y()) + 6)

    # Payment, note, attachments
    pdf.set_font(family, "", 9)
    texts = []
    if document.due_date:
        texts.append(f"Échéance de paiement : {_date(document.due_date)}")
    if payment_terms:
        texts.append(f"Conditions de paiement : {payment_terms}")
    if note:
        texts.append(f"Note : {note}")
    names = list(attachment_names)
    if names:
        texts.append("Pièces jointes : " + ", ".join(names))
    for text in texts:
        pdf.multi_cell(width, 4.8, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


# --- Factur-X ------------------------------------------------------------------------------


def to_facturx(
    pdf: bytes,
    xml: bytes,
    attachments: dict[str, bytes] | None = None,
    *,
    lang: str | None = "fr-FR",
    pdf_metadata: dict[str, str] | None = None,
) -> bytes:
    """Embed ``xml`` as ``factur-x.xml`` (level EN 16931) and ``attachments`` into ``pdf``.

    The XML is checked against the Factur-X EN 16931 XSD on the way (``check_xsd=True``); the
    schematron is not run here (factur-x would need a Saxon HTTP server). Attachments are
    embedded with AFRelationship ``Supplement`` and a modification date. ``pdf_metadata`` (keys
    ``author``, ``keywords``, ``title``, ``subject``) sets the Info dictionary and the XMP; without
    it factur-x derives English ones from the XML.

    Limits of factur-x 7.8 (they matter for a supplier's PDF): it writes a PDF/A-3B
    identification into the XMP whatever the PDF is: it cannot make a non-PDF/A PDF conformant
    (fonts not embedded, no output intent, transparency…); it replaces the catalog's ``/Names``
    (a supplier's own embedded files and named destinations are dropped) and ``/Metadata``; it
    cannot open an encrypted PDF (refused here with ``INVALID_PDF``).
    """
    from facturx import generate_from_binary
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not pdf.startswith(b"%PDF-"):
        raise InvalidInput("The file is not a PDF.", code="INVALID_PDF", field="pdf")
    try:
        if PdfReader(BytesIO(pdf)).is_encrypted:
            raise InvalidInput("An encrypted PDF cannot carry a Factur-X invoice.", code="INVALID_PDF", field="pdf")
    except PyPdfError as exc:
        raise InvalidInput(f"The PDF cannot be read: {exc}", code="INVALID_PDF", field="pdf") from exc
    now = clock_now()
    files = {
        name: {"filedata": data, "description": name, "afrelationship": "supplement", "modification_datetime": now}
        for name, data in (attachments or {}).items()
    }
    return generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata=dict(pdf_metadata) if pdf_metadata else None,
        lang=lang,
        attachments=files or None,
        afrelationship="data",
    )
