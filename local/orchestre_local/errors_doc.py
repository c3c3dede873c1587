"""The catalogue of problem codes, generated from the code: ``docs/errors.md``.

``python -m orchestre_local.errors_doc`` rewrites it; ``tests/test_errors_doc.py`` fails when it is
out of date, so a new code cannot ship undocumented. The code is read, not run: every ``code="..."``
given to a domain error (its class gives the HTTP status, ``orchestre.api.problems``), every
``problem(status, "CODE", ...)`` of the API and gateway plumbing, every domain error class with a
code of its own, the deposit rules' ``Violation(code=...)`` and the validation report's rule codes.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from orchestre.platform import REPO_ROOT

OUTPUT = REPO_ROOT / "docs" / "errors.md"
SOURCES = ("shared/orchestre", "functions", "local/orchestre_local")
# Domain error classes and their HTTP status (orchestre.api.problems.STATUS_BY_ERROR; DomainError: 400)
STATUS = {"DomainError": 400, "InvalidInput": 422, "NotFound": 404, "Forbidden": 403, "Unauthenticated": 401,
          "Conflict": 409, "PreconditionRequired": 428, "PreconditionFailed": 412, "TooManyRequests": 429}
PROBLEM_FUNCTIONS = ("problem", "_problem")
REPORT_FUNCTIONS = ("_failure", "_report_issue", "PdfProblem", "XmlProblem")  # validation: (rule, message)


@dataclass
class Entry:
    statuses: set[int] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    example: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _text(node: ast.expr | None) -> str | None:
    """A message as written: a string, or an f-string with its fields shown as ``…``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _const(node: ast.expr | None):
    return node.value if isinstance(node, ast.Constant) else None


class Catalogue:
    def __init__(self):
        self.answers: dict[str, Entry] = defaultdict(Entry)
        self.rules: dict[str, Entry] = defaultdict(Entry)
        self.reports: dict[str, Entry] = defaultdict(Entry)
        self.classes: dict[str, str] = dict.fromkeys(STATUS, "")  # error class -> base class

    def _status_of(self, cls: str) -> int | None:
        seen = set()
        while cls not in STATUS and cls in self.classes and cls not in seen:
            seen.add(cls)
            cls = self.classes[cls]
        return STATUS.get(cls)

    def read(self, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        place = str(path.relative_to(REPO_ROOT))
        for node in ast.walk(tree):  # classes first: a call may raise a class defined further down
            if isinstance(node, ast.ClassDef) and node.bases:
                self.classes[node.name] = _name(node.bases[0]) or ""
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                code = next((_const(s.value) for s in node.body if isinstance(s, ast.Assign)
                             and any(isinstance(t, ast.Name) and t.id == "code" for t in s.targets)), None)
                status = self._status_of(node.name)
                if isinstance(code, str) and status is not None and node.name not in STATUS:
                    self._add(self.answers, code, place, status, ast.get_docstring(node))
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name in PROBLEM_FUNCTIONS and len(node.args) >= 2:
                status, code = _const(node.args[0]), _const(node.args[1])
                if isinstance(status, int) and isinstance(code, str):
                    self._add(self.answers, code, place, status, _text(node.args[2]) if len(node.args) > 2 else None)
            elif name == "Violation":
                code = _const(_keyword(node, "code"))
                if isinstance(code, str):
                    entry = self._add(self.rules, code, place, None, _text(_keyword(node, "message")))
                    for extra in ("reason_code", "field"):
                        value = _const(_keyword(node, extra))
                        if isinstance(value, str):
                            entry.extra.setdefault(extra, value)
            elif name == "ValidationIssue" or name in REPORT_FUNCTIONS:
                rule = _keyword(node, "rule") if name == "ValidationIssue" else (node.args[0] if node.args else None)
                code = _const(rule)
                if isinstance(code, str):
                    message = _keyword(node, "message") if name == "ValidationIssue" else (
                        node.args[1] if len(node.args) > 1 else None)
                    self._add(self.reports, code, place, None, _text(message))
            elif name is not None and self._status_of(name) is not None:
                code = _const(_keyword(node, "code"))
                if isinstance(code, str):
                    self._add(self.answers, code, place, self._status_of(name),
                              _text(node.args[0]) if node.args else None)

    @staticmethod
    def _add(table, code, place, status, example) -> Entry:
        entry = table[code]
        if status is not None:
            entry.statuses.add(status)
        entry.places.add(place)
        if entry.example is None and example:
            entry.example = " ".join(example.split())
        return entry


def catalogue() -> Catalogue:
    cat = Catalogue()
    files = sorted(p for root in SOURCES for p in (REPO_ROOT / root).rglob("*.py") if "__pycache__" not in p.parts)
    for path in files:
        cat.read(path)
    return cat


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def render() -> str:
    cat = catalogue()
    lines = [
        "# Problem codes",
        "",
        "Generated from the code by `.venv/bin/python -m orchestre_local.errors_doc`; `tests/test_errors_doc.py`",
        "fails when this file is out of date. Do not edit it by hand.",
        "",
        "Every error answer is `application/problem+json`: `{\"type\", \"title\", \"status\", \"code\", \"detail\",",
        "\"field\", \"errors\", \"correlation_id\"}`. `code` is stable: clients branch on it, never on `detail`.",
        "",
        "## Error answers",
        "",
        f"{len(cat.answers)} codes. *Example* is the message as written in the code (`…` stands for a value).",
        "",
        "| code | HTTP status | raised in | example |",
        "| --- | --- | --- | --- |",
    ]
    for code in sorted(cat.answers):
        e = cat.answers[code]
        lines.append(f"| `{code}` | {', '.join(str(s) for s in sorted(e.statuses))} | "
                     f"{', '.join(f'`{p}`' for p in sorted(e.places))} | {_cell(e.example)} |")
    lines += [
        "",
        "## Deposit rules",
        "",
        "Reported in a flow's integration report (`GET /v1/flows/{id}`) and, for portal entry and",
        "recycling, as a 422 answer with that code. `reason code` is the 2026 reform's code; `term` the",
        "business term at fault.",
        "",
        "| code | reason code | term | example |",
        "| --- | --- | --- | --- |",
    ]
    for code in sorted(cat.rules):
        e = cat.rules[code]
        lines.append(f"| `{code}` | {e.extra.get('reason_code', '')} | {e.extra.get('field', '')} | {_cell(e.example)} |")
    lines += [
        "",
        "## Validation reports",
        "",
        "A validation report (`POST /v1/validations`, a flow's report) lists each failed rule: the official",
        "artefacts' own assertion ids (`BR-09`, `BR-CO-15`, `FX-SCH-A-000026`, …, with their own message",
        "and business term), or one of these codes of the platform:",
        "",
        "| rule | example |",
        "| --- | --- |",
    ]
    for code in sorted(cat.reports):
        lines.append(f"| `{code}` | {_cell(cat.reports[code].example)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
