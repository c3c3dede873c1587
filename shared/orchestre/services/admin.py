"""Use cases of the platform's operators (the support team, ops): ``/v1/admin/...`` only.

Operators are the members of the user pool's ``operators`` group (``api.http.operator`` checks it
on every route). Every change they make is recorded: on the structure's audit trail for a
structure, in the invoice's history for an invoice, and in the platform's own audit trail.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from ..domain import access
from ..domain.common import Command, is_platform_id, now_iso
from ..domain.errors import Conflict, InvalidInput, NotFound
from ..domain.identifiers import IdentifierType, normalize_identifier
from ..domain.justice import Court, OpenCourt
from ..domain.models import AuditEvent, Structure, User
from ..repositories.identity import IdentityProvider
from ..repositories.security import PlatformAudit, PlatformSettings
from ..repositories.structures import StructureRepository, UserRepository
from .lifecycle import LifecycleService
from .structures import StructureService


class StructureFlags(Command):
    migrated_from_chorus_portail_pro: bool | None = None


class Settings(Command):
    mfa_required_for_managers: bool | None = None


class Resend(Command):
    comment: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class AdminService:
    def __init__(self, structures: StructureRepository | None = None, users: UserRepository | None = None,
                 idp: IdentityProvider | None = None, lifecycle: LifecycleService | None = None):
        self.structures = structures or StructureRepository()
        self.users = users or UserRepository()
        self.idp = idp or IdentityProvider()
        self.lifecycle = lifecycle or LifecycleService(structures=self.structures)
        self.audit = PlatformAudit()

    # -- structures ------------------------------------------------------------------------

    def structure(self, structure_id: str) -> Structure:
        found = self.structures.get(structure_id)
        if found is None:
            raise access.not_found(structure_id)
        return found

    def find_structure(self, identifier_type: IdentifierType, identifier: str) -> Structure:
        normalized = normalize_identifier(identifier_type, identifier)
        found = self.structures.find_by_identifier(identifier_type.value, normalized)
        if found is None:
            raise NotFound(f"No structure has {identifier_type.value} {normalized}.", code="STRUCTURE_NOT_FOUND",
                           field="identifier")
        return found

    def set_flags(self, operator_id: str, structure_id: str, cmd: StructureFlags, expected_version: int) -> Structure:
        changes = cmd.model_dump(exclude_unset=True, exclude_none=True)
        if not changes:
            raise InvalidInput("Name a flag to set.", code="VALIDATION_ERROR", field="body")
        before = self.structure(structure_id)
        after = before.model_copy(update=changes)
        return StructureService(self.structures)._save(
            operator_id, before, after, expected_version, "OPERATOR_FLAGS_SET",
            also=(self.audit.op(operator_id, "STRUCTURE_FLAGS_SET", structure_id, **changes),), **changes)

    def set_court(self, operator_id: str, structure_id: str, cmd: OpenCourt) -> Structure:
        """Flag a public structure as a court (its code unique among courts), or change its code or kind."""
        before = self.structure(structure_id)
        if not before.is_public:
            raise InvalidInput("A court is a public structure.", code="NOT_A_PUBLIC_STRUCTURE", field="structure_id")
        court = Court(code=cmd.code.upper(), kind=cmd.kind)
        if before.court == court:
            return before
        after = before.model_copy(update={"court": court})
        guards = self.structures.court_code_ops(structure_id, court.code, before.court.code if before.court else None)
        try:
            return StructureService(self.structures)._save(
                operator_id, before, after, None, "COURT_SET", code=court.code, kind=court.kind.value,
                also=(*guards, self.audit.op(operator_id, "COURT_SET", structure_id, code=court.code)))
        except Conflict as exc:
            holder = self.structures.court_code_holder(court.code)
            if holder and holder != structure_id:
                raise Conflict(f"Court code {court.code} is another court's.", code="COURT_CODE_TAKEN",
                               field="code") from None
            raise exc

    # -- users -----------------------------------------------------------------------------

    def user(self, user_id: str) -> tuple[User, list[dict]]:
        user = self.users.get(user_id, consistent=True) if is_platform_id(user_id) else None
        if user is None:
            raise NotFound(f"User {user_id} not found.", code="USER_NOT_FOUND", field="user_id")
        attachments = self.structures.list_user_attachments(user_id).items
        return user, [{k: a.get(k) for k in ("structure_id", "role", "status", "permissions")} for a in attachments]

    def find_user(self, email: str) -> tuple[User, list[dict]]:
        user_id = self.idp.user_id(email.strip().lower())
        if user_id is None:
            raise NotFound("No account has this email.", code="USER_NOT_FOUND", field="email")
        return self.user(user_id)

    def disable_user(self, operator_id: str, user_id: str) -> User:
        user, _ = self.user(user_id)
        if user.acts_as:
            raise InvalidInput("A technical credential is revoked by its structure's managers.",
                               code="TECHNICAL_CREDENTIAL", field="user_id")
        self.idp.disable(user_id)  # first: signing in stops now; the profile (refusing its tokens) then
        return self.users.disable(user_id, also=(self.audit.op(operator_id, "USER_DISABLED", user_id),))

    # -- invoices --------------------------------------------------------------------------

    def resend(self, operator_id: str, invoice_id: str, cmd: Resend):
        return self.lifecycle.resend(operator_id, invoice_id, cmd.comment,
                                     also=(self.audit.op(operator_id, "INVOICE_RESENT", invoice_id),))

    def job(self, job_id: str) -> dict[str, Any]:
        """An operations job, with its report: the targets of each outcome (written once each)."""
        from ..repositories.jobs import JobRepository

        jobs = JobRepository(self.structures.table)
        job = jobs.get(job_id) if is_platform_id(job_id) else None
        if job is None:
            raise NotFound(f"Job {job_id} not found.", code="JOB_NOT_FOUND", field="job_id")
        outcomes = jobs.outcomes(job_id)
        kinds = ("revoked", "kept_migrated", "skipped_public", "skipped_space_closed") \
            if job.get("kind") == "revoke-justice-mandates" else ()
        report = {k: {"count": len(v), "ids": sorted(v)} for k, v in {**{k: [] for k in kinds}, **outcomes}.items()}
        return {**{k: job.get(k) for k in ("job_id", "kind", "status", "dry_run", "started_at", "started_by",
                                            "finished_at", "error")}, "pages": int(job.get("pages", 0)),
                "report": report}

    def parked_events(self, limit: int, page_token: str | None):
        from ..repositories.events import ParkedEvents

        return ParkedEvents(self.structures.table).list(limit, page_token)

    # -- settings --------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return PlatformSettings().get()

    def set_settings(self, operator_id: str, cmd: Settings) -> dict[str, Any]:
        changes = cmd.model_dump(exclude_unset=True, exclude_none=True)
        if not changes:
            raise InvalidInput("Name a setting to change.", code="VALIDATION_ERROR", field="body")
        if changes.get("mfa_required_for_managers") and not self._enrolled(operator_id):
            raise Conflict("Enrol your own second factor first (POST /v1/me/mfa): once it is required, operators "
                           "without one are refused too.", code="MFA_ENROLMENT_REQUIRED", field="mfa_required_for_managers")
        return PlatformSettings().set(changes, operator_id, now_iso(),
                                      also=(self.audit.op(operator_id, "SETTINGS_CHANGED", "PLATFORM", **changes),))

    def _enrolled(self, operator_id: str) -> bool:
        user = self.users.get(operator_id, consistent=True)
        return bool(user and user.mfa_enabled)
