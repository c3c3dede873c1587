"""Untrusted XML: parse it safely, say what it is (syntax, profile), hand it to Saxon as text."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from ..domain.invoices import Syntax
from .artefacts import RULE_SETS, RuleSet

NS_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
NS_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
NS_UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NS_UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

TAG_CII = f"{{{NS_CII}}}CrossIndustryInvoice"
TAG_UBL_INVOICE = f"{{{NS_UBL_INVOICE}}}Invoice"
TAG_UBL_CREDIT_NOTE = f"{{{NS_UBL_CREDIT_NOTE}}}CreditNote"
_TAG_BT24 = (f"{{{NS_CII}}}ExchangedDocumentContext", f"{{{NS_RAM}}}GuidelineSpecifiedDocumentContextParameter",
             f"{{{NS_RAM}}}ID")


class XmlProblem(ValueError):
    """The bytes are not acceptable XML: ``code`` is XML_SYNTAX or UNSUPPORTED_SYNTAX."""

    def __init__(self, code: str, message: str, line: int | None = None):
        super().__init__(message)
        self.code, self.message, self.line = code, message, line


def _parser() -> etree.XMLParser:
    # No DTD loading, no entity substitution, no network, libxml2's default size/depth limits.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=False, collect_ids=False)


def parse(content: bytes) -> etree._ElementTree:
    """Parse untrusted XML. Any DOCTYPE (external entities, entity expansion) is refused."""
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        raise XmlProblem("XML_SYNTAX", f"The XML is not well-formed: {exc.msg}", line) from None
    except ValueError as exc:  # e.g. an unsupported encoding declaration
        raise XmlProblem("XML_SYNTAX", f"The XML is not well-formed: {exc}") from None
    tree = root.getroottree()
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise XmlProblem("XML_SYNTAX", "DOCTYPE declarations are not allowed in an invoice "
                         "(they can declare external or expanding entities).")
    return tree


@dataclass(frozen=True)
class Detected:
    syntax: Syntax
    rule_set: RuleSet
    specification_id: str | None  # BT-24 as written


def cii_rule_set_key(specification_id: str | None) -> str:
    """The Factur-X profile of a CII invoice from its BT-24.

    ``urn:factur-x.eu:1p0:minimum`` → minimum, ``…:basicwl``, ``…:basic`` (``#`` or ``:`` separators),
    ``…:extended``, ``…:extended-ctc-fr``; ``urn:cen.eu:en16931:2017`` and any other id (XRechnung,
    CIUS, unknown) → en16931: the EN 16931 rules apply to every CII invoice of this platform, and the
    Factur-X EN 16931 schematron reports a BT-24 it does not list.
    """
    value = (specification_id or "").strip().lower()
    last = value.rsplit(":", 1)[-1]
    if last in ("minimum", "basicwl", "basic", "en16931", "extended", "extended-ctc-fr"):
        return last
    if last.startswith("extended"):
        return "extended"
    return "en16931"


def detect(tree: etree._ElementTree) -> Detected:
    root = tree.getroot()
    tag = root.tag
    if tag == TAG_CII:
        element = root
        for step in _TAG_BT24:
            element = element.find(step) if element is not None else None
        bt24 = element.text.strip() if element is not None and element.text else None
        return Detected(Syntax.CII, RULE_SETS[cii_rule_set_key(bt24)], bt24)
    if tag in (TAG_UBL_INVOICE, TAG_UBL_CREDIT_NOTE):
        element = root.find(f"{{{NS_CBC}}}CustomizationID")
        bt24 = element.text.strip() if element is not None and element.text else None
        key = "ubl-invoice" if tag == TAG_UBL_INVOICE else "ubl-creditnote"
        return Detected(Syntax.UBL, RULE_SETS[key], bt24)
    if not isinstance(tag, str):
        raise XmlProblem("UNSUPPORTED_SYNTAX", "The document has no root element.")
    local = etree.QName(tag).localname
    if local == "CrossIndustryDocument":
        raise XmlProblem("UNSUPPORTED_SYNTAX", "ZUGFeRD 1.0 (CrossIndustryDocument) is not supported: "
                         "deposit a Factur-X / ZUGFeRD 2.x (CII D16B) or UBL 2.1 invoice.")
    namespace = etree.QName(tag).namespace
    shown = f"{{{namespace}}}{local}" if namespace else local
    raise XmlProblem("UNSUPPORTED_SYNTAX", f"The XML root element {shown[:200]} is neither a CII D16B "
                     "CrossIndustryInvoice nor a UBL 2.1 Invoice / CreditNote.")


def as_text(content: bytes, tree: etree._ElementTree) -> str:
    """The document as a Python string for Saxon (parsed again there from text, not from bytes)."""
    encoding = (tree.docinfo.encoding or "UTF-8").upper().replace("_", "-")
    if encoding in ("UTF-8", "UTF8", "US-ASCII", "ASCII"):
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    # Other encodings: re-serialise without the XML declaration (its encoding would no longer be true).
    return etree.tostring(tree, encoding="unicode")
