"""Use cases of structures: profile, billing parameters, spaces, services, attachments, audit.

Each method takes the acting user's id, applies the access rules of ``domain.access`` and
writes through ``StructureRepository`` with an audit event in the same transaction.
"""

from __future__ import annotations

from ..domain import access
from ..domain.common import new_id, now_iso
from ..domain.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from ..domain.identifiers import IdentifierType, normalize_identifier
from ..domain.models import (
    ApproveAttachment,
    Attachment,
    AttachmentStatus,
    AuditEvent,
    BillingParameters,
    CreateService,
    CreateStructure,
    OpenSpace,
    Permissions,
    RefuseAttachment,
    RequestAttachment,
    Role,
    Service,
    Space,
    Structure,
    StructureKind,
    TicProcessing,
    UpdateAttachment,
    UpdateService,
    UpdateStructure,
    default_spaces,
)
from ..domain import tic
from ..domain.justice import CourtRole
from ..repositories.dynamo import ConditionFailed
from ..repositories.structures import TIC_DEPARTMENT, IdentifierTaken, StructureRepository


def _changed_since_read() -> Conflict:
    return Conflict("The record changed while this request ran; read it again and retry.", code="CONCURRENT_UPDATE")


def _version_mismatch(current: int) -> PreconditionFailed:
    return PreconditionFailed(
        f"The record is at version {current}; read it again and retry with If-Match.",
        code="VERSION_MISMATCH",
        field="If-Match",
        current_version=current,
    )


def _check_permissions(structure: Structure, permissions: Permissions) -> None:
    for space in permissions:
        if space is Space.TIC_REFUNDS and structure.organisation_type in tic.DELEGATE_TYPES:
            continue  # a centre's members' right under its delegations (it opens no TIC space of its own)
        if not structure.has_space(space):
            raise InvalidInput(
                f"Space {space.value} is not open on this structure.", code="SPACE_NOT_OPEN", field=f"permissions.{space.value}"
            )


def _space_options(structure: Structure, space: Space, options: OpenSpace | None) -> dict:
    """The structure's fields a space is opened with; 422 for an option of another space."""
    given = options.model_dump(exclude_none=True) if options else {}
    if "provider_category" in given and space is not Space.JUSTICE_MEMOS:
        raise InvalidInput("provider_category is an option of JUSTICE_MEMOS.", code="OPTION_OF_ANOTHER_SPACE",
                           field="provider_category")
    if space is Space.JUSTICE_MEMOS and not structure.is_public and "provider_category" not in given:
        if structure.provider_category is None:
            raise InvalidInput("A provider of the courts opens JUSTICE_MEMOS with its provider_category.",
                               code="PROVIDER_CATEGORY_REQUIRED", field="provider_category")
    if space is Space.TIC_REFUNDS:
        return _tic_options(structure, given)
    if "pacage" in given or "beneficiary_category" in given:
        raise InvalidInput("pacage and beneficiary_category are options of TIC_REFUNDS.",
                           code="OPTION_OF_ANOTHER_SPACE", field="pacage" if "pacage" in given else "beneficiary_category")
    return {"provider_category": options.provider_category} if options and options.provider_category else {}


def _check_organisation(structure: Structure) -> None:
    if structure.organisation_type is tic.OrganisationType.OTHER:
        return
    if structure.is_public:
        raise InvalidInput("A centre or firm that files for farms is a private structure.",
                           code="NOT_A_PRIVATE_STRUCTURE", field="organisation_type")
    if structure.has_space(Space.TIC_REFUNDS):
        raise InvalidInput("A structure with its own TIC space is a farm: close TIC_REFUNDS first.",
                           code="DELEGATE_CANNOT_OPEN_TIC", field="organisation_type")


def _tic_options(structure: Structure, given: dict) -> dict:
    """A farm opens TIC_REFUNDS with its PACAGE number and beneficiary category; a centre or firm files
    for farms through delegations and opens none; a public service processes them (tic-processing)."""
    if structure.organisation_type in tic.DELEGATE_TYPES:
        raise InvalidInput(f"A {structure.organisation_type.value} files TIC refunds for farms through delegations "
                           "(POST /v1/tic/delegations): it opens no TIC space of its own.",
                           code="DELEGATE_CANNOT_OPEN_TIC", field="space")
    if structure.is_public:
        raise InvalidInput("A public service processes TIC refunds: PUT /v1/structures/{id}/tic-processing.",
                           code="NOT_A_PRIVATE_STRUCTURE", field="space")
    for name in ("pacage", "beneficiary_category"):
        if name not in given and getattr(structure, name) is None:
            raise InvalidInput(f"A farm opens TIC_REFUNDS with its {name}.", code=f"{name.upper()}_REQUIRED",
                               field=name)
    return {k: given[k] for k in ("pacage", "beneficiary_category") if k in given}


