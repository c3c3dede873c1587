"""Deposit: the validation service, uploads, flows (API and EDI drops) and the portal entry.

HTTP routes through API Gateway; batches of the flows queue (API flows to integrate, and S3
notifications of EDI drops) through the SQS event source.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, StringConstraints, model_validator

from orchestre.api.http import caller, create_app, json_response, logger, make_handler, metrics
from orchestre.api.idempotency import run_once
from orchestre.api.views import IdempotencyKey, replay_headers
from orchestre.domain.common import Command
from orchestre.domain.errors import InvalidInput
from orchestre.domain.invoices import PortalInvoice, ValidationReport
from orchestre.services.deposit import DepositService, PortalEntry, check_file_name, decode_base64, flow_report

app = create_app()
deposit = DepositService()
portal = PortalEntry(deposit)
TAG_V, TAG_F, TAG_I = "Validation", "Flows", "Invoices"


class FileInput(Command):
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_base64: str | None = None
    upload_id: Annotated[str, StringConstraints(max_length=64)] | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.content_base64 is None) == (self.upload_id is None):
            raise ValueError("give either content_base64 or upload_id")
        return self


class UploadRequest(Command):
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_type: Literal["application/pdf", "application/xml", "text/xml"] = "application/pdf"


class UploadTicket(BaseModel):
    upload_id: str
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int
    max_bytes: int


class FlowAccepted(BaseModel):
    flow_id: str
    status: str


class FlowReport(BaseModel):
    flow_id: str
    status: Literal["RECEIVED", "IN_PROGRESS", "INTEGRATED", "REJECTED"]
    chorus_status: str
    channel: str
    file_name: str
    size: int
    sha256: str
    received_at: str
    finished_at: str | None
    validation: ValidationReport | None
    invoices: list[dict]


def _content(user: str, body: FileInput) -> bytes:
    check_file_name(body.file_name)
    if body.upload_id is not None:
        return deposit.read_upload(user, body.upload_id)
    return decode_base64(body.content_base64 or "")


@app.post("/v1/validations", tags=[TAG_V],
          summary="Validate an invoice file (Factur-X PDF, CII, UBL) with the official EN 16931 artefacts; nothing is deposited")
def validate(body: FileInput) -> ValidationReport:
    content = _content(caller(app), body)
    report = deposit.validate(content, body.file_name)
    metrics.add_metric(name="Validations", unit="Count", value=1)
    return report


@app.post("/v1/uploads", tags=[TAG_F], summary="Get a presigned URL to upload a file of up to 10 MB",
          responses={201: {"description": "Created"}})
def upload(body: UploadRequest) -> Response[UploadTicket]:
    return json_response(deposit.new_upload(caller(app), body.file_name, body.content_type), 201)


@app.post("/v1/flows", tags=[TAG_F], summary="Deposit an invoice file; integration is asynchronous",
          responses={202: {"description": "Accepted"}})
def submit_flow(body: FileInput, idempotency_key: IdempotencyKey = None) -> Response[FlowAccepted]:
    user = caller(app)
    content = _content(user, body)

    def create() -> dict:
        flow = deposit.receive(user, body.file_name, content)
        return {"flow_id": flow.flow_id, "status": flow.status.value}

    payload = {"file_name": body.file_name, "sha256": hashlib.sha256(content).hexdigest()}
    result, replayed = run_once(idempotency_key, user, "flows.create", payload, create)
    if not replayed:
        metrics.add_metric(name="FlowsReceived", unit="Count", value=1)
    headers = {"Location": f"/v1/flows/{result['flow_id']}", **replay_headers(replayed)}
    return json_response(result, 202, headers=headers)


@app.get("/v1/flows/<flow_id>", tags=[TAG_F], summary="The integration report of a flow you deposited")
def get_flow(flow_id: Annotated[str, Path(max_length=64)]) -> FlowReport:
    return FlowReport(**flow_report(deposit.get_flow(caller(app), flow_id)))


class InvoiceCreated(BaseModel):
    invoice_id: str
    number: str
    status: str
    amount_without_vat: str | None
    vat_amount: str | None
    amount_with_vat: str
    currency: str
    buyer_structure_id: str
    service_code: str | None


@app.post("/v1/invoices", tags=[TAG_I],
          summary="Enter an invoice as JSON: totals computed, Factur-X (EN 16931) generated, deposited",
          responses={201: {"description": "Created"}})
def enter_invoice(body: PortalInvoice, idempotency_key: IdempotencyKey = None) -> Response[InvoiceCreated]:
    user = caller(app)

    def create() -> dict:
        result = portal.enter(user, body, idempotency_key)
        if result.invoice is None:
            raise InvalidInput("; ".join(v.message for v in result.violations), code="DEPOSIT_REJECTED",
                               field=result.violations[0].field,
                               errors=[{"field": v.field, "code": v.code, "reason_code": v.reason_code,
                                        "message": v.message} for v in result.violations])
        inv = result.invoice
        return InvoiceCreated(invoice_id=inv.invoice_id, number=inv.number, status=inv.status,
                              amount_without_vat=str(inv.amount_without_vat) if inv.amount_without_vat is not None else None,
                              vat_amount=str(inv.vat_amount) if inv.vat_amount is not None else None,
                              amount_with_vat=str(inv.amount_with_vat), currency=inv.currency,
                              buyer_structure_id=inv.buyer_structure_id, service_code=inv.service_code).model_dump()

    result, replayed = run_once(idempotency_key, user, "invoices.enter", body.model_dump(mode="json"), create)
    if not replayed:
        metrics.add_metric(name="InvoicesEntered", unit="Count", value=1)
    return json_response(result, 201, headers={"Location": f"/v1/invoices/{result['invoice_id']}",
                                               **replay_headers(replayed)})


# -- the flows queue ---------------------------------------------------------------------

processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if "flow_id" in body:
        flow = deposit.process(body["flow_id"])
        if flow is not None:
            metrics.add_metric(name=f"Flows{flow.status.value.title()}", unit="Count", value=1)
        return
    for s3 in body.get("Records", []):  # S3 ObjectCreated notification of an EDI drop
        obj = s3.get("s3", {})
        deposit.receive_edi(obj["bucket"]["name"], obj["object"]["key"], obj["object"].get("size", 0),
                            obj["object"].get("eTag", ""), obj["object"].get("versionId"))
    # s3:TestEvent and anything else: nothing to do


def on_queue(event: dict, context) -> dict:
    if event.get("source") == "aws.events":  # the schedule: stuck flows queued again
        requeued = deposit.sweep()
        logger.info("flow sweep", extra={"requeued": requeued})
        return {"requeued": requeued}
    if not event.get("Records"):
        logger.warning("unexpected event", extra={"keys": sorted(event)})
        return {}
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)


handler = make_handler(app, on_event=on_queue)
