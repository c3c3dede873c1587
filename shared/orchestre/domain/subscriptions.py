"""Notification subscriptions of a structure, and who is told of which invoice event.

A manager subscribes the structure to events by email or into an SQS queue of theirs. When an
invoice changes status (``InvoiceStatusChanged``) or becomes overdue (``InvoiceOverdue``), the
subscriptions of its buyer and of its supplier whose events match are notified. A structure with
no subscription at all gets the default audience: its profile email is told of what needs it to
act (``DEFAULT_EVENTS``).

Pure rules, no boto3: the notify function reads the subscriptions and sends what ``plan`` says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from .common import Command, Record
from .errors import InvalidInput

MAX_SUBSCRIPTIONS = 20  # per structure

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# https://sqs.<region>.amazonaws.com/<account>/<queue name> (a FIFO queue's name ends in .fifo)
SQS_URL = re.compile(
    r"^https://sqs\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com/\d{12}/"
    r"(?:[A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\.fifo)$"
)
SQS_URL_PATTERN_ENV = "SQS_URL_PATTERN"  # when set, the regex an SQS target must match instead (local platform)


class Channel(StrEnum):
    EMAIL = "EMAIL"
    SQS = "SQS"


class NotificationEvent(StrEnum):
    """What a subscription listens to: a new status of an invoice, OVERDUE, or ALL."""

    MISE_A_DISPOSITION = "MISE_A_DISPOSITION"
    SUSPENDUE = "SUSPENDUE"
    A_RECYCLER = "A_RECYCLER"
    REJETEE = "REJETEE"
    MISE_EN_PAIEMENT = "MISE_EN_PAIEMENT"
    SERVICE_FAIT = "SERVICE_FAIT"
    MANDATEE = "MANDATEE"
    COMPTABILISEE = "COMPTABILISEE"
    COMPLETEE = "COMPLETEE"
    ABANDONNEE = "ABANDONNEE"
    EN_ERREUR = "EN_ERREUR"
    OVERDUE = "OVERDUE"  # the InvoiceOverdue event of the daily payment-clock job
    # works pieces (domain/works.py)
    A_VALIDER_TITULAIRE = "A_VALIDER_TITULAIRE"
    REFUSEE_FOURNISSEUR = "REFUSEE_FOURNISSEUR"
    MISE_A_DISPOSITION_MOE = "MISE_A_DISPOSITION_MOE"
    PRISE_EN_COMPTE_MOE = "PRISE_EN_COMPTE_MOE"
    REFUSEE_MOE = "REFUSEE_MOE"
    ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE = "ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE"
    MISE_A_DISPOSITION_MOA = "MISE_A_DISPOSITION_MOA"
    PRISE_EN_COMPTE_MOA = "PRISE_EN_COMPTE_MOA"
    REFUSEE_MOA = "REFUSEE_MOA"
    MISE_A_DISPOSITION_FOURNISSEUR = "MISE_A_DISPOSITION_FOURNISSEUR"
    PRISE_EN_COMPTE_FOURNISSEUR = "PRISE_EN_COMPTE_FOURNISSEUR"
    REMPLACEE_PAR_A22 = "REMPLACEE_PAR_A22"
    WORKS_DEADLINE = "WORKS_DEADLINE"  # a reminder before a works deadline, or its passing
    # justice fee memos (domain/justice.py)
    CERTIFIE = "CERTIFIE"
    A_TAXER = "A_TAXER"
    TAXE = "TAXE"
    DUPLIQUE_APRES_REFUS = "DUPLIQUE_APRES_REFUS"
    MANDATE_REVOKED = "MANDATE_REVOKED"  # a provider's billing mandate revoked by the platform (to its managers)
    TIC_DELEGATION = "TIC_DELEGATION"  # a TIC delegation asked (to the farm's managers) or answered, ended (the centre's)
    ALL = "ALL"  # every status change and overdue notice


class Language(StrEnum):
    FR = "fr"
    EN = "en"


class Side(StrEnum):
    BUYER = "BUYER"  # the recipient of the invoice (public buyer; debtor of a revenue order)
    SUPPLIER = "SUPPLIER"  # the issuer (supplier; the State ordonnateur of a revenue order)


# Who is told of what when a structure has no subscription at all: what needs it to act or concerns
# its money. Buyers: a new invoice to process, an overdue one. Suppliers: anything stopping or
# ending the processing of their invoice, the payment, and late payment.
# Justice memos: the court is told of a memo sent to it, the provider of its certification or taxation
# (and of what invoices tell too: refusal, payment); a provider's managers of its mandate's revocation.
# Works pieces: the addressee (BUYER side: the holder, the MOE, the MOA) is told what reaches it and
# of its deadlines; the company (SUPPLIER side) of what stops, moves or answers its chain.
DEFAULT_EVENTS: dict[Side, frozenset[str]] = {
    Side.BUYER: frozenset({"MISE_A_DISPOSITION", "OVERDUE", "A_VALIDER_TITULAIRE", "MISE_A_DISPOSITION_MOE",
                           "MISE_A_DISPOSITION_MOA", "ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE",
                           "MISE_A_DISPOSITION_FOURNISSEUR", "WORKS_DEADLINE"}),
    Side.SUPPLIER: frozenset({"SUSPENDUE", "A_RECYCLER", "REJETEE", "MISE_EN_PAIEMENT", "EN_ERREUR", "OVERDUE",
                              "REFUSEE_FOURNISSEUR", "REFUSEE_MOE", "REFUSEE_MOA", "PRISE_EN_COMPTE_MOE",
                              "PRISE_EN_COMPTE_MOA", "ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE",
                              "REMPLACEE_PAR_A22", "WORKS_DEADLINE", "CERTIFIE", "TAXE", "MANDATE_REVOKED",
                              "TIC_DELEGATION"}),
}

STATUS_CHANGED = "InvoiceStatusChanged"
OVERDUE = "InvoiceOverdue"
WORKS_DEADLINE = "WorksDeadline"
MANDATE_REVOKED = "JusticeMandateRevoked"
TIC_DELEGATION = "TicDelegationChanged"
DETAIL_TYPES = (STATUS_CHANGED, OVERDUE, WORKS_DEADLINE, MANDATE_REVOKED, TIC_DELEGATION)
# A structure's events, not a payment request's: told to the managers of the structure the event names
# (``structure_id``), worded by the template of that name.
MANAGER_EVENTS = {"MANDATE_REVOKED": "mandate_revoked", "TIC_DELEGATION": "tic_delegation"}


class CreateSubscription(Command):
    channel: Channel
    target: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(
        description="An email address (EMAIL), or an SQS queue URL https://sqs.<region>.amazonaws.com/<account>/<name> "
                    "whose queue policy lets Orchestre send to it (SQS)."
    )
    events: Annotated[list[NotificationEvent], Field(min_length=1, max_length=len(NotificationEvent))] = Field(
        description="Event names: the new status of an invoice, OVERDUE (payment late), or ALL."
    )
    language: Language = Field(default=Language.FR, description="Language of the emails (fr or en).")

    @field_validator("events")
    @classmethod
    def _unique(cls, events: list[NotificationEvent]) -> list[NotificationEvent]:
        return list(dict.fromkeys(events))


class ConfirmSubscription(Command):
    token: Annotated[str, StringConstraints(min_length=10, max_length=100)]


class Subscription(Record):
    subscription_id: str
    structure_id: str
    channel: Channel
    target: str
    events: list[NotificationEvent]
    language: Language = Language.FR
    created_at: str
    created_by: str
    # An SQS queue proves it is the subscriber's: a token is sent to it and echoed back by confirm.
    confirmed: bool = True
    token_sha256: str | None = Field(default=None, exclude=True)  # stored by the repository, never shown

    def listens_to(self, event_name: str) -> bool:
        return self.confirmed and (NotificationEvent.ALL in self.events or event_name in self.events)


def invalid_target(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="INVALID_SUBSCRIPTION_TARGET", field="target")


def check_target(channel: Channel, target: str, sqs_pattern: str | None = None) -> str:
    """The target, normalised, if it suits the channel (422 INVALID_SUBSCRIPTION_TARGET otherwise).

    ``sqs_pattern``: a regex that replaces the AWS queue-URL form (the local platform's queues).
    """
    target = target.strip()
    if channel is Channel.EMAIL:
        if len(target) > 254 or not EMAIL_PATTERN.match(target):
            raise invalid_target("The target of an EMAIL subscription is an email address.")
        return target
    try:
        ok = re.fullmatch(sqs_pattern, target) is not None if sqs_pattern else SQS_URL.match(target) is not None
    except re.error:  # a broken pattern in the environment refuses everything rather than anything
        ok = False
    if not ok:
        raise invalid_target("The target of an SQS subscription is a queue URL "
                             "https://sqs.<region>.amazonaws.com/<12-digit account>/<queue name>.")
    return target


def sqs_region(url: str) -> str | None:
    """The region of an AWS queue URL (None for another form, e.g. a local queue)."""
    m = SQS_URL.match(url)
    return m.group("region") if m else None


# -- who is told ---------------------------------------------------------------------------


def event_name(detail_type: str, detail: dict) -> str | None:
    """The subscription event name of a bus event (None: not a notification event)."""
    if detail_type == OVERDUE:
        return NotificationEvent.OVERDUE.value
    if detail_type == WORKS_DEADLINE:
        return NotificationEvent.WORKS_DEADLINE.value
    if detail_type == MANDATE_REVOKED:
        return NotificationEvent.MANDATE_REVOKED.value
    if detail_type == TIC_DELEGATION:
        return NotificationEvent.TIC_DELEGATION.value
    if detail_type == STATUS_CHANGED:
        status = detail.get("status")
        return status if isinstance(status, str) and status else None
    return None


@dataclass(frozen=True)
class Party:
    """One side of an invoice, as the notifier sees it."""

    side: Side
    structure_id: str
    subscriptions: tuple[Subscription, ...]
    email: str | None  # the structure's profile email (default audience)


@dataclass(frozen=True)
class Delivery:
    side: Side
    structure_id: str
    channel: Channel
    target: str
    language: Language
    subscription_id: str | None  # None: the default audience

    @property
    def key(self) -> str:
        """Identifies a delivery within one event. An SQS message is the same for both sides (sent
        once); an email is worded for its side."""
        if self.channel is Channel.SQS:
            return f"SQS#{self.target}"
        return f"EMAIL#{self.side.value}#{self.target.lower()}"


def plan(name: str, parties: list[Party]) -> list[Delivery]:
    """The deliveries of the event ``name`` to the parties of an invoice, each target once."""
    out: dict[str, Delivery] = {}
    for party in parties:
        confirmed = [s for s in party.subscriptions if s.confirmed]
        if confirmed:
            for s in confirmed:
                if s.listens_to(name):
                    d = Delivery(party.side, party.structure_id, s.channel, s.target, s.language, s.subscription_id)
                    out.setdefault(d.key, d)
        elif name in DEFAULT_EVENTS[party.side] and party.email:
            d = Delivery(party.side, party.structure_id, Channel.EMAIL, party.email, Language.FR, None)
            out.setdefault(d.key, d)
    return list(out.values())
