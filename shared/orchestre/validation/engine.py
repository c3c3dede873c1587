"""``validate_file``: a deposited file in, a validation report (and the invoice's data) out."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from lxml import etree

from ..domain.invoices import InvoiceDocument, ValidationIssue, ValidationReport
from . import artefacts
from .extract import document_from_tree
from .pdf import PdfProblem, embedded_candidates, looks_like_pdf, read_embedded
from .xmldoc import Detected, XmlProblem, as_text, detect, parse

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ISSUES = 200  # per list; further repeats of a rule already listed are counted, not listed

SVRL = "http://purl.oclc.org/dsdl/svrl"
_FAILED = f"{{{SVRL}}}failed-assert"
_REPORT = f"{{{SVRL}}}successful-report"
_TEXT = f"{{{SVRL}}}text"
_TERM = re.compile(r"\b(B[TG])-(\d+)\b")
_BRACKET_ID = re.compile(r"^\[([A-Z][A-Z0-9-]*\d)\]")
_XSD_LOCK = threading.Lock()
_SVRL_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@dataclass
class ValidationOutcome:
    report: ValidationReport
    xml: bytes | None = None  # the invoice XML (the embedded one for a PDF), when well-formed
    document: InvoiceDocument | None = None  # its EN 16931 data, for a well-formed CII / UBL invoice


def business_term(message: str) -> str | None:
    """The BT-xx (else BG-xx) a rule's text names first: "... (BT-24)" → "BT-24"."""
    terms = _TERM.findall(message)
    for kind, number in terms:
        if kind == "BT":
            return f"BT-{number}"
    return f"{terms[0][0]}-{terms[0][1]}" if terms else None


def _clean(text: str) -> str:
    return " ".join(text.split())


def _failure(code: str, message: str, *, xml: bytes | None = None, detected: Detected | None = None,
             document: InvoiceDocument | None = None) -> ValidationOutcome:
    report = ValidationReport(
        valid=False,
        syntax=detected.syntax if detected else None,
        profile=detected.rule_set.profile if detected else None,
        errors=[ValidationIssue(rule=code, message=message)],
    )
    return ValidationOutcome(report=report, xml=xml, document=document)


class _Issues:
    """Collects issues, bounded: every distinct rule is kept; repeats beyond MAX_ISSUES are counted."""

    def __init__(self):
        self.items: list[ValidationIssue] = []
        self.rules: set[str] = set()
        self.dropped = 0

    def add(self, issue: ValidationIssue) -> None:
        if len(self.items) >= MAX_ISSUES and issue.rule in self.rules:
            self.dropped += 1
            return
        self.rules.add(issue.rule)
        self.items.append(issue)

    def done(self, what: str) -> list[ValidationIssue]:
        if self.dropped:
            self.items.append(ValidationIssue(
                rule="TRUNCATED", message=f"{self.dropped} more {what} of the rules above are not listed."))
        return self.items


def _xsd_issues(schema: etree.XMLSchema) -> list[ValidationIssue]:
    issues = _Issues()
    for entry in schema.error_log:
        message = _clean(entry.message or "")
        issues.add(ValidationIssue(rule="XSD", message=f"{message} (line {entry.line})" if entry.line else message,
                                   location=entry.path or None, business_term=None))
    return issues.done("XSD errors")


def issues_from_svrl(svrl: bytes) -> tuple[list[ValidationIssue], list[ValidationIssue]]:
    """(errors, warnings) of an SVRL report: failed assertions flagged fatal / error / unflagged are
    errors; flagged warning / information are warnings; successful reports (the Factur-X "not used"
    notices) are warnings unless flagged fatal."""
    root = etree.fromstring(svrl, _SVRL_PARSER)
    errors, warnings = _Issues(), _Issues()
    for element in root.iter(_FAILED, _REPORT):
        text_element = element.find(_TEXT)
        message = _clean("".join(text_element.itertext())) if text_element is not None else ""
        rule = element.get("id")
        if not rule:
            found = _BRACKET_ID.match(message)
            rule = found.group(1) if found else ("REPORT" if element.tag == _REPORT else "SCHEMATRON")
        flag = (element.get("flag") or "").strip().lower()
        if element.tag == _FAILED:
            is_error = flag in ("", "fatal", "error")
        else:
            is_error = flag in ("fatal", "error")
        issue = ValidationIssue(rule=rule, message=message or rule, location=element.get("location") or None,
                                business_term=business_term(message))
        (errors if is_error else warnings).add(issue)
    return errors.done("errors"), warnings.done("warnings")


