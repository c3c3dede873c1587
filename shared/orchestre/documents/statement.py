"""A plain one-page PDF for documents the platform renders when their issuer gives none: revenue
orders, works pieces, and the like. A title, lines of facts, a closing note."""

from __future__ import annotations


def render_statement(title: str, lines: list[str], note: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 12, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for line in [*lines, *([note] if note else [])]:
        pdf.multi_cell(0, 8, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")  # the PDF's core fonts
