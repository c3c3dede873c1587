"""Use cases of TIC/TICGN refund requests and of the delegations that let a management centre or an
accounting firm file for a farm.

A request is a payment request of the one lifecycle engine (``SpaceRequests``, rows of
``lifecycle.TIC_TRANSITIONS``): a draft of the farm, priced from the dated rate table, sent to the
public service of the farm's département, which suspends, rejects or pays it. One request per farm
and year: a guard in the draft's transaction, given up when the request is rejected or abandoned.

A delegation is asked by the centre's manager and answered by the farm's managers; its workflow
(``workflows/tic-delegation.asl.json``) waits on a task token for the answer, or for the expiry
that the scheduled job decides (so that the local clock can move it). The delegation's record is
the truth (every change conditional on the status read); the workflow holds the wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ..domain import access
from ..domain import lifecycle as lc
from ..domain import tic
from ..domain.common import new_id, now_iso, today
from ..domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from ..domain.invoices import Channel, HistoryEntry, Invoice, InvoiceFiles, Syntax
from ..domain.models import AuditEvent, Permission, Space, Structure
from ..repositories.documents import DocumentStore
from ..repositories.dynamo import ConditionFailed, delete_op
from ..repositories.invoices import Change, Creation, DuplicateInvoice
from ..repositories.structures import TIC_DEPARTMENT
from ..repositories.tic import Delegations
from ..repositories.workflows import TaskTokens
from .lifecycle import Complete, LifecycleService
from .requests import SpaceRequests

DELEGATION_EVENT = "TicDelegationChanged"  # docs/events.md
DELEGATION_STATE_MACHINE_ENV = "TIC_DELEGATION_STATE_MACHINE_ARN"
OPEN = (tic.DelegationStatus.PENDING.value, tic.DelegationStatus.ACTIVE.value)


def year_guard_pk(farm_id: str, year: int) -> str:
    return f"TICYEAR#{farm_id}#{year}"


@dataclass(frozen=True)
class Acting:
    """Who acts for a farm: its own member, or a centre's under a delegation (recorded on behalf)."""

    farm: Structure
    permission: Permission
    delegation: dict[str, Any] | None = None

    @property
    def on_behalf(self) -> dict[str, Any]:
        if not self.delegation:
            return {}
        return {"on_behalf_of": self.farm.structure_id, "delegate_structure_id": self.delegation["delegate_structure_id"],
                "delegation_id": self.delegation["delegation_id"]}


def effective_status(d: dict[str, Any], on: date) -> str:
    """The delegation's status today: a PENDING one past its answer day has expired, an ACTIVE one past
    its ``until`` has lapsed, whether or not the scheduled job wrote it yet."""
    if d["status"] == "PENDING" and on > date.fromisoformat(d["answer_by"]):
        return tic.DelegationStatus.EXPIRED.value
    if d["status"] == "ACTIVE" and on > date.fromisoformat(d["until"]):
        return tic.DelegationStatus.LAPSED.value
    return d["status"]


