"""Process: the invoice lifecycle.

- HTTP: list, read, history, documents, next statuses, status changes, complete, recycle,
  revenue orders;
- the routing workflow's tasks (``{"action": "route" | "make_available" | "park"}``); EventBridge
  starts the workflow on each InvoiceDeposited event;
- the daily schedule: overdue invoices flagged and announced.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from orchestre.api.http import caller, create_app, expected_version, json_response, logger, make_handler, metrics
from orchestre.api.idempotency import run_once
from orchestre.api.views import (DocumentLink, DocumentName, IdempotencyKey, IfMatch, Limit, NextStatus, Page,
                                 PageToken, next_status_views, replay_headers)
from orchestre.domain import lifecycle as lc
from orchestre.domain.invoices import HistoryEntry, Invoice
from orchestre.services.lifecycle import (
    Complete,
    LifecycleService,
    Recycle,
    RevenueOrderInput,
    SetStatus,
    clock_view,
)

app = create_app()
service = LifecycleService()
TAG = "Invoices"
InvoiceId = Annotated[str, Path(max_length=64)]


class InvoiceView(BaseModel):
    invoice_id: str
    document_type: str
    informational: bool
    number: str
    type_code: str
    billing_frame: str
    status: str
    lifecycle_code: int | None
    supplier_structure_id: str
    supplier_identifier: str
    buyer_structure_id: str
    buyer_identifier: str
    service_code: str | None
    legal_commitment: str | None
    issue_date: str
    due_date: str | None
    currency: str
    amount_without_vat: str | None
    vat_amount: str | None
    amount_with_vat: str
    channel: str
    mandate_number: str | None
    last_reason_code: str | None
    last_comment: str | None
    routing_error: str | None
    payment: dict | None  # due_date, running, days_left, days_late, late_interest, fixed_indemnity
    documents: list[str]
    deposited_at: str
    updated_at: str
    version: int
    notice: str | None = None


def view(inv: Invoice) -> InvoiceView:
    docs = [k for k, v in (("pdf", inv.files.pdf_key), ("xml", inv.files.xml_key),
                           ("original", inv.files.original_key)) if v] + sorted(inv.files.attachment_keys)
    money = lambda v: str(v) if v is not None else None  # noqa: E731
    return InvoiceView(
        invoice_id=inv.invoice_id, document_type=inv.document_type, informational=inv.informational,
        number=inv.number, type_code=inv.type_code, billing_frame=inv.billing_frame, status=inv.status,
        lifecycle_code=lc.LIFECYCLE_CODES.get(lc.Status(inv.status)), supplier_structure_id=inv.supplier_structure_id,
        supplier_identifier=inv.supplier_identifier, buyer_structure_id=inv.buyer_structure_id,
        buyer_identifier=inv.buyer_identifier, service_code=inv.service_code, legal_commitment=inv.legal_commitment,
        issue_date=inv.issue_date.isoformat(), due_date=inv.due_date.isoformat() if inv.due_date else None,
        currency=inv.currency, amount_without_vat=money(inv.amount_without_vat), vat_amount=money(inv.vat_amount),
        amount_with_vat=str(inv.amount_with_vat), channel=inv.channel.value, mandate_number=inv.mandate_number,
        last_reason_code=inv.last_reason_code, last_comment=inv.last_comment, routing_error=inv.routing_error,
        payment=clock_view(inv), documents=docs, deposited_at=inv.deposited_at, updated_at=inv.updated_at,
        version=inv.version,
        notice=("Revenue order: its processing statuses are informational and have no legal value."
                if inv.informational else None),
    )


class NextStatuses(BaseModel):
    invoice_id: str
    status: str
    informational: bool
    allowed: list[NextStatus]


@app.get("/v1/invoices", tags=[TAG], summary="Invoices issued (role=SUPPLIER) or received (role=RECIPIENT) by a structure")
def list_invoices(
    role: Annotated[Literal["SUPPLIER", "RECIPIENT"], Query()],
    structure_id: Annotated[str, Query(max_length=64)],
    status: Annotated[lc.Status | None, Query()] = None,
    service_code: Annotated[str | None, Query(max_length=100)] = None,
    supplier: Annotated[str | None, Query(max_length=20, description="Supplier identifier (SIRET)")] = None,
    number: Annotated[str | None, Query(max_length=30)] = None,
    from_: Annotated[date | None, Query(alias="from", description="Deposited on or after")] = None,
    to: Annotated[date | None, Query(description="Deposited on or before")] = None,
    min_amount: Annotated[Decimal | None, Query(ge=0, le=10**15, max_digits=17, decimal_places=2)] = None,
    max_amount: Annotated[Decimal | None, Query(ge=0, le=10**15, max_digits=17, decimal_places=2)] = None,
    limit: Limit = 50,
    page_token: PageToken = None,
) -> Page[InvoiceView]:
    items, token = service.list(caller(app), role, structure_id, limit=limit, page_token=page_token, since=from_,
                                until=to, status=status.value if status else None, service_code=service_code,
                                supplier=supplier, number=number, min_amount=min_amount, max_amount=max_amount)
    return Page(items=[view(i) for i in items], next_page_token=token)


@app.get("/v1/invoices/<invoice_id>", tags=[TAG], summary="An invoice, with its payment clock")
def get_invoice(invoice_id: InvoiceId) -> Response[InvoiceView]:
    inv, _, _ = service.load(caller(app), invoice_id)
    return json_response(view(inv), etag=inv.version)


@app.get("/v1/invoices/<invoice_id>/history", tags=[TAG], summary="Every status with date, actor, reason, comment")
def history(invoice_id: InvoiceId, limit: Limit = 100, page_token: PageToken = None) -> Page[HistoryEntry]:
    items, token = service.history(caller(app), invoice_id, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/invoices/<invoice_id>/next-statuses", tags=[TAG], summary="What the caller may do now")
def next_statuses(invoice_id: InvoiceId) -> NextStatuses:
    inv, moves = service.next_statuses(caller(app), invoice_id)
    return NextStatuses(invoice_id=inv.invoice_id, status=inv.status, informational=inv.informational,
                        allowed=next_status_views(moves, lambda m: f"/v1/invoices/{inv.invoice_id}/{m.route}"))


@app.get("/v1/invoices/<invoice_id>/documents/<name>", tags=[TAG],
         summary="A short-lived download URL: pdf, xml, original, or an attachment's file name")
def document(invoice_id: InvoiceId, name: DocumentName) -> DocumentLink:
    return DocumentLink(url=service.document_url(caller(app), invoice_id, name), expires_in=300)


@app.post("/v1/invoices/<invoice_id>/status", tags=[TAG],
          summary="Set a status (buyer: SERVICE_FAIT, MANDATEE, MISE_EN_PAIEMENT, COMPTABILISEE, SUSPENDUE, A_RECYCLER, REJETEE; supplier: ABANDONNEE)")
def set_status(invoice_id: InvoiceId, body: SetStatus, if_match: IfMatch = None) -> Response[InvoiceView]:
    expected = expected_version(app) if app.current_event.headers.get("if-match") else None
    inv = service.set_status(caller(app), invoice_id, body, expected)
    metrics.add_metric(name=f"Status{inv.status.title().replace('_', '')}", unit="Count", value=1)
    return json_response(view(inv), etag=inv.version)


@app.post("/v1/invoices/<invoice_id>/complete", tags=[TAG],
          summary="Complete a suspended invoice with a comment and attachments (supplier)")
def complete(invoice_id: InvoiceId, body: Complete) -> Response[InvoiceView]:
    inv = service.complete(caller(app), invoice_id, body)
    return json_response(view(inv), etag=inv.version)


@app.post("/v1/invoices/<invoice_id>/recycle", tags=[TAG],
          summary="Send an invoice to recycle to another recipient / service / EJ, same number (supplier)")
def recycle(invoice_id: InvoiceId, body: Recycle) -> Response[InvoiceView]:
    inv = service.recycle(caller(app), invoice_id, body)
    return json_response(view(inv), etag=inv.version)


@app.post("/v1/revenue-orders", tags=["Revenue orders"],
          summary="A State ordonnateur's revenue order (titre de perception) or cancellation to a public body",
          responses={201: {"description": "Created"}})
def revenue_order(body: RevenueOrderInput, idempotency_key: IdempotencyKey = None) -> Response[InvoiceView]:
    user = caller(app)
    result, replayed = run_once(idempotency_key, user, "revenue-orders.create", body.model_dump(mode="json"),
                                lambda: view(service.create_revenue_order(user, body)).model_dump(mode="json"))
    return json_response(result, 201, headers={"Location": f"/v1/invoices/{result['invoice_id']}",
                                               **replay_headers(replayed)})


# -- non-HTTP invocations --------------------------------------------------------------------

def on_event(event: dict, context) -> dict:
    action = event.get("action")
    if action:  # a task of the routing workflow
        invoice_id = event["invoice_id"]
        if action == "route":
            inv = service.route(invoice_id)
        elif action == "make_available":
            inv = service.make_available(invoice_id)
        elif action == "park":
            inv = service.park(invoice_id, event.get("error"), event.get("expected_status"))
        else:
            raise ValueError(f"unknown action {action}")
        return {"invoice_id": invoice_id, "status": inv.status}
    if event.get("source") == "aws.events":  # the schedule: overdue invoices, stuck routings
        flagged, restarted = service.flag_overdue(), service.sweep_routing()
        logger.info("scheduled run", extra={"flagged": flagged, "restarted": restarted})
        return {"flagged": flagged, "restarted": restarted}
    logger.warning("unexpected event", extra={"keys": sorted(event)})
    return {}


handler = make_handler(app, on_event=on_event)
