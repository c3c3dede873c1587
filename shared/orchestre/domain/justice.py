"""Justice fee memos (mémoires de frais de justice, billing frame A3) and the billing mandate.

Providers (experts, interpreters, translators, commissaires de justice, impound operators) bill
the court named on the decision that designated them. A memo is a payment request of the one
lifecycle engine: its statuses and moves are rows of ``lifecycle.JUSTICE_TRANSITIONS`` (a draft,
then the court's certification or a magistrate's taxation, then payment); what is specific to
justice is here, as data: the fee types, the rules of the platform, the mandate's numbering.

Sources: REFERENCE.md §6 [W] (code of criminal procedure R.224-1, R.224-2, R.225 for certification
and taxation), the issue (the 2018 mandate facts). Where a fact was not confirmed [U], the choice is
written here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from .common import Command, Record
from .invoices import AttachmentInput
from .lifecycle import Status

BILLING_FRAME = "A3"
DOCUMENT_TYPE = "JUSTICE_MEMO"


class ProviderCategory(StrEnum):
    EXPERT = "EXPERT"
    INTERPRETE = "INTERPRETE"
    TRADUCTEUR = "TRADUCTEUR"
    COMMISSAIRE_DE_JUSTICE = "COMMISSAIRE_DE_JUSTICE"
    FOURRIERE = "FOURRIERE"
    AUTRE = "AUTRE"


class CourtKind(StrEnum):
    TRIBUNAL_JUDICIAIRE = "TRIBUNAL_JUDICIAIRE"
    COUR_APPEL = "COUR_APPEL"
    CONSEIL_PRUDHOMMES = "CONSEIL_PRUDHOMMES"
    TRIBUNAL_COMMERCE = "TRIBUNAL_COMMERCE"
    AUTRE = "AUTRE"


class CourtRole(StrEnum):
    """A court member's function on memos (set by the court's managers on the attachment)."""

    GREFFIER = "GREFFIER"  # the central fees office: certifies within the clerk's limits
    MAGISTRAT = "MAGISTRAT"  # taxes memos (and may certify any)


class DecisionKind(StrEnum):
    REQUISITION = "REQUISITION"
    ORDONNANCE = "ORDONNANCE"
    JUGEMENT = "JUGEMENT"
    COMMISSION_ROGATOIRE = "COMMISSION_ROGATOIRE"


class VatRegime(StrEnum):
    ASSUJETTI = "ASSUJETTI"  # VAT on each line, at its rate
    FRANCHISE = "FRANCHISE"  # franchise en base (CGI art. 293 B): no VAT
    NON_ASSUJETTI = "NON_ASSUJETTI"  # outside the scope of VAT: no VAT


@dataclass(frozen=True)
class FeeType:
    code: str
    label: str
    tariffed: bool  # its amount is set by a tariff (a clerk may certify it whatever the total)
    categories: tuple[ProviderCategory, ...] = tuple(ProviderCategory)


# The fee types a memo line may carry. [U] Codes and labels are ours, grouped after the code of
# criminal procedure's headings (R.92 and following: tariffed fees of translators, interpreters,
# commissaires de justice and impound operators; experts' fees set on the memo and taxed).
FEE_TYPES: dict[str, FeeType] = {f.code: f for f in (
    FeeType("HONORAIRES_EXPERTISE", "Honoraires d'expertise", False, (ProviderCategory.EXPERT, ProviderCategory.AUTRE)),
    FeeType("VACATION", "Vacation horaire", True),
    FeeType("TRADUCTION_PAGE", "Traduction écrite (par page)", True, (ProviderCategory.TRADUCTEUR,)),
    FeeType("INTERPRETARIAT_HEURE", "Interprétariat (par heure)", True, (ProviderCategory.INTERPRETE,)),
    FeeType("ACTE", "Acte de commissaire de justice", True, (ProviderCategory.COMMISSAIRE_DE_JUSTICE,)),
    FeeType("ENLEVEMENT", "Enlèvement d'un véhicule", True, (ProviderCategory.FOURRIERE,)),
    FeeType("GARDE_JOURNALIERE", "Garde journalière d'un véhicule", True, (ProviderCategory.FOURRIERE,)),
    FeeType("FRAIS_DEPLACEMENT", "Frais de déplacement", True),
    FeeType("FRAIS_DIVERS", "Débours et frais divers (sur justificatifs)", False),
)}

# A clerk certifies a memo whose total is at most this, or whose fees are all tariffed; above it, a
# magistrate taxes it (code of criminal procedure R.224-1, R.224-2 [W]).
CLERK_CERTIFICATION_LIMIT = Decimal("460.00")
# A memo is sent within one year of the end of the mission, for missions ending from 31 December
# 2020 on: a strict time bar [W, REFERENCE.md §6; the legal text was not read here].
TIME_BAR_DAYS = 365
TIME_BAR_FROM = date(2020, 12, 31)
# A provider whose first memo has not yet been processed by a court holds at most 50 memos [W,
# the legacy portal's rule].
RESTRICTED_MAX_MEMOS = 50
# The court has processed a memo once it certified, taxed or refused it.
PROCESSED = frozenset({Status.CERTIFIE, Status.TAXE, Status.REJETEE})

# The billing mandate (optional since 28 June 2018): while one is active the platform numbers each
# memo `<year of issue>-<11-digit sequence unique to the provider>`. [U] The terms' version is ours.
MANDATE_TERMS_VERSION = "2018-06-28"
SEQUENCE_DIGITS = 11


def mandate_number(year: int, sequence: int) -> str:
    return f"{year}-{sequence:0{SEQUENCE_DIGITS}d}"


def time_barred(mission_end: date, on: date) -> bool:
    from datetime import timedelta

    return mission_end >= TIME_BAR_FROM and on > mission_end + timedelta(days=TIME_BAR_DAYS)


def clerk_may_certify(total_with_vat: Decimal, fee_types: list[str]) -> bool:
    return total_with_vat <= CLERK_CERTIFICATION_LIMIT or all(FEE_TYPES[f].tariffed for f in fee_types)


# -- commands ---------------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MemoNumber = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9/_.\-]+$")]


class Decision(Command):
    """The decision that designated the provider."""

    kind: DecisionKind
    date: date
    reference: Annotated[str, StringConstraints(min_length=1, max_length=60)]


class MemoLine(Command):
    fee_type: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    description: Text
    quantity: Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=4)]
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=4)]
    vat_rate: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] = Decimal("20")


class MemoFields(Command):
    """What a provider types on a memo (a draft's fields, all of them editable until it is sent)."""

    court_structure_id: Id
    decision: Decision
    prescriber: Text = Field(description="The magistrate or officer who prescribed the mission.")
    case_reference: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    mission_start: date
    mission_end: date
    vat_regime: VatRegime = VatRegime.ASSUJETTI
    lines: Annotated[list[MemoLine], Field(min_length=1, max_length=200)]
    number: MemoNumber | None = Field(None, description="Typed by the provider; refused under a billing mandate.")


class CreateMemo(MemoFields):
    provider_structure_id: Id
    attachments: Annotated[list[AttachmentInput], Field(max_length=20)] = Field(default_factory=list)
    pdf_base64: str | None = Field(default=None, description="The provider's own PDF; rendered if absent.")


class UpdateMemo(Command):
    """A draft's changes (PATCH, If-Match): the fields sent replace the draft's."""

    court_structure_id: Id | None = None
    decision: Decision | None = None
    prescriber: Text | None = None
    case_reference: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    mission_start: date | None = None
    mission_end: date | None = None
    vat_regime: VatRegime | None = None
    lines: Annotated[list[MemoLine], Field(min_length=1, max_length=200)] | None = None
    number: MemoNumber | None = None


class MemoStatus(Command):
    status: Status
    reason_code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    comment: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    taxed_amount: Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2)] | None = None


class OpenCourt(Command):
    """Operators flag a public structure as a court (juridiction)."""

    code: Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_.\-]+$")]
    kind: CourtKind


class Court(Record):
    code: str
    kind: CourtKind


class AcceptMandate(Command):
    accept_terms: bool

    @model_validator(mode="after")
    def _accepted(self):
        if not self.accept_terms:
            raise ValueError("the mandate's terms must be accepted (accept_terms: true)")
        return self


class JusticeInfo(Record):
    """What a memo carries beyond an invoice's fields."""

    provider_category: ProviderCategory
    court_code: str
    decision: Decision
    prescriber: str
    case_reference: str
    mission_start: date
    mission_end: date
    vat_regime: VatRegime
    lines: list[MemoLine]
    typed_number: bool = False  # the number was typed (no mandate), not given by the platform
    own_pdf: bool = False  # the provider gave its PDF (else the platform renders it when the memo is sent)
    restricted: bool = False  # made while the provider's account was restricted
    taxed_amount: Decimal | None = None
    duplicate_of: str | None = None
    duplicated_to: str | None = None
    submitted_at: str | None = None
