"""Use cases of justice fee memos: drafts, submission (numbered under a billing mandate), the court's
certification or taxation, refusal and duplication; the mandate; the 2018 revocation job.

A memo is a payment request of the one lifecycle engine (``LifecycleService.prepare`` and
``commit``): its moves are rows of ``lifecycle.JUSTICE_TRANSITIONS``, each a conditional write with
its history entry and its event (the outbox), notified through the same subscriptions as invoices.
What is specific to justice is here and in ``domain.justice``: who is the provider and the court,
the rules of the platform, the numbering.
"""

from __future__ import annotations

import random
import time
from datetime import date
from decimal import Decimal
from typing import Any

from ..domain import access
from ..domain import justice as jd
from ..domain import lifecycle as lc
from ..domain.common import is_platform_id, new_id, now_iso, today
from ..domain.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from ..domain.invoices import Channel, HistoryEntry, Invoice, LineInput, Syntax
from ..domain.models import Attachment, AuditEvent, Permission, Space, Structure
from ..repositories.documents import DocumentStore
from ..repositories.dynamo import ConditionFailed
from ..repositories.invoices import Change, Creation, DuplicateInvoice, memo_guard_pk
from ..repositories.jobs import JobRepository
from ..repositories.justice import JusticeProviders, ProviderRecord
from ..repositories.structures import StructureRepository
from .lifecycle import LifecycleService
from .requests import SpaceRequests

MANDATE_REVOKED_EVENT = "JusticeMandateRevoked"  # docs/events.md
REVOCATION_JOB = "revoke-justice-mandates"
SUBMIT_ATTEMPTS = 100  # a submission under a mandate retries when another took the next number meanwhile
REVOCATION_THREADS = 8  # revocations of a page written side by side


