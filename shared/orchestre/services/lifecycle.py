"""Use cases of the invoice lifecycle: the routing workflow's tasks, the actors' statuses,
reading, the payment clock, revenue orders.

Every status change is one conditional write (status and version as read) with its history
entry, which is also the outbox of its ``InvoiceStatusChanged`` event (published from the table's
stream by the outbox function): a committed change always gets its event, and only then.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ..domain import access
from ..domain import deposit as rules
from ..domain import lifecycle as lc
from ..domain import payment
from ..domain.common import Command, is_platform_id, iso, new_id, now, now_iso, today
from ..domain.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from ..domain.invoices import AttachmentInput, Channel, HistoryEntry, Invoice
from ..domain.models import Permission, Space, Structure
from ..repositories.documents import DocumentStore
from ..repositories.dynamo import ConditionFailed, all_items
from ..repositories.invoices import Change, Creation, InvoiceRepository
from ..repositories.structures import StructureRepository

STATE_MACHINE_ENV = "LIFECYCLE_STATE_MACHINE_ARN"
Comment = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class SetStatus(Command):
    status: lc.Status
    reason_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    comment: Comment | None = None
    mandate_number: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class Complete(Command):
    comment: Comment
    attachments: Annotated[list[AttachmentInput], Field(max_length=20)] = Field(default_factory=list)


class Recycle(Command):
    recipient_identifier: Annotated[str, StringConstraints(min_length=9, max_length=20)]
    service_code: Annotated[str, StringConstraints(max_length=100)] | None = None
    legal_commitment: Annotated[str, StringConstraints(max_length=50)] | None = None


class RevenueOrderInput(Command):
    """A revenue order (titre de perception) of a State ordonnateur to a public body, or its cancellation."""

    issuer_structure_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    recipient_identifier: Annotated[str, StringConstraints(min_length=9, max_length=20)]
    kind: Literal["TITRE_DE_PERCEPTION", "ANNULATION"] = "TITRE_DE_PERCEPTION"
    number: Annotated[str, StringConstraints(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9/_.\-]+$")]
    cancels_number: Annotated[str, StringConstraints(max_length=30)] | None = None
    issue_date: date
    amount: Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"
    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    pdf_base64: str | None = None


_KEEP = object()  # "leave the payment clock as it is"


def _not_found(invoice_id: str) -> NotFound:
    return NotFound(f"Invoice {invoice_id} not found.", code="INVOICE_NOT_FOUND", field="invoice_id")


class LifecycleService:
    def __init__(self, repo: InvoiceRepository | None = None, structures: StructureRepository | None = None,
                 documents: DocumentStore | None = None):
        self.repo = repo or InvoiceRepository()
        self.structures = structures or StructureRepository()
        self.documents = documents or DocumentStore()

    # -- the workflow ----------------------------------------------------------------------

    def start(self, invoice_id: str) -> None:
        """Start the routing workflow of a deposited (or recycled) invoice. At-least-once: a second
        execution finds the invoice already routed and does nothing."""
        from ..repositories.workflows import WorkflowStarter

        # a new execution each time: duplicates are harmless because every platform move is conditional
        # on the status it leaves
        WorkflowStarter().start(STATE_MACHINE_ENV, invoice_id, {"invoice_id": invoice_id})

    def _start_or_leave_to_sweep(self, invoice_id: str) -> None:
        """Start the routing of an invoice whose move to DEPOSEE is written: if it cannot start now, the
        routing sweep starts it within minutes (the move is not undone, nor reported as failed)."""
        try:
            self.start(invoice_id)
        except Exception:  # noqa: BLE001
            from ..api.http import logger

            logger.exception("routing workflow not started; the sweep will", extra={"invoice_id": invoice_id})

    def _platform_move(self, invoice_id: str, to: lc.Status, **changes) -> Invoice:
        inv = self.repo.get(invoice_id, consistent=True)
        if inv is None:
            raise LookupError(f"invoice {invoice_id} not found")
        if inv.status == to.value:  # a retried task: the write was done, with its event (the outbox)
            return inv
        if not any(m.to is to for m in lc.moves(lc.Status(inv.status), {lc.Role.PLATFORM})):
            return inv  # moved on meanwhile (a duplicate execution, a recycle): nothing to do
        return self._apply(inv, to, lc.Role.PLATFORM, None, **changes)

    def route(self, invoice_id: str) -> Invoice:
        inv = self.repo.get(invoice_id, consistent=True)
        if inv is not None and inv.status == lc.Status.DEPOSEE.value:
            buyer = self.structures.get(inv.buyer_structure_id)
            if buyer is None or not buyer.is_public or not buyer.has_space(Space.INVOICES_RECEIVED):
                raise RuntimeError("the buyer no longer receives invoices")  # retried, then parked
        return self._platform_move(invoice_id, lc.Status.EN_COURS_ACHEMINEMENT)

    def make_available(self, invoice_id: str) -> Invoice:
        inv = self.repo.get(invoice_id, consistent=True)
        clock = None
        if inv is not None and inv.document_type == "INVOICE":
            buyer = self.structures.get(inv.buyer_structure_id)
            delay = buyer.payment_delay_days if buyer else payment.DEFAULT_DELAY_DAYS
            clock = payment.PaymentClock(started_at=now(), delay_days=delay).model_dump(mode="json")
        return self._platform_move(invoice_id, lc.Status.MISE_A_DISPOSITION, payment_clock=clock)

    def park(self, invoice_id: str, error: dict | None, expected_status: str | None = None) -> Invoice:
        """The step that failed left the invoice at ``expected_status``: park it only if it is still
        there (another execution may have routed it meanwhile)."""
        cause = json.dumps(error or {})[:1000]
        from ..api.http import logger, metrics

        inv = self.repo.get(invoice_id, consistent=True)
        if inv is None or (expected_status and inv.status != expected_status):
            return inv  # type: ignore[return-value]
        logger.error("invoice routing failed: parked", extra={"invoice_id": invoice_id, "cause": cause})
        metrics.add_metric(name="RoutingFailures", unit="Count", value=1)
        return self._platform_move(invoice_id, lc.Status.EN_ERREUR, routing_error=cause)

    def sweep_routing(self, older_than: timedelta = timedelta(minutes=10), days: int = 2) -> int:
        """Scheduled: invoices still DEPOSEE / EN_COURS_ACHEMINEMENT after ``older_than`` (a workflow
        that never started, or died) get a new routing workflow. Duplicates are harmless."""
        cutoff = iso(now() - older_than)
        restarted = 0
        for back in range(days):
            day = (now() - timedelta(days=back)).date().isoformat()
            for item in all_items(lambda token, day=day: self.repo.routing_since(day, 100, token)):
                invoice_id, since = self.repo.routing_entry(item)
                if since < cutoff:
                    self.start(invoice_id)
                    restarted += 1
        return restarted

    # -- who may see and act ---------------------------------------------------------------

    def _sides(self, user_id: str, inv: Invoice) -> tuple[set[lc.Role], set[lc.Role]]:
        """(roles that may read, roles that may act) of the user on this invoice."""
        read, act = set(), set()
        for role, structure_id, space in ((lc.Role.RECIPIENT, inv.buyer_structure_id, Space.INVOICES_RECEIVED),
                                          (lc.Role.SUPPLIER, inv.supplier_structure_id, Space.INVOICES_ISSUED)):
            structure = self.structures.get(structure_id)
            attachment = self.structures.get_attachment(structure_id, user_id) if structure else None
            if structure is None or attachment is None or not attachment.is_active:
                continue
            held = access.effective_permission(attachment, structure, space)
            if held is not None:
                read.add(role)
                if held.allows(Permission.MODIFICATION):
                    act.add(role)
        return read, act

    def load(self, user_id: str, invoice_id: str) -> tuple[Invoice, set[lc.Role], set[lc.Role]]:
        inv = self.repo.get(invoice_id) if is_platform_id(invoice_id) else None
        if inv is None or inv.document_type in SERVED_ELSEWHERE:
            raise _not_found(invoice_id)
        read, act = self._sides(user_id, inv)
        if not read:
            raise _not_found(invoice_id)  # 404, not 403: ids are not confirmed to strangers
        return inv, read, act

    def load_to_act(self, user_id: str, invoice_id: str) -> tuple[Invoice, set[lc.Role]]:
        """The invoice and the roles the user may act in; 403 for a reader with CONSULTATION only."""
        inv, _, act = self.load(user_id, invoice_id)
        if not act:
            raise Forbidden("MODIFICATION on the invoice's space is required to act on it.",
                            code="SPACE_PERMISSION_REQUIRED", field="space")
        return inv, act

    def next_statuses(self, user_id: str, invoice_id: str) -> tuple[Invoice, list[lc.Move]]:
        inv, _, act = self.load(user_id, invoice_id)
        return inv, lc.moves(lc.Status(inv.status), act)

    # -- the actors' changes ---------------------------------------------------------------

    def prepare(self, inv: Invoice, to: lc.Status, role: lc.Role, actor: str | None, *, reason_code=None,
                comment=None, mandate_number=None, details=None, payment_clock: Any = _KEEP, **changes) -> Change:
        """A move of the lifecycle engine, not written yet: the record after it, its history entry and
        its event (see ``commit``). Every payment request (invoice, works piece...) moves through here."""
        moment = now()
        at = iso(moment)
        raw_clock = inv.payment_clock if payment_clock is _KEEP else payment_clock
        clock = payment.PaymentClock.model_validate(raw_clock) if raw_clock else None
        if clock is not None:
            if to is lc.Status.SUSPENDUE:
                clock = payment.suspend(clock, moment)
            elif to is lc.Status.COMPLETEE:
                clock = payment.resume(clock, moment)
            elif to is lc.Status.MISE_EN_PAIEMENT:
                clock = clock.model_copy(update={"paid_at": moment})
        after = inv.model_copy(update={
            "status": to.value, "version": inv.version + 1, "updated_at": at,
            "last_reason_code": reason_code, "last_comment": comment,
            "mandate_number": mandate_number or inv.mandate_number,
            "payment_clock": clock.model_dump(mode="json") if clock else None, **changes,
        })
        entry = HistoryEntry(invoice_id=inv.invoice_id, at=at, status=to.value, previous_status=inv.status,
                             lifecycle_code=lc.LIFECYCLE_CODES.get(to), actor_role=role.value, actor_id=actor,
                             reason_code=reason_code, comment=comment, mandate_number=mandate_number,
                             details=details or {})
        return Change(after, inv, entry, ("InvoiceStatusChanged", status_event(after, entry)))

    def commit(self, changes: list[Change], creations: list[Creation] | None = None, extra_ops: list | None = None):
        """Write moves (each conditional on the status and version it left), new records (each with its
        number guard) and other items, in one transaction: each with its history entry and its event
        (no event is lost). A lost race is ConditionFailed (``index``: the failed operation)."""
        self.repo.commit(changes, creations or [], extra_ops or [])

    def _apply(self, inv: Invoice, to: lc.Status, role: lc.Role, actor: str | None,
               extra_ops: list[dict] | None = None, **kwargs) -> Invoice:
        return self._commit_one(self.prepare(inv, to, role, actor, **kwargs), extra_ops)

    def _commit_one(self, change: Change, extra_ops: list[dict] | None = None) -> Invoice:
        try:
            self.commit([change], extra_ops=extra_ops)
        except ConditionFailed as exc:
            current = (exc.item or {}).get("status", "?")
            raise Conflict(f"The invoice changed meanwhile (now {current}); read it again.",
                           code="CONCURRENT_UPDATE", current_status=current) from None
        return change.after

    def set_status(self, user_id: str, invoice_id: str, cmd: SetStatus, expected_version: int | None = None) -> Invoice:
        """``expected_version`` (If-Match, optional): the version the user decided on."""
        inv, act = self.load_to_act(user_id, invoice_id)
        if expected_version is not None and expected_version != inv.version:
            raise PreconditionFailed(f"The invoice is at version {inv.version} ({inv.status}); read it again.",
                                     code="VERSION_MISMATCH", field="If-Match", current_version=inv.version,
                                     current_status=inv.status)
        lc.check_move(lc.Status(inv.status), act, cmd.status, "status", cmd.reason_code, cmd.mandate_number)
        role = lc.Role.RECIPIENT if lc.Role.RECIPIENT in act and any(
            m.to is cmd.status for m in lc.moves(lc.Status(inv.status), {lc.Role.RECIPIENT})) else lc.Role.SUPPLIER
        return self._apply(inv, cmd.status, role, user_id, reason_code=cmd.reason_code, comment=cmd.comment,
                           mandate_number=cmd.mandate_number)

    def complete(self, user_id: str, invoice_id: str, cmd: Complete) -> Invoice:
        inv, act = self.load_to_act(user_id, invoice_id)
        lc.check_move(lc.Status(inv.status), act, lc.Status.COMPLETEE, "complete", None, None)
        return self._commit_one(self.completion(inv, cmd, user_id))

    def completion(self, inv: Invoice, cmd: Complete, actor: str, details: dict | None = None) -> Change:
        """SUSPENDUE -> COMPLETEE with the documents asked for (stored first), not written yet: the move
        of any payment request the supplier completes (the move was checked by the caller)."""
        from .deposit import check_file_name, decode_base64

        keys = dict(inv.files.attachment_keys)
        for a in cmd.attachments:
            name = check_file_name(a.file_name)
            if name.lower() in ("pdf", "xml", "original", "factur-x.xml"):
                raise InvalidInput(f"{name} is a reserved name.", code="RESERVED_FILE_NAME", field="attachments")
            key = f"invoices/{inv.invoice_id}/attachments/{name}"
            self.documents.put(key, decode_base64(a.content_base64), "application/octet-stream")
            keys[name] = key
        files = inv.files.model_copy(update={"attachment_keys": keys})
        return self.prepare(inv, lc.Status.COMPLETEE, lc.Role.SUPPLIER, actor, comment=cmd.comment, files=files,
                            details={"attachments": [a.file_name for a in cmd.attachments], **(details or {})})

    def recycle(self, user_id: str, invoice_id: str, cmd: Recycle) -> Invoice:
        """A_RECYCLER -> DEPOSEE to another recipient / service / EJ, same number; routed again."""
        from .deposit import DepositService

        inv, act = self.load_to_act(user_id, invoice_id)
        lc.check_move(lc.Status(inv.status), act, lc.Status.DEPOSEE, "recycle", None, None)
        recipient = re.sub(r"\s+", "", cmd.recipient_identifier)
        # the seller's side was checked at deposit and the caller acts for it (above): only the
        # new recipient, service and EJ are checked, by the deposit rules' own recipient part
        ctx = DepositService(structures=self.structures).recipient_context(
            recipient if len(recipient) == 14 else None, recipient[:9], cmd.service_code)
        violations = rules.check_recipient(ctx, cmd.service_code, cmd.legal_commitment, today())
        if violations:
            v = violations[0]
            raise InvalidInput(v.message, code=v.code, field={"BT-46": "recipient_identifier", "BT-10": "service_code",
                                                              "BT-13": "legal_commitment"}.get(v.field or "", v.field),
                               errors=[x.model_dump() for x in violations])
        assert ctx.buyer is not None
        after = self._apply(inv, lc.Status.DEPOSEE, lc.Role.SUPPLIER, user_id,
                            buyer_structure_id=ctx.buyer.structure_id, buyer_identifier=ctx.buyer.identifier,
                            service_code=cmd.service_code, legal_commitment=cmd.legal_commitment, payment_clock=None,
                            overdue_notified=False,
                            details={"recipient": ctx.buyer.identifier, "service_code": cmd.service_code})
        self._start_or_leave_to_sweep(after.invoice_id)
        return after

    def resend(self, operator_id: str, invoice_id: str, comment: str | None = None,
               also: tuple[dict, ...] = ()) -> Invoice:
        """An operator routes a parked invoice again, as it is (the cause was fixed meanwhile), with
        ``also`` (the operator's audit entry) in the same transaction."""
        inv = self.repo.get(invoice_id, consistent=True) if is_platform_id(invoice_id) else None
        if inv is None:
            raise _not_found(invoice_id)
        lc.check_move(lc.Status(inv.status), {lc.Role.OPERATOR}, lc.Status.DEPOSEE, "resend", None, None)
        after = self._apply(inv, lc.Status.DEPOSEE, lc.Role.OPERATOR, operator_id, comment=comment,
                            routing_error=None, details={"resent_by_operator": True}, extra_ops=list(also))
        self._start_or_leave_to_sweep(after.invoice_id)
        return after

    def parked(self, limit: int, page_token: str | None) -> tuple[list[Invoice], str | None]:
        return self.repo.parked(limit, page_token)

    # -- reading ---------------------------------------------------------------------------

    def list(self, user_id: str, side: str, structure_id: str, *, limit: int, page_token: str | None,
             since: date | None, until: date | None, status: str | None, service_code: str | None,
             supplier: str | None, number: str | None, min_amount: Decimal | None, max_amount: Decimal | None):
        structure = self.structures.get(structure_id)
        if structure is None:
            raise access.not_found(structure_id)
        space = Space.INVOICES_ISSUED if side == "SUPPLIER" else Space.INVOICES_RECEIVED
        access.require_space(self.structures.get_attachment(structure_id, user_id), structure, space,
                             Permission.CONSULTATION)
        filters: list[tuple[str, str, Any]] = []
        for attr, value in (("status", status), ("service_code", service_code), ("supplier_identifier", supplier),
                            ("number", number)):
            if value:
                filters.append((attr, "=", value))
        if min_amount is not None:
            filters.append(("amount_num", ">=", min_amount))
        if max_amount is not None:
            filters.append(("amount_num", "<=", max_amount))
        return self.repo.list(side, structure_id, limit=limit, page_token=page_token, since=since, until=until,
                              filters=filters)

    def history(self, user_id: str, invoice_id: str, limit: int, page_token: str | None):
        inv, read, _ = self.load(user_id, invoice_id)
        entries, token = self.repo.history(invoice_id, limit, page_token)
        if lc.Role.SUPPLIER not in read:  # a recipient sees nothing of the invoice's time at another buyer
            recycled = [i for i, e in enumerate(entries)
                        if e.previous_status in ("A_RECYCLER", "EN_ERREUR") and e.status == "DEPOSEE"]
            if recycled:
                entries = entries[recycled[-1]:]
        return entries, token

    def document_url(self, user_id: str, invoice_id: str, which: str) -> str:
        inv, _, _ = self.load(user_id, invoice_id)
        return self.file_url(inv, which)

    def file_url(self, inv: Invoice, which: str) -> str:
        """A short-lived download URL of a payment request's file (the caller may read the request)."""
        files = inv.files
        key = {"pdf": files.pdf_key, "xml": files.xml_key, "original": files.original_key}.get(which) \
            if which in ("pdf", "xml", "original") else files.attachment_keys.get(which)
        if not key:
            raise NotFound(f"This invoice has no {which} file.", code="DOCUMENT_NOT_FOUND", field="document")
        suffix = {"pdf": ".pdf", "xml": ".xml", "original": ""}.get(which, "")
        return self.documents.presign_get(key, 300, f"{inv.number}{suffix}" if suffix else which)

    # -- the payment clock ---------------------------------------------------------------------

    def flag_overdue(self, day: date | None = None, lookback_days: int = 7) -> int:
        """Daily job: invoices whose due date passed (up to ``lookback_days`` back, to catch up after
        an outage) and not yet paid are flagged once and announced (InvoiceOverdue)."""
        day = day or today()
        flagged = 0
        for back in range(1, lookback_days + 1):
            due = day - timedelta(days=back)
            for item in all_items(lambda token, due=due: self.repo.due_on(due, 100, token)):
                inv = self.repo.get(item["GSI3SK"], consistent=True)  # the index holds keys only
                if inv is None or inv.overdue_notified or inv.status not in lc.CLOCK_RUNNING:
                    continue
                clock = payment.PaymentClock.model_validate(inv.payment_clock)
                v = payment.view(clock, inv.amount_with_vat, day)
                if v.days_late <= 0:
                    continue
                flagged_inv = inv.model_copy(update={"overdue_notified": True, "version": inv.version + 1})
                detail = status_event(flagged_inv, None)
                detail.update(days_late=v.days_late, late_interest=str(v.late_interest),
                              fixed_indemnity=str(v.fixed_indemnity))
                try:  # the flag, its history entry and the InvoiceOverdue event, together
                    self.repo.transition(flagged_inv, inv, HistoryEntry(
                        invoice_id=inv.invoice_id, at=now_iso(), status=inv.status, previous_status=inv.status,
                        lifecycle_code=lc.LIFECYCLE_CODES.get(lc.Status(inv.status)), actor_role="PLATFORM",
                        comment=f"Payment overdue by {v.days_late} day(s)", details={"overdue": True}),
                        ("InvoiceOverdue", detail))
                except ConditionFailed:
                    continue  # changed meanwhile (paid?): the next run decides
                flagged += 1
        return flagged

    # -- revenue orders ----------------------------------------------------------------------

    def create_revenue_order(self, user_id: str, cmd: RevenueOrderInput) -> Invoice:
        from ..domain.invoices import InvoiceDocument, InvoiceFiles, Party, Syntax, Totals
        from .deposit import decode_base64

        issuer = self.structures.get(cmd.issuer_structure_id)
        if issuer is None:
            raise access.not_found(cmd.issuer_structure_id)
        access.require_space(self.structures.get_attachment(issuer.structure_id, user_id), issuer,
                             Space.INVOICES_ISSUED, Permission.MODIFICATION)
        if not issuer.is_public:
            raise InvalidInput("Revenue orders are issued by public structures (State ordonnateurs).",
                               code="NOT_A_PUBLIC_STRUCTURE", field="issuer_structure_id")
        recipient = re.sub(r"\s+", "", cmd.recipient_identifier)
        buyer = self.structures.find_by_identifier("SIRET", recipient) if len(recipient) == 14 else None
        if buyer is None or not buyer.is_public:
            raise InvalidInput("The recipient is not a public structure of the platform.", code="BUYER_UNKNOWN",
                               field="recipient_identifier")
        if cmd.kind == "ANNULATION" and not cmd.cancels_number:
            raise InvalidInput("A cancellation names the revenue order it cancels.", code="CANCELS_NUMBER_REQUIRED",
                               field="cancels_number")
        invoice_id, at = new_id(), now_iso()
        pdf = decode_base64(cmd.pdf_base64) if cmd.pdf_base64 else _revenue_order_pdf(cmd, issuer, buyer)
        doc = InvoiceDocument(
            syntax=Syntax.CII, number=cmd.number, issue_date=cmd.issue_date,
            type_code="381" if cmd.kind == "ANNULATION" else "380", currency=cmd.currency,
            preceding_invoices=[cmd.cancels_number] if cmd.cancels_number else [],
            seller=Party(name=issuer.name, siret=issuer.identifier, siren=issuer.identifier[:9]),
            buyer=Party(name=buyer.name, siret=buyer.identifier, siren=buyer.identifier[:9]),
            totals=Totals(tax_inclusive=cmd.amount, payable=cmd.amount),
        )
        pdf_key = f"invoices/{invoice_id}/revenue-order.pdf"
        self.documents.put(pdf_key, pdf, "application/pdf")
        inv = Invoice(
            invoice_id=invoice_id, document_type="REVENUE_ORDER", informational=True, number=cmd.number,
            type_code=doc.type_code, billing_frame="TITRE", supplier_structure_id=issuer.structure_id,
            supplier_identifier=issuer.identifier, buyer_structure_id=buyer.structure_id,
            buyer_identifier=buyer.identifier, issue_date=cmd.issue_date, currency=cmd.currency,
            amount_with_vat=cmd.amount, amount_due=cmd.amount, channel=Channel.PORTAL, depositor_id=user_id,
            syntax=Syntax.CII, files=InvoiceFiles(xml_key="", pdf_key=pdf_key), document=doc,
            deposited_at=at, updated_at=at, last_comment=cmd.subject,
        )
        from ..repositories.invoices import DuplicateInvoice

        from .deposit import deposited_event

        try:
            self.repo.create(inv, issuer.structure_id, HistoryEntry(
                invoice_id=invoice_id, at=at, status="DEPOSEE", lifecycle_code=200, actor_role="SUPPLIER",
                actor_id=user_id, comment=cmd.subject, details={"kind": cmd.kind}),
                ("InvoiceDeposited", deposited_event(inv)))
        except DuplicateInvoice as dup:
            raise Conflict(f"Revenue order {cmd.number} of {cmd.issue_date.year} exists ({dup.invoice_id}).",
                           code="DOUBLON", field="number") from None
        return inv


def clock_view(inv: Invoice, on: date | None = None) -> dict | None:
    if not inv.payment_clock:
        return None
    v = payment.view(payment.PaymentClock.model_validate(inv.payment_clock), inv.amount_with_vat, on or today())
    running = v.running and inv.status in lc.CLOCK_RUNNING
    return {"due_date": v.due_date.isoformat(), "running": running, "days_left": v.days_left if running else None,
            "days_late": v.days_late, "late_interest": str(v.late_interest),
            "fixed_indemnity": str(v.fixed_indemnity)}


# Payment requests with routes of their own (their own rights and statuses): not under /v1/invoices.
SERVED_ELSEWHERE = frozenset({"WORKS_PIECE", "JUSTICE_MEMO", "TIC_REQUEST"})


def status_event(inv: Invoice, entry: HistoryEntry | None) -> dict:
    clock = clock_view(inv)
    extra: dict[str, Any] = {"billing_frame": inv.billing_frame} if inv.billing_frame != "A1" else {}
    if inv.justice:  # a justice memo: the court's code, the taxed amount
        extra["justice"] = {"court_code": inv.justice.get("court_code"), "taxed_amount": inv.justice.get("taxed_amount"),
                            "duplicate_of": inv.justice.get("duplicate_of")}
    if inv.tic:  # a TIC refund request: its year, département, and the delegate that filed it (told too)
        extra["tic"] = {k: inv.tic.get(k) for k in ("year", "department", "filed_by_structure_id", "delegation_id")}
        if inv.tic.get("filed_by_structure_id"):
            extra["also_structure_ids"] = [inv.tic["filed_by_structure_id"]]
    if inv.works:  # a works piece (or a contract's payable document): the contract, the frame, the deadline
        w = inv.works
        extra["works"] = {k: w.get(k) for k in ("contract_id", "frame", "previous_piece_id", "deadline_kind",
                                                 "deadline_at")}
        if w.get("also_notify"):
            extra["also_structure_ids"] = list(w["also_notify"])
    return {**extra,
        "version": "1", "invoice_id": inv.invoice_id, "number": inv.number, "document_type": inv.document_type,
        "informational": inv.informational, "supplier_structure_id": inv.supplier_structure_id,
        "buyer_structure_id": inv.buyer_structure_id, "service_code": inv.service_code,
        "amount_with_vat": str(inv.amount_with_vat), "currency": inv.currency, "status": inv.status,
        "previous_status": entry.previous_status if entry else None,
        "lifecycle_code": lc.LIFECYCLE_CODES.get(lc.Status(inv.status)),
        "reason_code": entry.reason_code if entry else None, "comment": entry.comment if entry else None,
        "mandate_number": entry.mandate_number if entry else None,
        "actor_role": entry.actor_role if entry else "PLATFORM", "actor_id": entry.actor_id if entry else None,
        "at": entry.at if entry else now_iso(), "payment_due_date": clock["due_date"] if clock else None,
    }


def _revenue_order_pdf(cmd: RevenueOrderInput, issuer: Structure, buyer: Structure) -> bytes:
    from ..documents.statement import render_statement

    lines = [f"N° {cmd.number} du {cmd.issue_date.strftime('%d/%m/%Y')}",
             f"Ordonnateur : {issuer.name} (SIRET {issuer.identifier})",
             f"Redevable : {buyer.name} (SIRET {buyer.identifier})",
             f"Objet : {cmd.subject}", f"Montant : {cmd.amount} {cmd.currency}"]
    if cmd.cancels_number:
        lines.append(f"Annule le titre n° {cmd.cancels_number}")
    return render_statement("TITRE DE PERCEPTION" if cmd.kind == "TITRE_DE_PERCEPTION" else "ORDRE D'ANNULATION",
                            lines, "Les statuts de traitement de ce titre sont informatifs et sans valeur juridique.")
