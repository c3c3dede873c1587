"""Response shapes shared by handlers (and thus by the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from pydantic import BaseModel, Field

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1–100).")]
PageToken = Annotated[
    str | None, Query(max_length=2048, description="Cursor from the previous page's next_page_token.")
]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255,
           description="Retry-safe key: the same key and body return the first result instead of creating twice."),
]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description='ETag of the version you read, e.g. "3". Required.')
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_page_token: str | None = Field(None, description="Pass as page_token to get the next page; null at the end.")


def replay_headers(replayed: bool) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if replayed else {}


class DocumentLink(BaseModel):
    url: str = Field(description="A short-lived download URL.")
    expires_in: int = Field(description="Seconds.")


DocumentName = Annotated[str, Path(max_length=60, description="pdf, xml, original, or an attachment's file name")]


class NextStatus(BaseModel):
    """One move the caller may make now (the lifecycle's transition table, read for them)."""

    status: str
    lifecycle_code: int | None
    endpoint: str = Field(description="Where to POST it.")
    needs_reason: bool
    needs_mandate_number: bool
    reasons: list[str] = Field(description="The reason codes it accepts (empty when it needs none).")


def next_status_views(moves, endpoint) -> list[NextStatus]:
    """The caller's moves as views; ``endpoint(move)`` is the path that makes a move."""
    from orchestre.domain import lifecycle as lc

    return [NextStatus(status=m.to.value, lifecycle_code=lc.LIFECYCLE_CODES.get(m.to), endpoint=endpoint(m),
                       needs_reason=m.needs_reason, needs_mandate_number=m.needs_mandate_number,
                       reasons=sorted(m.reasons - m.forbidden_reasons) if m.needs_reason else [])
            for m in moves]
