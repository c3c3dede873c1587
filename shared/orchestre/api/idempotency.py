"""``Idempotency-Key`` on creating POSTs, with Powertools idempotency on DynamoDB.

The key is scoped by the caller and the route: the same key from another user, or for another
route, is another request. Reusing a key with another body is refused (422); a retry while the
first is still running gets 409; a retry afterwards gets the first response again, marked with
``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from ..domain.errors import InvalidInput
from ..platform import TABLES
from ..repositories import aws

_TABLE_ENV = next(t.env for t in TABLES if t.key == "idempotency")
_replayed: ContextVar[bool] = ContextVar("idempotent_replayed", default=False)


def _mark_replay(response: Any, _record: Any) -> Any:
    _replayed.set(True)
    return response


_config = IdempotencyConfig(
    event_key_jmespath="[caller, scope, key]",
    payload_validation_jmespath="payload",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
    response_hook=_mark_replay,
)


@cache
def _store() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=aws.env(_TABLE_ENV), boto3_client=aws.client("dynamodb"))


def register_context(context: Any) -> None:
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        _config.register_lambda_context(context)


def run_once(key: str | None, caller: str, scope: str, payload: Any, create: Callable[[], dict]) -> tuple[dict, bool]:
    """Run ``create`` once per (caller, scope, key); returns (result, replayed)."""
    if key is None:
        return create(), False
    key = key.strip()
    if not (1 <= len(key) <= 255) or not key.isprintable():
        raise InvalidInput("Idempotency-Key must be 1 to 255 printable characters.", code="INVALID_IDEMPOTENCY_KEY",
                           field="Idempotency-Key")
    _replayed.set(False)

    @idempotent_function(data_keyword_argument="request", persistence_store=_store(), config=_config,
                         key_prefix=f"orchestre.{scope}")
    def _once(request: dict) -> dict:
        return create()

    result = _once(request={"caller": caller, "scope": scope, "key": key, "payload": payload})
    return result, _replayed.get()
