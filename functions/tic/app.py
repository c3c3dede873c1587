"""TIC/TICGN refunds: requests (frame A21) of farms to their département's service, and delegations.

Requests are payment requests of the lifecycle engine (their own transition table). The delegation's
wait is the ``tic-delegation`` workflow (``{"action": "await_answer" | "expire_unanswered"}``); the
hourly schedule expires unanswered delegations and lapses ended ones.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from orchestre.api.http import caller, create_app, expected_version, json_response, logger, make_handler, optional_version
from orchestre.api.idempotency import run_once
from orchestre.api.views import (DocumentLink, DocumentName, IdempotencyKey, IfMatch, Limit, NextStatus, Page,
                                 PageToken, next_status_views, replay_headers)
from orchestre.domain import lifecycle as lc
from orchestre.domain import tic
from orchestre.domain.invoices import HistoryEntry, Invoice
from orchestre.services.lifecycle import Complete
from orchestre.services.tic import TicService

app = create_app()
service = TicService()
TAG, TAG_D = "TIC refunds", "TIC delegations"
Id = Annotated[str, Path(max_length=64)]


class LineView(BaseModel):
    supplier_invoice_number: str
    delivery_date: str
    product: tic.Product
    quantity: str
    purchase: tic.Purchase
    unit: str
    rate: str = Field(description="EUR per unit, from the dated rate table (year, product).")
    amount: str = Field(description="quantity x rate, rounded half-up to the cent.")


class RequestView(BaseModel):
    request_id: str
    number: str
    status: str
    lifecycle_code: int | None
    beneficiary_structure_id: str
    recipient_structure_id: str = Field(description="The public service of the farm's département.")
    department: str
    year: int
    pacage: str
    beneficiary_category: str
    iban: str
    bic: str
    sworn_statement: bool
    lines: list[LineView]
    total: str
    electronic_filing_mandatory: bool
    filed_by_structure_id: str | None = Field(None, description="The centre that filed it under a delegation.")
    documents: list[str]
    created_at: str
    submitted_at: str | None = None
    updated_at: str
    version: int
    last_reason_code: str | None = None
    last_comment: str | None = None


def view(r: Invoice) -> RequestView:
    t = r.tic or {}
    sent = r.status != lc.Status.BROUILLON.value
    return RequestView(
        request_id=r.invoice_id, number=r.number, status=r.status, lifecycle_code=lc.LIFECYCLE_CODES.get(lc.Status(r.status)),
        beneficiary_structure_id=r.supplier_structure_id, recipient_structure_id=r.buyer_structure_id,
        department=t["department"], year=t["year"], pacage=t["pacage"], beneficiary_category=t["beneficiary_category"],
        iban=t["iban"], bic=t["bic"], sworn_statement=t["sworn_statement"],
        lines=[LineView(**{**ln, "quantity": str(ln["quantity"]), "rate": str(ln["rate"]), "amount": str(ln["amount"])})
               for ln in t["lines"]],
        total=str(r.amount_with_vat), electronic_filing_mandatory=t["electronic_filing_mandatory"],
        filed_by_structure_id=t.get("filed_by_structure_id"),
        documents=(["pdf"] if sent and r.files.pdf_key else []) + sorted(r.files.attachment_keys),
        created_at=r.deposited_at, submitted_at=t.get("submitted_at"), updated_at=r.updated_at, version=r.version,
        last_reason_code=r.last_reason_code, last_comment=r.last_comment)


class RateView(BaseModel):
    year: int
    product: tic.Product
    unit: str
    rate: str


class NextStatuses(BaseModel):
    request_id: str
    status: str
    allowed: list[NextStatus]


class DelegationView(BaseModel):
    delegation_id: str
    status: Literal["PENDING", "ACTIVE", "REFUSED", "REVOKED", "EXPIRED", "LAPSED"]
    delegate_structure_id: str
    delegate_name: str | None = None
    beneficiary_structure_id: str
    beneficiary_name: str | None = None
    scope: tic.Scope
    until: str
    asked_at: str
    answer_by: str = Field(description="Unanswered after this day, the request expires.")
    history: list[dict]


def delegation_view(d: dict) -> DelegationView:
    return DelegationView(**{k: d.get(k) for k in DelegationView.model_fields})


def _request(r: Invoice, status: int = 200, **headers) -> Response:
    return json_response(view(r), status, etag=r.version, headers=headers or None)


@app.get("/v1/tic/rates", tags=[TAG], summary="The refund rates by year and product, as data")
def rates() -> Page[RateView]:
    caller(app)
    return Page(items=[RateView(year=y, product=p, unit=tic.UNITS[p], rate=str(v))
                       for (y, p), v in sorted(tic.RATES.items())])


@app.post("/v1/tic/requests", tags=[TAG], summary="A refund request's draft (the farm's members, or a FILE delegate)",
          responses={201: {"description": "Created"}})
def create(body: tic.CreateRequest, idempotency_key: IdempotencyKey = None) -> Response[RequestView]:
    user = caller(app)
    result, replayed = run_once(idempotency_key, user, "tic.requests.create", body.model_dump(mode="json"),
                                lambda: view(service.create(user, body)).model_dump(mode="json"))
    return json_response(result, 201, etag=result["version"],
                         headers={"Location": f"/v1/tic/requests/{result['request_id']}", **replay_headers(replayed)})


@app.get("/v1/tic/requests", tags=[TAG],
         summary="A farm's requests (role=BENEFICIARY) or those a service received (role=RECIPIENT), newest first")
def list_requests(role: Annotated[Literal["BENEFICIARY", "RECIPIENT"], Query()],
                  structure_id: Annotated[str, Query(min_length=1, max_length=64)],
                  status: Annotated[lc.Status | None, Query()] = None,
                  limit: Limit = 50, page_token: PageToken = None) -> Page[RequestView]:
    items, token = service.list(caller(app), role, structure_id, limit, page_token, status.value if status else None)
    return Page(items=[view(r) for r in items], next_page_token=token)


@app.get("/v1/tic/requests/<request_id>", tags=[TAG], summary="A refund request")
def get_request(request_id: Id) -> Response[RequestView]:
    return _request(service.get(caller(app), request_id))


@app.patch("/v1/tic/requests/<request_id>", tags=[TAG], summary="Edit a draft (If-Match)")
def update(request_id: Id, body: tic.UpdateRequest, if_match: IfMatch = None) -> Response[RequestView]:
    return _request(service.update(caller(app), request_id, body, expected_version(app)))


@app.post("/v1/tic/requests/<request_id>/submit", tags=[TAG],
          summary="Send a draft to the département's service (frozen; a receipt PDF is made)")
def submit(request_id: Id, if_match: IfMatch = None) -> Response[RequestView]:
    return _request(service.submit(caller(app), request_id, optional_version(app)))


@app.post("/v1/tic/requests/<request_id>/status", tags=[TAG],
          summary="The service: SUSPENDUE (a missing document), REJETEE (a reason), MISE_EN_PAIEMENT; the farm: "
                  "ABANDONNEE")
def set_status(request_id: Id, body: tic.RequestStatus) -> Response[RequestView]:
    return _request(service.set_status(caller(app), request_id, body))


@app.post("/v1/tic/requests/<request_id>/complete", tags=[TAG],
          summary="Complete a suspended request with the documents asked for (the farm or its delegate)")
def complete(request_id: Id, body: Complete) -> Response[RequestView]:
    return _request(service.complete(caller(app), request_id, body))


@app.get("/v1/tic/requests/<request_id>/history", tags=[TAG], summary="Every status of a request")
def history(request_id: Id, limit: Limit = 100, page_token: PageToken = None) -> Page[HistoryEntry]:
    items, token = service.history(caller(app), request_id, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/tic/requests/<request_id>/next-statuses", tags=[TAG], summary="What the caller may do now")
def next_statuses(request_id: Id) -> NextStatuses:
    r, moves = service.next_statuses(caller(app), request_id)
    endpoint = {"submit": "submit", "complete": "complete"}
    return NextStatuses(request_id=r.invoice_id, status=r.status, allowed=next_status_views(
        moves, lambda m: f"/v1/tic/requests/{r.invoice_id}/{endpoint.get(m.route, 'status')}"))


@app.get("/v1/tic/requests/<request_id>/documents/<name>", tags=[TAG],
         summary="A short-lived download URL of the receipt (pdf) or of an attachment")
def document(request_id: Id, name: DocumentName) -> DocumentLink:
    return DocumentLink(url=service.document_url(caller(app), request_id, name), expires_in=300)


# -- delegations ------------------------------------------------------------------------------------

@app.post("/v1/tic/delegations", tags=[TAG_D],
          summary="A centre's manager asks a farm for a delegation (its managers are told and answer)",
          responses={201: {"description": "Created"}})
def ask(body: tic.AskDelegation) -> Response[DelegationView]:
    d = service.ask(caller(app), body)
    return json_response(delegation_view(d), 201, headers={"Location": f"/v1/tic/delegations/{d['delegation_id']}"})


@app.get("/v1/tic/delegations", tags=[TAG_D], summary="A centre's farms, or a farm's delegates")
def list_delegations(structure_id: Annotated[str, Query(min_length=1, max_length=64)], limit: Limit = 50,
                     page_token: PageToken = None) -> Page[DelegationView]:
    items, token = service.list_delegations(caller(app), structure_id, limit, page_token)
    return Page(items=[delegation_view(d) for d in items], next_page_token=token)


@app.get("/v1/tic/delegations/<delegation_id>", tags=[TAG_D], summary="A delegation")
def get_delegation(delegation_id: Id) -> DelegationView:
    return delegation_view(service.delegation_for(caller(app), delegation_id))


@app.post("/v1/tic/delegations/<delegation_id>/approve", tags=[TAG_D], summary="The farm's manager approves")
def approve(delegation_id: Id) -> DelegationView:
    return delegation_view(service.answer(caller(app), delegation_id, approve=True))


@app.post("/v1/tic/delegations/<delegation_id>/refuse", tags=[TAG_D], summary="The farm's manager refuses")
def refuse(delegation_id: Id) -> DelegationView:
    return delegation_view(service.answer(caller(app), delegation_id, approve=False))


@app.post("/v1/tic/delegations/<delegation_id>/revoke", tags=[TAG_D], summary="The farm's manager revokes it")
def revoke(delegation_id: Id) -> DelegationView:
    return delegation_view(service.revoke(caller(app), delegation_id))


def on_event(event: dict, context) -> dict:
    """The tic-delegation workflow's tasks, and the hourly schedule."""
    action = event.get("action")
    if action == "await_answer":
        service.await_answer(event["delegation_id"], event["task_token"])
        return {"waiting": True}
    if action == "expire_unanswered":
        return service.expire_unanswered(event["delegation_id"])
    if event.get("source") == "aws.events":
        done = service.run_deadlines()
        logger.info("tic delegations", extra=done)
        return done
    logger.warning("unexpected event", extra={"keys": sorted(event)})
    return {}


handler = make_handler(app, on_event=on_event)
