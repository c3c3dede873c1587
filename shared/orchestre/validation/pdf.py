"""Factur-X / ZUGFeRD 2.x PDFs: find the embedded invoice XML, reading no more than needed.

pypdf parses the cross-reference table and only the objects we touch (catalog, name tree, file
specifications, the one embedded stream). The embedded stream is inflated here with a hard output
cap (``zlib.decompressobj().decompress(data, max_length)``): a "PDF bomb" costs at most the cap in
memory. Other filters go through pypdf's decoders with its output limits lowered to the same cap.
pypdf reports oddities through the ``pypdf`` logger (never on stdout); it runs with ``strict=False``.
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Iterator
from itertools import islice

logger = logging.getLogger(__name__)

# Names of the invoice XML in Factur-X 1.0, ZUGFeRD 2.x and XRechnung-in-PDF, in order of preference.
KNOWN_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "zugferd_invoice.xml")
MAX_ATTACHMENTS = 200  # we look at this many file specifications at most


class PdfProblem(Exception):
    """``code`` is PDF_CORRUPT, PDF_ENCRYPTED, NO_INVOICE_XML or FILE_TOO_LARGE."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def looks_like_pdf(content: bytes) -> bool:
    return b"%PDF-" in content[:1024]


def _inflate(data: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, limit + 1)
    if len(out) > limit:
        raise PdfProblem("FILE_TOO_LARGE", f"The embedded invoice XML inflates to more than {limit} bytes.")
    return out


def pypdf_limits(limit: int) -> dict[str, int]:
    """pypdf's resource limits (75 MB of output per stream by default) brought down to ``limit``."""
    return dict(
        zlib_maximum_output_length=limit + 1, lzw_maximum_output_length=limit + 1,
        run_length_maximum_output_length=limit + 1, jbig2_maximum_output_length=limit + 1,
        brotli_maximum_output_length=limit + 1, array_based_stream_maximum_output_length=limit + 1,
        zlib_maximum_recovery_input_length=min(limit, 1_000_000), image_maximum_buffer_size=limit + 1,
        stream_decoding_work_maximum_length=4 * limit, maximum_declared_stream_length=limit + 1,
    )


def _stream_bytes(stream, limit: int) -> bytes:
    """The decoded content of an embedded-file stream, never more than ``limit`` bytes."""
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError
    from pypdf.generic import ArrayObject, EncodedStreamObject

    filters = stream.get("/Filter")
    if filters is not None:
        filters = filters.get_object()
        filters = list(filters) if isinstance(filters, ArrayObject) else [filters]
    raw = getattr(stream, "_data", b"")  # the stream as stored in the file (still encoded)
    if not filters or not isinstance(stream, EncodedStreamObject):
        if len(raw) > limit:
            raise PdfProblem("FILE_TOO_LARGE", f"The embedded invoice XML has more than {limit} bytes.")
        return bytes(raw)
    if filters == ["/FlateDecode"] and stream.get("/DecodeParms") is None:
        try:
            return _inflate(raw, limit)
        except zlib.error:
            pass  # a damaged stream: pypdf knows recovery tricks, under the limits below
    try:
        with apply_configuration(**pypdf_limits(limit)):
            data = stream.get_data()
    except LimitReachedError:
        raise PdfProblem("FILE_TOO_LARGE", f"The embedded invoice XML inflates to more than {limit} bytes.") from None
    if len(data) > limit:
        raise PdfProblem("FILE_TOO_LARGE", f"The embedded invoice XML inflates to more than {limit} bytes.")
    return data


def _file_specs(reader) -> Iterator[tuple[str, object]]:
    """(name, file specification dictionary) of the embedded files: name tree first, then /AF."""
    from pypdf.generic import DictionaryObject

    seen = set()
    for entry in islice(reader.attachment_list, MAX_ATTACHMENTS):
        spec = entry.pdf_object
        seen.add(id(spec))
        yield str(entry.name), spec
    associated = reader.trailer["/Root"].get_object().get("/AF")
    if associated is None:
        return
    associated = associated.get_object()
    for item in islice(associated if isinstance(associated, list) else [], MAX_ATTACHMENTS):
        spec = item.get_object()
        if isinstance(spec, DictionaryObject) and id(spec) not in seen:
            name = spec.get("/UF") or spec.get("/F") or ""
            yield str(name), spec