def _validate_xml(xml: bytes) -> ValidationOutcome:
    try:
        tree = parse(xml)
    except XmlProblem as problem:  # libxml2's message already gives the line and column
        return _failure(problem.code, problem.message)
    try:
        detected = detect(tree)
    except XmlProblem as problem:
        return _failure(problem.code, problem.message, xml=xml)
    try:
        document = document_from_tree(tree, detected.syntax, detected.rule_set.profile)
    except ValueError as exc:
        logger.info("no InvoiceDocument: %s", str(exc)[:500])
        document = None
    rule_set = detected.rule_set
    schema = artefacts.schema(rule_set)
    report = ValidationReport(valid=False, syntax=detected.syntax, profile=rule_set.profile)
    with _XSD_LOCK:  # an XMLSchema keeps its error log on itself: one validation at a time
        xsd_errors = [] if schema.validate(tree) else _xsd_issues(schema)
    if xsd_errors:
        # the schematron's rules assume the schema's structure: stop here, as the Factur-X tools do
        report.errors = xsd_errors
        return ValidationOutcome(report=report, xml=xml, document=document)
    try:
        svrl = artefacts.run_schematron(rule_set, as_text(xml, tree))
        report.errors, report.warnings = issues_from_svrl(svrl)
    except Exception as exc:  # a Saxon dynamic error: say so, never pass the file
        logger.warning("schematron %s failed: %s", rule_set.xslt, exc)
        report.errors = [ValidationIssue(rule="SCHEMATRON_ERROR",
                                         message=f"The rules could not be evaluated on this file: {str(exc)[:300]}")]
    report.valid = not report.errors
    return ValidationOutcome(report=report, xml=xml, document=document)


def _looks_like_xml(content: bytes) -> bool:
    head = content[:1024]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<"):
        return True  # UTF-16
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.lstrip(b" \t\r\n").startswith(b"<")


def _validate_pdf(content: bytes) -> ValidationOutcome:
    try:
        candidates = embedded_candidates(content, MAX_FILE_BYTES)
    except PdfProblem as problem:
        return _failure(problem.code, problem.message)
    first_failure: ValidationOutcome | None = None
    for name, stream in candidates:
        if stream is None:
            continue
        try:
            xml = read_embedded(name, stream, MAX_FILE_BYTES)
        except PdfProblem as problem:
            return _failure(problem.code, problem.message)
        outcome = _validate_xml(xml)
        codes = {issue.rule for issue in outcome.report.errors}
        if outcome.report.syntax is not None or not codes & {"XML_SYNTAX", "UNSUPPORTED_SYNTAX"}:
            return outcome
        if first_failure is None:  # not XML, or not an invoice: try the next candidate
            issue = outcome.report.errors[0]
            first_failure = _failure(issue.rule, f"Embedded file {name[:100]!r}: {issue.message}", xml=outcome.xml)
    return first_failure or _failure("NO_INVOICE_XML", "The PDF's embedded XML files have no readable content.")


def validate_file(content: bytes, file_name: str = "") -> ValidationOutcome:
    """Validate a deposited invoice file: Factur-X / ZUGFeRD 2.x PDF, CII D16B or UBL 2.1 XML.

    ``file_name`` is informative only: the content decides what the file is, and the name never
    reaches the filesystem.
    """
    size = len(content) if content is not None else 0
    if not size:
        return _failure("EMPTY_FILE", "The file is empty.")
    if size > MAX_FILE_BYTES:  # before anything reads it
        return _failure("FILE_TOO_LARGE", f"The file has {size} bytes; the limit is {MAX_FILE_BYTES} (10 MB).")
    content = bytes(content)  # (no copy for bytes)
    if looks_like_pdf(content):
        return _validate_pdf(content)
    if _looks_like_xml(content):
        return _validate_xml(content)
    return _failure("UNSUPPORTED_SYNTAX", "The file is neither a PDF (Factur-X / ZUGFeRD 2.x) nor an XML "
                    "invoice (CII D16B, UBL 2.1).")


def extract_document(xml: bytes) -> InvoiceDocument:
    """The EN 16931 content of a CII / UBL invoice we generated ourselves (no rules are run).

    Raises ``ValueError`` when the XML is not well-formed, not CII / UBL, or lacks a required term.
    """
    from .extract import extract_document as _extract

    return _extract(xml)


__all__ = ["MAX_FILE_BYTES", "ValidationOutcome", "validate_file", "extract_document", "business_term",
           "issues_from_svrl"]
