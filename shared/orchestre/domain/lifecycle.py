"""The invoice lifecycle: statuses, who may set which status when, as one table of data.

No official transition table of Chorus Pro was found (see REFERENCE.md): this is ours, kept in one
place so it is easy to change. Every status carries its 2026 reform lifecycle code, so that the
platform speaks both vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import Conflict, InvalidInput


class Status(StrEnum):
    DEPOSEE = "DEPOSEE"
    EN_COURS_ACHEMINEMENT = "EN_COURS_ACHEMINEMENT"
    MISE_A_DISPOSITION = "MISE_A_DISPOSITION"
    EN_ERREUR = "EN_ERREUR"  # routing failed after retries: parked, operations alerted
    COMPTABILISEE = "COMPTABILISEE"
    SERVICE_FAIT = "SERVICE_FAIT"
    MANDATEE = "MANDATEE"
    MISE_EN_PAIEMENT = "MISE_EN_PAIEMENT"
    SUSPENDUE = "SUSPENDUE"
    COMPLETEE = "COMPLETEE"
    A_RECYCLER = "A_RECYCLER"
    REJETEE = "REJETEE"
    ABANDONNEE = "ABANDONNEE"
    # works pieces (supplier -> MOE -> MOA; domain/works.py). Codes of Chorus Pro [R], meanings [U].
    A_VALIDER_TITULAIRE = "A_VALIDER_TITULAIRE"  # a sub-contractor's request, awaiting the holder [U: our name]
    REFUSEE_FOURNISSEUR = "REFUSEE_FOURNISSEUR"  # refused by the holder
    MISE_A_DISPOSITION_MOE = "MISE_A_DISPOSITION_MOE"
    PRISE_EN_COMPTE_MOE = "PRISE_EN_COMPTE_MOE"  # the MOE answered it with its own piece
    REFUSEE_MOE = "REFUSEE_MOE"
    ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE = "ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE"  # on to the MOA
    MISE_A_DISPOSITION_MOA = "MISE_A_DISPOSITION_MOA"
    PRISE_EN_COMPTE_MOA = "PRISE_EN_COMPTE_MOA"  # the MOA answered it with its own piece
    REFUSEE_MOA = "REFUSEE_MOA"
    MISE_A_DISPOSITION_FOURNISSEUR = "MISE_A_DISPOSITION_FOURNISSEUR"  # the MOA's general statement, at the holder [U]
    PRISE_EN_COMPTE_FOURNISSEUR = "PRISE_EN_COMPTE_FOURNISSEUR"  # the holder signed it (A8) [U]
    REMPLACEE_PAR_A22 = "REMPLACEE_PAR_A22"  # a final chain superseded by the tacit procedure
    # justice fee memos (domain/justice.py): codes of Chorus Pro [R] where known, meanings [W]
    BROUILLON = "BROUILLON"  # a draft, the provider's own
    CERTIFIE = "CERTIFIE"  # certified by the court's fees office
    A_TAXER = "A_TAXER"  # sent to a magistrate for taxation
    TAXE = "TAXE"  # taxed by the magistrate (the taxed amount may be lower)
    DUPLIQUE_APRES_REFUS = "DUPLIQUE_APRES_REFUS"  # refused, then duplicated into a new draft [R]


class Role(StrEnum):
    PLATFORM = "PLATFORM"
    RECIPIENT = "RECIPIENT"  # the buyer's users
    SUPPLIER = "SUPPLIER"  # the seller's users (of a works piece: its depositor's)
    OPERATOR = "OPERATOR"  # the platform's support team (/v1/admin)
    HOLDER = "HOLDER"  # a works contract's holder, on its sub-contractors' requests
    MOE = "MOE"  # a works contract's project manager
    MOA = "MOA"  # a works contract's contracting authority
    CLERK = "CLERK"  # a court's fees office (justice memos)
    MAGISTRATE = "MAGISTRATE"  # a court's magistrate, who taxes memos


LIFECYCLE_CODES: dict[Status, int | None] = {
    Status.DEPOSEE: 200,  # Déposée
    Status.EN_COURS_ACHEMINEMENT: 201,  # Émise par la plateforme
    Status.MISE_A_DISPOSITION: 203,  # Mise à disposition
    Status.COMPTABILISEE: 204,  # Prise en charge
    Status.SERVICE_FAIT: 205,  # Approuvée
    Status.MANDATEE: 205,  # Approuvée (payment ordered)
    Status.SUSPENDUE: 208,  # Suspendue
    Status.COMPLETEE: 209,  # Complétée
    Status.REJETEE: 210,  # Refusée
    Status.MISE_EN_PAIEMENT: 211,  # Paiement transmis
    Status.ABANDONNEE: 220,  # Annulée
    Status.A_RECYCLER: 221,  # Erreur de routage
    Status.EN_ERREUR: None,
    # works pieces: the nearest 2026 code [U]
    Status.A_VALIDER_TITULAIRE: 202,  # Reçue par la plateforme
    Status.REFUSEE_FOURNISSEUR: 210,  # Refusée
    Status.MISE_A_DISPOSITION_MOE: 203,  # Mise à disposition
    Status.PRISE_EN_COMPTE_MOE: 204,  # Prise en charge
    Status.REFUSEE_MOE: 210,
    Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE: 203,
    Status.MISE_A_DISPOSITION_MOA: 203,
    Status.PRISE_EN_COMPTE_MOA: 204,
    Status.REFUSEE_MOA: 210,
    Status.MISE_A_DISPOSITION_FOURNISSEUR: 203,
    Status.PRISE_EN_COMPTE_FOURNISSEUR: 204,
    Status.REMPLACEE_PAR_A22: 220,  # Annulée
    # justice memos: the nearest 2026 code [U]
    Status.BROUILLON: None,  # not sent
    Status.CERTIFIE: 205,  # Approuvée
    Status.A_TAXER: 204,  # Prise en charge
    Status.TAXE: 205,  # Approuvée (at the taxed amount)
    Status.DUPLIQUE_APRES_REFUS: 220,  # Annulée (replaced by its duplicate)
}

# 2026 reason codes accepted with a status that needs a reason (examples of the reform, plus AUTRE)
REASON_CODES = frozenset({
    "DOUBLON", "DEST_INC", "DEST_ERR", "SIRET_ERR", "CODE_ROUTAGE_ERR", "CMD_ERR", "MONTANTTOTAL_ERR",
    "TX_TVA_ERR", "CALCUL_ERR", "JUSTIF_ABS", "REF_CT_ABSENT", "ADR_ERR", "AUTRE",
})


# Reasons of a works refusal (domain/works.py); an amount error is never one (corrected by the next
# actor's own piece: Chorus Pro since 19 February 2025, REFERENCE.md §6 [W]).
WORKS_REFUSAL_REASONS = frozenset({"ERREUR_MONTANT", "PIECE_INCOMPLETE", "ERREUR_DESTINATAIRE", "HORS_MARCHE",
                                   "DOUBLON", "AUTRE"})


@dataclass(frozen=True)
class Move:
    to: Status
    needs_reason: bool = False
    needs_mandate_number: bool = False
    route: str = "status"  # how it is made: status, complete, recycle, resend; answer, deadline (works)
    reasons: frozenset[str] = REASON_CODES  # the reason codes it accepts
    forbidden_reasons: frozenset[str] = frozenset()  # reasons refused with 422 (REFUSAL_REASON_FORBIDDEN)


_RECIPIENT_FROM_AVAILABLE = (
    Move(Status.COMPTABILISEE),
    Move(Status.SERVICE_FAIT),
    Move(Status.MANDATEE, needs_mandate_number=True),
    Move(Status.SUSPENDUE, needs_reason=True),
    Move(Status.A_RECYCLER, needs_reason=True),
    Move(Status.REJETEE, needs_reason=True),
)

def _works_refusal(to: Status) -> Move:
    return Move(to, needs_reason=True, reasons=WORKS_REFUSAL_REASONS, forbidden_reasons=frozenset({"ERREUR_MONTANT"}))


# (current status, role) -> the moves allowed. Anything absent is refused (409).
TRANSITIONS: dict[tuple[Status, Role], tuple[Move, ...]] = {
    # the platform's routing workflow
    (Status.DEPOSEE, Role.PLATFORM): (Move(Status.EN_COURS_ACHEMINEMENT), Move(Status.EN_ERREUR)),
    (Status.EN_COURS_ACHEMINEMENT, Role.PLATFORM): (Move(Status.MISE_A_DISPOSITION), Move(Status.EN_ERREUR)),
    (Status.COMPLETEE, Role.PLATFORM): (),
    # the buyer
    (Status.MISE_A_DISPOSITION, Role.RECIPIENT): _RECIPIENT_FROM_AVAILABLE,
    (Status.COMPLETEE, Role.RECIPIENT): _RECIPIENT_FROM_AVAILABLE,
    (Status.COMPTABILISEE, Role.RECIPIENT): (
        Move(Status.SERVICE_FAIT), Move(Status.MANDATEE, needs_mandate_number=True),
        Move(Status.SUSPENDUE, needs_reason=True), Move(Status.REJETEE, needs_reason=True),
    ),
    (Status.SERVICE_FAIT, Role.RECIPIENT): (
        Move(Status.MANDATEE, needs_mandate_number=True), Move(Status.SUSPENDUE, needs_reason=True),
        Move(Status.REJETEE, needs_reason=True),
    ),
    (Status.MANDATEE, Role.RECIPIENT): (Move(Status.MISE_EN_PAIEMENT),),
    # the supplier
    (Status.SUSPENDUE, Role.SUPPLIER): (Move(Status.COMPLETEE, route="complete"), Move(Status.ABANDONNEE)),
    (Status.A_RECYCLER, Role.SUPPLIER): (Move(Status.DEPOSEE, route="recycle"), Move(Status.ABANDONNEE)),
    # parked after routing failed: the supplier sends it again (to the same or another recipient) or abandons it
    (Status.EN_ERREUR, Role.SUPPLIER): (Move(Status.DEPOSEE, route="recycle"), Move(Status.ABANDONNEE)),
    # or an operator, once the cause is fixed, routes it again as it is (POST /v1/admin/invoices/{id}/resend)
    (Status.EN_ERREUR, Role.OPERATOR): (Move(Status.DEPOSEE, route="resend"),),
    # -- works pieces (domain/works.py): answers and deadlines are made by the platform -----------
    # a sub-contractor's request: the holder accepts it (then it goes to the MOE) or refuses it; silent
    # 15 days, it is accepted tacitly
    (Status.A_VALIDER_TITULAIRE, Role.HOLDER): (Move(Status.MISE_A_DISPOSITION_MOE), _works_refusal(
        Status.REFUSEE_FOURNISSEUR)),
    (Status.A_VALIDER_TITULAIRE, Role.PLATFORM): (Move(Status.MISE_A_DISPOSITION_MOE, route="deadline"),),
    # at the MOE: it answers with its own piece, or refuses (the circuit stops); silent past its delay,
    # the piece goes on to the MOA on the supplier's amounts
    (Status.MISE_A_DISPOSITION_MOE, Role.MOE): (_works_refusal(Status.REFUSEE_MOE),),
    (Status.MISE_A_DISPOSITION_MOE, Role.PLATFORM): (
        Move(Status.PRISE_EN_COMPTE_MOE, route="answer"),
        Move(Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE, route="deadline")),
    (Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE, Role.MOA): (_works_refusal(Status.REFUSEE_MOA),),
    (Status.ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE, Role.PLATFORM): (
        Move(Status.PRISE_EN_COMPTE_MOA, route="answer"), Move(Status.REMPLACEE_PAR_A22, route="answer")),
    # at the MOA: it answers with its own piece, or refuses; a final chain it leaves unanswered may
    # be superseded by the holder's tacit procedure (A22)
    (Status.MISE_A_DISPOSITION_MOA, Role.MOA): (_works_refusal(Status.REFUSEE_MOA),),
    (Status.MISE_A_DISPOSITION_MOA, Role.PLATFORM): (
        Move(Status.PRISE_EN_COMPTE_MOA, route="answer"), Move(Status.REMPLACEE_PAR_A22, route="answer")),
    # the MOA's general statement at the holder: it signs it (A8) or contests it
    (Status.MISE_A_DISPOSITION_FOURNISSEUR, Role.SUPPLIER): (_works_refusal(Status.REFUSEE_FOURNISSEUR),),
    (Status.MISE_A_DISPOSITION_FOURNISSEUR, Role.PLATFORM): (Move(Status.PRISE_EN_COMPTE_FOURNISSEUR, route="answer"),),
}

# -- justice fee memos (domain/justice.py) ---------------------------------------------------------
# Reasons of a court's refusal, or of a taxation below the memo's amount. [U] Ours.
JUSTICE_REASONS = frozenset({"HORS_MISSION", "PIECE_MANQUANTE", "MONTANT_NON_JUSTIFIE", "DOUBLON",
                             "JURIDICTION_INCOMPETENTE", "AUTRE"})
_JUSTICE_REFUSAL = Move(Status.REJETEE, needs_reason=True, reasons=JUSTICE_REASONS)
_JUSTICE_PAYMENT = (Move(Status.MISE_EN_PAIEMENT),)
JUSTICE_TRANSITIONS: dict[tuple[Status, Role], tuple[Move, ...]] = {
    # the provider's draft: sent to the court (numbered then, under a billing mandate), or dropped
    (Status.BROUILLON, Role.SUPPLIER): (Move(Status.MISE_A_DISPOSITION, route="submit"), Move(Status.ABANDONNEE)),
    # at the court: the fees office certifies (within its limits: domain/justice.clerk_may_certify), sends
    # it for taxation, or refuses; a magistrate may also tax it at once
    (Status.MISE_A_DISPOSITION, Role.CLERK): (Move(Status.CERTIFIE), Move(Status.A_TAXER), _JUSTICE_REFUSAL),
    (Status.MISE_A_DISPOSITION, Role.MAGISTRATE): (Move(Status.CERTIFIE), Move(Status.A_TAXER), Move(Status.TAXE),
                                                   _JUSTICE_REFUSAL),
    # taxation: the magistrate sets the taxed amount (a reason when lower), or refuses
    (Status.A_TAXER, Role.MAGISTRATE): (Move(Status.TAXE), _JUSTICE_REFUSAL),
    (Status.CERTIFIE, Role.CLERK): _JUSTICE_PAYMENT,
    (Status.CERTIFIE, Role.MAGISTRATE): _JUSTICE_PAYMENT,
    (Status.TAXE, Role.CLERK): _JUSTICE_PAYMENT,
    (Status.TAXE, Role.MAGISTRATE): _JUSTICE_PAYMENT,
    # refused: the provider abandons it, or duplicates it into a new draft (a new number when sent)
    (Status.REJETEE, Role.SUPPLIER): (Move(Status.ABANDONNEE), Move(Status.DUPLIQUE_APRES_REFUS, route="duplicate")),
}

# -- TIC refund requests (domain/tic.py) --------------------------------------------------------------
# Reasons of the département's service to suspend (a missing document) or reject a request. [U] Ours.
TIC_REASONS = frozenset({"FACTURE_MANQUANTE", "RIB_MANQUANT", "ADRESSE_LIVRAISON_ABSENTE", "QUANTITE_INCOHERENTE",
                         "NON_ELIGIBLE", "ENTREPRISE_EN_DIFFICULTE", "DOUBLON", "AUTRE"})
_TIC_SERVICE = (Move(Status.SUSPENDUE, needs_reason=True, reasons=TIC_REASONS),
                Move(Status.REJETEE, needs_reason=True, reasons=TIC_REASONS), Move(Status.MISE_EN_PAIEMENT))
TIC_TRANSITIONS: dict[tuple[Status, Role], tuple[Move, ...]] = {
    # the farm's draft (or its delegate's): sent to the département's service, or dropped
    (Status.BROUILLON, Role.SUPPLIER): (Move(Status.MISE_A_DISPOSITION, route="submit"), Move(Status.ABANDONNEE)),
    # the service: suspends it for a missing document, rejects it, or pays it
    (Status.MISE_A_DISPOSITION, Role.RECIPIENT): _TIC_SERVICE,
    (Status.COMPLETEE, Role.RECIPIENT): _TIC_SERVICE,
    # suspended: the farm completes it with the document, or abandons it
    (Status.SUSPENDUE, Role.SUPPLIER): (Move(Status.COMPLETEE, route="complete"), Move(Status.ABANDONNEE)),
}

# The transition table of each kind of payment request (Invoice.document_type); the others use TRANSITIONS.
TABLES: dict[str, dict[tuple[Status, Role], tuple[Move, ...]]] = {"JUSTICE_MEMO": JUSTICE_TRANSITIONS,
                                                                  "TIC_REQUEST": TIC_TRANSITIONS}

# Statuses during which the payment-delay clock runs (it stops while SUSPENDUE, ends at payment).
CLOCK_RUNNING = frozenset({Status.MISE_A_DISPOSITION.value, Status.COMPLETEE.value, Status.COMPTABILISEE.value,
                           Status.SERVICE_FAIT.value, Status.MANDATEE.value})


def moves(status: Status, roles: set[Role], document_type: str = "INVOICE") -> list[Move]:
    table = TABLES.get(document_type, TRANSITIONS)
    out: list[Move] = []
    for role in sorted(roles):
        out += [m for m in table.get((status, role), ()) if m not in out]
    return out


def check_move(status: Status, roles: set[Role], to: Status, route: str, reason_code: str | None,
               mandate_number: str | None, document_type: str = "INVOICE") -> Move:
    """The move, or a 409 naming the allowed ones / a 422 for a missing reason or mandate number."""
    allowed = moves(status, roles, document_type)
    move = next((m for m in allowed if m.to is to and m.route == route), None)
    if move is None:
        names = sorted({m.to.value for m in allowed if m.route == route or route == "status"})
        raise Conflict(f"{to.value} cannot follow {status.value} for you; allowed now: {names or 'none'}.",
                       code="TRANSITION_NOT_ALLOWED", field="status", current_status=status.value, allowed=names)
    if move.needs_reason:
        if not reason_code:
            raise InvalidInput(f"{to.value} needs a reason_code.", code="REASON_REQUIRED", field="reason_code")
        if reason_code in move.forbidden_reasons:
            raise InvalidInput(f"{reason_code} is not a reason to refuse: amounts are corrected by the next actor's "
                               "own piece.", code="REFUSAL_REASON_FORBIDDEN", field="reason_code")
        if reason_code not in move.reasons:
            raise InvalidInput(f"Unknown reason_code; use one of {sorted(move.reasons)}.", code="UNKNOWN_REASON_CODE",
                               field="reason_code")
    if move.needs_mandate_number and not mandate_number:
        raise InvalidInput("MANDATEE carries the mandate number.", code="MANDATE_NUMBER_REQUIRED",
                           field="mandate_number")
    return move
