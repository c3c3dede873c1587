"""``Idempotency-Key`` on creating POSTs, with Powertools idempotency on DynamoDB.

The key is scoped by the caller and the route: the same key from another user, or for another
route, is another request. Reusing a key with another body is refused (422); a retry while the
first is still running gets 409; a retry afterwards gets the first response again, marked with
``Idempotent-Replayed: true``.

Powertools' idempotency utility is imported with the first keyed request: its DynamoDB layer
imports boto3, which would otherwise weigh on every cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any

from ..domain.errors import Conflict, InvalidInput
from ..platform import TABLES
from ..repositories import aws

_TABLE_ENV = next(t.env for t in TABLES if t.key == "idempotency")
_replayed: ContextVar[bool] = ContextVar("idempotent_replayed", default=False)
_lambda_context: ContextVar[Any] = ContextVar("idempotency_lambda_context", default=None)


def _mark_replay(response: Any, _record: Any) -> Any:
    _replayed.set(True)
    return response


@cache
def _config():
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[caller, scope, key]",
        payload_validation_jmespath="payload",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
        response_hook=_mark_replay,
    )


@cache
def _store():
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=aws.env(_TABLE_ENV), boto3_client=aws.client("dynamodb"))


def register_context(context: Any) -> None:
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        _lambda_context.set(context)


def run_once(key: str | None, caller: str, scope: str, payload: Any, create: Callable[[], dict]) -> tuple[dict, bool]:
    """Run ``create`` once per (caller, scope, key); returns (result, replayed)."""
    if key is None:
        return create(), False
    key = key.strip()
    if not (1 <= len(key) <= 255) or not key.isprintable():
        raise InvalidInput("Idempotency-Key must be 1 to 255 printable characters.", code="INVALID_IDEMPOTENCY_KEY",
                           field="Idempotency-Key")
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config, context = _config(), _lambda_context.get()
    if context is not None:
        config.register_lambda_context(context)
    _replayed.set(False)

    @idempotent_function(data_keyword_argument="request", persistence_store=_store(), config=config,
                         key_prefix=f"orchestre.{scope}")
    def _once(request: dict) -> dict:
        return create()

    try:
        result = _once(request={"caller": caller, "scope": scope, "key": key, "payload": payload})
    except IdempotencyValidationError:
        raise InvalidInput("This Idempotency-Key was used with another request body.", code="IDEMPOTENCY_KEY_REUSED",
                           field="Idempotency-Key") from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("A request with this Idempotency-Key is still running; retry shortly.",
                       code="IDEMPOTENCY_IN_PROGRESS", field="Idempotency-Key") from None
    return result, _replayed.get()