class TicService(SpaceRequests):
    SPACE = Space.TIC_REFUNDS
    DOCUMENT_TYPE = tic.DOCUMENT_TYPE
    NOUN = "request"

    def __init__(self, engine: LifecycleService | None = None, delegations: Delegations | None = None,
                 documents: DocumentStore | None = None, tasks: TaskTokens | None = None):
        super().__init__(engine, documents)
        self.delegations = delegations or Delegations(self.requests.table)
        self.tasks = tasks or TaskTokens()

    # -- who acts for a farm ---------------------------------------------------------------------------

    def _delegation_for(self, user_id: str, farm_id: str) -> tuple[dict[str, Any], Permission] | None:
        """The caller's effective delegation on the farm, through one of its centres, with its right."""
        from ..domain.models import Attachment

        best = None
        for item in self.structures.list_user_attachments(user_id).items:
            attachment = Attachment.model_validate(item)
            if not attachment.is_active:
                continue
            d = self.delegations.current(farm_id, attachment.structure_id)
            if d is None or effective_status(d, today()) != "ACTIVE":
                continue
            held = Permission.MODIFICATION if attachment.role in access.MANAGERS \
                else attachment.permissions.get(Space.TIC_REFUNDS)
            if held is None:
                continue
            right = held if d["scope"] == tic.Scope.FILE.value else Permission.CONSULTATION
            if best is None or right is Permission.MODIFICATION:
                best = (d, right)
        return best

    def _acting_for(self, user_id: str, farm_id: str) -> Acting | None:
        own = self._member(user_id, farm_id)
        if own is not None:
            return Acting(own[0], own[2])
        found = self._delegation_for(user_id, farm_id)
        if found is None:
            return None
        farm = self.structures.get(farm_id)
        return Acting(farm, found[1], found[0]) if farm is not None and farm.has_space(Space.TIC_REFUNDS) else None

    def _farm(self, user_id: str, farm_id: str, write: bool = True) -> Acting:
        acting = self._acting_for(user_id, farm_id)
        if acting is None:
            raise access.not_found(farm_id)
        if acting.farm.pacage is None:
            raise InvalidInput("This structure has not opened TIC_REFUNDS with its PACAGE number.",
                               code="NOT_A_TIC_BENEFICIARY", field="beneficiary_structure_id")
        if write and not acting.permission.allows(Permission.MODIFICATION):
            raise Forbidden("MODIFICATION on the TIC_REFUNDS space (or a FILE delegation) is required.",
                            code="SPACE_PERMISSION_REQUIRED", field="space")
        return acting

    def _roles(self, user_id: str, request: Invoice) -> tuple[set[lc.Role], set[lc.Role]]:
        read: set[lc.Role] = set()
        act: set[lc.Role] = set()
        farm = self._acting_for(user_id, request.supplier_structure_id)
        if farm is not None:
            read.add(lc.Role.SUPPLIER)
            if farm.permission.allows(Permission.MODIFICATION):
                act.add(lc.Role.SUPPLIER)
        if request.status != lc.Status.BROUILLON.value:
            service = self._member(user_id, request.buyer_structure_id, Space.INVOICES_RECEIVED)
            if service is not None:
                read.add(lc.Role.RECIPIENT)
                if service[2].allows(Permission.MODIFICATION):
                    act.add(lc.Role.RECIPIENT)
        return read, act

    def _supplier_acting(self, user_id: str, request: Invoice) -> Acting:
        acting = self._acting_for(user_id, request.supplier_structure_id)
        assert acting is not None  # the caller acts as SUPPLIER (checked by the move)
        return acting

    def _audit_on_behalf(self, acting: Acting, user_id: str, action: str, request_id: str) -> list[dict]:
        """A delegate's action, in the farm's audit trail too (same transaction)."""
        if not acting.delegation:
            return []
        audit = AuditEvent(structure_id=acting.farm.structure_id, at=now_iso(), actor=user_id, action=action,
                           target=request_id, details=acting.on_behalf)
        return [self.structures._audit_op(audit)]

    # -- the service of the farm's département -----------------------------------------------------------

    def _service(self, farm: Structure) -> tuple[str, Structure]:
        department = tic.department(farm.address.postal_code if farm.address else None)
        if department is None:
            raise InvalidInput("The farm's address has no French postal code: its département routes the request.",
                               code="ADDRESS_REQUIRED", field="beneficiary_structure_id")
        holder = self.structures.claim_holder(TIC_DEPARTMENT, department)
        service = self.structures.get(holder) if holder else None
        if service is None or service.status != "ACTIVE":
            raise InvalidInput(f"No service processes the TIC refunds of département {department} yet.",
                               code="NO_TIC_SERVICE", field="beneficiary_structure_id", department=department)
        return department, service

    # -- requests: drafts ----------------------------------------------------------------------------------

    @staticmethod
    def _priced(year: int, lines: list[tic.RequestLine], on: date) -> tuple[list[tic.TicLine], Decimal]:
        priced = tic.priced_lines(year, lines, on)
        return priced, sum((ln.amount for ln in priced), Decimal("0.00"))

    def _record(self, request_id: str, acting: Acting, department: str, service: Structure,
                fields: tic.RequestFields, actor: str, at: str, files: InvoiceFiles) -> Invoice:
        lines, total = self._priced(fields.year, fields.lines, today())
        farm = acting.farm
        info = tic.TicInfo(year=fields.year, pacage=farm.pacage, beneficiary_category=farm.beneficiary_category,
                           department=department, iban=fields.iban, bic=fields.bic,
                           sworn_statement=fields.sworn_statement, lines=lines,
                           electronic_filing_mandatory=tic.electronic_filing_mandatory(fields.year, total, today()),
                           filed_by_structure_id=acting.delegation["delegate_structure_id"] if acting.delegation else None,
                           delegation_id=acting.delegation["delegation_id"] if acting.delegation else None)
        return Invoice(
            invoice_id=request_id, document_type=tic.DOCUMENT_TYPE, number=f"TIC-{fields.year}-{farm.pacage}",
            type_code="380", billing_frame=tic.BILLING_FRAME, supplier_structure_id=farm.structure_id,
            supplier_identifier=farm.identifier, buyer_structure_id=service.structure_id,
            buyer_identifier=service.identifier, issue_date=today(), currency="EUR", amount_without_vat=total,
            vat_amount=Decimal("0.00"), amount_with_vat=total, amount_due=total, status=lc.Status.BROUILLON.value,
            channel=Channel.PORTAL, depositor_id=actor, syntax=Syntax.CII, files=files, deposited_at=at,
            updated_at=at, tic=info.model_dump(mode="json", exclude_none=True))

    def create(self, user_id: str, cmd: tic.CreateRequest) -> Invoice:
        acting = self._farm(user_id, cmd.beneficiary_structure_id)
        department, service = self._service(acting.farm)
        request_id = new_id()
        self._priced(cmd.year, cmd.lines, today())  # the rules, before any file is stored
        from .deposit import store_files

        files = store_files(self.documents, request_id, "recepisse.pdf", None, cmd.attachments)
        at = now_iso()
        request = self._record(request_id, acting, department, service, cmd, user_id, at, files)
        entry = HistoryEntry(invoice_id=request_id, at=at, status=lc.Status.BROUILLON.value,
                             actor_role=lc.Role.SUPPLIER.value, actor_id=user_id,
                             details={"year": cmd.year, **acting.on_behalf})
        creation = Creation(request, acting.farm.structure_id, entry, None,
                            guard_pk=year_guard_pk(acting.farm.structure_id, cmd.year))
        try:
            self.engine.commit([], [creation], self._audit_on_behalf(acting, user_id, "TIC_REQUEST_CREATED_BY_DELEGATE",
                                                                     request_id))
        except DuplicateInvoice as dup:
            raise Conflict(f"{acting.farm.name} has a request for {cmd.year} already ({dup.invoice_id}); a new one is "
                           "possible once it is rejected or abandoned.", code="TIC_REQUEST_EXISTS", field="year",
                           request_id=dup.invoice_id) from None
        return request

    def _fields(self, request: Invoice, **changes: Any) -> tic.RequestFields:
        t = request.tic
        lines = [{k: ln[k] for k in ("supplier_invoice_number", "delivery_date", "product", "quantity", "purchase")}
                 for ln in t["lines"]]
        return tic.RequestFields.model_validate({"year": t["year"], "iban": t["iban"], "bic": t["bic"],
                                                 "sworn_statement": t["sworn_statement"], "lines": lines, **changes})

    def update(self, user_id: str, request_id: str, cmd: tic.UpdateRequest, expected_version: int) -> Invoice:
        request, act = self._acting(user_id, request_id)
        if request.status != lc.Status.BROUILLON.value or lc.Role.SUPPLIER not in act:
            raise Conflict("A sent request is at the service: it can no longer be edited.",
                           code="REQUEST_NOT_EDITABLE", field="status", current_status=request.status)
        self._check_version(request, expected_version)
        changes = cmd.model_dump(exclude_unset=True, mode="json")
        if not changes or any(v is None for v in changes.values()):
            raise InvalidInput("Send at least one field to change, none null.", code="VALIDATION_ERROR", field="body")
        acting = self._supplier_acting(user_id, request)
        fields = self._fields(request, **changes)
        service = self.structures.get(request.buyer_structure_id)
        after = self._record(request.invoice_id, acting, request.tic["department"], service, fields,
                             request.depositor_id, request.deposited_at, request.files)
        after = after.model_copy(update={"version": request.version + 1, "updated_at": now_iso(),
                                         "tic": {**after.tic, **{k: request.tic[k] for k in
                                                                 ("filed_by_structure_id", "delegation_id")
                                                                 if request.tic.get(k)}}})
        entry = HistoryEntry(invoice_id=request.invoice_id, at=after.updated_at, status=request.status,
                             previous_status=request.status, actor_role=lc.Role.SUPPLIER.value, actor_id=user_id,
                             details={"edited": sorted(changes), **acting.on_behalf})
        self._commit([Change(after, request, entry)], self._audit_on_behalf(acting, user_id, "TIC_REQUEST_EDITED_BY_DELEGATE",
                                                                            request.invoice_id))
        return after

    def submit(self, user_id: str, request_id: str, expected_version: int | None = None) -> Invoice:
        request, act = self._acting(user_id, request_id)
        lc.check_move(lc.Status(request.status), act, lc.Status.MISE_A_DISPOSITION, "submit", None, None,
                      tic.DOCUMENT_TYPE)
        self._check_version(request, expected_version)
        if not request.tic.get("sworn_statement"):
            raise InvalidInput("The sworn statement (the farm is not a firm in difficulty) is required to submit.",
                               code="SWORN_STATEMENT_REQUIRED", field="sworn_statement")
        acting = self._supplier_acting(user_id, request)
        fields = self._fields(request)
        lines, total = self._priced(fields.year, fields.lines, today())  # the window, on the day it is sent
        info = {**request.tic, "lines": [ln.model_dump(mode="json") for ln in lines], "submitted_at": now_iso(),
                "electronic_filing_mandatory": tic.electronic_filing_mandatory(fields.year, total, today())}
        files = request.files.model_copy(update={"pdf_key": f"invoices/{request.invoice_id}/recepisse.pdf"})
        change = self.engine.prepare(request, lc.Status.MISE_A_DISPOSITION, lc.Role.SUPPLIER, user_id,
                                     payment_clock=None, details={"department": info["department"], **acting.on_behalf},
                                     issue_date=today(), files=files, tic=info, amount_without_vat=total,
                                     amount_with_vat=total, amount_due=total)
        self._commit([change], self._audit_on_behalf(acting, user_id, "TIC_REQUEST_SUBMITTED_BY_DELEGATE",
                                                     request.invoice_id))
        self._render_pdf(change.after)
        return change.after

    def _pdf(self, request: Invoice) -> bytes:
        from ..documents.statement import render_statement

        t = request.tic
        farm = self.structures.get(request.supplier_structure_id)
        service = self.structures.get(request.buyer_structure_id)
        lines = [f"Demande {request.number}, déposée le {str(t.get('submitted_at', ''))[:10]}",
                 f"Bénéficiaire : {farm.name if farm else '?'} (SIRET {request.supplier_identifier}), PACAGE {t['pacage']}, "
                 f"{t['beneficiary_category']}",
                 f"Service instructeur : {service.name if service else '?'} (département {t['department']})",
                 f"Année de consommation : {t['year']}"]
        lines += [f"- {ln['product']} ({ln['purchase']}) livré le {ln['delivery_date']}, facture "
                  f"{ln['supplier_invoice_number']} : {ln['quantity']} {ln['unit']} x {ln['rate']} EUR = {ln['amount']} EUR"
                  for ln in t["lines"]]
        lines.append(f"Montant demandé : {request.amount_with_vat} EUR")
        if t.get("filed_by_structure_id"):
            lines.append(f"Déposée pour le bénéficiaire par la structure {t['filed_by_structure_id']} (délégation)")
        return render_statement("RÉCÉPISSÉ DE DEMANDE DE REMBOURSEMENT TIC/TICGN", lines,
                                "Attestation sur l'honneur : l'exploitation n'est pas une entreprise en difficulté.")

    # -- the service, the farm: moves ----------------------------------------------------------------------

    def set_status(self, user_id: str, request_id: str, cmd: tic.RequestStatus) -> Invoice:
        request, act = self._acting(user_id, request_id)
        lc.check_move(lc.Status(request.status), act, cmd.status, "status", cmd.reason_code, None, tic.DOCUMENT_TYPE)
        role = self._role_for(request, act, cmd.status)
        details = self._supplier_acting(user_id, request).on_behalf if role is lc.Role.SUPPLIER else {}
        extra = []
        if cmd.status in (lc.Status.REJETEE, lc.Status.ABANDONNEE):  # the year is free again
            extra.append(delete_op(year_guard_pk(request.supplier_structure_id, request.tic["year"]), "GUARD"))
        change = self.engine.prepare(request, cmd.status, role, user_id, reason_code=cmd.reason_code,
                                     comment=cmd.comment, payment_clock=None, details=details)
        self._commit([change], extra)
        return change.after

    def complete(self, user_id: str, request_id: str, cmd: Complete) -> Invoice:
        request, act = self._acting(user_id, request_id)
        lc.check_move(lc.Status(request.status), act, lc.Status.COMPLETEE, "complete", None, None, tic.DOCUMENT_TYPE)
        acting = self._supplier_acting(user_id, request)
        change = self.engine.completion(request, cmd, user_id, details=acting.on_behalf)
        self._commit([change], self._audit_on_behalf(acting, user_id, "TIC_REQUEST_COMPLETED_BY_DELEGATE", request_id))
        return change.after

    def list(self, user_id: str, side: str, structure_id: str, limit: int, page_token: str | None,
             status: str | None) -> tuple[list[Invoice], str | None]:
        if side == "BENEFICIARY":
            if self._acting_for(user_id, structure_id) is None:
                raise access.not_found(structure_id)
            return self._list("SUPPLIER", structure_id, limit, page_token, status)
        if self._member(user_id, structure_id, Space.INVOICES_RECEIVED) is None:
            raise access.not_found(structure_id)
        return self._list("RECIPIENT", structure_id, limit, page_token, status)

    # -- delegations -------------------------------------------------------------------------------------

    def _delegation_event(self, d: dict[str, Any], to_structure: str) -> tuple[str, dict[str, Any]]:
        return (DELEGATION_EVENT, {"version": "1", "delegation_id": d["delegation_id"], "status": d["status"],
                                   "structure_id": to_structure, "beneficiary_structure_id": d["beneficiary_structure_id"],
                                   "delegate_structure_id": d["delegate_structure_id"], "scope": d["scope"],
                                   "until": d["until"], "at": d["updated_at"],
                                   "beneficiary_name": d.get("beneficiary_name"), "delegate_name": d.get("delegate_name")})

    def ask(self, user_id: str, cmd: tic.AskDelegation) -> dict[str, Any]:
        centre = self.structures.get(cmd.delegate_structure_id)
        if centre is None:
            raise access.not_found(cmd.delegate_structure_id)
        access.require_manager(self.structures.get_attachment(centre.structure_id, user_id), centre.structure_id)
        if centre.organisation_type not in tic.DELEGATE_TYPES:
            raise InvalidInput("Only a management centre or an accounting firm files for farms (organisation_type).",
                               code="NOT_A_DELEGATE_ORGANISATION", field="delegate_structure_id")
        farm = self.structures.get(cmd.beneficiary_structure_id)
        if farm is None or not farm.has_space(Space.TIC_REFUNDS) or farm.pacage is None:
            raise InvalidInput("The farm has not opened TIC_REFUNDS (PUT /v1/structures/{id}/spaces/TIC_REFUNDS).",
                               code="NOT_A_TIC_BENEFICIARY", field="beneficiary_structure_id")
        if cmd.until <= today():
            raise InvalidInput("until is a day to come.", code="UNTIL_IN_PAST", field="until")
        at = now_iso()
        d = {"delegation_id": new_id(), "delegate_structure_id": centre.structure_id, "delegate_name": centre.name,
             "beneficiary_structure_id": farm.structure_id, "beneficiary_name": farm.name, "scope": cmd.scope.value,
             "until": cmd.until.isoformat(), "status": "PENDING", "asked_at": at, "asked_by": user_id,
             "answer_by": tic.answer_by(today()).isoformat(), "updated_at": at, "revision": 1,
             "history": [{"status": "PENDING", "at": at, "by": user_id}]}
        from ..repositories.invoices import outbox

        ops = [*self.delegations.create_ops(d, d["answer_by"]),
               self.delegations.event_op(d, outbox(self._delegation_event(d, farm.structure_id), f"{d['delegation_id']}/1"))]
        try:
            self.requests.table.transact([*ops, self._audit_op(farm.structure_id, user_id, "TIC_DELEGATION_REQUESTED", d),
                                          self._audit_op(centre.structure_id, user_id, "TIC_DELEGATION_REQUESTED", d)])
        except ConditionFailed:
            current = self.delegations.current(farm.structure_id, centre.structure_id)
            raise Conflict("This centre has an open delegation on this farm already.", code="DELEGATION_EXISTS",
                           field="beneficiary_structure_id",
                           delegation_id=current["delegation_id"] if current else None) from None
        from ..repositories.workflows import WorkflowStarter

        WorkflowStarter().start(DELEGATION_STATE_MACHINE_ENV, "delegation", {"delegation_id": d["delegation_id"]})
        return d

    def _audit_op(self, structure_id: str, actor: str, action: str, d: dict[str, Any]) -> dict:
        return self.structures._audit_op(AuditEvent(
            structure_id=structure_id, at=now_iso(), actor=actor, action=action, target=d["delegation_id"],
            details={k: d[k] for k in ("delegate_structure_id", "beneficiary_structure_id", "scope", "until")}))

    def delegation_for(self, user_id: str, delegation_id: str) -> dict[str, Any]:
        """A delegation, to the members of either side; 404 to others."""
        d = self.delegations.get(delegation_id) if delegation_id else None
        if d is None or not any(self.structures.get_attachment(s, user_id) is not None and
                                self.structures.get_attachment(s, user_id).is_active
                                for s in (d["beneficiary_structure_id"], d["delegate_structure_id"])):
            raise NotFound(f"Delegation {delegation_id} not found.", code="DELEGATION_NOT_FOUND", field="delegation_id")
        return {**d, "status": effective_status(d, today())}

    def _move(self, d: dict[str, Any], status: str, actor: str, to_structure: str, action: str,
              also_audit: tuple[str, ...] = ()) -> dict[str, Any]:
        at = now_iso()
        after = {**d, "status": status, "updated_at": at, "revision": int(d["revision"]) + 1,
                 "history": [*d["history"], {"status": status, "at": at, "by": actor}]}
        after.pop("task_token", None)
        due = (date.fromisoformat(d["until"]).isoformat() if status == "ACTIVE" else None)
        ops = self.delegations.move_ops(d, after, due)
        from ..repositories.invoices import outbox

        ops.append(self.delegations.event_op(after, outbox(self._delegation_event(after, to_structure),
                                                           f"{d['delegation_id']}/{after['revision']}")))
        ops += [self._audit_op(s, actor, action, d) for s in (d["beneficiary_structure_id"], *also_audit)]
        try:
            self.requests.table.transact(ops)
        except ConditionFailed:
            raise Conflict("The delegation changed meanwhile; read it again.", code="CONCURRENT_UPDATE") from None
        if d.get("task_token"):
            self.tasks.succeed(d["task_token"], {"decision": status})
        return after

    def _farm_manager(self, user_id: str, d: dict[str, Any]) -> None:
        attachment = self.structures.get_attachment(d["beneficiary_structure_id"], user_id)
        if attachment is None or not attachment.is_active or attachment.role not in access.MANAGERS:
            raise Forbidden("Only a manager of the farm answers or revokes its delegations.",
                            code="FARM_MANAGER_REQUIRED")

    def answer(self, user_id: str, delegation_id: str, approve: bool) -> dict[str, Any]:
        d = self.delegation_for(user_id, delegation_id)
        self._farm_manager(user_id, d)
        if d["status"] != "PENDING":
            raise Conflict(f"The delegation is {d['status']}: it was answered already or has expired.",
                           code="DELEGATION_NOT_PENDING", field="status", current_status=d["status"])
        raw = self.delegations.get(delegation_id)
        status = "ACTIVE" if approve else "REFUSED"
        return self._move(raw, status, user_id, d["delegate_structure_id"],
                          "TIC_DELEGATION_APPROVED" if approve else "TIC_DELEGATION_REFUSED",
                          (d["delegate_structure_id"],))

    def revoke(self, user_id: str, delegation_id: str) -> dict[str, Any]:
        d = self.delegation_for(user_id, delegation_id)
        self._farm_manager(user_id, d)
        if d["status"] not in OPEN:
            raise Conflict(f"The delegation is {d['status']}: nothing to revoke.", code="DELEGATION_NOT_OPEN",
                           field="status", current_status=d["status"])
        raw = self.delegations.get(delegation_id)
        return self._move(raw, "REFUSED" if raw["status"] == "PENDING" else "REVOKED", user_id,
                          d["delegate_structure_id"], "TIC_DELEGATION_REVOKED", (d["delegate_structure_id"],))

    def list_delegations(self, user_id: str, structure_id: str, limit: int, page_token: str | None):
        structure = self.structures.get(structure_id)
        access.require_member(self.structures.get_attachment(structure_id, user_id) if structure else None,
                              structure_id)
        side = "DELEGATE" if structure.organisation_type in tic.DELEGATE_TYPES else "FARM"
        page = self.delegations.of(side, structure_id, limit, page_token)
        return [{**d, "status": effective_status(d, today())} for d in page.items], page.next_token

    # -- the workflow's tasks and the scheduled job ---------------------------------------------------------

    def await_answer(self, delegation_id: str, task_token: str) -> None:
        """The workflow waits here: the token is kept for the answer; if it came first, the wait ends now."""
        if self.delegations.set_token(delegation_id, task_token) is None:
            d = self.delegations.get(delegation_id)
            self.tasks.succeed(task_token, {"decision": d["status"] if d else "MISSING"})

    def expire_unanswered(self, delegation_id: str) -> dict[str, str]:
        """The workflow's backstop when its wait timed out: an unanswered delegation expires."""
        d = self.delegations.get(delegation_id)
        if d is None:
            return {"decision": "MISSING"}
        if d["status"] == "PENDING":
            try:
                d = self._move(d, "EXPIRED", "PLATFORM", d["delegate_structure_id"], "TIC_DELEGATION_EXPIRED")
            except Conflict:
                d = self.delegations.get(delegation_id) or d
        return {"decision": d["status"]}

    def run_deadlines(self, lookback_days: int = 7) -> dict[str, int]:
        """Expire the delegations left unanswered, lapse those past ``until`` (the due days' partitions of
        the sparse index: no scan); each ends its workflow's wait."""
        from datetime import timedelta

        done = {"expired": 0, "lapsed": 0}
        on = today()
        for back in range(lookback_days, -1, -1):
            day = (on - timedelta(days=back)).isoformat()
            token = None
            while True:
                page = self.delegations.due(day, page_token=token)
                for key in page.items:
                    d = self.delegations.get(key["GSI3SK"])
                    if d is None:
                        continue
                    status = effective_status(d, on)
                    if status == d["status"]:
                        continue
                    try:
                        to = d["delegate_structure_id"]
                        self._move(d, status, "PLATFORM", to, f"TIC_DELEGATION_{status}")
                        done["expired" if status == "EXPIRED" else "lapsed"] += 1
                    except Conflict:
                        pass  # answered meanwhile
                token = page.next_token
                if not token:
                    break
        return done

