"""Invoice deposit end to end: flows (API and EDI), the deposit rules, portal entry, uploads, events."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
import uuid
from datetime import date

import boto3
import pytest
from pypdf import PdfReader

from conftest import b64, invoice_file, submit, wait_flow


@pytest.fixture(scope="module")
def events_queue(platform):
    """Every event of the bus, delivered to a queue the test reads (EventBridge rule -> SQS)."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName=f"test-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"test-all-{uuid.uuid4().hex[:8]}"
    bus = os.environ["EVENT_BUS_NAME"]
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["orchestre"]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def received_events(url: str, wait: float = 3.0) -> list[dict]:
    sqs, out, deadline = boto3.client("sqs"), [], time.time() + wait
    while time.time() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        out += [json.loads(m["Body"]) for m in msgs]
        if msgs:
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for i, m in enumerate(msgs)])
    return out


def codes(report: dict) -> list[str]:
    return [e["code"] for inv in report["invoices"] for e in inv["errors"]]


def test_flow_accepted_invoice_and_event(api, parties, events_queue):
    clerk = parties["clerk"]
    number, pdf = invoice_file(parties)
    report = wait_flow(api, clerk.token, submit(api, clerk.token, pdf))
    assert report["status"] == "INTEGRATED" and report["chorus_status"] == "IN_INTEGRE", report
    assert report["validation"]["valid"] is True and report["validation"]["profile"] == "en16931"
    [inv] = report["invoices"]
    assert inv["number"] == number and inv["status"] == "DEPOSEE" and inv["errors"] == []
    stored = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"],
                                               Key={"PK": {"S": f"INV#{inv['invoice_id']}"}, "SK": {"S": "INVOICE"}})
    item = stored["Item"]
    # deposited as the report says; the routing workflow, started by the deposit event, may have moved it on
    assert item["status"]["S"] in ("DEPOSEE", "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION"), item["status"]
    assert item["GSI2PK"]["S"] == f"BUYER#{parties['buyer']['structure_id']}"
    assert item["service_code"]["S"] == "SERV-1" and item["amount_with_vat"]["S"] == "1620.00"
    deposited = [e for e in received_events(events_queue) if e["detail-type"] == "InvoiceDeposited"]
    assert inv["invoice_id"] in [e["detail"]["invoice_id"] for e in deposited]


@pytest.mark.parametrize("case,expected", [
    ("wrong_service", ("SERVICE_UNKNOWN", "CODE_ROUTAGE_ERR", "BT-10")),
    ("no_service", ("SERVICE_CODE_REQUIRED", "CODE_ROUTAGE_ERR", "BT-10")),
    ("missing_ej", ("LEGAL_COMMITMENT_REQUIRED", "CMD_ERR", "BT-13")),
    ("unknown_buyer", ("BUYER_UNKNOWN", "DEST_INC", "BT-46")),
    ("private_buyer", ("BUYER_NOT_PUBLIC", "DEST_ERR", "BT-46")),
])
def test_flow_rejected_by_deposit_rules(api, parties, new_structure, case, expected):
    clerk = parties["clerk"]
    kwargs = {"wrong_service": {"service": "NOPE"}, "no_service": {"service": None},
              "missing_ej": {"service": "SERV-EJ"}}.get(case, {})
    if case == "unknown_buyer":
        from conftest import random_siret

        kwargs["buyer"] = {"identifier": random_siret(), "name": "Inconnue"}
    if case == "private_buyer":
        kwargs["buyer"] = new_structure(parties["owner"], kind="PRIVATE")
    _, pdf = invoice_file(parties, **kwargs)
    report = wait_flow(api, clerk.token, submit(api, clerk.token, pdf))
    assert report["status"] == "REJECTED" and report["validation"]["valid"] is True
    errors = report["invoices"][0]["errors"]
    assert (errors[0]["code"], errors[0]["reason_code"], errors[0]["field"]) == expected, errors
    assert report["invoices"][0]["invoice_id"] is None