def _candidates(specs: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Embedded files that may be the invoice: known names first, then any other ``*.xml``."""
    def names(name: str, spec) -> list[str]:
        out = [name]
        for key in ("/UF", "/F"):
            value = spec.get(key) if hasattr(spec, "get") else None
            if value:
                out.append(str(value))
        # the base name only: paths inside a PDF mean nothing here
        return [n.replace("\\", "/").rsplit("/", 1)[-1].strip().lower() for n in out]

    ranked = []
    for name, spec in specs:
        all_names = names(name, spec)
        rank = min((KNOWN_NAMES.index(n) for n in all_names if n in KNOWN_NAMES), default=None)
        if rank is None and any(n.endswith(".xml") for n in all_names):
            rank = len(KNOWN_NAMES)
        if rank is not None:
            ranked.append((rank, name, spec))
    ranked.sort(key=lambda item: item[0])
    return [(name, spec) for _, name, spec in ranked]


def _truncated(content: bytes) -> bool:
    return b"%%EOF" not in content[-2048:]


def embedded_candidates(content: bytes, limit: int) -> list[tuple[str, object]]:
    """The embedded files of a PDF that may be its invoice XML, best first: (name, stream or None).

    Raises ``PdfProblem``: PDF_CORRUPT (unreadable or truncated), PDF_ENCRYPTED, NO_INVOICE_XML.
    pypdf works under ``limit`` for every stream it inflates itself (object and cross-reference streams).
    """
    from pypdf import apply_configuration

    with apply_configuration(**pypdf_limits(limit)):
        return _embedded_candidates(content)


def _embedded_candidates(content: bytes) -> list[tuple[str, object]]:
    from pypdf import PdfReader
    from pypdf.generic import StreamObject

    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many kinds of errors on garbage
        raise PdfProblem("PDF_CORRUPT", f"The PDF cannot be read: {str(exc)[:300]}") from None
    if encrypted:
        raise PdfProblem("PDF_ENCRYPTED", "The PDF is encrypted: a Factur-X invoice (PDF/A-3) may not be.")
    try:
        candidates = _candidates(list(_file_specs(reader)))
        out = []
        for name, spec in candidates:
            try:
                ef = spec["/EF"].get_object()
                stream = (ef.get("/UF") or ef.get("/F")).get_object()
            except Exception as exc:
                logger.info("embedded file %r has no readable stream: %s", name[:100], exc)
                stream = None
            out.append((name, stream if isinstance(stream, StreamObject) else None))
    except Exception as exc:
        raise PdfProblem("PDF_CORRUPT", f"The PDF's embedded files cannot be read: {str(exc)[:300]}") from None
    if not any(stream is not None for _, stream in out):
        if _truncated(content):
            raise PdfProblem("PDF_CORRUPT", "The PDF is truncated (no %%EOF at its end) and no invoice XML "
                             "was found in what could be read.")
        if out:
            raise PdfProblem("NO_INVOICE_XML", "The PDF's embedded XML file has no readable content.")
        raise PdfProblem("NO_INVOICE_XML", "The PDF carries no embedded invoice XML (factur-x.xml, "
                         "zugferd-invoice.xml, xrechnung.xml or another .xml file).")
    return out


def read_embedded(name: str, stream, limit: int) -> bytes:
    """The decoded bytes of one embedded file (at most ``limit``; PDF_CORRUPT / FILE_TOO_LARGE)."""
    try:
        return _stream_bytes(stream, limit)
    except PdfProblem:
        raise
    except Exception as exc:
        raise PdfProblem("PDF_CORRUPT", f"The embedded file {name[:100]!r} cannot be decoded: "
                         f"{str(exc)[:300]}") from None
