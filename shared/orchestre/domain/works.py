"""Works contracts: the supplier -> project manager (MOE) -> contracting authority (MOA) circuit.

Billing frames, who deposits which piece, which piece answers which, and the legal deadlines, as
tables of data. A piece is a payment request of the one lifecycle engine (its statuses and moves
are rows of ``lifecycle.TRANSITIONS``); a validated statement (A19), a signed general statement
(A8) and the tacit general statements (A23, A25) are payable documents in the MOA's received
invoices, processed with the invoice statuses up to MISE_EN_PAIEMENT.

Sources: REFERENCE.md §3 and §6 (AIFE frames [R], CCAG-Travaux 2021 art. 12 [W]). Where a fact
was not confirmed [U], the choice is written here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .common import Command, Record
from .invoices import AttachmentInput
from .lifecycle import Status


class Party(StrEnum):
    """A contract party's role, which decides the frames it may deposit."""

    HOLDER = "HOLDER"  # titulaire
    CO_CONTRACTOR = "CO_CONTRACTOR"  # cotraitant
    SUBCONTRACTOR = "SUBCONTRACTOR"  # sous-traitant (paid directly)
    MOE = "MOE"  # maître d'œuvre, project manager
    MOA = "MOA"  # maître d'ouvrage, contracting authority


# Roles of a contract's parties in a piece's lifecycle (rows of lifecycle.TRANSITIONS).
SUPPLIER_PARTIES = (Party.HOLDER, Party.CO_CONTRACTOR, Party.SUBCONTRACTOR)


@dataclass(frozen=True)
class Frame:
    """A works billing frame: who deposits it, what it answers, where it lands."""

    code: str
    label: str
    depositor: Party | tuple[Party, ...]
    answers: tuple[str, ...] = ()  # frames of the previous piece it answers (empty: it starts a chain)
    answers_in: tuple[Status, ...] = ()  # the previous piece's statuses it may answer
    lands: Status | None = None  # its status once deposited (None: a payable document, MISE_A_DISPOSITION)
    final: bool = False  # of the final statement's chain (general statement, DGD)
    payable: bool = False

    def deposited_by(self, party: Party) -> bool:
        allowed = self.depositor if isinstance(self.depositor, tuple) else (self.depositor,)
        return party in allowed


AT_MOE = (Status.MISE_A_DISPOSITION_MOE,)
AT_MOA = (Status.MISE_A_DISPOSITION_MOA,)
MOE_SILENT = (Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE,)

# AIFE's labels (REFERENCE.md §6 [R]); what each answers and where it lands are the platform's
# reading of the circuit [W], with A16, A18 handled as A15, A17 [U].
FRAMES: dict[str, Frame] = {f.code: f for f in (
    Frame("A4", "Projet de décompte mensuel (titulaire)", Party.HOLDER, lands=Status.MISE_A_DISPOSITION_MOE),
    Frame("A13", "Projet de décompte mensuel (cotraitant)", Party.CO_CONTRACTOR, lands=Status.MISE_A_DISPOSITION_MOE),
    # the sub-contractor's request goes to the holder first, who accepts it within 15 days
    Frame("A10", "Demande de paiement de travaux (sous-traitant)", Party.SUBCONTRACTOR,
          lands=Status.A_VALIDER_TITULAIRE),
    Frame("A7", "Projet de décompte final (titulaire)", Party.HOLDER, lands=Status.MISE_A_DISPOSITION_MOE, final=True),
    Frame("A14", "Projet de décompte final (cotraitant)", Party.CO_CONTRACTOR, lands=Status.MISE_A_DISPOSITION_MOE,
          final=True),
    Frame("A15", "État d'acompte (maîtrise d'œuvre)", Party.MOE, ("A4", "A13", "A10"), AT_MOE,
          Status.MISE_A_DISPOSITION_MOA),
    Frame("A16", "État d'acompte validé (maîtrise d'œuvre)", Party.MOE, ("A4", "A13", "A10"), AT_MOE,
          Status.MISE_A_DISPOSITION_MOA),
    Frame("A17", "Projet de décompte général (maîtrise d'œuvre)", Party.MOE, ("A7", "A14"), AT_MOE,
          Status.MISE_A_DISPOSITION_MOA, final=True),
    Frame("A18", "Décompte général (maîtrise d'œuvre)", Party.MOE, ("A7", "A14"), AT_MOE,
          Status.MISE_A_DISPOSITION_MOA, final=True),
    # the MOA's validated progress statement: payable (an MOE silent past its delay lets the MOA
    # answer the supplier's piece itself, on the supplier's amounts)
    Frame("A19", "État d'acompte validé (maîtrise d'ouvrage)", Party.MOA, ("A15", "A16", "A4", "A13", "A10"),
          AT_MOA + MOE_SILENT, payable=True),
    Frame("A20", "Décompte général (maîtrise d'ouvrage)", Party.MOA, ("A17", "A18", "A7", "A14"), AT_MOA + MOE_SILENT,
          Status.MISE_A_DISPOSITION_FOURNISSEUR, final=True),
    Frame("A8", "Décompte général et définitif signé (titulaire)", Party.HOLDER, ("A20",),
          (Status.MISE_A_DISPOSITION_FOURNISSEUR,), final=True, payable=True),
    # the tacit procedure (CCAG 12.4.4): the MOA silent past its 30 days, the holder drafts the
    # general statement itself; silent 10 more days, it becomes the DGD (A23)
    Frame("A22", "Projet de décompte général (procédure tacite, titulaire)", Party.HOLDER,
          ("A17", "A18", "A7", "A14"), AT_MOA + MOE_SILENT, Status.MISE_A_DISPOSITION_MOA, final=True),
    Frame("A23", "Décompte général et définitif tacite (titulaire)", Party.HOLDER, ("A22",), AT_MOA, final=True,
          payable=True),
    Frame("A24", "Décompte général tacite (maîtrise d'œuvre)", Party.MOE, ("A22",), AT_MOA,
          Status.MISE_A_DISPOSITION_MOA, final=True),
    Frame("A25", "Décompte général tacite (maîtrise d'ouvrage)", Party.MOA, ("A22", "A24"), AT_MOA, final=True,
          payable=True),
)}