def test_the_ej_passes_when_given(api, parties):
    clerk = parties["clerk"]
    _, pdf = invoice_file(parties, service="SERV-EJ", ej="EJ-2026-0042")
    assert wait_flow(api, clerk.token, submit(api, clerk.token, pdf))["status"] == "INTEGRATED"


def test_duplicates_never_make_a_second_invoice(api, parties):
    clerk = parties["clerk"]
    number, pdf = invoice_file(parties)
    first = wait_flow(api, clerk.token, submit(api, clerk.token, pdf))
    assert first["status"] == "INTEGRATED"
    # the same number again, in another format (CII XML): DOUBLON
    _, xml = invoice_file(parties, number=number, fmt="xml")
    again = wait_flow(api, clerk.token, submit(api, clerk.token, xml, "facture.xml"))
    assert again["status"] == "REJECTED" and codes(again) == ["DOUBLON"]
    assert again["invoices"][0]["errors"][0]["reason_code"] == "DOUBLON"
    # a retried request with the same Idempotency-Key is the same flow
    _, other = invoice_file(parties)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    f1, f2 = submit(api, clerk.token, other, headers=key), submit(api, clerk.token, other, headers=key)
    assert f1 == f2 and wait_flow(api, clerk.token, f1)["status"] == "INTEGRATED"


def test_depositor_must_act_for_the_seller(api, parties, new_user, new_structure, member):
    stranger = new_user("stranger")
    new_structure(stranger, kind="PRIVATE")
    _, pdf = invoice_file(parties)
    report = wait_flow(api, stranger.token, submit(api, stranger.token, pdf))
    assert report["status"] == "REJECTED" and codes(report) == ["DEPOSITOR_NOT_ALLOWED"]
    reader = member(parties["owner"], parties["supplier"], permissions={"INVOICES_ISSUED": "CONSULTATION"})
    report = wait_flow(api, reader.token, submit(api, reader.token, pdf))
    assert codes(report) == ["DEPOSITOR_NOT_ALLOWED"]
    # and a flow is visible to its depositor only
    assert api.get(f"/v1/flows/{report['flow_id']}", token=parties["clerk"].token).status == 404


def test_invalid_files_are_rejected_with_the_validation_report(api, parties):
    clerk = parties["clerk"]
    report = wait_flow(api, clerk.token, submit(api, clerk.token, b"<Invoice>not UBL</Invoice>", "x.xml"))
    assert report["status"] == "REJECTED" and report["chorus_status"] == "IN_REJETE"
    assert [e["rule"] for e in report["validation"]["errors"]] == ["UNSUPPORTED_SYNTAX"]


def test_bad_requests_are_refused_at_the_door(api, parties):
    token = parties["clerk"].token
    cases = [
        ({"file_name": "f.pdf", "content_base64": "%%%not base64"}, 422, "INVALID_BASE64", "content_base64"),
        ({"file_name": "../../x", "content_base64": b64(b"<x/>")}, 422, "INVALID_FILE_NAME", "file_name"),
        ({"file_name": "f.pdf", "content_base64": ""}, 422, "EMPTY_FILE", "content_base64"),
        ({"file_name": "f.pdf"}, 422, "VALIDATION_ERROR", "body"),
        ({"file_name": "f.pdf", "content_base64": "eA==", "upload_id": "x"}, 422, "VALIDATION_ERROR", "body"),
        ({"file_name": "f.pdf", "upload_id": str(uuid.uuid4())}, 404, "UPLOAD_NOT_FOUND", "upload_id"),
    ]
    for body, status, code, field in cases:
        for path in ("/v1/flows", "/v1/validations"):
            r = api.post(path, body, token=token)
            assert (r.status, r.json["code"], r.json.get("field")) == (status, code, field), (path, body, r)
    big = b64(b"0" * (7 * 1024 * 1024))
    r = api.post("/v1/flows", {"file_name": "big.pdf", "content_base64": big}, token=token)
    assert r.status == 413 and r.json["code"] == "PAYLOAD_TOO_LARGE"
    assert api.post("/v1/flows", {"file_name": "f.pdf", "content_base64": "eA=="}).status == 401


