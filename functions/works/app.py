"""Works: contracts, their pieces (supplier -> MOE -> MOA), moves, deadlines.

The pieces are payment requests of the lifecycle engine; the payable documents (A19, A8, A23, A25)
are processed in the MOA's received invoices (``/v1/invoices``). The hourly schedule wakes the
pieces whose deadline (or its reminder) came.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from orchestre.api.http import caller, create_app, json_response, logger, make_handler
from orchestre.api.idempotency import run_once
from orchestre.api.views import (DocumentLink, DocumentName, IdempotencyKey, Limit, NextStatus, Page,
                                 PageToken, next_status_views, replay_headers)
from orchestre.domain import lifecycle as lc
from orchestre.domain.invoices import HistoryEntry, Invoice
from orchestre.domain.works import FRAMES, Contract, CreateContract, DepositPiece, PieceStatus
from orchestre.services.works import WorksService

app = create_app()
works = WorksService()
TAG = "Works"
Id = Annotated[str, Path(max_length=64)]


class Amounts(BaseModel):
    without_vat: str | None
    vat: str | None
    with_vat: str
    cumulative_without_vat: str | None


class PieceDeadline(BaseModel):
    kind: str
    at: str
    reminder_at: str | None = None


class PieceView(BaseModel):
    piece_id: str
    contract_id: str
    frame: str
    label: str
    number: str
    issue_date: str
    status: str
    lifecycle_code: int | None
    payable: bool  # processed in the MOA's received invoices (/v1/invoices/{piece_id})
    depositor_structure_id: str
    addressee_structure_id: str
    previous_piece_id: str | None
    next_piece_id: str | None
    amounts: Amounts
    deadline: PieceDeadline | None
    documents: list[str]
    deposited_at: str
    updated_at: str
    version: int
    last_reason_code: str | None = None
    last_comment: str | None = None


def view(p: Invoice) -> PieceView:
    w = p.works or {}
    money = lambda v: str(v) if v is not None else None  # noqa: E731
    return PieceView(
        piece_id=p.invoice_id, contract_id=w["contract_id"], frame=w["frame"], label=FRAMES[w["frame"]].label,
        number=p.number, issue_date=p.issue_date.isoformat(), status=p.status,
        lifecycle_code=lc.LIFECYCLE_CODES.get(lc.Status(p.status)), payable=p.document_type == "INVOICE",
        depositor_structure_id=w.get("depositor_structure_id") or p.supplier_structure_id,
        addressee_structure_id=p.buyer_structure_id, previous_piece_id=w.get("previous_piece_id"),
        next_piece_id=w.get("next_piece_id"),
        amounts=Amounts(without_vat=money(p.amount_without_vat), vat=money(p.vat_amount), with_vat=str(p.amount_with_vat),
                        cumulative_without_vat=money(w.get("cumulative_without_vat"))),
        deadline=PieceDeadline(kind=w["deadline_kind"], at=w["deadline_at"], reminder_at=w.get("reminder_at"))
        if w.get("deadline_at") else None,
        documents=[k for k, v in (("pdf", p.files.pdf_key),) if v] + sorted(p.files.attachment_keys),
        deposited_at=p.deposited_at, updated_at=p.updated_at, version=p.version,
        last_reason_code=p.last_reason_code, last_comment=p.last_comment,
    )


class Deadline(BaseModel):
    piece_id: str
    frame: str
    number: str
    status: str
    kind: str
    deadline_at: str
    reminder_at: str | None
    days: int
    effect: str


class NextStatuses(BaseModel):
    piece_id: str
    status: str
    allowed: list[NextStatus]


@app.post("/v1/works/contracts", tags=[TAG], summary="Create a works contract (a manager of the MOA)",
          responses={201: {"description": "Created"}})
def create_contract(body: CreateContract, idempotency_key: IdempotencyKey = None) -> Response[Contract]:
    user = caller(app)
    result, replayed = run_once(idempotency_key, user, "works.contracts.create", body.model_dump(mode="json"),
                                lambda: works.create_contract(user, body).model_dump(mode="json"))
    return json_response(result, 201, headers={"Location": f"/v1/works/contracts/{result['contract_id']}",
                                               **replay_headers(replayed)})


@app.get("/v1/works/contracts", tags=[TAG], summary="A structure's contracts, as MOA, MOE or contractor")
def list_contracts(role: Annotated[Literal["MOA", "MOE", "SUPPLIER"], Query()],
                   structure_id: Annotated[str, Query(max_length=64)], limit: Limit = 50,
                   page_token: PageToken = None) -> Page[Contract]:
    items, token = works.list_contracts(caller(app), role, structure_id, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/works/contracts/<contract_id>", tags=[TAG], summary="A contract (its parties only)")
def get_contract(contract_id: Id) -> Contract:
    return works.get_contract(caller(app), contract_id)


@app.post("/v1/works/contracts/<contract_id>/pieces", tags=[TAG],
          summary="Deposit a piece (A4, A15, A19...): the frame says who may, what it answers, where it goes",
          responses={201: {"description": "Created"}})
def deposit(contract_id: Id, body: DepositPiece, idempotency_key: IdempotencyKey = None) -> Response[PieceView]:
    user = caller(app)
    payload = body.model_dump(mode="json")
    result, replayed = run_once(idempotency_key, user, f"works.pieces.{contract_id}", payload,
                                lambda: view(works.deposit(user, contract_id, body)).model_dump(mode="json"))
    return json_response(result, 201, headers={"Location": f"/v1/works/pieces/{result['piece_id']}",
                                               **replay_headers(replayed)})


@app.get("/v1/works/contracts/<contract_id>/pieces", tags=[TAG], summary="The pieces of a contract, oldest first")
def list_pieces(contract_id: Id, limit: Limit = 50, page_token: PageToken = None) -> Page[PieceView]:
    items, token = works.list_pieces(caller(app), contract_id, limit, page_token)
    return Page(items=[view(p) for p in items], next_page_token=token)


@app.get("/v1/works/contracts/<contract_id>/deadlines", tags=[TAG],
         summary="The running legal deadlines of a contract's pieces, soonest first")
def deadlines(contract_id: Id) -> Page[Deadline]:
    return Page(items=[Deadline(**d) for d in works.deadlines(caller(app), contract_id)])


@app.get("/v1/works/pieces/<piece_id>", tags=[TAG], summary="A piece, with its chain and its deadline")
def get_piece(piece_id: Id) -> Response[PieceView]:
    piece = works.get_piece(caller(app), piece_id)
    return json_response(view(piece), etag=piece.version)


@app.get("/v1/works/pieces/<piece_id>/documents/<name>", tags=[TAG],
         summary="A short-lived download URL of a piece's PDF or of one of its attachments")
def document(piece_id: Id, name: DocumentName) -> DocumentLink:
    piece = works.get_piece(caller(app), piece_id)
    return DocumentLink(url=works.engine.file_url(piece, name), expires_in=300)


@app.get("/v1/works/pieces/<piece_id>/history", tags=[TAG], summary="Every status of a piece")
def history(piece_id: Id, limit: Limit = 100, page_token: PageToken = None) -> Page[HistoryEntry]:
    items, token = works.history(caller(app), piece_id, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/works/pieces/<piece_id>/next-statuses", tags=[TAG], summary="What the caller may do now")
def next_statuses(piece_id: Id) -> NextStatuses:
    piece, moves = works.next_statuses(caller(app), piece_id)
    return NextStatuses(piece_id=piece.invoice_id, status=piece.status,
                        allowed=next_status_views(moves, lambda m: f"/v1/works/pieces/{piece.invoice_id}/status"))


@app.post("/v1/works/pieces/<piece_id>/status", tags=[TAG],
          summary="Refuse (REFUSEE_MOE, REFUSEE_MOA, REFUSEE_FOURNISSEUR; a reason other than ERREUR_MONTANT) "
                  "or accept a sub-contractor's request (MISE_A_DISPOSITION_MOE, the holder)")
def set_status(piece_id: Id, body: PieceStatus) -> Response[PieceView]:
    piece = works.set_status(caller(app), piece_id, body)
    return json_response(view(piece), etag=piece.version)


def on_event(event: dict, context) -> dict:
    if event.get("source") == "aws.events":  # the hourly schedule: reminders and deadlines
        done = works.run_deadlines()
        logger.info("works deadlines", extra=done)
        return done
    logger.warning("unexpected event", extra={"keys": sorted(event)})
    return {}


handler = make_handler(app, on_event=on_event)
