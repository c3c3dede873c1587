"""Justice: fee memos (frame A3) from providers to courts, the billing mandate, the 2018 revocation job.

Memos are payment requests of the lifecycle engine (their own transition table). The revocation
job's pages are tasks of the ``justice-jobs`` workflow (``{"action": "revocation_page" | "finish_job"}``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from orchestre.api.http import (caller, create_app, expected_version, json_response, logger, make_handler, operator,
                                optional_version)
from orchestre.api.idempotency import run_once
from orchestre.api.views import (DocumentLink, DocumentName, IdempotencyKey, IfMatch, Limit, NextStatus, Page,
                                 PageToken, next_status_views, replay_headers)
from orchestre.domain import lifecycle as lc
from orchestre.domain.invoices import HistoryEntry, Invoice
from orchestre.domain.justice import AcceptMandate, CreateMemo, Decision, MemoLine, MemoStatus, UpdateMemo
from orchestre.repositories.workflows import WorkflowStarter
from orchestre.services.justice import JusticeService

app = create_app()
justice = JusticeService()
workflows = WorkflowStarter()
TAG, TAG_M = "Justice memos", "Billing mandate"
Id = Annotated[str, Path(max_length=64)]
JOBS_STATE_MACHINE_ENV = "JUSTICE_JOBS_STATE_MACHINE_ARN"


class Totals(BaseModel):
    without_vat: str
    vat: str
    with_vat: str


class MemoView(BaseModel):
    memo_id: str
    number: str | None = Field(description="Typed by the provider, or given by the platform at submission "
                                           "under a billing mandate (null until then).")
    status: str
    lifecycle_code: int | None
    provider_structure_id: str
    court_structure_id: str
    court_code: str
    provider_category: str
    decision: Decision
    prescriber: str
    case_reference: str
    mission_start: str
    mission_end: str
    vat_regime: str
    lines: list[MemoLine]
    totals: Totals
    taxed_amount: str | None = None
    amount_due: str
    duplicate_of: str | None = None
    duplicated_to: str | None = None
    documents: list[str]
    created_at: str
    submitted_at: str | None = None
    updated_at: str
    version: int
    last_reason_code: str | None = None
    last_comment: str | None = None


def view(m: Invoice) -> MemoView:
    j = m.justice or {}
    sent = m.status != lc.Status.BROUILLON.value
    return MemoView(
        memo_id=m.invoice_id, number=m.number or None, status=m.status,
        lifecycle_code=lc.LIFECYCLE_CODES.get(lc.Status(m.status)), provider_structure_id=m.supplier_structure_id,
        court_structure_id=m.buyer_structure_id, court_code=j["court_code"], provider_category=j["provider_category"],
        decision=j["decision"], prescriber=j["prescriber"], case_reference=j["case_reference"],
        mission_start=j["mission_start"], mission_end=j["mission_end"], vat_regime=j["vat_regime"], lines=j["lines"],
        totals=Totals(without_vat=str(m.amount_without_vat), vat=str(m.vat_amount), with_vat=str(m.amount_with_vat)),
        taxed_amount=j.get("taxed_amount"), amount_due=str(m.amount_due if m.amount_due is not None else m.amount_with_vat),
        duplicate_of=j.get("duplicate_of"), duplicated_to=j.get("duplicated_to"),
        documents=[k for k, v in (("pdf", m.files.pdf_key),) if v and (sent or j.get("own_pdf"))]
        + sorted(m.files.attachment_keys),
        created_at=m.deposited_at, submitted_at=j.get("submitted_at"), updated_at=m.updated_at, version=m.version,
        last_reason_code=m.last_reason_code, last_comment=m.last_comment,
    )


class FeeTypeView(BaseModel):
    code: str
    label: str
    tariffed: bool = Field(description="Set by a tariff: a clerk may certify it whatever the memo's total.")
    provider_categories: list[str]


class NextStatuses(BaseModel):
    memo_id: str
    status: str
    allowed: list[NextStatus]


class MandateView(BaseModel):
    structure_id: str
    status: Literal["ACTIVE", "REVOKED", "NONE"]
    terms_version: str | None = None
    last_number: int = Field(description="The sequence of the last number the mandate gave.")
    history: list[dict]


class RevocationJob(BaseModel):
    dry_run: bool = True


class JobStarted(BaseModel):
    job_id: str
    status: str
    dry_run: bool


def _memo(m: Invoice, status: int = 200, **headers) -> Response:
    return json_response(view(m), status, etag=m.version, headers=headers or None)


@app.get("/v1/justice/fee-types", tags=[TAG], summary="The fee types a memo line may carry")
def fee_types() -> Page[FeeTypeView]:
    caller(app)
    return Page(items=[FeeTypeView(code=f.code, label=f.label, tariffed=f.tariffed,
                                   provider_categories=[c.value for c in f.categories]) for f in justice.fee_types()])


@app.post("/v1/justice/memos", tags=[TAG], summary="A memo's draft (the provider's members)",
          responses={201: {"description": "Created"}})
def create(body: CreateMemo, idempotency_key: IdempotencyKey = None) -> Response[MemoView]:
    user = caller(app)
    result, replayed = run_once(idempotency_key, user, "justice.memos.create", body.model_dump(mode="json"),
                                lambda: view(justice.create(user, body)).model_dump(mode="json"))
    return json_response(result, 201, etag=result["version"],
                         headers={"Location": f"/v1/justice/memos/{result['memo_id']}", **replay_headers(replayed)})


@app.get("/v1/justice/memos", tags=[TAG],
         summary="A provider's memos (role=PROVIDER) or those a court received (role=COURT), newest first")
def list_memos(role: Annotated[Literal["PROVIDER", "COURT"], Query()],
               structure_id: Annotated[str, Query(min_length=1, max_length=64)],
               status: Annotated[lc.Status | None, Query()] = None,
               limit: Limit = 50, page_token: PageToken = None) -> Page[MemoView]:
    items, token = justice.list(caller(app), role, structure_id, limit, page_token, status.value if status else None)
    return Page(items=[view(m) for m in items], next_page_token=token)


@app.get("/v1/justice/memos/<memo_id>", tags=[TAG], summary="A memo")
def get_memo(memo_id: Id) -> Response[MemoView]:
    return _memo(justice.get(caller(app), memo_id))


@app.patch("/v1/justice/memos/<memo_id>", tags=[TAG], summary="Edit a draft (If-Match)")
def update(memo_id: Id, body: UpdateMemo, if_match: IfMatch = None) -> Response[MemoView]:
    return _memo(justice.update(caller(app), memo_id, body, expected_version(app)))


@app.post("/v1/justice/memos/<memo_id>/submit", tags=[TAG],
          summary="Send a draft to its court (numbered now under a billing mandate)")
def submit(memo_id: Id, if_match: IfMatch = None) -> Response[MemoView]:
    return _memo(justice.submit(caller(app), memo_id, optional_version(app)))


@app.post("/v1/justice/memos/<memo_id>/status", tags=[TAG],
          summary="The court certifies, sends for taxation, taxes, refuses, pays; the provider abandons")
def set_status(memo_id: Id, body: MemoStatus) -> Response[MemoView]:
    return _memo(justice.set_status(caller(app), memo_id, body))


@app.post("/v1/justice/memos/<memo_id>/duplicate", tags=[TAG], summary="Duplicate a refused memo into a new draft",
          responses={201: {"description": "Created"}})
def duplicate(memo_id: Id) -> Response[MemoView]:
    draft = justice.duplicate(caller(app), memo_id)
    return _memo(draft, 201, Location=f"/v1/justice/memos/{draft.invoice_id}")


@app.get("/v1/justice/memos/<memo_id>/history", tags=[TAG], summary="Every status of a memo")
def history(memo_id: Id, limit: Limit = 100, page_token: PageToken = None) -> Page[HistoryEntry]:
    items, token = justice.history(caller(app), memo_id, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/justice/memos/<memo_id>/next-statuses", tags=[TAG], summary="What the caller may do now")
def next_statuses(memo_id: Id) -> NextStatuses:
    memo, moves = justice.next_statuses(caller(app), memo_id)
    endpoint = {"submit": "submit", "duplicate": "duplicate"}
    return NextStatuses(memo_id=memo.invoice_id, status=memo.status, allowed=next_status_views(
        moves, lambda m: f"/v1/justice/memos/{memo.invoice_id}/{endpoint.get(m.route, 'status')}"))


@app.get("/v1/justice/memos/<memo_id>/documents/<name>", tags=[TAG],
         summary="A short-lived download URL of a memo's PDF or of one of its attachments")
def document(memo_id: Id, name: DocumentName) -> DocumentLink:
    return DocumentLink(url=justice.document_url(caller(app), memo_id, name), expires_in=300)


# -- the billing mandate ---------------------------------------------------------------------------

def _mandate(structure_id: str, record) -> MandateView:
    return MandateView(structure_id=structure_id, status=record.mandate_status, terms_version=record.terms_version,
                       last_number=record.sequence, history=record.mandate_history)


@app.get("/v1/structures/<structure_id>/billing-mandate", tags=[TAG_M], summary="A provider's billing mandate")
def get_mandate(structure_id: Id) -> MandateView:
    return _mandate(structure_id, justice.mandate(caller(app), structure_id))


@app.post("/v1/structures/<structure_id>/billing-mandate", tags=[TAG_M],
          summary="Subscribe the billing mandate: the platform numbers the memos (managers)")
def subscribe(structure_id: Id, body: AcceptMandate) -> MandateView:
    return _mandate(structure_id, justice.subscribe(caller(app), structure_id, body))


@app.delete("/v1/structures/<structure_id>/billing-mandate", tags=[TAG_M], summary="Revoke the billing mandate (managers)")
def revoke(structure_id: Id) -> MandateView:
    return _mandate(structure_id, justice.revoke(caller(app), structure_id))


# -- the 2018 revocation (operators) --------------------------------------------------------------

@app.post("/v1/admin/jobs/revoke-justice-mandates", tags=["Operators"],
          summary="Revoke every active mandate of a private provider, except the structures migrated from "
                  "Chorus Portail Pro (operators; follow it with GET /v1/admin/jobs/{job_id})",
          responses={202: {"description": "Started"}})
def revoke_all(body: RevocationJob) -> Response[JobStarted]:
    operator_id = operator(app)
    job = justice.start_revocation(operator_id, body.dry_run)
    workflows.start(JOBS_STATE_MACHINE_ENV, job["job_id"], {"job_id": job["job_id"]})
    return json_response(JobStarted(job_id=job["job_id"], status=job["status"], dry_run=job["dry_run"]), 202,
                         headers={"Location": f"/v1/admin/jobs/{job['job_id']}"})


def on_event(event: dict, context) -> dict:
    """The tasks of the justice-jobs workflow."""
    action = event.get("action")
    if action == "revocation_page":
        return justice.revocation_page(event["job_id"])
    if action == "finish_job":
        justice.finish_job(event["job_id"], _error(event.get("error")))
        logger.info("job finished", extra={"job_id": event["job_id"], "error": event.get("error")})
        return {"done": True}
    raise ValueError(f"unknown action {action}")


def _error(error) -> str | None:
    if not error:
        return None
    return f"{error.get('Error')}: {error.get('Cause')}" if isinstance(error, dict) else str(error)


handler = make_handler(app, on_event=on_event)
