"""Use cases of works contracts: the contract, its pieces, their moves and their legal deadlines.

A piece is a payment request of the one lifecycle engine (``LifecycleService.prepare`` and
``commit``): its statuses and moves are rows of ``lifecycle.TRANSITIONS``, each move is a
conditional write with its history entry and its event (the outbox), notified through the same
subscriptions as invoices. What is specific to works is here: who is which party, which frame
answers which, where a piece goes, and the deadlines (``domain.works.DEADLINES``), woken by the
scheduled job through the sparse index (no scan).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from ..domain import access
from ..domain import lifecycle as lc
from ..domain import payment
from ..domain.common import is_platform_id, iso, new_id, now, now_iso
from ..domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from ..domain.invoices import Channel, HistoryEntry, Invoice, InvoiceFiles, Syntax
from ..domain.models import Permission, Space, Structure
from ..domain.works import (
    DEADLINES,
    FRAMES,
    SUPPLIER_PARTIES,
    Contract,
    CreateContract,
    DeadlineKind,
    DepositPiece,
    Frame,
    Party,
    PieceStatus,
    WorksInfo,
    deadline_of,
    deadline_times,
)
from ..repositories.documents import DocumentStore
from ..repositories.dynamo import ConditionFailed, all_items
from ..repositories.invoices import Creation, DuplicateInvoice
from ..repositories.structures import StructureRepository
from ..repositories.works import ContractNumberTaken, ContractRepository
from .lifecycle import LifecycleService, status_event

DEADLINE_EVENT = "WorksDeadline"  # a reminder before a works deadline, or its passing (docs/events.md)
# where the piece a party answers goes: its status once answered
ANSWERED = {
    lc.Status.MISE_A_DISPOSITION_MOE: lc.Status.PRISE_EN_COMPTE_MOE,
    lc.Status.MISE_A_DISPOSITION_MOA: lc.Status.PRISE_EN_COMPTE_MOA,
    lc.Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE: lc.Status.PRISE_EN_COMPTE_MOA,
    lc.Status.MISE_A_DISPOSITION_FOURNISSEUR: lc.Status.PRISE_EN_COMPTE_FOURNISSEUR,
}
PARTY_ROLE = {Party.MOE: lc.Role.MOE, Party.MOA: lc.Role.MOA}


def _contract_not_found(contract_id: str) -> NotFound:
    return NotFound(f"Contract {contract_id} not found.", code="CONTRACT_NOT_FOUND", field="contract_id")


def _piece_not_found(piece_id: str) -> NotFound:
    return NotFound(f"Piece {piece_id} not found.", code="PIECE_NOT_FOUND", field="piece_id")


class WorksService:
    def __init__(self, engine: LifecycleService | None = None, contracts: ContractRepository | None = None,
                 documents: DocumentStore | None = None):
        self.engine = engine or LifecycleService()
        self.pieces = self.engine.repo
        self.structures: StructureRepository = self.engine.structures
        self.contracts = contracts or ContractRepository(self.pieces.table)
        self.documents = documents or DocumentStore()

    # -- who is who ----------------------------------------------------------------------------

    def _rights(self, user_id: str, structure_ids: set[str]) -> dict[str, Permission]:
        """The structures among ``structure_ids`` the user acts for in the WORKS space, with the right."""
        out: dict[str, Permission] = {}
        for structure_id in structure_ids:
            structure = self.structures.get(structure_id)
            attachment = self.structures.get_attachment(structure_id, user_id) if structure else None
            if structure is None or attachment is None or not attachment.is_active:
                continue
            held = access.effective_permission(attachment, structure, Space.WORKS)
            if held is not None:
                out[structure_id] = held
        return out

    def _contract_for(self, user_id: str, contract_id: str) -> tuple[Contract, dict[str, Permission]]:
        """The contract and the caller's rights on its parties' structures; 404 to anyone else."""
        contract = self.contracts.get(contract_id) if is_platform_id(contract_id) else None
        if contract is None:
            raise _contract_not_found(contract_id)
        rights = self._rights(user_id, set(contract.parties()))
        if not rights:
            raise _contract_not_found(contract_id)
        return contract, rights

    # -- contracts -------------------------------------------------------------------------------

    def create_contract(self, user_id: str, cmd: CreateContract) -> Contract:
        moa = self.structures.get(cmd.moa_structure_id)
        if moa is None:
            raise access.not_found(cmd.moa_structure_id)
        member = access.require_manager(self.structures.get_attachment(moa.structure_id, user_id), moa.structure_id)
        access.require_space(member, moa, Space.WORKS, Permission.MODIFICATION)
        if not moa.is_public:
            raise InvalidInput("The contracting authority (MOA) is a public structure.", code="NOT_A_PUBLIC_STRUCTURE",
                               field="moa_structure_id")
        fields = {"moe_structure_id": [cmd.moe_structure_id], "holder_structure_id": [cmd.holder_structure_id],
                  "co_contractor_structure_ids": cmd.co_contractor_structure_ids,
                  "subcontractor_structure_ids": cmd.subcontractor_structure_ids}
        for field, ids in fields.items():
            for structure_id in ids:
                party = self.structures.get(structure_id)
                if party is None or party.status != "ACTIVE":
                    raise InvalidInput(f"No active structure {structure_id}.", code="STRUCTURE_UNKNOWN", field=field)
                if not party.has_space(Space.WORKS):
                    raise InvalidInput(f"{party.name} has not opened the WORKS space.", code="SPACE_NOT_OPEN",
                                       field=field)
        if cmd.service_code:
            service = self.structures.get_service(moa.structure_id, cmd.service_code)
            if service is None:
                raise InvalidInput(f"The MOA has no service {cmd.service_code}.", code="SERVICE_UNKNOWN",
                                   field="service_code")
        contract = Contract(contract_id=new_id(), created_at=now_iso(), created_by=user_id,
                            **cmd.model_dump(exclude_none=False))
        try:
            self.contracts.create(contract)
        except ContractNumberTaken:
            raise Conflict(f"The MOA has a contract {cmd.number} already.", code="CONTRACT_EXISTS",
                           field="number") from None
        return contract

    def list_contracts(self, user_id: str, role: str, structure_id: str, limit: int, page_token: str | None):
        structure = self.structures.get(structure_id)
        if structure is None:
            raise access.not_found(structure_id)
        access.require_space(self.structures.get_attachment(structure_id, user_id), structure, Space.WORKS,
                             Permission.CONSULTATION)
        return self.contracts.of_structure(structure_id, role, limit, page_token)

    def get_contract(self, user_id: str, contract_id: str) -> Contract:
        return self._contract_for(user_id, contract_id)[0]

    # -- pieces: reading -------------------------------------------------------------------------

    def _load_piece(self, piece_id: str, consistent: bool = False) -> Invoice:
        piece = self.pieces.get(piece_id, consistent=consistent) if is_platform_id(piece_id) else None
        if piece is None or not piece.works:
            raise _piece_not_found(piece_id)
        return piece

    @staticmethod
    def _readers(piece: Invoice, contract: Contract) -> set[str]:
        """Who may read a piece: the company of its chain, its depositor, the MOE, the MOA, and the holder
        (for its partners' pieces)."""
        w = piece.works or {}
        return {w.get("chain_supplier_id") or piece.supplier_structure_id,
                w.get("depositor_structure_id") or piece.supplier_structure_id,
                contract.moe_structure_id, contract.moa_structure_id, contract.holder_structure_id}

    def piece_for(self, user_id: str, piece_id: str, consistent: bool = False):
        """(piece, contract, roles the caller may act in, structures it acts for)."""
        piece = self._load_piece(piece_id, consistent)
        contract = self.contracts.get(piece.works["contract_id"])
        if contract is None:
            raise _piece_not_found(piece_id)
        rights = self._rights(user_id, self._readers(piece, contract))
        if not rights:
            raise _piece_not_found(piece_id)
        writers = {s for s, p in rights.items() if p.allows(Permission.MODIFICATION)}
        roles: set[lc.Role] = set()
        company = piece.works.get("chain_supplier_id") or piece.supplier_structure_id
        if company in writers:  # the company of the chain (its own pieces, the MOA's general statement)
            roles.add(lc.Role.SUPPLIER)
        if contract.holder_structure_id in writers:
            roles.add(lc.Role.HOLDER)
        if contract.moe_structure_id in writers:
            roles.add(lc.Role.MOE)
        if contract.moa_structure_id in writers:
            roles.add(lc.Role.MOA)
        return piece, contract, roles

    def get_piece(self, user_id: str, piece_id: str) -> Invoice:
        return self.piece_for(user_id, piece_id)[0]

    def list_pieces(self, user_id: str, contract_id: str, limit: int, page_token: str | None):
        contract, rights = self._contract_for(user_id, contract_id)
        page = self.contracts.piece_ids(contract_id, limit, page_token)
        found = self.pieces.get_many([i["piece_id"] for i in page.items])
        pieces = [found[i["piece_id"]] for i in page.items if i["piece_id"] in found]
        visible = set(rights)
        return [p for p in pieces if visible & self._readers(p, contract)], page.next_token

    def next_statuses(self, user_id: str, piece_id: str) -> tuple[Invoice, list[lc.Move]]:
        piece, _, roles = self.piece_for(user_id, piece_id)
        return piece, [m for m in lc.moves(lc.Status(piece.status), roles) if m.route == "status"]

    def history(self, user_id: str, piece_id: str, limit: int, page_token: str | None):
        self.piece_for(user_id, piece_id)
        return self.pieces.history(piece_id, limit, page_token)

    def deadlines(self, user_id: str, contract_id: str) -> list[dict[str, Any]]:
        """The running deadlines of a contract's pieces the caller may read, soonest first."""
        contract, rights = self._contract_for(user_id, contract_id)
        found = self.pieces.get_many(self.contracts.all_piece_ids(contract_id))
        out = []
        for piece in found.values():
            w = piece.works or {}
            if w.get("deadline_at") and set(rights) & self._readers(piece, contract):
                rule = DEADLINES[DeadlineKind(w["deadline_kind"])]
                out.append({"piece_id": piece.invoice_id, "frame": w["frame"], "number": piece.number,
                            "status": piece.status, "kind": w["deadline_kind"], "deadline_at": w["deadline_at"],
                            "reminder_at": w.get("reminder_at"), "days": rule.days if rule.kind is not
                            DeadlineKind.MOE_REVIEW else contract.moe_review_days, "effect": rule.effect})
        return sorted(out, key=lambda d: d["deadline_at"])

    # -- pieces: depositing -------------------------------------------------------------------------

    def _works(self, frame: Frame, status: lc.Status, contract: Contract, base: dict[str, Any],
               at: datetime) -> dict[str, Any]:
        """The piece's works info at ``status``: the deadline that starts there (or none)."""
        info = {k: v for k, v in base.items() if k not in ("deadline_kind", "deadline_at", "reminder_at", "reminded",
                                                             "also_notify")}
        running = deadline_of(frame, status, contract.moe_review_days)
        if running:
            kind, days = running
            deadline, reminder = deadline_times(at, days, DEADLINES[kind].reminder_days_before)
            info.update(deadline_kind=kind.value, deadline_at=iso(deadline),
                        reminder_at=iso(reminder) if reminder else None, reminded=False)
        return WorksInfo.model_validate(info).model_dump(mode="json", exclude_none=True)

    def _addressee(self, status: lc.Status, contract: Contract, chain_supplier: str) -> str:
        return {lc.Status.MISE_A_DISPOSITION_MOE: contract.moe_structure_id,
                lc.Status.A_VALIDER_TITULAIRE: contract.holder_structure_id,
                lc.Status.MISE_A_DISPOSITION_FOURNISSEUR: chain_supplier,
                lc.Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE: contract.moa_structure_id,
                }.get(status, contract.moa_structure_id)

    def deposit(self, user_id: str, contract_id: str, cmd: DepositPiece) -> Invoice:
        contract, _ = self._contract_for(user_id, contract_id)
        frame = FRAMES.get(cmd.frame)
        if frame is None:
            raise InvalidInput(f"{cmd.frame} is not a works frame; use one of {sorted(FRAMES)}.", code="UNKNOWN_FRAME",
                               field="frame")
        depositor = self.structures.get(cmd.depositor_structure_id)
        if depositor is None:
            raise access.not_found(cmd.depositor_structure_id)
        access.require_space(self.structures.get_attachment(depositor.structure_id, user_id), depositor, Space.WORKS,
                             Permission.MODIFICATION)
        parties = contract.parties().get(depositor.structure_id, set())
        if not parties:
            raise Forbidden("This structure is not a party of the contract.", code="NOT_A_CONTRACT_PARTY",
                            field="depositor_structure_id")
        party = next((p for p in sorted(parties) if frame.deposited_by(p)), None)
        if party is None:
            raise Forbidden(f"A {'/'.join(sorted(parties))} does not deposit {frame.code} ({frame.label}).",
                            code="FRAME_NOT_ALLOWED", field="frame")
        return self._deposit(contract, frame, party, depositor, cmd, user_id)

    def _previous(self, contract: Contract, frame: Frame, cmd: DepositPiece) -> Invoice | None:
        if not frame.answers:
            if cmd.previous_piece_id:
                raise InvalidInput(f"{frame.code} starts a chain: it answers no piece.",
                                   code="PREVIOUS_PIECE_NOT_EXPECTED", field="previous_piece_id")
            return None
        if not cmd.previous_piece_id:
            raise InvalidInput(f"{frame.code} answers a piece ({', '.join(frame.answers)}): name it.",
                               code="PREVIOUS_PIECE_REQUIRED", field="previous_piece_id")
        previous = (self.pieces.get(cmd.previous_piece_id, consistent=True)
                    if is_platform_id(cmd.previous_piece_id) else None)
        if previous is None or not previous.works:
            raise _piece_not_found(cmd.previous_piece_id)
        w = previous.works
        if w["contract_id"] != contract.contract_id:
            raise InvalidInput("The previous piece belongs to another contract.", code="PREVIOUS_PIECE_OF_ANOTHER_CONTRACT",
                               field="previous_piece_id")
        if w["frame"] not in frame.answers:
            raise InvalidInput(f"{frame.code} answers {', '.join(frame.answers)}, not {w['frame']}.",
                               code="PREVIOUS_FRAME_NOT_ANSWERED", field="previous_piece_id")
        if w.get("next_piece_id"):
            raise Conflict(f"The previous piece was answered already ({w['next_piece_id']}).",
                           code="PIECE_ALREADY_ANSWERED", field="previous_piece_id", next_piece_id=w["next_piece_id"])
        if lc.Status(previous.status) not in frame.answers_in:
            raise Conflict(f"A {w['frame']} {previous.status} cannot be answered by {frame.code}.",
                           code="PIECE_NOT_ANSWERABLE", field="previous_piece_id", current_status=previous.status)
        if frame.code == "A22" and not self._tacit_open(previous):
            raise Conflict("The MOA's 30 days for the general statement have not passed: the tacit procedure is not "
                           "open yet.", code="TACIT_PROCEDURE_NOT_OPEN", field="previous_piece_id",
                           deadline_at=w.get("deadline_at"))
        if frame.code == "A23" and w.get("deadline_at") and w["deadline_at"] > now_iso():
            raise Conflict("The MOA's 10 days on the tacit general statement have not passed.",
                           code="TACIT_PROCEDURE_NOT_OPEN", field="previous_piece_id", deadline_at=w["deadline_at"])
        return previous

    @staticmethod
    def _tacit_open(previous: Invoice) -> bool:
        w = previous.works or {}
        if w.get("tacit_open"):
            return True
        return w.get("deadline_kind") == DeadlineKind.MOA_GENERAL_STATEMENT.value and w.get("deadline_at", "~") <= now_iso()

    def _deposit(self, contract: Contract, frame: Frame, party: Party, depositor: Structure, cmd: DepositPiece,
                 actor: str | None, previous: Invoice | None = None) -> Invoice:
        previous = previous if previous is not None else self._previous(contract, frame, cmd)
        moment = now()
        at = iso(moment)
        pw = previous.works if previous else {}
        # the payable's supplier is the company whose piece started the chain
        chain_supplier = pw.get("chain_supplier_id") or depositor.structure_id
        status = frame.lands or lc.Status.MISE_A_DISPOSITION
        started = pw.get("chain_started_at") or (at if status is lc.Status.MISE_A_DISPOSITION_MOE else None)
        piece_id = new_id()
        base = {"contract_id": contract.contract_id, "frame": frame.code, "party": party.value,
                "previous_piece_id": previous.invoice_id if previous else None,
                "cumulative_without_vat": str(cmd.cumulative_without_vat), "chain_started_at": started,
                "depositor_structure_id": depositor.structure_id, "chain_supplier_id": chain_supplier}
        works = self._works(frame, status, contract, base, moment) if not frame.payable else \
            WorksInfo.model_validate(base).model_dump(mode="json", exclude_none=True)
        works.update(depositor_structure_id=depositor.structure_id, chain_supplier_id=chain_supplier)
        supplier_id = chain_supplier if frame.payable else depositor.structure_id
        buyer_id = contract.moa_structure_id if frame.payable else self._addressee(status, contract, chain_supplier)
        supplier, buyer = self.structures.get(supplier_id), self.structures.get(buyer_id)
        files = self._files(piece_id, frame, contract, cmd, depositor)
        clock = None
        if frame.payable:  # the clock started when the supplier's piece reached the MOE, not now
            clock = payment.PaymentClock(started_at=datetime.fromisoformat((started or at).replace("Z", "+00:00")),
                                         delay_days=contract.payment_delay_days).model_dump(mode="json")
        record = Invoice(
            invoice_id=piece_id, document_type="INVOICE" if frame.payable else "WORKS_PIECE", number=cmd.number,
            type_code="380", billing_frame=frame.code, supplier_structure_id=supplier_id,
            supplier_identifier=supplier.identifier if supplier else "", buyer_structure_id=buyer_id,
            buyer_identifier=buyer.identifier if buyer else "",
            service_code=contract.service_code if frame.payable else None,
            legal_commitment=contract.legal_commitment if frame.payable else None, issue_date=cmd.issue_date,
            currency="EUR", amount_without_vat=cmd.amount_without_vat, vat_amount=cmd.vat_amount,
            amount_with_vat=cmd.amount_with_vat, amount_due=cmd.amount_with_vat, status=status.value,
            channel=Channel.PORTAL, depositor_id=actor or "PLATFORM", syntax=Syntax.CII, files=files,
            deposited_at=at, updated_at=at, payment_clock=clock, works=works,
        )
        role = PARTY_ROLE.get(party, lc.Role.SUPPLIER)
        entry = HistoryEntry(invoice_id=piece_id, at=at, status=status.value, lifecycle_code=lc.LIFECYCLE_CODES.get(status),
                             actor_role=role.value if actor else lc.Role.PLATFORM.value, actor_id=actor,
                             details={"frame": frame.code, "contract_id": contract.contract_id,
                                      "previous_piece_id": base["previous_piece_id"]})
        creation = Creation(record, depositor.structure_id, entry, ("InvoiceStatusChanged", status_event(record, entry)))
        changes = []
        if previous is not None:
            answered = lc.Status.REMPLACEE_PAR_A22 if frame.code == "A22" else ANSWERED[lc.Status(previous.status)]
            lc.check_move(lc.Status(previous.status), {lc.Role.PLATFORM}, answered, "answer", None, None)
            prev_works = {k: v for k, v in pw.items() if k not in ("deadline_kind", "deadline_at", "reminder_at",
                                                                    "reminded")} | {"next_piece_id": piece_id}
            changes.append(self.engine.prepare(previous, answered, lc.Role.PLATFORM, None, details={
                "answered_by": piece_id, "frame": frame.code}, works=prev_works))
        try:
            self.engine.commit(changes, [creation], [self.contracts.pointer_op(contract.contract_id, at, piece_id)])
        except DuplicateInvoice as dup:
            raise Conflict(f"{depositor.name} has a piece {cmd.number} of {cmd.issue_date.year} already "
                           f"({dup.invoice_id}).", code="DOUBLON", field="number") from None
        except ConditionFailed:  # the previous piece moved meanwhile: another answer won
            raise Conflict("The previous piece was answered meanwhile.", code="PIECE_ALREADY_ANSWERED",
                           field="previous_piece_id") from None
        return record

    def _files(self, piece_id: str, frame: Frame, contract: Contract, cmd: DepositPiece,
               depositor: Structure) -> InvoiceFiles:
        from .deposit import decode_base64, store_files

        pdf = decode_base64(cmd.pdf_base64) if cmd.pdf_base64 else _piece_pdf(frame, contract, cmd, depositor)
        return store_files(self.documents, piece_id, "piece.pdf", pdf, cmd.attachments)

    # -- pieces: moves of the parties ---------------------------------------------------------------

    def set_status(self, user_id: str, piece_id: str, cmd: PieceStatus) -> Invoice:
        piece, contract, roles = self.piece_for(user_id, piece_id, consistent=True)
        if piece.document_type != "WORKS_PIECE":
            raise Conflict("A payable document is processed with the invoice statuses: POST /v1/invoices/{id}/status.",
                           code="TRANSITION_NOT_ALLOWED", field="status")
        if not roles:
            raise Forbidden("MODIFICATION on the WORKS space is required to act on it.",
                            code="SPACE_PERMISSION_REQUIRED", field="space")
        current = lc.Status(piece.status)
        move = lc.check_move(current, roles, cmd.status, "status", cmd.reason_code, None)
        role = next(r for r in sorted(roles) if move in lc.moves(current, {r}))
        frame = FRAMES[piece.works["frame"]]
        moment = now()
        chain_supplier = piece.works.get("chain_supplier_id") or piece.supplier_structure_id
        works = self._works(frame, cmd.status, contract, piece.works, moment)
        if cmd.status is lc.Status.MISE_A_DISPOSITION_MOE and not works.get("chain_started_at"):
            works["chain_started_at"] = iso(moment)  # the holder accepted a sub-contractor's request
        changes = {"works": works, "buyer_structure_id": self._addressee(cmd.status, contract, chain_supplier)}
        return self._move(piece, cmd.status, role, user_id, reason_code=cmd.reason_code, comment=cmd.comment, **changes)

    def _move(self, piece: Invoice, to: lc.Status, role: lc.Role, actor: str | None, event=None, **kwargs) -> Invoice:
        buyer_id = kwargs.get("buyer_structure_id")
        if buyer_id and buyer_id != piece.buyer_structure_id:
            buyer = self.structures.get(buyer_id)
            kwargs["buyer_identifier"] = buyer.identifier if buyer else ""
        change = self.engine.prepare(piece, to, role, actor, **kwargs)
        if event is not None:
            change = dataclasses.replace(change, event=(event, {**change.event[1], **_deadline_detail(change.after)}))
        try:
            self.engine.commit([change])
        except ConditionFailed:
            raise Conflict("The piece changed meanwhile; read it again.", code="CONCURRENT_UPDATE") from None
        return change.after

    # -- the deadlines job --------------------------------------------------------------------------

    def run_deadlines(self, lookback_days: int = 7) -> dict[str, int]:
        """Wake the pieces whose reminder or deadline came (the sparse index of the last days: no scan)."""
        moment = now()
        until = iso(moment)
        done = {"reminded": 0, "expired": 0, "tacit_dgd": 0, "skipped": 0}
        for back in range(lookback_days, -1, -1):
            day = (moment - timedelta(days=back)).date().isoformat()
            for key in all_items(lambda token, day=day: self.pieces.works_due(day, until, 100, token)):
                piece = self.pieces.get(key["PK"].removeprefix("INV#"), consistent=True)
                try:
                    outcome = self._wake(piece, moment) if piece else None
                except (Conflict, ConditionFailed):
                    outcome = None  # moved meanwhile: the next run decides
                done[outcome or "skipped"] += 1
        return done

    def _wake(self, piece: Invoice, moment: datetime) -> str | None:
        w = piece.works or {}
        if not w.get("deadline_at"):
            return None
        contract = self.contracts.get(w["contract_id"])
        frame = FRAMES[w["frame"]]
        at = iso(moment)
        if w["deadline_at"] > at:  # the reminder's time
            if w.get("reminded") or not w.get("reminder_at") or w["reminder_at"] > at:
                return None
            self._move(piece, lc.Status(piece.status), lc.Role.PLATFORM, None, event=DEADLINE_EVENT,
                       comment=f"Rappel : le délai ({w['deadline_kind']}) expire le {w['deadline_at'][:10]}.",
                       details={"reminder": True, "deadline_kind": w["deadline_kind"]}, works={**w, "reminded": True})
            return "reminded"
        kind = DeadlineKind(w["deadline_kind"])
        if kind is DeadlineKind.MOE_REVIEW:  # silent MOE: on to the MOA, on the supplier's amounts
            to = lc.Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE
            works = self._works(frame, to, contract, w, moment) | {"also_notify": [contract.moe_structure_id]}
            self._move(piece, to, lc.Role.PLATFORM, None, details={"deadline": kind.value},
                       comment="Délai réglementaire de la maîtrise d'œuvre dépassé : transmis à la maîtrise d'ouvrage.",
                       works=works, buyer_structure_id=contract.moa_structure_id)
            return "expired"
        if kind is DeadlineKind.HOLDER_ACCEPTANCE:  # silent holder: accepted tacitly
            to = lc.Status.MISE_A_DISPOSITION_MOE
            works = self._works(frame, to, contract, w, moment) | {"chain_started_at": at}
            self._move(piece, to, lc.Role.PLATFORM, None, details={"deadline": kind.value},
                       comment="Acceptation tacite du titulaire (15 jours).", works=works,
                       buyer_structure_id=contract.moe_structure_id)
            return "expired"
        if kind is DeadlineKind.MOA_GENERAL_STATEMENT:  # the holder may now start the tacit procedure
            works = {k: v for k, v in w.items() if k not in ("deadline_kind", "deadline_at", "reminder_at",
                                                              "reminded")} | {"tacit_open": True}
            self._move(piece, lc.Status(piece.status), lc.Role.PLATFORM, None, event=DEADLINE_EVENT,
                       comment="Délai de 30 jours de la maîtrise d'ouvrage dépassé : le titulaire peut engager la "
                               "procédure tacite (A22).", details={"deadline": kind.value, "tacit_open": True},
                       works={**works, "passed_kind": kind.value})
            return "expired"
        # MOA_TACIT: silent 10 days after the A22, it becomes the DGD (A23), made by the platform
        holder = self.structures.get(contract.holder_structure_id)
        cmd = DepositPiece(frame="A23", depositor_structure_id=holder.structure_id, number=f"{piece.number}-DGD",
                           issue_date=moment.date(), amount_without_vat=piece.amount_without_vat or 0,
                           vat_amount=piece.vat_amount or 0, amount_with_vat=piece.amount_with_vat,
                           cumulative_without_vat=w.get("cumulative_without_vat") or 0,
                           previous_piece_id=piece.invoice_id)
        self._deposit(contract, FRAMES["A23"], Party.HOLDER, holder, cmd, None, previous=piece)
        return "tacit_dgd"


def _deadline_detail(piece: Invoice) -> dict[str, Any]:
    w = piece.works or {}
    return {"deadline_kind": w.get("deadline_kind") or w.get("passed_kind"), "deadline_at": w.get("deadline_at"),
            "phase": "REMINDER" if w.get("reminded") and w.get("deadline_at") else "PASSED"}


def _piece_pdf(frame: Frame, contract: Contract, cmd: DepositPiece, depositor: Structure) -> bytes:
    from ..documents.statement import render_statement

    return render_statement(frame.label.upper(), [
        f"Marché n° {contract.number} : {contract.title}",
        f"Pièce {frame.code} n° {cmd.number} du {cmd.issue_date.strftime('%d/%m/%Y')}",
        f"Émetteur : {depositor.name} ({depositor.identifier_type.value} {depositor.identifier})",
        f"Montant HT : {cmd.amount_without_vat} EUR - TVA : {cmd.vat_amount} EUR - TTC : {cmd.amount_with_vat} EUR",
        f"Cumul HT : {cmd.cumulative_without_vat} EUR",
    ])
