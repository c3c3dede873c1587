"""docs/errors.md is the catalogue of problem codes, generated from the code: it must be current."""

from __future__ import annotations

from orchestre_local import errors_doc


def test_the_error_catalogue_is_current():
    assert errors_doc.OUTPUT.read_text(encoding="utf-8") == errors_doc.render(), (
        "docs/errors.md is out of date: run .venv/bin/python -m orchestre_local.errors_doc")


def test_the_catalogue_holds_every_kind_of_code():
    cat = errors_doc.catalogue()
    # a domain error's code, with its class's status; a problem() of the plumbing; a class of its own
    assert cat.answers["TRANSITION_NOT_ALLOWED"].statuses == {409}
    assert cat.answers["METHOD_NOT_ALLOWED"].statuses == {405}
    assert cat.answers["INVOICE_RULES"].statuses == {422}
    assert cat.rules["SERVICE_CODE_REQUIRED"].extra == {"reason_code": "CODE_ROUTAGE_ERR", "field": "BT-10"}
    assert {"XSD", "XML_SYNTAX", "PDF_ENCRYPTED"} <= set(cat.reports)


def test_the_readme_points_to_the_catalogue_instead_of_listing_codes():
    readme = (errors_doc.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/errors.md" in readme
    assert "Error codes so far" not in readme  # a hand-made list: it missed a dozen codes
