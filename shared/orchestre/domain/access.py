"""Object-level authorization: the one place that says who may do what on a structure.

A user acts for a structure only through an approved (VALIDEE) attachment. Anyone else is
told the structure does not exist (404), so that ids are not confirmed to strangers; a member
lacking the role or right is told so (403).
"""

from __future__ import annotations

from .errors import Forbidden, NotFound
from .models import Attachment, Permission, Role, Space, Structure

MANAGERS = (Role.PRIMARY_MANAGER, Role.SECONDARY_MANAGER)


def not_found(structure_id: str) -> NotFound:
    return NotFound(f"Structure {structure_id} not found.", code="STRUCTURE_NOT_FOUND", field="structure_id")


def require_member(attachment: Attachment | None, structure_id: str) -> Attachment:
    if attachment is None or not attachment.is_active:
        raise not_found(structure_id)
    return attachment


def require_manager(attachment: Attachment | None, structure_id: str) -> Attachment:
    member = require_member(attachment, structure_id)
    if member.role not in MANAGERS:
        raise Forbidden("Only a manager of the structure may do this.", code="MANAGER_REQUIRED")
    return member


def require_primary_manager(attachment: Attachment | None, structure_id: str) -> Attachment:
    member = require_member(attachment, structure_id)
    if member.role is not Role.PRIMARY_MANAGER:
        raise Forbidden("Only the primary manager may do this.", code="PRIMARY_MANAGER_REQUIRED")
    return member


def effective_permission(attachment: Attachment, structure: Structure, space: Space) -> Permission | None:
    """The right a member holds on a space of the structure (None: no access)."""
    if not attachment.is_active or not structure.has_space(space):
        return None
    if attachment.role in MANAGERS:
        return Permission.MODIFICATION
    return attachment.permissions.get(space)


def require_space(
    attachment: Attachment | None, structure: Structure, space: Space, needed: Permission
) -> Attachment:
    member = require_member(attachment, structure.structure_id)
    held = effective_permission(member, structure, space)
    if held is None or not held.allows(needed):
        raise Forbidden(
            f"{needed.value} on space {space.value} is required.", code="SPACE_PERMISSION_REQUIRED", field="space"
        )
    return member


def require_may_grant(approver: Attachment, role: Role) -> None:
    """A secondary manager may grant USER only; the primary manager may grant any role but primary."""
    if role is Role.PRIMARY_MANAGER:
        raise Forbidden("The primary manager role cannot be granted.", code="ROLE_NOT_GRANTABLE", field="role")
    if role is Role.SECONDARY_MANAGER and approver.role is not Role.PRIMARY_MANAGER:
        raise Forbidden(
            "Only the primary manager may grant the secondary manager role.", code="ROLE_NOT_GRANTABLE", field="role"
        )