# -- deadlines (data, with their legal source) ----------------------------------------------------

class DeadlineKind(StrEnum):
    MOE_REVIEW = "MOE_REVIEW"
    HOLDER_ACCEPTANCE = "HOLDER_ACCEPTANCE"
    MOA_GENERAL_STATEMENT = "MOA_GENERAL_STATEMENT"
    MOA_TACIT = "MOA_TACIT"


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    days: int  # the default; a contract may set the MOE's (moe_review_days)
    on: Status  # the status that starts it
    effect: str  # what the platform does when it passes
    reminder_days_before: int | None = None


DEADLINES: dict[DeadlineKind, Deadline] = {d.kind: d for d in (
    # CCAG-Travaux 2021 art. 12 (REFERENCE.md §6 [W]): the MOE has 7 days from the timestamp of the
    # piece's arrival; silent, the piece goes on to the MOA on the supplier's amounts
    Deadline(DeadlineKind.MOE_REVIEW, 7, Status.MISE_A_DISPOSITION_MOE,
             "ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE: the piece goes on to the MOA", reminder_days_before=2),
    # the holder accepts a sub-contractor's payment request within 15 days, else it is accepted
    # tacitly (REFERENCE.md §6 [W]; Code de la commande publique R.2193-13 [U])
    Deadline(DeadlineKind.HOLDER_ACCEPTANCE, 15, Status.A_VALIDER_TITULAIRE,
             "tacit acceptance: the request goes on to the MOE"),
    # CCAG-Travaux 2021 art. 12.4.2: the MOA notifies the general statement within 30 days of
    # receiving the draft final statement; past that the holder may start the tacit procedure
    Deadline(DeadlineKind.MOA_GENERAL_STATEMENT, 30, Status.MISE_A_DISPOSITION_MOA,
             "the holder may start the tacit procedure (A22)"),
    # CCAG-Travaux 2021 art. 12.4.4: the MOA silent 10 days after the holder's A22, it becomes the DGD
    Deadline(DeadlineKind.MOA_TACIT, 10, Status.MISE_A_DISPOSITION_MOA, "the A22 becomes the DGD (A23)"),
)}


def deadline_of(frame: Frame, status: Status, moe_review_days: int) -> tuple[DeadlineKind, int] | None:
    """The deadline a piece of ``frame`` runs at ``status`` (its kind and days), if any."""
    if status is Status.MISE_A_DISPOSITION_MOE:
        return DeadlineKind.MOE_REVIEW, moe_review_days
    if status is Status.A_VALIDER_TITULAIRE:
        return DeadlineKind.HOLDER_ACCEPTANCE, DEADLINES[DeadlineKind.HOLDER_ACCEPTANCE].days
    if status is Status.MISE_A_DISPOSITION_MOA and frame.code == "A22":
        return DeadlineKind.MOA_TACIT, DEADLINES[DeadlineKind.MOA_TACIT].days
    if frame.final and status in (Status.MISE_A_DISPOSITION_MOA, Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE):
        return DeadlineKind.MOA_GENERAL_STATEMENT, DEADLINES[DeadlineKind.MOA_GENERAL_STATEMENT].days
    return None