class JusticeService(SpaceRequests):
    SPACE = Space.JUSTICE_MEMOS
    DOCUMENT_TYPE = jd.DOCUMENT_TYPE
    NOUN = "memo"

    def __init__(self, engine: LifecycleService | None = None, providers: JusticeProviders | None = None,
                 jobs: JobRepository | None = None, documents: DocumentStore | None = None):
        super().__init__(engine, documents)
        self.memos = self.requests
        self.providers = providers or JusticeProviders(self.memos.table)
        self.jobs = jobs or JobRepository(self.memos.table)

    # -- who is who ------------------------------------------------------------------------------

    def _provider(self, user_id: str, structure_id: str, write: bool = True) -> Structure:
        """A provider the caller acts for: its JUSTICE_MEMOS space open with a category; 404 to strangers."""
        found = self._member(user_id, structure_id)
        if found is None:
            raise access.not_found(structure_id)
        structure, _, held = found
        if structure.provider_category is None:
            raise InvalidInput("This structure is not a provider of the courts: open JUSTICE_MEMOS with a "
                               "provider_category.", code="NOT_A_PROVIDER", field="provider_structure_id")
        if write and not held.allows(Permission.MODIFICATION):
            raise Forbidden("MODIFICATION on the JUSTICE_MEMOS space is required.", code="SPACE_PERMISSION_REQUIRED",
                            field="space")
        return structure

    def _roles(self, user_id: str, memo: Invoice) -> tuple[set[lc.Role], set[lc.Role]]:
        """(roles that may read, roles that may act) of the caller on a memo: the provider's members, the
        court's (fees office or magistrate) once the memo is sent."""
        read: set[lc.Role] = set()
        act: set[lc.Role] = set()
        provider = self._member(user_id, memo.supplier_structure_id)
        if provider is not None:
            read.add(lc.Role.SUPPLIER)
            if provider[2].allows(Permission.MODIFICATION):
                act.add(lc.Role.SUPPLIER)
        court = self._member(user_id, memo.buyer_structure_id) if memo.status != lc.Status.BROUILLON.value else None
        if court is not None and court[0].court is not None:
            role = lc.Role.MAGISTRATE if court[1].court_role is jd.CourtRole.MAGISTRAT else lc.Role.CLERK
            read.add(role)
            if court[2].allows(Permission.MODIFICATION):
                act.add(role)
        return read, act

    # -- the rules of a memo's content -----------------------------------------------------------

    def _court(self, court_id: str) -> Structure:
        court = self.structures.get(court_id) if court_id else None
        if court is None or court.court is None or not court.has_space(Space.JUSTICE_MEMOS) or court.status != "ACTIVE":
            raise InvalidInput("The recipient is not a court open to justice fee memos (GET /v1/directory/courts).",
                               code="NOT_A_COURT", field="court_structure_id")
        return court

    @staticmethod
    def _check_content(fields: dict[str, Any], category: jd.ProviderCategory, on: date) -> None:
        start, end = fields["mission_start"], fields["mission_end"]
        if end < start:
            raise InvalidInput("The mission ends before it starts.", code="MISSION_END_BEFORE_START", field="mission_end")
        if end > on:
            raise InvalidInput("A memo bills a mission that has ended: mission_end is in the future.",
                               code="MISSION_END_IN_FUTURE", field="mission_end")
        if fields["decision"]["date"] > on:
            raise InvalidInput("The decision's date is in the future.", code="DECISION_IN_FUTURE", field="decision.date")
        if jd.time_barred(end, on):
            raise InvalidInput(f"Time-barred: a memo is sent within {jd.TIME_BAR_DAYS} days of the mission's end "
                               f"({end.isoformat()}).", code="TIME_BARRED", field="mission_end")
        for i, line in enumerate(fields["lines"]):
            fee = jd.FEE_TYPES.get(line["fee_type"])
            if fee is None:
                raise InvalidInput(f"Unknown fee type {line['fee_type']} (GET /v1/justice/fee-types).",
                                   code="UNKNOWN_FEE_TYPE", field=f"lines[{i}].fee_type")
            if category not in fee.categories:
                raise InvalidInput(f"{fee.code} is not a fee of a {category.value} provider.",
                                   code="FEE_TYPE_NOT_FOR_CATEGORY", field=f"lines[{i}].fee_type")
            if fields["vat_regime"] is not jd.VatRegime.ASSUJETTI and line["vat_rate"] != 0:
                raise InvalidInput(f"No VAT under {fields['vat_regime'].value}: vat_rate is 0.",
                                   code="VAT_NOT_APPLICABLE", field=f"lines[{i}].vat_rate")

    @staticmethod
    def _totals(lines: list[dict[str, Any]], regime: jd.VatRegime):
        """The memo's amounts, by the invoices' one arithmetic (documents.totals)."""
        from ..documents.totals import compute

        category, reason = {jd.VatRegime.FRANCHISE: ("E", "TVA non applicable, art. 293 B du CGI"),
                            jd.VatRegime.NON_ASSUJETTI: ("O", "Hors du champ de la TVA")}.get(regime, (None, None))
        return compute(LineInput(description=line["description"], quantity=line["quantity"],
                                 unit_price=line["unit_price"],
                                 vat_category=category or ("S" if line["vat_rate"] > 0 else "Z"),
                                 vat_rate=Decimal(0) if category else line["vat_rate"], exemption_reason=reason)
                       for line in lines)

    # -- memos: drafts ------------------------------------------------------------------------------

    def fee_types(self) -> list[jd.FeeType]:
        return list(jd.FEE_TYPES.values())

    def create(self, user_id: str, cmd: jd.CreateMemo) -> Invoice:
        provider = self._provider(user_id, cmd.provider_structure_id)
        court = self._court(cmd.court_structure_id)
        record = self.providers.get(provider.structure_id)
        if record.mandate_active and cmd.number:
            raise InvalidInput("Under a billing mandate the platform numbers each memo: do not type one.",
                               code="NUMBER_UNDER_MANDATE", field="number")
        fields = cmd.model_dump(exclude={"provider_structure_id", "attachments", "pdf_base64"})
        fields.update(decision=cmd.decision.model_dump(), lines=[ln.model_dump() for ln in cmd.lines])
        self._check_content(fields, provider.provider_category, today())
        memo_id = new_id()
        from .deposit import decode_base64, store_files

        own_pdf = decode_base64(cmd.pdf_base64) if cmd.pdf_base64 else None
        files = store_files(self.documents, memo_id, "memo.pdf", own_pdf, cmd.attachments)
        at = now_iso()
        memo = self._record(memo_id, provider, court, fields, user_id, at, files, own_pdf=own_pdf is not None,
                            restricted=not record.processed)
        entry = HistoryEntry(invoice_id=memo_id, at=at, status=lc.Status.BROUILLON.value, actor_role=lc.Role.SUPPLIER.value,
                             actor_id=user_id, details={"court": court.court.code})
        creation = Creation(memo, provider.structure_id, entry, None,
                            guard_pk=memo_guard_pk(provider.structure_id, cmd.number) if cmd.number else "")
        self._commit_creation(creation, provider, cmd.number)
        return memo

    def _record(self, memo_id: str, provider: Structure, court: Structure, fields: dict[str, Any], actor: str,
                at: str, files, *, own_pdf: bool, restricted: bool, duplicate_of: str | None = None) -> Invoice:
        from ..domain.invoices import InvoiceFiles

        totals = self._totals(fields["lines"], fields["vat_regime"])
        info = jd.JusticeInfo(provider_category=provider.provider_category, court_code=court.court.code,
                              decision=fields["decision"], prescriber=fields["prescriber"],
                              case_reference=fields["case_reference"], mission_start=fields["mission_start"],
                              mission_end=fields["mission_end"], vat_regime=fields["vat_regime"], lines=fields["lines"],
                              typed_number=bool(fields.get("number")), restricted=restricted, own_pdf=own_pdf,
                              duplicate_of=duplicate_of)
        return Invoice(
            invoice_id=memo_id, document_type=jd.DOCUMENT_TYPE, number=fields.get("number") or "", type_code="380",
            billing_frame=jd.BILLING_FRAME, supplier_structure_id=provider.structure_id,
            supplier_identifier=provider.identifier, buyer_structure_id=court.structure_id,
            buyer_identifier=court.identifier, issue_date=today(), currency="EUR",
            amount_without_vat=totals.tax_exclusive, vat_amount=totals.tax_amount,
            amount_with_vat=totals.tax_inclusive, amount_due=totals.tax_inclusive, status=lc.Status.BROUILLON.value,
            channel=Channel.PORTAL, depositor_id=actor, syntax=Syntax.CII,
            files=files or InvoiceFiles(xml_key=""), deposited_at=at, updated_at=at,
            justice=info.model_dump(mode="json", exclude_none=True),
        )

    def _commit_creation(self, creation: Creation, provider: Structure, number: str | None,
                         changes: list[Change] | None = None) -> None:
        try:
            self.engine.commit(changes or [], [creation],
                               [self.providers.count_memo_op(provider.structure_id, jd.RESTRICTED_MAX_MEMOS)])
        except DuplicateInvoice as dup:
            raise Conflict(f"{provider.name} has a memo {number} already ({dup.invoice_id}).", code="DOUBLON",
                           field="number") from None
        except ConditionFailed:
            record = self.providers.get(provider.structure_id)
            if not record.processed and record.memo_count >= jd.RESTRICTED_MAX_MEMOS:
                raise Conflict(f"Until a court has processed its first memo, a provider holds at most "
                               f"{jd.RESTRICTED_MAX_MEMOS} memos.", code="RESTRICTED_ACCOUNT_LIMIT",
                               field="provider_structure_id") from None
            raise Conflict("The memo changed meanwhile; read it again.", code="CONCURRENT_UPDATE") from None

    def update(self, user_id: str, memo_id: str, cmd: jd.UpdateMemo, expected_version: int) -> Invoice:
        memo, act = self._acting(user_id, memo_id)
        if memo.status != lc.Status.BROUILLON.value or lc.Role.SUPPLIER not in act:
            raise Conflict("A sent memo is at the court: it can no longer be edited.", code="MEMO_NOT_EDITABLE",
                           field="status", current_status=memo.status)
        if expected_version != memo.version:
            raise PreconditionFailed(f"The memo is at version {memo.version}; read it again.", code="VERSION_MISMATCH",
                                     field="If-Match", current_version=memo.version)
        changes = cmd.model_dump(exclude_unset=True)
        if not changes:
            raise InvalidInput("Send at least one field to change.", code="VALIDATION_ERROR", field="body")
        for name in changes:
            if changes[name] is None:
                raise InvalidInput(f"{name} cannot be removed.", code="VALIDATION_ERROR", field=name)
        provider = self.structures.get(memo.supplier_structure_id)
        info = dict(memo.justice)
        fields = {k: info[k] for k in ("decision", "prescriber", "case_reference", "mission_start", "mission_end",
                                        "vat_regime", "lines")}
        fields.update(court_structure_id=memo.buyer_structure_id, number=memo.number or None)
        fields.update({k: v for k, v in cmd.model_dump(exclude_unset=True, mode="python").items()})
        fields = jd.MemoFields.model_validate(fields).model_dump()  # the draft as it would be, checked whole
        if "number" in changes and self.providers.get(provider.structure_id).mandate_active:
            raise InvalidInput("Under a billing mandate the platform numbers each memo: do not type one.",
                               code="NUMBER_UNDER_MANDATE", field="number")
        self._check_content(fields, provider.provider_category, today())
        court = self._court(fields["court_structure_id"])
        after = self._record(memo.invoice_id, provider, court, fields, memo.depositor_id, memo.deposited_at,
                             memo.files, own_pdf=bool(info.get("own_pdf")), restricted=bool(info.get("restricted")),
                             duplicate_of=info.get("duplicate_of"))
        after = after.model_copy(update={"version": memo.version + 1, "updated_at": now_iso()})
        extra = []
        if "number" in changes and changes["number"] != memo.number:
            extra.append(self.memos.guard_op(memo_guard_pk(provider.structure_id, changes["number"]), memo.invoice_id))
            if memo.number:
                from ..repositories.dynamo import delete_op

                extra.append(delete_op(memo_guard_pk(provider.structure_id, memo.number), "GUARD"))
        entry = HistoryEntry(invoice_id=memo.invoice_id, at=after.updated_at, status=memo.status,
                             previous_status=memo.status, actor_role=lc.Role.SUPPLIER.value, actor_id=user_id,
                             details={"edited": sorted(changes)})
        try:
            self.engine.commit([Change(after, memo, entry)], extra_ops=extra)
        except ConditionFailed:
            holder = self.memos.guard_holder(memo_guard_pk(provider.structure_id, changes["number"])) \
                if "number" in changes else None
            if holder and holder != memo.invoice_id:
                raise Conflict(f"{provider.name} has a memo {changes['number']} already ({holder}).", code="DOUBLON",
                               field="number") from None
            raise Conflict("The memo changed meanwhile; read it again.", code="CONCURRENT_UPDATE") from None
        return after

    # -- submission ---------------------------------------------------------------------------------

    def submit(self, user_id: str, memo_id: str, expected_version: int | None = None) -> Invoice:
        memo, act = self._acting(user_id, memo_id)
        lc.check_move(lc.Status(memo.status), act, lc.Status.MISE_A_DISPOSITION, "submit", None, None,
                      jd.DOCUMENT_TYPE)
        if expected_version is not None and expected_version != memo.version:
            raise PreconditionFailed(f"The memo is at version {memo.version}; read it again.", code="VERSION_MISMATCH",
                                     field="If-Match", current_version=memo.version)
        info = memo.justice
        provider = self.structures.get(memo.supplier_structure_id)
        court = self._court(memo.buyer_structure_id)
        on = today()
        self._check_content({**info, "mission_start": date.fromisoformat(info["mission_start"]),
                             "mission_end": date.fromisoformat(info["mission_end"]),
                             "decision": {**info["decision"], "date": date.fromisoformat(info["decision"]["date"])},
                             "vat_regime": jd.VatRegime(info["vat_regime"]),
                             "lines": [{**ln, "vat_rate": Decimal(str(ln["vat_rate"]))} for ln in info["lines"]]},
                            provider.provider_category, on)
        skip = 0
        record = self.providers.get(provider.structure_id)
        for attempt in range(SUBMIT_ATTEMPTS):
            if record.mandate_active:
                sequence = record.sequence + 1 + skip
                number = jd.mandate_number(on.year, sequence)
                extra = [self.providers.sequence_op(record, sequence),
                         self.memos.guard_op(memo_guard_pk(provider.structure_id, number), memo.invoice_id)]
                if memo.number:  # typed before the mandate: the mandate's number replaces it
                    from ..repositories.dynamo import delete_op

                    extra.append(delete_op(memo_guard_pk(provider.structure_id, memo.number), "GUARD"))
            else:
                if not memo.number:
                    raise InvalidInput("Without a billing mandate the provider numbers its memos: PATCH the draft "
                                       "with a number first.", code="NUMBER_REQUIRED", field="number")
                number, extra = memo.number, []
            change = self._submission(memo, number, court, user_id, on)
            try:
                self.engine.commit([change], extra_ops=extra)
            except ConditionFailed as exc:
                # which write lost tells what moved (the transaction: the memo, its history entry, then
                # ``extra``); a lost sequence hands back the provider's record as it is, without a read
                failed = exc.index - 2
                if failed < 0 or not record.mandate_active:
                    current = self.memos.get(memo.invoice_id, consistent=True)
                    if current is None or current.version != memo.version:
                        raise Conflict(f"The memo was sent meanwhile (now {current.status if current else '?'}).",
                                       code="CONCURRENT_UPDATE",
                                       current_status=current.status if current else None) from None
                    record = self.providers.get(provider.structure_id)
                elif failed == 0:  # another submission took the number (or the mandate ended): the next one
                    record = self.providers.record(provider.structure_id, exc.item) if exc.item else \
                        self.providers.get(provider.structure_id)
                    skip = 0
                    time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                elif failed == 1:  # a number typed before the mandate holds it: the sequence goes past it
                    skip += 1
                else:
                    record = self.providers.get(provider.structure_id)
                continue
            if not self._own_pdf(change.after):
                self._render_pdf(change.after)
            return change.after
        raise Conflict("Too many submissions at once for this provider: try again.", code="CONCURRENT_UPDATE")

    def _own_pdf(self, memo: Invoice) -> bool:
        return bool(memo.justice.get("own_pdf"))

    def _pdf(self, memo: Invoice) -> bytes:
        return _memo_pdf(memo, self.structures.get(memo.supplier_structure_id), self.structures.get(memo.buyer_structure_id))

    def _submission(self, memo: Invoice, number: str, court: Structure, actor: str, on: date) -> Change:
        info = {**memo.justice, "submitted_at": now_iso(), "typed_number": number == memo.number and bool(memo.number)}
        files = memo.files
        if not info.get("own_pdf"):
            files = files.model_copy(update={"pdf_key": f"invoices/{memo.invoice_id}/memo.pdf"})
        return self.engine.prepare(memo, lc.Status.MISE_A_DISPOSITION, lc.Role.SUPPLIER, actor, payment_clock=None,
                                   details={"number": number, "court": court.court.code}, number=number,
                                   issue_date=on, files=files, justice=info)

    # -- the court, the provider: moves ------------------------------------------------------------

    def set_status(self, user_id: str, memo_id: str, cmd: jd.MemoStatus) -> Invoice:
        memo, act = self._acting(user_id, memo_id)
        current = lc.Status(memo.status)
        move = lc.check_move(current, act, cmd.status, "status", cmd.reason_code, None, jd.DOCUMENT_TYPE)
        role = next(r for r in sorted(act) if move in lc.moves(current, {r}, jd.DOCUMENT_TYPE))
        info = dict(memo.justice)
        changes: dict[str, Any] = {}
        if cmd.taxed_amount is not None and cmd.status is not lc.Status.TAXE:
            raise InvalidInput("taxed_amount goes with TAXE only.", code="TAXED_AMOUNT_NOT_EXPECTED",
                               field="taxed_amount")
        if cmd.status is lc.Status.CERTIFIE and role is lc.Role.CLERK and not jd.clerk_may_certify(
                memo.amount_with_vat, [ln["fee_type"] for ln in info["lines"]]):
            raise InvalidInput(f"Above {jd.CLERK_CERTIFICATION_LIMIT} EUR with fees that are not tariffed, a memo is "
                               "taxed by a magistrate: send it A_TAXER.", code="TAXATION_REQUIRED", field="status")
        if cmd.status is lc.Status.TAXE:
            if cmd.taxed_amount is None:
                raise InvalidInput("TAXE sets the taxed amount.", code="TAXED_AMOUNT_REQUIRED", field="taxed_amount")
            if cmd.taxed_amount > memo.amount_with_vat:
                raise InvalidInput("The taxed amount cannot exceed the memo's.", code="TAXED_AMOUNT_ABOVE_MEMO",
                                   field="taxed_amount")
            if cmd.taxed_amount < memo.amount_with_vat:
                if not cmd.reason_code:
                    raise InvalidInput("A taxation below the memo's amount gives its reason.", code="REASON_REQUIRED",
                                       field="reason_code")
                if cmd.reason_code not in lc.JUSTICE_REASONS:
                    raise InvalidInput(f"Unknown reason_code; use one of {sorted(lc.JUSTICE_REASONS)}.",
                                       code="UNKNOWN_REASON_CODE", field="reason_code")
            info["taxed_amount"] = str(cmd.taxed_amount)
            changes.update(amount_due=cmd.taxed_amount, justice=info)
        elif cmd.status is not lc.Status.REJETEE and cmd.reason_code:
            if cmd.reason_code not in lc.JUSTICE_REASONS:
                raise InvalidInput(f"Unknown reason_code; use one of {sorted(lc.JUSTICE_REASONS)}.",
                                   code="UNKNOWN_REASON_CODE", field="reason_code")
        extra = []
        if cmd.status in jd.PROCESSED and info.get("restricted"):
            extra.append(self.providers.processed_op(memo.supplier_structure_id))
        change = self.engine.prepare(memo, cmd.status, role, user_id, reason_code=cmd.reason_code, comment=cmd.comment,
                                     payment_clock=None, **changes)
        try:
            self.engine.commit([change], extra_ops=extra)
        except ConditionFailed:
            raise Conflict("The memo changed meanwhile; read it again.", code="CONCURRENT_UPDATE") from None
        return change.after

    def duplicate(self, user_id: str, memo_id: str) -> Invoice:
        """A refused memo, duplicated into a new draft (a new number when sent); both linked."""
        memo, act = self._acting(user_id, memo_id)
        lc.check_move(lc.Status(memo.status), act, lc.Status.DUPLIQUE_APRES_REFUS, "duplicate", None, None,
                      jd.DOCUMENT_TYPE)
        provider = self.structures.get(memo.supplier_structure_id)
        court = self.structures.get(memo.buyer_structure_id)
        info = memo.justice
        fields = {k: info[k] for k in ("decision", "prescriber", "case_reference", "mission_start", "mission_end",
                                        "vat_regime", "lines")}
        fields = jd.MemoFields.model_validate({**fields, "court_structure_id": memo.buyer_structure_id}).model_dump()
        new = new_id()
        at = now_iso()
        record = self.providers.get(provider.structure_id)
        draft = self._record(new, provider, court, fields, user_id, at, None, own_pdf=False,
                             restricted=not record.processed, duplicate_of=memo.invoice_id)
        entry = HistoryEntry(invoice_id=new, at=at, status=lc.Status.BROUILLON.value, actor_role=lc.Role.SUPPLIER.value,
                             actor_id=user_id, details={"duplicate_of": memo.invoice_id})
        old = self.engine.prepare(memo, lc.Status.DUPLIQUE_APRES_REFUS, lc.Role.SUPPLIER, user_id,
                                  details={"duplicated_to": new}, justice={**info, "duplicated_to": new})
        self._commit_creation(Creation(draft, provider.structure_id, entry, None, guard_pk=""), provider, None, [old])
        return draft

    # -- reading ---------------------------------------------------------------------------------------

    def list(self, user_id: str, side: str, structure_id: str, limit: int, page_token: str | None,
             status: str | None) -> tuple[list[Invoice], str | None]:
        found = self._member(user_id, structure_id)
        if found is None:
            raise access.not_found(structure_id)
        if side == "COURT" and found[0].court is None:
            raise InvalidInput("This structure is not a court.", code="NOT_A_COURT", field="structure_id")
        return self._list("SUPPLIER" if side == "PROVIDER" else "RECIPIENT", structure_id, limit, page_token, status)

    # -- the billing mandate -------------------------------------------------------------------------

    def mandate(self, user_id: str, structure_id: str) -> ProviderRecord:
        self._provider(user_id, structure_id, write=False)
        return self.providers.get(structure_id)

    def _manager_of_provider(self, user_id: str, structure_id: str) -> Structure:
        structure = self._provider(user_id, structure_id, write=False)
        access.require_manager(self.structures.get_attachment(structure_id, user_id), structure_id)
        return structure

    def subscribe(self, user_id: str, structure_id: str, cmd: jd.AcceptMandate) -> ProviderRecord:
        structure = self._manager_of_provider(user_id, structure_id)
        record = self.providers.get(structure_id)
        if record.mandate_active:
            return record  # already: idempotent
        self._set_mandate(record, structure, "ACTIVE", user_id, "JUSTICE_MANDATE_SUBSCRIBED",
                          terms_version=jd.MANDATE_TERMS_VERSION)
        return self.providers.get(structure_id)

    def revoke(self, user_id: str, structure_id: str) -> ProviderRecord:
        structure = self._manager_of_provider(user_id, structure_id)
        record = self.providers.get(structure_id)
        if not record.mandate_active:
            raise Conflict("No active billing mandate to revoke.", code="MANDATE_NOT_ACTIVE")
        self._set_mandate(record, structure, "REVOKED", user_id, "JUSTICE_MANDATE_REVOKED")
        return self.providers.get(structure_id)

    def _set_mandate(self, record: ProviderRecord, structure: Structure, status: str, actor: str, action: str,
                     terms_version: str | None = None, also: tuple[dict, ...] = ()) -> None:
        at = now_iso()
        entry = {"status": status, "at": at, "by": actor, **({"terms_version": terms_version} if terms_version else {})}
        audit = AuditEvent(structure_id=structure.structure_id, at=at, actor=actor, action=action,
                           target=structure.structure_id, details=entry)
        try:
            self.memos.table.transact([self.providers.mandate_op(record, status, entry, terms_version),
                                       self.structures._audit_op(audit), *also])
        except ConditionFailed:
            raise Conflict("The mandate changed meanwhile; read it again.", code="CONCURRENT_UPDATE") from None

    # -- the 2018 revocation, as an operations job ----------------------------------------------------

    def start_revocation(self, operator_id: str, dry_run: bool) -> dict[str, Any]:
        job = {"job_id": new_id(), "kind": REVOCATION_JOB, "status": "RUNNING", "dry_run": dry_run,
               "started_by": operator_id, "started_at": now_iso(), "cursor": "", "pages": 0, "pages_done": False}
        self.jobs.create(job)
        return job

    def revocation_page(self, job_id: str, page_size: int = 100) -> dict[str, Any]:
        """One page of the revocation job, from its checkpoint: every active mandate of a PRIVATE provider
        whose JUSTICE_MEMOS space is open is revoked (its managers told), except the structures migrated
        from Chorus Portail Pro; each outcome recorded once. ``{"done": true}`` after the last page."""
        job = self.jobs.get(job_id)
        if job is None or job.get("kind") != REVOCATION_JOB:
            raise NotFound(f"Job {job_id} not found.", code="JOB_NOT_FOUND", field="job_id")
        if job.get("pages_done") or job["status"] != "RUNNING":
            return {"done": True}
        cursor = job.get("cursor") or None
        page = self.providers.active_mandates(page_size, cursor)
        ids = [i["GSI3SK"] for i in page.items]
        structures = self.structures.get_many(ids) if ids else {}
        plain: list[tuple[str, str, dict[str, Any]]] = []  # outcomes that change nothing else
        revoke: list[tuple[str, Structure]] = []
        for structure_id in ids:
            outcome = self._outcome(bool(job.get("dry_run")), structures.get(structure_id))
            if outcome == "revoke":
                revoke.append((structure_id, structures[structure_id]))
            else:
                plain.append((outcome, structure_id, {"dry_run": True} if outcome == "revoked" else {}))
        self.jobs.record_outcomes(job_id, plain)
        if revoke:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(REVOCATION_THREADS, len(revoke))) as pool:
                list(pool.map(lambda t: self._revoke_one(job_id, *t), revoke))  # re-raises the first failure
        done = page.next_token is None
        self.jobs.checkpoint(job_id, cursor, page.next_token, done, now_iso())
        return {"done": done}

    @staticmethod
    def _outcome(dry_run: bool, structure: Structure | None) -> str:
        """What the 2018 revocation does to a provider with an active mandate."""
        if structure is None or structure.is_public:
            return "skipped_public"
        if structure.migrated_from_chorus_portail_pro:
            return "kept_migrated"
        if not structure.has_space(Space.JUSTICE_MEMOS):
            return "skipped_space_closed"
        return "revoked" if dry_run else "revoke"

    def _revoke_one(self, job_id: str, structure_id: str, structure: Structure) -> None:
        """One revocation, with its outcome, audit entry and event in one transaction; conditional on the
        mandate being active still (revoked meanwhile, by its managers or an earlier run: nothing to do)."""
        at = now_iso()
        entry = {"status": "REVOKED", "at": at, "by": "PLATFORM"}
        event = (MANDATE_REVOKED_EVENT, {"version": "1", "structure_id": structure_id, "structure_name": structure.name,
                                         "job_id": job_id, "at": at, "reason": "REVOCATION_2018"})
        audit = AuditEvent(structure_id=structure_id, at=at, actor="PLATFORM", action="JUSTICE_MANDATE_REVOKED_BY_JOB",
                           target=structure_id, details=entry)
        try:
            self.memos.table.transact([self.providers.revoke_active_op(structure_id, entry),
                                       self.structures._audit_op(audit),
                                       self.jobs.outcome_op(job_id, "revoked", structure_id, event=event)])
        except ConditionFailed:
            pass

    def finish_job(self, job_id: str, error: str | None = None) -> None:
        self.jobs.finish(job_id, "FAILED" if error else "SUCCEEDED", now_iso(), error=error)


def _memo_pdf(memo: Invoice, provider: Structure, court: Structure) -> bytes:
    from ..documents.statement import render_statement

    info = memo.justice
    lines = [f"Mémoire n° {memo.number} du {memo.issue_date.strftime('%d/%m/%Y')}",
             f"Prestataire : {provider.name} ({provider.identifier_type.value} {provider.identifier}), "
             f"{info['provider_category']}",
             f"Juridiction : {court.name} ({info['court_code']})",
             f"Décision : {info['decision']['kind']} {info['decision']['reference']} du {info['decision']['date']}",
             f"Prescripteur : {info['prescriber']} ; affaire {info['case_reference']}",
             f"Mission du {info['mission_start']} au {info['mission_end']}"]
    lines += [f"- {ln['fee_type']} : {ln['description']}, {ln['quantity']} x {ln['unit_price']} EUR "
              f"(TVA {ln['vat_rate']} %)" for ln in info["lines"]]
    lines.append(f"Total HT {memo.amount_without_vat} EUR, TVA {memo.vat_amount} EUR, TTC {memo.amount_with_vat} EUR")
    return render_statement("MÉMOIRE DE FRAIS DE JUSTICE", lines,
                            "Pas d'intérêts moratoires sur les frais de justice.")

