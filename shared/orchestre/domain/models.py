"""Entities of the accounts & structures domain, and the commands that change them."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .common import Command, Record
from .identifiers import IdentifierType
from .justice import Court, CourtRole, ProviderCategory
from .tic import DEPARTMENT, BeneficiaryCategory, OrganisationType

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"),
]
ServiceCode = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]


class StructureKind(StrEnum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


class Space(StrEnum):
    INVOICES_ISSUED = "INVOICES_ISSUED"
    INVOICES_RECEIVED = "INVOICES_RECEIVED"
    INVOICES_TO_VALIDATE = "INVOICES_TO_VALIDATE"
    WORKS = "WORKS"
    JUSTICE_MEMOS = "JUSTICE_MEMOS"
    TIC_REFUNDS = "TIC_REFUNDS"
    SOLICITATIONS = "SOLICITATIONS"


class Permission(StrEnum):
    CONSULTATION = "CONSULTATION"  # read
    MODIFICATION = "MODIFICATION"  # read and write

    def allows(self, needed: Permission) -> bool:
        return self is Permission.MODIFICATION or needed is Permission.CONSULTATION


class Role(StrEnum):
    PRIMARY_MANAGER = "PRIMARY_MANAGER"
    SECONDARY_MANAGER = "SECONDARY_MANAGER"
    USER = "USER"


class AttachmentStatus(StrEnum):
    EN_COURS_DE_VALIDATION = "EN_COURS_DE_VALIDATION"
    VALIDEE = "VALIDEE"
    REFUSEE = "REFUSEE"
    DESACTIVEE = "DESACTIVEE"


def default_spaces(kind: StructureKind) -> list[Space]:
    if kind is StructureKind.PUBLIC:
        return [Space.INVOICES_ISSUED, Space.INVOICES_RECEIVED]
    return [Space.INVOICES_ISSUED]


# --- structures -------------------------------------------------------------------------


class Address(Command):
    line1: Annotated[str, StringConstraints(max_length=140)] | None = None
    line2: Annotated[str, StringConstraints(max_length=140)] | None = None
    postal_code: Annotated[str, StringConstraints(max_length=16, pattern=r"^[A-Za-z0-9 -]*$")] | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    country_code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "FR"


class BillingParameters(Command):
    """What a public buyer requires on the invoices it receives."""

    service_code_required: bool = False
    legal_commitment_required: bool = False
    service_code_or_commitment_required: bool = False
    payment_status_managed: bool = False


class Structure(Record):
    structure_id: str
    identifier_type: IdentifierType
    identifier: str
    name: str
    kind: StructureKind
    address: Address | None = None
    vat_number: str | None = None
    email: str | None = None
    billing: BillingParameters = Field(default_factory=BillingParameters)
    spaces: list[Space] = Field(default_factory=list)
    payment_delay_days: int = 30  # legal payment delay of a public buyer (50 for public hospitals)
    # set by operators: the structure came from Chorus Portail Pro, the former justice portal
    migrated_from_chorus_portail_pro: bool = False
    # set by operators: a court (juridiction), which receives justice fee memos
    court: Court | None = None
    # what a space was opened with (JUSTICE_MEMOS: the provider's category; TIC_REFUNDS: the farm's
    # PACAGE number and beneficiary category)
    provider_category: ProviderCategory | None = None
    pacage: str | None = None
    beneficiary_category: BeneficiaryCategory | None = None
    # a management centre or accounting firm files TIC refunds for farms (it opens no TIC space)
    organisation_type: OrganisationType = OrganisationType.OTHER
    # a public service: the départements whose TIC refund requests it processes
    tic_departments: list[str] = Field(default_factory=list)
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    version: int = 1
    created_at: str
    updated_at: str
    created_by: str

    @property
    def is_public(self) -> bool:
        return self.kind is StructureKind.PUBLIC

    def has_space(self, space: Space) -> bool:
        return space in self.spaces


class CreateStructure(Command):
    identifier_type: IdentifierType
    identifier: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    name: Name
    kind: StructureKind
    address: Address | None = None
    vat_number: Annotated[str, StringConstraints(max_length=20)] | None = None
    email: Email | None = None
    billing: BillingParameters | None = Field(
        default=None, description="Billing parameters; public structures only."
    )
    payment_delay_days: Annotated[int, Field(ge=1, le=120)] = Field(
        default=30, description="Legal payment delay in days (30: State and local authorities; 50: public hospitals)."
    )
    organisation_type: OrganisationType = Field(
        default=OrganisationType.OTHER,
        description="AGRICULTURAL_MANAGEMENT_CENTRE or ACCOUNTING_FIRM: files TIC refunds for farms (delegations).")


class UpdateStructure(Command):
    name: Name | None = None
    payment_delay_days: Annotated[int, Field(ge=1, le=120)] | None = None
    address: Address | None = None
    vat_number: Annotated[str, StringConstraints(max_length=20)] | None = None
    email: Email | None = None
    organisation_type: OrganisationType | None = None


# --- services ---------------------------------------------------------------------------


class _Validity(Command):
    @model_validator(mode="after")
    def _dates_in_order(self):
        start, end = getattr(self, "valid_from", None), getattr(self, "valid_to", None)
        if start and end and end < start:
            raise ValueError("valid_to is before valid_from")
        return self


class Service(Record):
    structure_id: str
    code: str
    name: str
    active: bool = True
    valid_from: date | None = None
    valid_to: date | None = None
    legal_commitment_required: bool = False
    version: int = 1
    created_at: str
    updated_at: str

    def is_available(self, on: date) -> bool:
        """Can invoices be routed to this service on ``on``?"""
        if not self.active:
            return False
        if self.valid_from and on < self.valid_from:
            return False
        return not (self.valid_to and on > self.valid_to)


class CreateService(_Validity):
    code: ServiceCode
    name: Name
    active: bool = True
    valid_from: date | None = None
    valid_to: date | None = None
    legal_commitment_required: bool = False


class UpdateService(_Validity):
    name: Name | None = None
    active: bool | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    legal_commitment_required: bool | None = None


# --- users and attachments --------------------------------------------------------------


class User(Record):
    user_id: str
    email: str
    first_name: str
    last_name: str
    created_at: str
    # A technical account's credential is a user that acts as the account (its attachments are the account's).
    acts_as: str | None = None
    mfa_enabled: bool = False  # a second factor (TOTP) is required at sign-in
    disabled: bool = False  # by an operator: every token of the user is refused at once


class CredentialSlot(StrEnum):
    A = "a"
    B = "b"


class Credential(Record):
    slot: CredentialSlot
    login: str
    user_id: str  # the identity provider's id of this credential
    created_at: str


class TechnicalAccount(Record):
    """A machine account of a structure, for API and EDI integrators (compte technique)."""

    account_id: str
    structure_id: str
    name: str
    credentials: list[Credential] = Field(default_factory=list)  # one or two: rotation without downtime
    created_at: str
    created_by: str
    version: int = 1

    @property
    def inbound_prefix(self) -> str:
        return f"inbound/{self.account_id}/"

    @property
    def outbound_prefix(self) -> str:
        return f"outbound/{self.account_id}/"


class CreateTechnicalAccount(Command):
    name: Name
    permissions: Permissions = Field(
        default_factory=lambda: {Space.INVOICES_ISSUED: Permission.MODIFICATION},
        description="Per-space rights of the account (default: MODIFICATION on INVOICES_ISSUED).",
    )


Permissions = dict[Space, Permission]


class Attachment(Record):
    """A user's membership of a structure (rattachement)."""

    structure_id: str
    user_id: str
    role: Role
    status: AttachmentStatus
    permissions: Permissions = Field(default_factory=dict)
    court_role: CourtRole | None = None  # a court's member: fees office (default) or magistrate
    message: str | None = None
    reason: str | None = None
    requested_at: str
    decided_at: str | None = None
    decided_by: str | None = None
    version: int = 1

    @property
    def is_active(self) -> bool:
        return self.status is AttachmentStatus.VALIDEE

    @property
    def is_manager(self) -> bool:
        return self.is_active and self.role in (Role.PRIMARY_MANAGER, Role.SECONDARY_MANAGER)