def _court_role(structure: Structure, asked: CourtRole | None, held: CourtRole | None) -> CourtRole | None:
    if asked is None:
        return held
    if structure.court is None:
        raise InvalidInput("Only a court's members have a court role.", code="NOT_A_COURT", field="court_role")
    return asked


class StructureService:
    def __init__(self, repo: StructureRepository | None = None):
        self.repo = repo or StructureRepository()

    def _audit(self, structure_id: str, actor: str, action: str, target: str | None = None, **details) -> AuditEvent:
        return AuditEvent(structure_id=structure_id, at=now_iso(), actor=actor, action=action, target=target, details=details)

    def _load(self, user_id: str, structure_id: str) -> tuple[Structure, Attachment | None]:
        structure = self.repo.get(structure_id)
        if structure is None:
            raise access.not_found(structure_id)
        return structure, self.repo.get_attachment(structure_id, user_id)

    def _load_as_manager(self, user_id: str, structure_id: str) -> tuple[Structure, Attachment]:
        structure, attachment = self._load(user_id, structure_id)
        return structure, access.require_manager(attachment, structure_id)

    # -- structures ----------------------------------------------------------------------

    def create(self, user_id: str, cmd: CreateStructure) -> Structure:
        identifier = normalize_identifier(cmd.identifier_type, cmd.identifier)
        if cmd.kind is StructureKind.PUBLIC and cmd.identifier_type is not IdentifierType.SIRET:
            raise InvalidInput("A public structure is identified by its SIRET.", code="PUBLIC_REQUIRES_SIRET",
                               field="identifier_type")
        if cmd.billing is not None and cmd.kind is not StructureKind.PUBLIC:
            raise InvalidInput("Billing parameters apply to public structures only.", code="NOT_A_PUBLIC_STRUCTURE",
                               field="billing")
        at = now_iso()
        structure = Structure(
            structure_id=new_id(),
            identifier_type=cmd.identifier_type,
            identifier=identifier,
            name=cmd.name,
            kind=cmd.kind,
            address=cmd.address,
            vat_number=cmd.vat_number,
            email=cmd.email,
            billing=cmd.billing or BillingParameters(),
            payment_delay_days=cmd.payment_delay_days,
            spaces=default_spaces(cmd.kind),
            organisation_type=cmd.organisation_type,
            created_at=at,
            updated_at=at,
            created_by=user_id,
        )
        _check_organisation(structure)
        creator = Attachment(
            structure_id=structure.structure_id,
            user_id=user_id,
            role=Role.PRIMARY_MANAGER,
            status=AttachmentStatus.VALIDEE,
            requested_at=at,
            decided_at=at,
            decided_by=user_id,
        )
        audit = self._audit(structure.structure_id, user_id, "STRUCTURE_CREATED", structure.identifier,
                            identifier_type=structure.identifier_type.value, kind=structure.kind.value)
        try:
            self.repo.create(structure, creator, audit)
        except IdentifierTaken:
            raise Conflict(
                f"A structure with {cmd.identifier_type.value} {identifier} exists; ask its manager to attach you.",
                code="IDENTIFIER_TAKEN",
                field="identifier",
            ) from None
        return structure

    def get(self, user_id: str, structure_id: str) -> tuple[Structure, Attachment]:
        structure, attachment = self._load(user_id, structure_id)
        return structure, access.require_member(attachment, structure_id)

    def _save(self, user_id: str, before: Structure, after: Structure, expected_version: int | None,
              action: str, also: tuple[dict, ...] = (), **details) -> Structure:
        """Save a structure read as ``before``, with its audit entry and ``also`` (other writes that must
        happen with it), atomically."""
        if expected_version is not None and expected_version != before.version:
            raise _version_mismatch(before.version)
        after = after.model_copy(update={"version": before.version + 1, "updated_at": now_iso()})
        try:
            self.repo.save(after, before, self._audit(before.structure_id, user_id, action, **details), also)
        except ConditionFailed:
            if expected_version is not None:
                raise _version_mismatch((self.repo.get(before.structure_id) or before).version) from None
            raise _changed_since_read() from None
        return after

    def update(self, user_id: str, structure_id: str, cmd: UpdateStructure, expected_version: int) -> Structure:
        structure, _ = self._load_as_manager(user_id, structure_id)
        changes = cmd.model_dump(exclude_unset=True)
        for required in ("name", "payment_delay_days"):
            if required in changes and changes[required] is None:
                raise InvalidInput(f"{required} cannot be removed.", code="VALIDATION_ERROR", field=required)
        if changes.get("organisation_type") is None and "organisation_type" in changes:
            raise InvalidInput("organisation_type cannot be removed (OTHER is the default).", code="VALIDATION_ERROR",
                               field="organisation_type")
        updated = structure.model_copy(update={k: getattr(cmd, k) for k in changes})
        _check_organisation(updated)
        return self._save(user_id, structure, updated, expected_version, "STRUCTURE_UPDATED", fields=sorted(changes))

    def set_billing(self, user_id: str, structure_id: str, params: BillingParameters, expected_version: int) -> Structure:
        structure, _ = self._load_as_manager(user_id, structure_id)
        if not structure.is_public:
            raise InvalidInput("Billing parameters apply to public structures only.", code="NOT_A_PUBLIC_STRUCTURE",
                               field="billing")
        updated = structure.model_copy(update={"billing": params})
        return self._save(user_id, structure, updated, expected_version, "BILLING_PARAMETERS_UPDATED",
                          **params.model_dump())

    def set_tic_processing(self, user_id: str, structure_id: str, cmd: TicProcessing) -> Structure:
        """A public service declares the départements it processes TIC refunds for (each département to
        one service: a guard per département, in the structure's transaction)."""
        structure, _ = self._load_as_manager(user_id, structure_id)
        if not structure.is_public:
            raise InvalidInput("TIC refunds are processed by public services.", code="NOT_A_PUBLIC_STRUCTURE",
                               field="structure_id")
        departments = sorted(dict.fromkeys(cmd.departments))
        if departments == structure.tic_departments:
            return structure
        updated = structure.model_copy(update={"tic_departments": departments})
        guards = self.repo.claim_ops(TIC_DEPARTMENT, structure_id, departments, structure.tic_departments)
        try:
            return self._save(user_id, structure, updated, None, "TIC_PROCESSING_SET", departments=departments,
                              also=tuple(guards))
        except Conflict:
            for d in departments:
                holder = self.repo.claim_holder(TIC_DEPARTMENT, d)
                if holder and holder != structure_id:
                    raise Conflict(f"Département {d}'s TIC refunds are processed by another service ({holder}).",
                                   code="DEPARTMENT_TAKEN", field="departments", structure_id=holder) from None
            raise

    def set_space(self, user_id: str, structure_id: str, space: Space, is_open: bool,
                  options: OpenSpace | None = None) -> Structure:
        structure, _ = self._load_as_manager(user_id, structure_id)
        changes = _space_options(structure, space, options) if is_open else {}
        if structure.has_space(space) == is_open and all(getattr(structure, k) == v for k, v in changes.items()):
            return structure  # already so: idempotent
        spaces = [s for s in structure.spaces if s is not space] + ([space] if is_open else [])
        updated = structure.model_copy(update={"spaces": sorted(spaces, key=list(Space).index), **changes})
        return self._save(user_id, structure, updated, None, "SPACE_OPENED" if is_open else "SPACE_CLOSED",
                          space=space.value, **{k: str(v) for k, v in changes.items()})

    def mine(self, user_id: str, active_only: bool = False) -> list[tuple[Structure, Attachment]]:
        """The caller's attachments with their structures (``active_only``: approved ones only,
        the others' profiles are not the caller's to read)."""
        page = self.repo.list_user_attachments(user_id)
        out = []
        for item in page.items:
            attachment = Attachment.model_validate(item)
            if active_only and not attachment.is_active:
                continue
            structure = self.repo.get(attachment.structure_id)
            if structure is not None:
                out.append((structure, attachment))
        return out

    # -- services ------------------------------------------------------------------------

    def create_service(self, user_id: str, structure_id: str, cmd: CreateService) -> Service:
        structure, _ = self._load_as_manager(user_id, structure_id)
        if not structure.is_public:
            raise InvalidInput("Services are declared by public structures.", code="NOT_A_PUBLIC_STRUCTURE",
                               field="structure_id")
        at = now_iso()
        service = Service(structure_id=structure_id, created_at=at, updated_at=at, **cmd.model_dump())
        try:
            self.repo.create_service(service, self._audit(structure_id, user_id, "SERVICE_CREATED", service.code))
        except ConditionFailed:
            raise Conflict(f"Service {cmd.code} exists.", code="SERVICE_EXISTS", field="code") from None
        return service

    def list_services(self, user_id: str, structure_id: str, limit: int, page_token: str | None):
        self.get(user_id, structure_id)
        return self.repo.list_services(structure_id, limit, page_token)

    def get_service(self, user_id: str, structure_id: str, code: str) -> Service:
        self.get(user_id, structure_id)
        return self._service(structure_id, code)

    def _service(self, structure_id: str, code: str) -> Service:
        service = self.repo.get_service(structure_id, code)
        if service is None:
            raise NotFound(f"Service {code} not found.", code="SERVICE_NOT_FOUND", field="code")
        return service

    def update_service(self, user_id: str, structure_id: str, code: str, cmd: UpdateService,
                       expected_version: int) -> Service:
        self._load_as_manager(user_id, structure_id)
        service = self._service(structure_id, code)
        if expected_version != service.version:
            raise _version_mismatch(service.version)
        changes = cmd.model_dump(exclude_unset=True)
        for field in ("name", "active", "legal_commitment_required"):
            if field in changes and changes[field] is None:
                raise InvalidInput(f"{field} cannot be null.", code="VALIDATION_ERROR", field=field)
        merged = service.model_copy(update=changes)
        if merged.valid_from and merged.valid_to and merged.valid_to < merged.valid_from:
            raise InvalidInput("valid_to is before valid_from.", code="VALIDATION_ERROR", field="valid_to")
        updated = merged.model_copy(update={"version": service.version + 1, "updated_at": now_iso()})
        audit = self._audit(structure_id, user_id, "SERVICE_UPDATED", code, **cmd.model_dump(mode="json", exclude_unset=True))
        try:
            self.repo.save_service(updated, service.version, audit)
        except ConditionFailed:
            raise _version_mismatch((self.repo.get_service(structure_id, code) or service).version) from None
        return updated

    # -- attachments ---------------------------------------------------------------------

    def request_attachment(self, user_id: str, cmd: RequestAttachment) -> tuple[Structure, Attachment]:
        identifier = normalize_identifier(cmd.identifier_type, cmd.identifier)
        structure = self.repo.find_by_identifier(cmd.identifier_type.value, identifier)
        if structure is None:
            raise NotFound("No structure has this identifier.", code="STRUCTURE_NOT_FOUND", field="identifier")
        _check_permissions(structure, cmd.permissions)
        attachment = Attachment(
            structure_id=structure.structure_id,
            user_id=user_id,
            role=cmd.role,
            status=AttachmentStatus.EN_COURS_DE_VALIDATION,
            permissions=cmd.permissions,
            message=cmd.message,
            requested_at=now_iso(),
        )
        previous = self.repo.get_attachment(structure.structure_id, user_id)
        if previous is not None:
            attachment.version = previous.version + 1
        audit = self._audit(structure.structure_id, user_id, "ATTACHMENT_REQUESTED", user_id, role=cmd.role.value)
        try:
            self.repo.request_attachment(attachment, audit)
        except ConditionFailed as exc:
            status = (exc.item or {}).get("status", "")
            raise Conflict(f"You already have an attachment to this structure ({status}).",
                           code="ATTACHMENT_EXISTS", field="identifier") from None
        return structure, attachment

    def list_attachments(self, user_id: str, structure_id: str, status: AttachmentStatus | None, limit: int,
                         page_token: str | None):
        self._load_as_manager(user_id, structure_id)
        return self.repo.list_attachments(structure_id, status, limit, page_token)

    def _member(self, structure_id: str, member_id: str) -> Attachment:
        attachment = self.repo.get_attachment(structure_id, member_id)
        if attachment is None:
            raise NotFound("No attachment of this user to the structure.", code="ATTACHMENT_NOT_FOUND", field="user_id")
        return attachment

    def _decide(self, user_id: str, before: Attachment, after: Attachment, action: str, **details) -> Attachment:
        after = after.model_copy(update={"version": before.version + 1, "decided_at": now_iso(), "decided_by": user_id})
        audit = self._audit(before.structure_id, user_id, action, before.user_id, **details)
        try:
            self.repo.save_attachment(after, before.status, before.version, audit)
        except ConditionFailed:
            raise Conflict("Someone else changed this attachment meanwhile.", code="ATTACHMENT_ALREADY_DECIDED") from None
        return after

    def _pending(self, structure_id: str, member_id: str) -> Attachment:
        attachment = self._member(structure_id, member_id)
        if attachment.status is not AttachmentStatus.EN_COURS_DE_VALIDATION:
            raise Conflict(f"The request was already decided ({attachment.status.value}).",
                           code="ATTACHMENT_ALREADY_DECIDED")
        return attachment

    def approve(self, user_id: str, structure_id: str, member_id: str, cmd: ApproveAttachment) -> Attachment:
        structure, approver = self._load_as_manager(user_id, structure_id)
        pending = self._pending(structure_id, member_id)
        role = cmd.role or pending.role
        access.require_may_grant(approver, role)
        permissions = pending.permissions if cmd.permissions is None else cmd.permissions
        _check_permissions(structure, permissions)
        court_role = _court_role(structure, cmd.court_role, pending.court_role)
        after = pending.model_copy(update={"status": AttachmentStatus.VALIDEE, "role": role, "permissions": permissions,
                                           "court_role": court_role})
        return self._decide(user_id, pending, after, "ATTACHMENT_APPROVED", role=role.value,
                            permissions={k.value: v.value for k, v in permissions.items()},
                            **({"court_role": court_role.value} if court_role else {}))

    def refuse(self, user_id: str, structure_id: str, member_id: str, cmd: RefuseAttachment) -> Attachment:
        self._load_as_manager(user_id, structure_id)
        pending = self._pending(structure_id, member_id)
        after = pending.model_copy(update={"status": AttachmentStatus.REFUSEE, "reason": cmd.reason})
        return self._decide(user_id, pending, after, "ATTACHMENT_REFUSED", reason=cmd.reason)

    def update_attachment(self, user_id: str, structure_id: str, member_id: str, cmd: UpdateAttachment,
                          expected_version: int) -> Attachment:
        structure, manager = self._load_as_manager(user_id, structure_id)
        member = self._member(structure_id, member_id)
        if not member.is_active:
            raise Conflict("Only an approved attachment can be changed.", code="ATTACHMENT_NOT_ACTIVE")
        if member.role is Role.PRIMARY_MANAGER:
            raise Forbidden("The primary manager's attachment cannot be changed.", code="PRIMARY_MANAGER_PROTECTED")
        if expected_version != member.version:
            raise _version_mismatch(member.version)
        role = cmd.role or member.role
        access.require_may_grant(manager, role)
        if member.role is Role.SECONDARY_MANAGER:
            access.require_may_grant(manager, member.role)
        permissions = member.permissions if cmd.permissions is None else cmd.permissions
        _check_permissions(structure, permissions)
        court_role = _court_role(structure, cmd.court_role, member.court_role)
        after = member.model_copy(update={"role": role, "permissions": permissions, "court_role": court_role})
        return self._decide(user_id, member, after, "ATTACHMENT_UPDATED", role=role.value,
                            permissions={k.value: v.value for k, v in permissions.items()},
                            **({"court_role": court_role.value} if court_role else {}))

    def deactivate(self, user_id: str, structure_id: str, member_id: str) -> Attachment:
        structure, attachment = self._load(user_id, structure_id)
        actor = access.require_member(attachment, structure_id)
        member = self._member(structure_id, member_id)
        if member_id != user_id:  # leaving is allowed to anyone but the primary manager
            actor = access.require_manager(actor, structure_id)
            if member.role is Role.SECONDARY_MANAGER:
                access.require_may_grant(actor, member.role)
        if member.role is Role.PRIMARY_MANAGER:
            raise Forbidden("The primary manager cannot be deactivated.", code="PRIMARY_MANAGER_PROTECTED")
        if not member.is_active:
            raise Conflict(f"The attachment is {member.status.value}.", code="ATTACHMENT_NOT_ACTIVE")
        after = member.model_copy(update={"status": AttachmentStatus.DESACTIVEE})
        return self._decide(user_id, member, after, "ATTACHMENT_DEACTIVATED")

    # -- audit ---------------------------------------------------------------------------

    def audit(self, user_id: str, structure_id: str, limit: int, page_token: str | None):
        self._load_as_manager(user_id, structure_id)
        return self.repo.list_audit(structure_id, limit, page_token)


