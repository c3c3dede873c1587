"""Domain errors: each has a stable ``code`` that clients can rely on, and the field at fault.

The API layer maps each class to an HTTP status (``orchestre.api.problems``); the domain does
not know about HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class. ``code`` is stable and documented; ``detail`` is for humans."""

    code = "DOMAIN_ERROR"

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.field = field
        self.extra = extra


class InvalidInput(DomainError):
    code = "VALIDATION_ERROR"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Conflict(DomainError):
    code = "CONFLICT"


class PreconditionRequired(DomainError):
    code = "PRECONDITION_REQUIRED"


class PreconditionFailed(DomainError):
    code = "VERSION_MISMATCH"


class TooManyRequests(DomainError):
    """Refused for now: ``retry_at`` / ``retry_after_seconds`` say when to try again."""

    code = "TOO_MANY_REQUESTS"
