"""The shared API plumbing of every function: resolver, errors, caller, versions, pages.

Handlers stay thin: parse (pydantic models through Powertools validation), authorize
(``caller``), call a use case, shape the response.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel

from ..domain.errors import DomainError, Forbidden, PreconditionFailed, PreconditionRequired, Unauthenticated
from ..repositories.dynamo import ConditionFailed
from . import problems

API_VERSION = "1.0.0"
# A request with no metric is normal (reads); Powertools would warn on each one.
warnings.filterwarnings("ignore", message="No application metrics to publish")
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "orchestre"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Orchestre"))


def create_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    app.configure_openapi(
        title="Orchestre API",
        version=API_VERSION,
        summary="Public e-invoicing platform (Chorus Pro model)",
    )

    def correlation_id() -> str | None:
        try:
            return app.current_event.request_context.request_id
        except Exception:  # noqa: BLE001 - no event yet
            return None

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError):
        return problems.from_domain(exc, correlation_id())

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError):
        return problems.from_validation(list(exc.errors()), correlation_id())

    @app.exception_handler(NotFoundError)
    def _no_route(_exc: NotFoundError):
        event = app.current_event
        path = app._remove_prefix(event.path)
        allowed = sorted({r.method for r in app._static_routes + app._dynamic_routes if r.rule.match(path)})
        if allowed:  # a known path, another method (the function serves every method of its resource)
            return problems.problem(405, "METHOD_NOT_ALLOWED",
                                    f"{event.http_method} is not served on {event.path}; use {', '.join(allowed)}.",
                                    correlation_id=correlation_id(), headers={"Allow": ", ".join(allowed)})
        return problems.problem(404, "ROUTE_NOT_FOUND", f"No route {event.http_method} {event.path}.",
                                correlation_id=correlation_id())

    @app.exception_handler(ConditionFailed)
    def _race(_exc: ConditionFailed):
        return problems.problem(409, "CONCURRENT_UPDATE",
                                "The record changed while this request ran; read it again and retry.",
                                correlation_id=correlation_id())

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception):
        logger.exception("unhandled error", extra={"error": type(exc).__name__})
        return problems.problem(500, "INTERNAL_ERROR", "An unexpected error occurred; it was logged.",
                                correlation_id=correlation_id())

    return app


def make_handler(app: APIGatewayRestResolver, on_event: Callable[[dict, Any], Any] | None = None):
    """The Lambda entry point: logs with the correlation id, flushes metrics, resolves the route.

    ``on_event`` handles non-HTTP invocations (schedules, queues) of the same function.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @metrics.log_metrics
    def resolve(event: dict, context: Any):
        if on_event is not None and "httpMethod" not in event:
            return on_event(event, context)
        from . import idempotency

        idempotency.register_context(context)
        response = _unsupported_media_type(event) or _not_utf8(event) or app.resolve(event, context)
        request_id = (event.get("requestContext") or {}).get("requestId")
        if request_id:
            response.setdefault("headers", {})["X-Correlation-Id"] = request_id
        return response

    def handler(event: dict, context: Any):
        try:
            return resolve(event, context)
        finally:
            # With metrics disabled (the local platform), Powertools keeps every value and prints
            # them all once a metric holds 100: drop them after each invocation instead.
            if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
                metrics.clear_metrics()

    return handler


def _not_utf8(event: dict) -> dict | None:
    """A JSON body is UTF-8 text (RFC 8259). Bytes that are not (API Gateway hands them over in base64)
    are refused with 400 before any parser meets them; a UTF-8 body sent in base64 is decoded here."""
    if not event.get("isBase64Encoded") or not event.get("body"):
        return None
    import base64
    import binascii

    try:
        event["body"] = base64.b64decode(event["body"], validate=True).decode("utf-8")
        event["isBase64Encoded"] = False
        return None
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        response = problems.problem(400, "MALFORMED_JSON", "The request body is not UTF-8 JSON.", field="body")
        return {"statusCode": 400, "headers": response.headers, "body": response.body, "isBase64Encoded": False}


def _unsupported_media_type(event: dict) -> dict | None:
    """Bodies are JSON: anything else is refused with 415 before validation guesses at it."""
    if not event.get("body"):
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    response = problems.problem(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as JSON with Content-Type: application/json.",
                                field="Content-Type")
    return {"statusCode": 415, "headers": response.headers, "body": response.body, "isBase64Encoded": False}


# Where a manager without a second factor may still go when the platform requires one: reading
# their profile and enrolling it.
MFA_FREE_PATHS = frozenset({"/v1/me", "/v1/me/mfa", "/v1/me/mfa/verify"})
MANAGER_CACHE_SECONDS = 60.0
_managers: dict[str, tuple[bool, float]] = {}  # sub -> (manages a structure, until)


def claims_of(app: APIGatewayRestResolver) -> dict[str, str]:
    context = app.current_event.raw_event.get("requestContext") or {}
    return (context.get("authorizer") or {}).get("claims") or {}


