"""The EN 16931 content of a CII or UBL invoice, as an ``InvoiceDocument`` (lxml XPath, compiled once).

Best effort on invalid documents: a missing optional value is ``None``; a missing required one
(number, issue date, type, currency, BT-112) makes ``document_from_tree`` raise ``ValueError``.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from ..domain.invoices import (
    InvoiceDocument,
    InvoiceLine,
    Party,
    Profile,
    Syntax,
    Totals,
    VatBreakdown,
)
from .xmldoc import NS_CAC, NS_CBC, NS_CII, NS_RAM, NS_UDT, TAG_UBL_CREDIT_NOTE, detect, parse

NS = {"rsm": NS_CII, "ram": NS_RAM, "udt": NS_UDT, "cac": NS_CAC, "cbc": NS_CBC}
_X: dict[str, etree.XPath] = {}


def _xp(path: str) -> etree.XPath:
    found = _X.get(path)
    if found is None:
        found = _X[path] = etree.XPath(path, namespaces=NS, smart_strings=False)
    return found


def _nodes(context, path: str) -> list:
    return _xp(path)(context) if context is not None else []


def _node(context, path: str):
    found = _nodes(context, path)
    return found[0] if found else None


def _text(context, path: str) -> str | None:
    node = _node(context, path)
    if node is None:
        return None
    value = node if isinstance(node, str) else node.text
    value = (value or "").strip()
    return value or None


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


_DIGITS8 = re.compile(r"\d{8}")


def _cii_date(context, path: str) -> date | None:
    """udt:DateTimeString, format 102 (yyyymmdd); an ISO date is tolerated."""
    value = _text(context, path)
    if not value:
        return None
    try:
        if _DIGITS8.fullmatch(value):
            return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _iso_date(context, path: str) -> date | None:
    value = _text(context, path)
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def _identifier(element) -> dict[str, str | None] | None:
    value = (element.text or "").strip()
    if not value:
        return None
    scheme = (element.get("schemeID") or "").strip() or None
    return {"id": value, "scheme": scheme}


_SPACES = re.compile(r"[\s.]+")


def _party(name, party_ids, legal_ids, vat_id, country) -> Party:
    """Party with SIRET / SIREN worked out from identifiers (0009 = SIRET, 0002 = SIREN)."""
    siret = siren = None
    for ident in party_ids + legal_ids:
        compact = _SPACES.sub("", ident["id"])
        if ident["scheme"] == "0009" and len(compact) == 14 and compact.isdigit():
            siret = siret or compact
    for ident in legal_ids:
        compact = _SPACES.sub("", ident["id"])
        if ident["scheme"] in (None, "0002") and len(compact) == 14 and compact.isdigit():
            siret = siret or compact
    for ident in party_ids + legal_ids:
        compact = _SPACES.sub("", ident["id"])
        if ident["scheme"] == "0002" and len(compact) == 9 and compact.isdigit():
            siren = siren or compact
    if siren is None and siret:
        siren = siret[:9]
    identifiers = party_ids + [i for i in legal_ids if i not in party_ids]
    return Party(name=name, siret=siret, siren=siren, identifiers=identifiers, vat_id=vat_id,
                 country_code=country)


# --- CII ------------------------------------------------------------------------------------------

_TX = "rsm:SupplyChainTradeTransaction"
_AGREEMENT = f"{_TX}/ram:ApplicableHeaderTradeAgreement"
_SETTLEMENT = f"{_TX}/ram:ApplicableHeaderTradeSettlement"


def _cii_party(party) -> Party:
    ids = [i for i in (_identifier(e) for e in _nodes(party, "ram:ID | ram:GlobalID")) if i]
    legal = [i for i in (_identifier(e) for e in _nodes(party, "ram:SpecifiedLegalOrganization/ram:ID")) if i]
    return _party(_text(party, "ram:Name"), ids, legal,
                  _text(party, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"),
                  _text(party, "ram:PostalTradeAddress/ram:CountryID"))


def _amount_in(elements, currency: str | None) -> Decimal | None:
    """BT-110 may be given twice (invoice currency, accounting currency): take the invoice's."""
    if not elements:
        return None
    for element in elements:
        if currency and element.get("currencyID") == currency:
            return _decimal(element.text)
    for element in elements:
        if not element.get("currencyID"):
            return _decimal(element.text)
    return _decimal(elements[0].text)