class RequestAttachment(Command):
    identifier_type: IdentifierType
    identifier: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    role: Literal[Role.USER, Role.SECONDARY_MANAGER] = Role.USER
    permissions: Permissions = Field(default_factory=dict)
    message: Text | None = None


class ApproveAttachment(Command):
    role: Literal[Role.USER, Role.SECONDARY_MANAGER] | None = Field(
        default=None, description="Role granted; defaults to the requested one."
    )
    permissions: Permissions | None = Field(
        default=None, description="Per-space rights granted; default to the requested ones."
    )
    court_role: CourtRole | None = Field(default=None, description="A court's member: GREFFIER or MAGISTRAT.")


class RefuseAttachment(Command):
    reason: Text


class UpdateAttachment(Command):
    role: Literal[Role.USER, Role.SECONDARY_MANAGER] | None = None
    permissions: Permissions | None = None
    court_role: CourtRole | None = Field(default=None, description="A court's member: GREFFIER or MAGISTRAT.")


class OpenSpace(Command):
    """What a space is opened with, where it needs something (the body of PUT .../spaces/{space})."""

    provider_category: ProviderCategory | None = Field(
        default=None, description="JUSTICE_MEMOS, for a provider of the courts (not for a court).")
    pacage: Annotated[str, StringConstraints(pattern=r"^\d{9}$")] | None = Field(
        default=None, description="TIC_REFUNDS: the farm's PACAGE number (9 digits).")
    beneficiary_category: BeneficiaryCategory | None = Field(default=None, description="TIC_REFUNDS: the farm's kind.")


class TicProcessing(Command):
    """A public service declares the départements whose TIC refund requests it processes."""

    departments: Annotated[list[Annotated[str, StringConstraints(pattern=DEPARTMENT)]], Field(max_length=20)]


# --- audit ------------------------------------------------------------------------------


class AuditEvent(Record):
    structure_id: str
    at: str
    actor: str
    action: str
    target: str | None = None
    details: dict = Field(default_factory=dict)