def caller(app: APIGatewayRestResolver) -> str:
    """Who acts: the authenticated user (``sub`` from API Gateway's Cognito authorizer), or the
    technical account a machine credential acts as.

    The account is read on every request (one read): a revoked technical credential, or a user an
    operator disabled, is refused at once, not when its token expires. A manager without a second
    factor is refused (outside ``MFA_FREE_PATHS``) while the platform requires one for managers."""
    sub = claims_of(app).get("sub")
    if not sub:
        raise Unauthenticated("A bearer token is required.", code="UNAUTHENTICATED", field="Authorization")
    from ..repositories.structures import UserRepository

    users = UserRepository()
    user = users.get(sub) or users.get(sub, consistent=True)  # written a moment ago: not yet everywhere
    if user is None or user.disabled:
        raise Unauthenticated("This token's account was revoked or disabled.", code="TOKEN_REVOKED",
                              field="Authorization")
    if user.acts_as:
        return user.acts_as
    if not user.mfa_enabled and _route(app) not in MFA_FREE_PATHS and _mfa_required() and (
            _in_operators(app) or _manages(sub)):
        raise Forbidden("A structure's manager, or an operator, signs in with a second factor: enrol one "
                        "(POST /v1/me/mfa) first.", code="MFA_ENROLMENT_REQUIRED", field="Authorization")
    return sub


def _route(app: APIGatewayRestResolver) -> str:
    """The route's path as the API defines it (not as a custom domain's base path mapping prefixes it)."""
    context = app.current_event.raw_event.get("requestContext") or {}
    resource = context.get("resourcePath") or app.current_event.raw_event.get("resource")
    return resource if resource and "{" not in resource else app.current_event.path


def _mfa_required() -> bool:
    """The platform setting (operators, PUT /v1/admin/settings), else the deployment's default."""
    from ..repositories.security import PlatformSettings

    value = PlatformSettings().get().get("mfa_required_for_managers")
    if value is None:
        value = os.environ.get("MFA_REQUIRED_FOR_MANAGERS", "false").lower() == "true"
    return bool(value)


def _manages(sub: str) -> bool:
    import time

    cached = _managers.get(sub)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    from ..domain.models import AttachmentStatus, Role
    from ..repositories.structures import StructureRepository

    structures, token, manages = StructureRepository(), None, False
    while not manages:  # every page, until a managing attachment
        page = structures.list_user_attachments(sub, page_token=token)
        manages = any(i.get("status") == AttachmentStatus.VALIDEE.value and
                      i.get("role") in (Role.PRIMARY_MANAGER.value, Role.SECONDARY_MANAGER.value) for i in page.items)
        token = page.next_token
        if not token:
            break
    if len(_managers) >= 10_000:
        _managers.clear()
    _managers[sub] = (manages, time.monotonic() + MANAGER_CACHE_SECONDS)
    return manages


OPERATORS_GROUP = "operators"


def operator(app: APIGatewayRestResolver) -> str:
    """The operator who acts (a member of the user pool's ``operators`` group), or 403 for anyone else.
    API Gateway passes the token's groups as one string ("operators" or "a,b"; "[a, b]" elsewhere)."""
    user_id = caller(app)  # an operator without a second factor is refused there while one is required
    if not _in_operators(app):
        raise Forbidden("Reserved to the platform's operators.", code="OPERATOR_REQUIRED")
    return user_id


def _in_operators(app: APIGatewayRestResolver) -> bool:
    groups = claims_of(app).get("cognito:groups") or ""
    return OPERATORS_GROUP in {g.strip(" []'\"") for g in groups.replace(",", " ").split()}


def bearer_token(app: APIGatewayRestResolver) -> str:
    """The caller's access token as sent (for identity-provider calls made on its behalf)."""
    raw = app.current_event.headers.get("authorization") or app.current_event.headers.get("Authorization") or ""
    return raw.removeprefix("Bearer ").strip()


def expected_version(app: APIGatewayRestResolver) -> int:
    """The version the client read, from ``If-Match: "<version>"`` (required on updates)."""
    raw = app.current_event.headers.get("if-match") or app.current_event.headers.get("If-Match")
    if not raw:
        raise PreconditionRequired("Send If-Match with the ETag you read, to avoid overwriting a change.",
                                   code="PRECONDITION_REQUIRED", field="If-Match")
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit() and len(value) < 10):
        raise PreconditionFailed("If-Match must be the ETag returned by a read.", code="VERSION_MISMATCH",
                                 field="If-Match")
    return int(value)


def optional_version(app: APIGatewayRestResolver) -> int | None:
    """``expected_version`` when If-Match is sent, else None (where the header is optional)."""
    headers = app.current_event.headers or {}
    return expected_version(app) if (headers.get("if-match") or headers.get("If-Match")) else None


def json_response(body: Any, status: int = 200, etag: int | None = None, headers: dict | None = None) -> Response:
    out_headers = dict(headers or {})
    if etag is not None:
        out_headers["ETag"] = f'"{etag}"'
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=out_headers)
