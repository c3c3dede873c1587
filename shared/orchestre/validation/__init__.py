"""Invoice validation: Factur-X / ZUGFeRD 2.x PDF, CII D16B and UBL 2.1, with the official artefacts.

    from orchestre.validation import validate_file
    outcome = validate_file(content, file_name)
    outcome.report      # ValidationReport: valid, syntax, profile, errors, warnings
    outcome.xml         # the invoice XML (the embedded one for a PDF), when well-formed
    outcome.document    # InvoiceDocument (EN 16931 terms), for a well-formed CII / UBL invoice

The XSD of the profile, then its schematron (the Factur-X XSLT of the profile for CII, CEN's EN 16931
UBL XSLT for UBL), run in-process with saxonche; each stylesheet is compiled once per process, on
first use (``preload()`` compiles ahead, e.g. at a Lambda's init). Pure Python + lxml, saxonche, pypdf.
"""

from .artefacts import preload
from .engine import MAX_FILE_BYTES, ValidationOutcome, business_term, extract_document, validate_file

__all__ = ["MAX_FILE_BYTES", "ValidationOutcome", "validate_file", "extract_document", "business_term", "preload"]
