"""Errors as RFC 9457 ``application/problem+json`` with a stable ``code`` and the field at fault."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response

from ..domain import errors

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://orchestre.dev/problems/"

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 422,
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Unauthenticated: 401,
    errors.Conflict: 409,
    errors.PreconditionRequired: 428,
    errors.PreconditionFailed: 412,
    errors.TooManyRequests: 429,
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    errors_: list[dict[str, Any]] | None = None,
    correlation_id: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code.lower().replace("_", "-"),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if field:
        body["field"] = field
    if errors_:
        body["errors"] = errors_
    if correlation_id:
        body["correlation_id"] = correlation_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body), headers=headers or {})


def from_domain(exc: errors.DomainError, correlation_id: str | None = None) -> Response:
    status = next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
    headers = {"WWW-Authenticate": 'Bearer realm="orchestre"'} if status == 401 else None
    if status == 429 and "retry_after_seconds" in exc.extra:
        headers = {"Retry-After": str(exc.extra["retry_after_seconds"])}
    return problem(status, exc.code, exc.detail, field=exc.field, correlation_id=correlation_id, headers=headers,
                   **exc.extra)


def field_name(loc: tuple | list) -> str:
    """('body', 'address', 'city') -> 'address.city'; ('query', 'limit') -> 'limit'."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def from_validation(raw_errors: list[dict[str, Any]], correlation_id: str | None = None) -> Response:
    if any(e.get("type") == "json_invalid" for e in raw_errors):
        return problem(400, "MALFORMED_JSON", "The request body is not valid JSON.", field="body",
                       correlation_id=correlation_id)
    items = [
        {"field": field_name(e.get("loc", ())), "code": e.get("type", "invalid"), "message": _message(e)}
        for e in raw_errors
    ]
    return problem(422, "VALIDATION_ERROR", "; ".join(f"{i['field']}: {i['message']}" for i in items),
                   field=items[0]["field"] if items else None, errors_=items, correlation_id=correlation_id)


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    msg = error.get("msg") or kind
    return msg.removeprefix("Value error, ")