def test_upload_then_deposit(api, parties):
    clerk = parties["clerk"]
    _, pdf = invoice_file(parties)
    ticket = api.post("/v1/uploads", {"file_name": "facture.pdf"}, token=clerk.token)
    assert ticket.status == 201, ticket
    req = urllib.request.Request(ticket.json["url"], data=pdf, method="PUT", headers=ticket.json["headers"])
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    r = api.post("/v1/flows", {"file_name": "facture.pdf", "upload_id": ticket.json["upload_id"]}, token=clerk.token)
    assert r.status == 202
    assert wait_flow(api, clerk.token, r.json["flow_id"])["status"] == "INTEGRATED"
    # another user cannot use this upload
    other = api.post("/v1/validations", {"file_name": "f.pdf", "upload_id": ticket.json["upload_id"]},
                     token=parties["owner"].token)
    assert other.status == 404 and other.json["code"] == "UPLOAD_NOT_FOUND"
    # a 12 MB upload is refused when used
    ticket = api.post("/v1/uploads", {"file_name": "big.pdf"}, token=clerk.token).json
    req = urllib.request.Request(ticket["url"], data=b"%PDF" + b"0" * (12 * 1024 * 1024), method="PUT",
                                 headers=ticket["headers"])
    urllib.request.urlopen(req, timeout=20).close()
    r = api.post("/v1/flows", {"file_name": "big.pdf", "upload_id": ticket["upload_id"]}, token=clerk.token)
    assert r.status == 422 and r.json["code"] == "FILE_TOO_LARGE"


def test_validation_service_reports_without_depositing(api, parties):
    number, pdf = invoice_file(parties)
    r = api.post("/v1/validations", {"file_name": "f.pdf", "content_base64": b64(pdf)}, token=parties["clerk"].token)
    assert r.status == 200 and r.json["valid"] is True and r.json["syntax"] == "CII"
    assert r.json["profile"] == "en16931" and r.json["errors"] == []
    # nothing was deposited: the same number still goes through
    assert wait_flow(api, parties["clerk"].token, submit(api, parties["clerk"].token, pdf))["status"] == "INTEGRATED"


