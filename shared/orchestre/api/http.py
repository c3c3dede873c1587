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

from ..domain.errors import DomainError, PreconditionFailed, PreconditionRequired, Unauthenticated
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
        response = _unsupported_media_type(event) or app.resolve(event, context)
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


# sub -> (principal, expires at). A person is cached for the container's life (a sub never changes
# kind); a technical credential for a minute, so that a revoked one stops acting soon after.
_principals: dict[str, tuple[str, float]] = {}
TECHNICAL_CACHE_SECONDS = 60.0


def caller(app: APIGatewayRestResolver) -> str:
    """Who acts: the authenticated user (``sub`` from API Gateway's Cognito authorizer), or the
    technical account a machine credential acts as."""
    context = app.current_event.raw_event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims") or {}
    sub = claims.get("sub")
    if not sub:
        raise Unauthenticated("A bearer token is required.", code="UNAUTHENTICATED", field="Authorization")
    return principal_of(sub)


def principal_of(sub: str) -> str:
    """The principal a token's ``sub`` acts as (itself, or the technical account of a credential)."""
    import time

    cached = _principals.get(sub)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    from ..repositories.structures import UserRepository

    user = UserRepository().get(sub)
    if user is None:
        return sub  # not cached: the record may not be visible yet, or was revoked
    principal, ttl = (user.acts_as, TECHNICAL_CACHE_SECONDS) if user.acts_as else (sub, float("inf"))
    if len(_principals) >= 10_000:
        _principals.clear()
    _principals[sub] = (principal, time.monotonic() + ttl)
    return principal


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


def json_response(body: Any, status: int = 200, etag: int | None = None, headers: dict | None = None) -> Response:
    out_headers = dict(headers or {})
    if etag is not None:
        out_headers["ETag"] = f'"{etag}"'
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=out_headers)