def _cii(root, profile: Profile | None) -> InvoiceDocument:
    settlement = _node(root, _SETTLEMENT)
    agreement = _node(root, _AGREEMENT)
    currency = _text(settlement, "ram:InvoiceCurrencyCode")
    sums = _node(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    totals = Totals(
        line_total=_decimal(_text(sums, "ram:LineTotalAmount")),
        allowance_total=_decimal(_text(sums, "ram:AllowanceTotalAmount")),
        charge_total=_decimal(_text(sums, "ram:ChargeTotalAmount")),
        tax_exclusive=_decimal(_text(sums, "ram:TaxBasisTotalAmount")),
        tax_amount=_amount_in(_nodes(sums, "ram:TaxTotalAmount"), currency),
        tax_inclusive=_decimal(_text(sums, "ram:GrandTotalAmount")),
        prepaid=_decimal(_text(sums, "ram:TotalPrepaidAmount")),
        payable=_decimal(_text(sums, "ram:DuePayableAmount")),
    )
    vat = []
    for tax in _nodes(settlement, "ram:ApplicableTradeTax"):
        category = _text(tax, "ram:CategoryCode")
        basis, amount = _decimal(_text(tax, "ram:BasisAmount")), _decimal(_text(tax, "ram:CalculatedAmount"))
        if category is None or basis is None or amount is None:
            continue
        vat.append(VatBreakdown(category=category, rate=_decimal(_text(tax, "ram:RateApplicablePercent")),
                                taxable_amount=basis, tax_amount=amount,
                                exemption_reason=_text(tax, "ram:ExemptionReason")))
    lines = []
    for index, item in enumerate(_nodes(root, f"{_TX}/ram:IncludedSupplyChainTradeLineItem"), start=1):
        quantity = _node(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
        lines.append(InvoiceLine(
            line_id=_text(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or str(index),
            name=_text(item, "ram:SpecifiedTradeProduct/ram:Name"),
            quantity=_decimal(quantity.text) if quantity is not None else None,
            unit_code=(quantity.get("unitCode") or None) if quantity is not None else None,
            net_price=_decimal(_text(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice"
                                           "/ram:ChargeAmount")),
            net_amount=_decimal(_text(item, "ram:SpecifiedLineTradeSettlement"
                                            "/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")),
            vat_category=_text(item, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode"),
            vat_rate=_decimal(_text(item, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax"
                                          "/ram:RateApplicablePercent")),
        ))
    return InvoiceDocument(
        syntax=Syntax.CII,
        profile=profile,
        number=_text(root, "rsm:ExchangedDocument/ram:ID"),
        issue_date=_cii_date(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString"),
        type_code=_text(root, "rsm:ExchangedDocument/ram:TypeCode"),
        currency=currency,
        due_date=_cii_date(settlement, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"),
        buyer_reference=_text(agreement, "ram:BuyerReference"),
        purchase_order=_text(agreement, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        preceding_invoices=[t for t in (_text(e, ".") for e in _nodes(
            settlement, "ram:InvoiceReferencedDocument/ram:IssuerAssignedID")) if t],
        specification_id=_text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter"
                                     "/ram:ID"),
        seller=_cii_party(_node(agreement, "ram:SellerTradeParty")),
        buyer=_cii_party(_node(agreement, "ram:BuyerTradeParty")),
        totals=totals,
        vat_breakdown=vat,
        lines=lines,
    )


# --- UBL ------------------------------------------------------------------------------------------

def _ubl_party(party) -> Party:
    ids = [i for i in (_identifier(e) for e in _nodes(party, "cac:PartyIdentification/cbc:ID")) if i]
    legal = [i for i in (_identifier(e) for e in _nodes(party, "cac:PartyLegalEntity/cbc:CompanyID")) if i]
    name = _text(party, "cac:PartyLegalEntity/cbc:RegistrationName") or _text(party, "cac:PartyName/cbc:Name")
    return _party(name, ids, legal,
                  _text(party, "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID"),
                  _text(party, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"))


def _ubl(root, profile: Profile | None) -> InvoiceDocument:
    credit_note = root.tag == TAG_UBL_CREDIT_NOTE
    currency = _text(root, "cbc:DocumentCurrencyCode")
    sums = _node(root, "cac:LegalMonetaryTotal")
    totals = Totals(
        line_total=_decimal(_text(sums, "cbc:LineExtensionAmount")),
        allowance_total=_decimal(_text(sums, "cbc:AllowanceTotalAmount")),
        charge_total=_decimal(_text(sums, "cbc:ChargeTotalAmount")),
        tax_exclusive=_decimal(_text(sums, "cbc:TaxExclusiveAmount")),
        tax_amount=_amount_in(_nodes(root, "cac:TaxTotal/cbc:TaxAmount"), currency),
        tax_inclusive=_decimal(_text(sums, "cbc:TaxInclusiveAmount")),
        prepaid=_decimal(_text(sums, "cbc:PrepaidAmount")),
        payable=_decimal(_text(sums, "cbc:PayableAmount")),
    )
    vat = []
    for sub in _nodes(root, "cac:TaxTotal/cac:TaxSubtotal"):
        category = _text(sub, "cac:TaxCategory/cbc:ID")
        basis, amount = _decimal(_text(sub, "cbc:TaxableAmount")), _decimal(_text(sub, "cbc:TaxAmount"))
        if category is None or basis is None or amount is None:
            continue
        vat.append(VatBreakdown(category=category, rate=_decimal(_text(sub, "cac:TaxCategory/cbc:Percent")),
                                taxable_amount=basis, tax_amount=amount,
                                exemption_reason=_text(sub, "cac:TaxCategory/cbc:TaxExemptionReason")))
    lines = []
    for index, line in enumerate(_nodes(root, "cac:InvoiceLine | cac:CreditNoteLine"), start=1):
        quantity = _node(line, "cbc:InvoicedQuantity | cbc:CreditedQuantity")
        lines.append(InvoiceLine(
            line_id=_text(line, "cbc:ID") or str(index),
            name=_text(line, "cac:Item/cbc:Name"),
            quantity=_decimal(quantity.text) if quantity is not None else None,
            unit_code=(quantity.get("unitCode") or None) if quantity is not None else None,
            net_price=_decimal(_text(line, "cac:Price/cbc:PriceAmount")),
            net_amount=_decimal(_text(line, "cbc:LineExtensionAmount")),
            vat_category=_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
            vat_rate=_decimal(_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")),
        ))
    type_code = _text(root, "cbc:CreditNoteTypeCode" if credit_note else "cbc:InvoiceTypeCode")
    return InvoiceDocument(
        syntax=Syntax.UBL,
        profile=profile,
        number=_text(root, "cbc:ID"),
        issue_date=_iso_date(root, "cbc:IssueDate"),
        type_code=type_code or ("381" if credit_note else "380"),  # the root element says which it is
        currency=currency,
        due_date=_iso_date(root, "cbc:DueDate") or _iso_date(root, "cac:PaymentMeans/cbc:PaymentDueDate"),
        buyer_reference=_text(root, "cbc:BuyerReference"),
        purchase_order=_text(root, "cac:OrderReference/cbc:ID"),
        preceding_invoices=[t for t in (_text(e, ".") for e in _nodes(
            root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID")) if t],
        specification_id=_text(root, "cbc:CustomizationID"),
        seller=_ubl_party(_node(root, "cac:AccountingSupplierParty/cac:Party")),
        buyer=_ubl_party(_node(root, "cac:AccountingCustomerParty/cac:Party")),
        totals=totals,
        vat_breakdown=vat,
        lines=lines,
    )


# --- entry points ---------------------------------------------------------------------------------

def document_from_tree(tree: etree._ElementTree, syntax: Syntax, profile: Profile | None) -> InvoiceDocument:
    """Raises ``ValueError`` (pydantic's ValidationError is one) when a required term is missing."""
    root = tree.getroot()
    return _cii(root, profile) if syntax is Syntax.CII else _ubl(root, profile)


def extract_document(xml: bytes) -> InvoiceDocument:
    """The EN 16931 content of a CII / UBL invoice given as bytes (for XML we generated ourselves).

    Raises ``ValueError`` when the XML is not well-formed, not of a supported syntax, or lacks a
    required term.
    """
    tree = parse(xml)  # XmlProblem is a ValueError
    detected = detect(tree)
    return document_from_tree(tree, detected.syntax, detected.rule_set.profile)