def test_edi_drop_with_a_technical_account(api, parties, platform):
    owner, supplier = parties["owner"], parties["supplier"]
    r = api.post(f"/v1/structures/{supplier['structure_id']}/technical-accounts", {"name": "EDI"}, token=owner.token)
    assert r.status == 201, r
    account = r.json["account"]
    s3 = boto3.client("s3")
    bucket = os.environ["EXCHANGE_BUCKET"]
    number, pdf = invoice_file(parties)
    s3.put_object(Bucket=bucket, Key=f"{account['inbound_prefix']}lot 1/facture {number}.pdf", Body=pdf)
    _, bad = invoice_file(parties, service="NOPE")
    s3.put_object(Bucket=bucket, Key=f"{account['inbound_prefix']}bad.pdf", Body=bad)
    # a file under an unknown account's prefix: no account acts for the seller
    _, pdf2 = invoice_file(parties)
    s3.put_object(Bucket=bucket, Key=f"inbound/{uuid.uuid4()}/x.pdf", Body=pdf2)

    def report(key: str, timeout=30.0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                time.sleep(0.3)
        raise AssertionError(f"no report {key}")

    ok = report(f"{account['outbound_prefix']}lot 1/facture {number}.pdf.report.json")  # sub-folders kept
    assert ok["status"] == "INTEGRATED" and ok["channel"] == "EDI" and ok["invoices"][0]["number"] == number
    ko = report(f"{account['outbound_prefix']}bad.pdf.report.json")
    assert ko["status"] == "REJECTED" and codes(ko) == ["SERVICE_UNKNOWN"]


def test_portal_entry(api, parties):
    clerk, supplier, buyer = parties["clerk"], parties["supplier"], parties["buyer"]
    body = {
        "supplier_structure_id": supplier["structure_id"], "recipient_identifier": buyer["identifier"],
        "service_code": "SERV-1", "number": f"P-{uuid.uuid4().hex[:6]}", "issue_date": date.today().isoformat(),
        "lines": [{"description": "Ramettes de papier", "quantity": "10", "unit_price": "4.99", "vat_rate": "20"},
                  {"description": "Livre", "quantity": "1", "unit_price": "25", "vat_rate": "5.5"}],
        "attachments": [{"file_name": "bon-de-livraison.txt", "content_base64": b64(b"BL 42")}],
    }
    r = api.post("/v1/invoices", body, token=clerk.token)
    assert r.status == 201, r
    inv = r.json
    assert (inv["amount_without_vat"], inv["vat_amount"], inv["amount_with_vat"]) == ("74.90", "11.36", "86.26")
    item = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"],
                                             Key={"PK": {"S": f"INV#{inv['invoice_id']}"}, "SK": {"S": "INVOICE"}})["Item"]
    pdf_key = item["files"]["M"]["pdf_key"]["S"].replace("~/", f"invoices/{inv['invoice_id']}/")  # stored relative
    pdf = boto3.client("s3").get_object(Bucket=os.environ["DOCUMENTS_BUCKET"], Key=pdf_key)["Body"].read()
    attachments = PdfReader(__import__("io").BytesIO(pdf)).attachments
    assert "factur-x.xml" in attachments and "bon-de-livraison.txt" in attachments
    # the same number again: DOUBLON; a wrong service: the rule's code; a stranger: 404
    again = api.post("/v1/invoices", body, token=clerk.token)
    assert again.status == 422 and again.json["code"] == "DEPOSIT_REJECTED"
    assert [e["code"] for e in again.json["errors"]] == ["DOUBLON"]
    wrong = api.post("/v1/invoices", {**body, "number": "P-2", "service_code": "NOPE"}, token=clerk.token)
    assert wrong.status == 422 and wrong.json["errors"][0]["code"] == "SERVICE_UNKNOWN"
    outsider = api.post("/v1/invoices", {**body, "number": "P-3"}, token=parties["buyer_user"].token)
    assert outsider.status == 404
    bad = api.post("/v1/invoices", {**body, "number": "P-4", "kind": "AVOIR"}, token=clerk.token)
    assert bad.status == 422 and bad.json["code"] == "VALIDATION_ERROR"
    neg = api.post("/v1/invoices", {**body, "number": "P-5", "lines": [{"description": "x", "quantity": "-1",
                                                                      "unit_price": "1"}]}, token=clerk.token)
    assert neg.status == 422 and neg.json["field"] == "lines.0.quantity"


def test_a_flow_left_received_is_queued_again(api, parties, platform):
    """A crash between recording a flow and queueing it: the scheduled sweep queues it again."""
    from datetime import datetime, timedelta, timezone

    from orchestre.domain.flows import Flow
    from orchestre.domain.invoices import Channel
    from orchestre.repositories.invoices import FlowRepository
    from orchestre.services.deposit import DepositService

    clerk = parties["clerk"]
    _, pdf = invoice_file(parties)
    service = DepositService()
    sha, key = service._store_original(pdf, "lost.pdf")
    old = (datetime.now(timezone.utc) - timedelta(minutes=20)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    flow = Flow(flow_id=str(uuid.uuid4()), channel=Channel.API, depositor_id=clerk.user_id, file_name="lost.pdf",
                size=len(pdf), sha256=sha, original_key=key, received_at=old)
    FlowRepository().create(flow)  # recorded, never queued
    time.sleep(1.5)
    assert api.get(f"/v1/flows/{flow.flow_id}", token=clerk.token).json["status"] == "RECEIVED"
    out = platform.gateway.invoke_function("deposit", {"source": "aws.events", "detail-type": "Scheduled Event"})
    assert out["requeued"] >= 1
    assert wait_flow(api, clerk.token, flow.flow_id)["status"] == "INTEGRATED"


def test_a_file_name_with_accents_is_kept(api, parties):
    """Found by the fuzzer: S3 metadata is ASCII only; the original's name is stored percent-encoded."""
    clerk = parties["clerk"]
    number, pdf = invoice_file(parties)
    report = wait_flow(api, clerk.token, submit(api, clerk.token, pdf, name="facture-été-🀁.pdf"))
    assert report["status"] == "INTEGRATED" and report["file_name"] == "facture-été-🀁.pdf", report