# -- the contract ------------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CreateContract(Command):
    number: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    moa_structure_id: Id
    service_code: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    legal_commitment: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    moe_structure_id: Id
    holder_structure_id: Id
    co_contractor_structure_ids: Annotated[list[Id], Field(max_length=20)] = Field(default_factory=list)
    subcontractor_structure_ids: Annotated[list[Id], Field(max_length=50)] = Field(default_factory=list)
    payment_delay_days: Literal[30, 50, 60] = 30  # State and local authorities / public hospitals / public companies
    moe_review_days: Annotated[int, Field(ge=1, le=30)] = 7

    @model_validator(mode="after")
    def _distinct(self):
        companies = [self.holder_structure_id, *self.co_contractor_structure_ids, *self.subcontractor_structure_ids]
        if len(set(companies)) != len(companies):
            raise ValueError("a company is a party of the contract once")
        if self.moe_structure_id in companies:
            raise ValueError("the project manager (MOE) is not one of the contractors")
        return self


class Contract(Record):
    contract_id: str
    number: str
    title: str
    moa_structure_id: str
    service_code: str | None = None
    legal_commitment: str | None = None
    moe_structure_id: str
    holder_structure_id: str
    co_contractor_structure_ids: list[str] = Field(default_factory=list)
    subcontractor_structure_ids: list[str] = Field(default_factory=list)
    payment_delay_days: int = 30
    moe_review_days: int = 7
    created_at: str
    created_by: str
    version: int = 1

    def parties(self) -> dict[str, set[Party]]:
        """structure id -> its parties in the contract."""
        out: dict[str, set[Party]] = {}
        for structure_id, party in ((self.moa_structure_id, Party.MOA), (self.moe_structure_id, Party.MOE),
                                    (self.holder_structure_id, Party.HOLDER),
                                    *((s, Party.CO_CONTRACTOR) for s in self.co_contractor_structure_ids),
                                    *((s, Party.SUBCONTRACTOR) for s in self.subcontractor_structure_ids)):
            out.setdefault(structure_id, set()).add(party)
        return out


# -- pieces --------------------------------------------------------------------------------------

Money = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2)]


class DepositPiece(Command):
    frame: Annotated[str, StringConstraints(pattern=r"^A\d{1,2}$")]
    depositor_structure_id: Id
    number: Annotated[str, StringConstraints(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9/_.\-]+$")]
    issue_date: date
    amount_without_vat: Money
    vat_amount: Money
    amount_with_vat: Money
    cumulative_without_vat: Annotated[Decimal, Field(max_digits=15, decimal_places=2)]
    previous_piece_id: Id | None = None
    pdf_base64: str | None = None
    attachments: Annotated[list[AttachmentInput], Field(max_length=20)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _amounts(self):
        if self.amount_without_vat + self.vat_amount != self.amount_with_vat:
            raise ValueError("amount_without_vat + vat_amount must equal amount_with_vat")
        if self.cumulative_without_vat < 0:
            raise ValueError("cumulative_without_vat cannot be negative")
        return self


class PieceStatus(Command):
    status: Status
    reason_code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    comment: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class WorksInfo(Record):
    """What a piece (or a payable document of a contract) carries beyond an invoice's fields."""

    contract_id: str
    frame: str
    party: str  # the depositor's party (HOLDER, MOE...)
    depositor_structure_id: str | None = None
    chain_supplier_id: str | None = None  # the company whose piece started the chain (paid by the payable)
    previous_piece_id: str | None = None
    next_piece_id: str | None = None
    cumulative_without_vat: Decimal | None = None
    chain_started_at: str | None = None  # the supplier's piece reached the MOE (the payment clock's start)
    deadline_kind: str | None = None
    deadline_at: str | None = None
    reminder_at: str | None = None  # the reminder to the addressee, before the deadline
    reminded: bool = False
    passed_kind: str | None = None  # a deadline that passed with no move (the MOA's 30 days)
    tacit_open: bool = False  # the holder may start the tacit procedure on this final chain
    also_notify: list[str] = Field(default_factory=list)  # structures told of the last move besides the two sides


def deadline_times(started: datetime, days: int, reminder_days: int | None) -> tuple[datetime, datetime | None]:
    deadline = started + timedelta(days=days)
    reminder = deadline - timedelta(days=reminder_days) if reminder_days and reminder_days < days else None
    return deadline, reminder