class TechnicalAccounts:
    """Machine accounts of a structure: created by managers, credentials rotated without downtime.

    An account is a member of its structure (an attachment with per-space rights), so the access
    rules are the same as for people. It holds one or two credentials (slots a and b), each a
    user of the identity provider that acts as the account: issue the second credential, switch
    the integration to it, then revoke the first.
    """

    def __init__(self, structures: StructureService | None = None, idp=None):
        from ..repositories.identity import IdentityProvider

        self.structures = structures or StructureService()
        self.repo = self.structures.repo
        self.idp = idp or IdentityProvider()

    def _new_credential(self, account_id: str, slot) -> tuple[object, str, object]:
        import secrets

        from ..domain.models import Credential, User

        login = f"{account_id}.{slot.value}@technical.orchestre.invalid"
        password = secrets.token_urlsafe(24) + "aA1"
        user_id = self.idp.create_machine_user(login, password)
        at = now_iso()
        credential = Credential(slot=slot, login=login, user_id=user_id, created_at=at)
        user = User(user_id=user_id, email=login, first_name="Compte", last_name="technique", created_at=at,
                    acts_as=account_id)
        return credential, password, user

    def create(self, user_id: str, structure_id: str, cmd) -> tuple[object, dict]:
        from ..domain.models import CredentialSlot, TechnicalAccount

        structure, _ = self.structures._load_as_manager(user_id, structure_id)
        _check_permissions(structure, cmd.permissions)
        account_id = new_id()
        credential, password, cred_user = self._new_credential(account_id, CredentialSlot.A)
        at = now_iso()
        account = TechnicalAccount(account_id=account_id, structure_id=structure_id, name=cmd.name,
                                   credentials=[credential], created_at=at, created_by=user_id)
        membership = Attachment(structure_id=structure_id, user_id=account_id, role=Role.USER,
                                status=AttachmentStatus.VALIDEE, permissions=cmd.permissions, requested_at=at,
                                decided_at=at, decided_by=user_id, message=f"Technical account {cmd.name}")
        try:
            self.repo.create_technical(account, membership, cred_user, self.structures._audit(
                structure_id, user_id, "TECHNICAL_ACCOUNT_CREATED", account_id, name=cmd.name))
        except Exception:
            self.idp.revoke(credential.login)  # no orphan credential
            raise
        return account, {"login": credential.login, "password": password, "slot": credential.slot.value}

    def _account(self, user_id: str, structure_id: str, account_id: str):
        self.structures._load_as_manager(user_id, structure_id)
        account = self.repo.get_technical(structure_id, account_id)
        if account is None:
            raise NotFound("No such technical account.", code="TECHNICAL_ACCOUNT_NOT_FOUND", field="account_id")
        return account

    def list(self, user_id: str, structure_id: str):
        self.structures._load_as_manager(user_id, structure_id)
        return self.repo.list_technical(structure_id)

    def rotate(self, user_id: str, structure_id: str, account_id: str) -> tuple[object, dict]:
        """Issue a credential in the free slot; the existing one keeps working until revoked."""
        from ..domain.models import CredentialSlot

        account = self._account(user_id, structure_id, account_id)
        used = {c.slot for c in account.credentials}
        free = [s for s in CredentialSlot if s not in used]
        if not free:
            raise Conflict("Both credential slots are in use: revoke the old credential first.",
                           code="CREDENTIAL_SLOTS_FULL")
        credential, password, cred_user = self._new_credential(account_id, free[0])
        updated = account.model_copy(update={"credentials": [*account.credentials, credential],
                                             "version": account.version + 1})
        try:
            self.repo.save_technical(updated, account.version, self.structures._audit(
                structure_id, user_id, "TECHNICAL_CREDENTIAL_ISSUED", account_id, slot=credential.slot.value),
                new_user=cred_user)
        except ConditionFailed:
            self.idp.revoke(credential.login)
            raise _changed_since_read() from None
        return updated, {"login": credential.login, "password": password, "slot": credential.slot.value}

    def revoke(self, user_id: str, structure_id: str, account_id: str, slot: str):
        account = self._account(user_id, structure_id, account_id)
        target = next((c for c in account.credentials if c.slot.value == slot), None)
        if target is None:
            raise NotFound("No credential in this slot.", code="CREDENTIAL_NOT_FOUND", field="slot")
        updated = account.model_copy(update={"credentials": [c for c in account.credentials if c is not target],
                                             "version": account.version + 1})
        # The identity first: if it fails, the credential is still listed and can be revoked again.
        self.idp.revoke(target.login)
        try:
            self.repo.save_technical(updated, account.version, self.structures._audit(
                structure_id, user_id, "TECHNICAL_CREDENTIAL_REVOKED", account_id, slot=slot),
                removed_user_id=target.user_id)
        except ConditionFailed:
            raise _changed_since_read() from None
        return updated
