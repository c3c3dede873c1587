"""Use cases of invoice deposit: files in, validation, flows, the deposit rules, invoices out.

Every channel ends in ``DepositService.deposit``: the same rules (``domain.deposit.check``), the
same duplicate guard, the same storage and the same ``InvoiceDeposited`` event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import unquote_plus

from ..domain import deposit as rules
from ..domain.common import is_platform_id, iso, new_id, now, now_iso, today
from ..domain.errors import InvalidInput, NotFound
from ..domain.flows import Flow, FlowInvoice, FlowStatus
from ..domain.invoices import (
    Channel,
    HistoryEntry,
    Invoice,
    InvoiceDocument,
    InvoiceFiles,
    PortalInvoice,
    ValidationIssue,
    ValidationReport,
)
from ..domain.models import Structure
from ..repositories.documents import DocumentStore, TooLarge
from ..repositories.dynamo import all_items
from ..repositories.invoices import DuplicateInvoice, FlowRepository, InvoiceRepository
from ..repositories.queues import WorkQueue
from ..repositories.structures import StructureRepository

MAX_FILE_BYTES = 10 * 1024 * 1024
STALE_AFTER = timedelta(minutes=5)  # a claimed flow not finished by then may be taken over
_FLOW_NS = uuid.UUID("6f1c1e9a-3c39-4a53-9d0a-5b0c2f7f7a11")
_BAD_NAME = re.compile(r"(^\.|/|\\|\.\.|[\x00-\x1f\x7f])")


def check_file_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 255 or _BAD_NAME.search(name):
        raise InvalidInput("A file name is a plain name: no path, no '..', no control character.",
                           code="INVALID_FILE_NAME", field="file_name")
    return name


def store_files(documents, record_id: str, pdf_name: str, pdf: bytes | None, attachments) -> InvoiceFiles:
    """Store a payment request's PDF (if it has one yet) and attachments (``AttachmentInput``) under its own
    prefix, checked first (names, base64, a PDF): the files of the record about to be written."""
    if pdf is not None and not pdf.startswith(b"%PDF-"):
        raise InvalidInput("pdf_base64 is not a PDF.", code="INVALID_PDF", field="pdf_base64")
    base = f"invoices/{record_id}"
    contents = {check_file_name(a.file_name): decode_base64(a.content_base64) for a in attachments}
    files = InvoiceFiles(xml_key="", pdf_key=f"{base}/{pdf_name}" if pdf is not None else None)
    if pdf is not None:
        documents.put(files.pdf_key, pdf, "application/pdf")
    for name, content in contents.items():
        key = f"{base}/attachments/{name}"
        documents.put(key, content, "application/octet-stream")
        files.attachment_keys[name] = key
    return files


def decode_base64(data: str) -> bytes:
    if len(data) > (MAX_FILE_BYTES * 4) // 3 + 8:
        raise InvalidInput("The file exceeds 10 MB.", code="FILE_TOO_LARGE", field="content_base64")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("content_base64 is not valid base64.", code="INVALID_BASE64", field="content_base64") from None
    if not raw:
        raise InvalidInput("The file is empty.", code="EMPTY_FILE", field="content_base64")
    return raw


def _report_issue(rule: str, message: str) -> ValidationReport:
    return ValidationReport(valid=False, errors=[ValidationIssue(rule=rule, message=message)])


@dataclass
class DepositResult:
    invoice: Invoice | None
    violations: list[rules.Violation] = field(default_factory=list)


class DepositService:
    def __init__(self, structures: StructureRepository | None = None, invoices: InvoiceRepository | None = None,
                 flows: FlowRepository | None = None, documents: DocumentStore | None = None,
                 exchange: DocumentStore | None = None, queue: WorkQueue | None = None,
                 validator: Callable | None = None):
        self.structures = structures or StructureRepository()
        self.invoices = invoices or InvoiceRepository()
        self.flows = flows or FlowRepository()
        self.documents = documents or DocumentStore()
        self.exchange = exchange or DocumentStore("EXCHANGE_BUCKET")
        self.queue = queue or WorkQueue("FLOWS_QUEUE_URL")
        self._validator = validator

    # -- files ---------------------------------------------------------------------------

    def validator(self):
        if self._validator is None:
            from ..validation import validate_file  # heavy (saxonche): imported on first use

            self._validator = validate_file
        return self._validator

    def new_upload(self, caller: str, file_name: str, content_type: str) -> dict:
        check_file_name(file_name)
        upload_id = new_id()
        key = f"uploads/{caller}/{upload_id}"
        url = self.documents.presign_put(key, content_type, 900)
        return {"upload_id": upload_id, "url": url, "method": "PUT", "headers": {"Content-Type": content_type},
                "expires_in": 900, "max_bytes": MAX_FILE_BYTES}

    def read_upload(self, caller: str, upload_id: str) -> bytes:
        if not is_platform_id(upload_id):
            raise InvalidInput("Unknown upload_id.", code="UPLOAD_NOT_FOUND", field="upload_id")
        try:
            content = self.documents.get(f"uploads/{caller}/{upload_id}", MAX_FILE_BYTES)
        except TooLarge as exc:
            raise InvalidInput(f"The uploaded file has {exc.size} bytes; the limit is 10 MB.", code="FILE_TOO_LARGE",
                               field="upload_id") from None
        if content is None:
            raise NotFound("No file was uploaded under this upload_id (or it was yours to use, not ours).",
                           code="UPLOAD_NOT_FOUND", field="upload_id")
        if not content:
            raise InvalidInput("The uploaded file is empty.", code="EMPTY_FILE", field="upload_id")
        return content

    def validate(self, content: bytes, file_name: str) -> ValidationReport:
        return self.validator()(content, file_name).report

    def _store_original(self, content: bytes, file_name: str) -> tuple[str, str]:
        sha = hashlib.sha256(content).hexdigest()
        key = f"originals/{sha[:2]}/{sha}"
        if self.documents.head(key) is None:  # content-addressed: the same bytes are stored once
            self.documents.put(key, content, "application/octet-stream", {"file-name": file_name[:200]})
        return sha, key

    # -- flows ---------------------------------------------------------------------------

    def receive(self, caller: str, file_name: str, content: bytes) -> Flow:
        """An API flow: stored, recorded RECEIVED, queued for integration."""
        sha, key = self._store_original(content, file_name)
        flow = Flow(flow_id=new_id(), channel=Channel.API, depositor_id=caller, file_name=file_name,
                    size=len(content), sha256=sha, original_key=key, received_at=now_iso())
        self.flows.create(flow)
        try:
            self.queue.send({"flow_id": flow.flow_id})
        except Exception:
            # never leave a RECEIVED flow that nobody will process
            flow.status, flow.finished_at = FlowStatus.REJECTED, now_iso()
            flow.validation = _report_issue("QUEUE_UNAVAILABLE", "The flow could not be queued; deposit it again.")
            self.flows.save(flow)
            raise
        return flow

    def get_flow(self, caller: str, flow_id: str) -> Flow:
        flow = self.flows.get(flow_id) if is_platform_id(flow_id) else None
        if flow is None or flow.depositor_id != caller:
            raise NotFound(f"Flow {flow_id} not found.", code="FLOW_NOT_FOUND", field="flow_id")
        return flow

    def process(self, flow_id: str) -> Flow | None:
        """Integrate a flow once (at-least-once delivery is fine: claims are conditional)."""
        flow = self.flows.get(flow_id, consistent=True)
        if flow is None:
            raise LookupError(f"flow {flow_id} not recorded yet")  # the message is retried
        if flow.status in (FlowStatus.INTEGRATED, FlowStatus.REJECTED):
            return flow
        started = now()
        stale = iso(started - STALE_AFTER)
        if not self.flows.claim(flow, now_iso(), stale):
            return None  # another worker has it
        flow.status, flow.started_at, flow.version = FlowStatus.IN_PROGRESS, now_iso(), flow.version + 1
        content = self.documents.get(flow.original_key, MAX_FILE_BYTES) or b""
        outcome = self.validator()(content, flow.file_name)
        flow.validation = outcome.report
        if outcome.report.valid and outcome.document is not None:
            files = InvoiceFiles(original_key=flow.original_key, xml_key="")
            result = self.deposit(outcome.document, outcome.xml, flow.depositor_id, flow.channel, files,
                                  invoice_id=str(uuid.uuid5(_FLOW_NS, f"{flow.flow_id}:0")), flow_id=flow.flow_id,
                                  xml_is_original=outcome.xml == content)
            flow.invoices = [FlowInvoice(invoice_id=result.invoice.invoice_id if result.invoice else None,
                                         number=outcome.document.number,
                                         status=result.invoice.status if result.invoice else "REJECTED",
                                         errors=result.violations)]
            flow.status = FlowStatus.INTEGRATED if result.invoice else FlowStatus.REJECTED
        else:
            if outcome.document is not None:
                flow.invoices = [FlowInvoice(number=outcome.document.number, status="REJECTED")]
            flow.status = FlowStatus.REJECTED
        flow.finished_at = now_iso()
        self.flows.finish(flow)
        return flow

    def sweep(self, older_than: timedelta = timedelta(minutes=10), days: int = 2) -> int:
        """Scheduled: flows still RECEIVED (or abandoned IN_PROGRESS) after ``older_than`` are queued
        again, so that a crash between recording and queueing never leaves one stuck."""
        cutoff = iso(now() - older_than)
        requeued = 0
        for back in range(days):
            day = (now() - timedelta(days=back)).date().isoformat()
            for item in all_items(lambda token, day=day: self.flows.pending(day, 100, token)):
                flow = self.flows.get(item["PK"].removeprefix("FLOW#"), consistent=True)  # keys-only index
                if flow is None or flow.status not in (FlowStatus.RECEIVED, FlowStatus.IN_PROGRESS):
                    continue
                stamp = flow.started_at if flow.status is FlowStatus.IN_PROGRESS else flow.received_at
                if (stamp or "") < cutoff and flow.channel is Channel.API:
                    self.queue.send({"flow_id": flow.flow_id})
                    requeued += 1
        return requeued

    # -- EDI drops -----------------------------------------------------------------------

    def receive_edi(self, bucket: str, raw_key: str, size: int, etag: str, version_id: str | None = None) -> Flow | None:
        """A file written under inbound/<technical account>/ of the exchange bucket."""
        key = unquote_plus(raw_key)
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != "inbound" or not parts[1] or key.endswith("/"):
            return None  # not a file of an account's inbound folder
        account, name, relative = parts[1], parts[-1], "/".join(parts[2:])
        # a redelivered event is the same flow; a re-upload under the same name is a new one
        flow_id = str(uuid.uuid5(_FLOW_NS, f"{bucket}/{key}/{version_id or ''}/{etag}"))
        existing = self.flows.get(flow_id, consistent=True)
        if existing is None:
            rejected = None
            if self.structures.find_technical_account(account) is None:  # the prefix must be a real account
                content, rejected = b"", _report_issue("UNKNOWN_ACCOUNT", "No technical account owns this inbound folder.")
            else:
                try:
                    content = self.exchange.get(key, MAX_FILE_BYTES, version_id=version_id, etag=etag) or b""
                    rejected = None if content else _report_issue("EMPTY_FILE", "The file is empty.")
                except TooLarge as exc:
                    content, rejected = b"", _report_issue("FILE_TOO_LARGE",
                                                           f"The file has {exc.size} bytes; the limit is 10 MB.")
            try:
                safe_name = check_file_name(name)
            except InvalidInput:
                safe_name, rejected = "file", rejected or _report_issue("INVALID_FILE_NAME", "The file name is not a plain name.")
            sha, original = self._store_original(content, safe_name) if content else ("", "")
            flow = Flow(flow_id=flow_id, channel=Channel.EDI, depositor_id=account, file_name=safe_name,
                        size=len(content), sha256=sha, original_key=original, received_at=now_iso(),
                        source={"bucket": bucket, "key": key, "account": account})
            if rejected:
                flow.status, flow.validation, flow.finished_at = FlowStatus.REJECTED, rejected, now_iso()
            self.flows.create(flow)
        flow = self.process(flow_id) or self.flows.get(flow_id, consistent=True)
        if flow and flow.status in (FlowStatus.INTEGRATED, FlowStatus.REJECTED):
            report = json.dumps(flow_report(flow), ensure_ascii=False, indent=1).encode("utf-8")
            self.exchange.put(f"outbound/{account}/{relative}.report.json", report, "application/json")
        return flow

    # -- the deposit, every channel -----------------------------------------------------

    def _seller(self, doc: InvoiceDocument) -> Structure | None:
        if doc.seller.siret:
            found = self.structures.find_by_identifier("SIRET", doc.seller.siret)
            if found:
                return found
        if doc.seller.vat_id and not doc.seller.vat_id.upper().startswith("FR"):
            return self.structures.find_by_identifier("UE_HORS_FRANCE", doc.seller.vat_id.replace(" ", "").upper())
        return None

    def recipient_context(self, siret: str | None, siren: str | None, service_code: str | None) -> rules.DepositContext:
        """The buyer a SIRET / SIREN designates and its service (no seller side)."""
        buyer, matches = self.structures.find_buyer(siret, siren)
        service = None
        if buyer is not None and service_code:
            service = self.structures.get_service(buyer.structure_id, service_code)
        return rules.DepositContext(seller=None, depositor=None, buyer=buyer, buyer_matches=matches, service=service)

    def context(self, doc: InvoiceDocument, depositor_id: str) -> rules.DepositContext:
        ctx = self.recipient_context(doc.buyer.siret, doc.buyer.siren, doc.buyer_reference)
        ctx.seller = self._seller(doc)
        ctx.depositor = self.structures.get_attachment(ctx.seller.structure_id, depositor_id) if ctx.seller else None
        return ctx

    def deposit(self, doc: InvoiceDocument, xml: bytes | None, depositor_id: str, channel: Channel,
                files: InvoiceFiles, *, invoice_id: str | None = None, flow_id: str | None = None,
                pdf: bytes | None = None, billing_frame: str = "A1",
                extra_files: dict[str, bytes] | None = None, xml_is_original: bool = False) -> DepositResult:
        ctx = self.context(doc, depositor_id)
        violations = rules.check(doc, ctx, today())
        if violations:
            return DepositResult(None, violations)
        assert ctx.seller is not None and ctx.buyer is not None
        invoice_id = invoice_id or new_id()
        existing = self.invoices.find_number(ctx.seller.structure_id, doc.issue_date.year, doc.number)
        if existing and existing != invoice_id:
            return DepositResult(None, [rules.duplicate(doc.number, doc.issue_date.year, existing)])
        if existing == invoice_id:  # this very deposit, re-run after a crash: it was written with its event
            return DepositResult(self.invoices.get(invoice_id))
        base = f"invoices/{invoice_id}"
        if xml_is_original and files.original_key:  # a CII / UBL file: the original is the XML
            files = files.model_copy(update={"xml_key": files.original_key})
        else:
            suffix = "cii.xml" if doc.syntax.value == "CII" else "ubl.xml"
            files = files.model_copy(update={"xml_key": f"{base}/invoice.{suffix}"})
            self.documents.put(files.xml_key, xml or b"", "application/xml")
        if pdf:
            files.pdf_key = f"{base}/invoice.pdf"
            self.documents.put(files.pdf_key, pdf, "application/pdf")
        for name, content in (extra_files or {}).items():
            files.attachment_keys[name] = f"{base}/attachments/{name}"
            self.documents.put(files.attachment_keys[name], content, "application/octet-stream")
        at = now_iso()
        t = doc.totals
        invoice = Invoice(
            invoice_id=invoice_id, number=doc.number, type_code=doc.type_code, billing_frame=billing_frame,
            supplier_structure_id=ctx.seller.structure_id, supplier_identifier=ctx.seller.identifier,
            buyer_structure_id=ctx.buyer.structure_id, buyer_identifier=ctx.buyer.identifier,
            service_code=doc.buyer_reference, legal_commitment=doc.purchase_order, issue_date=doc.issue_date,
            due_date=doc.due_date, currency=doc.currency, amount_without_vat=t.tax_exclusive, vat_amount=t.tax_amount,
            amount_with_vat=t.tax_inclusive, amount_due=t.payable, channel=channel, flow_id=flow_id,
            depositor_id=depositor_id, syntax=doc.syntax, profile=doc.profile, files=files, document=doc,
            deposited_at=at, updated_at=at,
        )
        history = HistoryEntry(invoice_id=invoice_id, at=at, status="DEPOSEE", lifecycle_code=200,
                               actor_role="SUPPLIER", actor_id=depositor_id, details={"channel": channel.value})
        try:  # with its history entry and its InvoiceDeposited event (the outbox), in one transaction
            self.invoices.create(invoice, ctx.seller.structure_id, history, ("InvoiceDeposited", deposited_event(invoice)))
        except DuplicateInvoice as dup:  # lost a race with another deposit of the same number
            if dup.invoice_id != invoice_id:
                return DepositResult(None, [rules.duplicate(doc.number, doc.issue_date.year, dup.invoice_id)])
        return DepositResult(invoice)


def deposited_event(invoice: Invoice) -> dict:
    return {
        "version": "1", "invoice_id": invoice.invoice_id, "number": invoice.number, "status": invoice.status,
        "lifecycle_code": 200, "document_type": invoice.document_type, "informational": invoice.informational,
        "supplier_structure_id": invoice.supplier_structure_id,
        "buyer_structure_id": invoice.buyer_structure_id, "service_code": invoice.service_code,
        "amount_with_vat": str(invoice.amount_with_vat), "currency": invoice.currency, "channel": invoice.channel.value,
        "deposited_at": invoice.deposited_at,
    }


def flow_report(flow: Flow) -> dict:
    """The integration report, as served by GET /v1/flows/{id} and written back to EDI outboxes."""
    return {
        "flow_id": flow.flow_id,
        "status": flow.status.value,
        "chorus_status": flow.status.chorus,
        "channel": flow.channel.value,
        "file_name": flow.file_name,
        "size": flow.size,
        "sha256": flow.sha256,
        "received_at": flow.received_at,
        "finished_at": flow.finished_at,
        "validation": flow.validation.model_dump(mode="json") if flow.validation else None,
        "invoices": [i.model_dump(mode="json") for i in flow.invoices],
    }


class PortalEntry:
    """POST /v1/invoices: an invoice typed by a supplier, turned into a Factur-X invoice and deposited."""

    def __init__(self, deposit: DepositService):
        self.deposit = deposit

    def enter(self, caller: str, cmd: PortalInvoice, idempotency_key: str | None = None) -> DepositResult:
        from ..documents.parties import PartyInfo
        from ..documents.pipeline import attachment_files, generate
        from ..domain import access
        from ..domain.models import Permission, Space

        structures = self.deposit.structures
        seller = structures.get(cmd.supplier_structure_id)
        if seller is None:
            raise access.not_found(cmd.supplier_structure_id)
        access.require_space(structures.get_attachment(seller.structure_id, caller), seller,
                             Space.INVOICES_ISSUED, Permission.MODIFICATION)
        buyer = self._recipient(cmd.recipient_identifier)
        if buyer is None:
            return DepositResult(None, [rules.Violation(
                code="BUYER_UNKNOWN", reason_code="DEST_INC", field="recipient_identifier",
                message="The recipient is not a public structure of the platform (give its SIRET).")])
        generated = generate(cmd, PartyInfo.from_structure(seller), PartyInfo.from_structure(buyer))
        outcome = self.deposit.validator()(generated.xml, "invoice.cii.xml")  # the official artefacts decide
        if not outcome.report.valid or outcome.document is None:
            raise InvalidInput(
                "The invoice does not satisfy EN 16931: "
                + "; ".join(f"{e.rule}: {e.message}" for e in outcome.report.errors[:5]),
                code="INVOICE_NOT_EN16931", field=(outcome.report.errors[0].business_term if outcome.report.errors else None),
                errors=[{"field": e.business_term, "code": e.rule, "message": e.message}
                        for e in outcome.report.errors],
            )
        # With an Idempotency-Key, a retry after a failure re-runs as the same invoice (not a DOUBLON).
        invoice_id = str(uuid.uuid5(_FLOW_NS, f"portal:{caller}:{idempotency_key}")) if idempotency_key else None
        return self.deposit.deposit(outcome.document, generated.xml, caller, Channel.PORTAL, InvoiceFiles(xml_key=""),
                                    invoice_id=invoice_id, pdf=generated.pdf, billing_frame=cmd.billing_frame.value,
                                    extra_files=attachment_files(cmd))

    def _recipient(self, identifier: str) -> Structure | None:
        recipient = re.sub(r"\s+", "", identifier)
        found, _ = self.deposit.structures.find_buyer(recipient if len(recipient) == 14 else None,
                                                      recipient if len(recipient) == 9 else None)
        return found if found is not None and found.is_public else None
