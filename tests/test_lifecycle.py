"""The invoice lifecycle end to end: routing workflow, statuses by role, history, races, recycling,
reading, the payment clock, revenue orders."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import boto3
import pytest

from conftest import b64


def enter(api, parties, number=None, service="SERV-1", amount="100", buyer=None, token=None) -> str:
    body = {"supplier_structure_id": parties["supplier"]["structure_id"],
            "recipient_identifier": (buyer or parties["buyer"])["identifier"], "service_code": service,
            "number": number or f"L-{uuid.uuid4().hex[:8]}", "issue_date": date.today().isoformat(),
            "lines": [{"description": "Prestation", "quantity": "1", "unit_price": amount, "vat_rate": "20"}]}
    r = api.post("/v1/invoices", body, token=token or parties["clerk"].token)
    assert r.status == 201, r
    return r.json["invoice_id"]


def wait_status(api, token, invoice_id, status, timeout=30.0) -> dict:
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        last = api.get(f"/v1/invoices/{invoice_id}", token=token)
        if last.status == 200 and last.json["status"] == status:
            return last.json
        time.sleep(0.25)
    raise AssertionError(f"{invoice_id} not {status} in {timeout}s: {last}")


def post_status(api, token, invoice_id, status, **extra):
    return api.post(f"/v1/invoices/{invoice_id}/status", {"status": status, **extra}, token=token)


def test_full_lifecycle_with_suspension(api, parties):
    buyer, supplier = parties["buyer_user"], parties["clerk"]
    iid = enter(api, parties, amount="1000")
    inv = wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    assert inv["lifecycle_code"] == 203
    due = date.fromisoformat(inv["payment"]["due_date"])
    assert due == date.today() + timedelta(days=30) and inv["payment"]["running"] is True
    assert inv["payment"]["days_left"] == 30 and inv["payment"]["late_interest"] == "0.00"
    allowed = {s["status"] for s in api.get(f"/v1/invoices/{iid}/next-statuses", token=buyer.token).json["allowed"]}
    assert allowed == {"COMPTABILISEE", "SERVICE_FAIT", "MANDATEE", "SUSPENDUE", "A_RECYCLER", "REJETEE"}
    assert api.get(f"/v1/invoices/{iid}/next-statuses", token=supplier.token).json["allowed"] == []

    r = post_status(api, buyer.token, iid, "SUSPENDUE")
    assert r.status == 422 and r.json["code"] == "REASON_REQUIRED"
    r = post_status(api, buyer.token, iid, "SUSPENDUE", reason_code="JUSTIF_ABS", comment="Joindre le PV de réception")
    assert r.status == 200 and r.json["status"] == "SUSPENDUE" and r.json["lifecycle_code"] == 208
    assert r.json["payment"]["running"] is False
    r = api.post(f"/v1/invoices/{iid}/complete", {"comment": "PV joint",
                                                  "attachments": [{"file_name": "pv.txt", "content_base64": b64(b"PV")}]},
                 token=supplier.token)
    assert r.status == 200 and r.json["status"] == "COMPLETEE" and "pv.txt" in r.json["documents"]
    assert r.json["payment"]["running"] is True
    r = post_status(api, buyer.token, iid, "SERVICE_FAIT")
    assert r.status == 200
    r = post_status(api, buyer.token, iid, "MANDATEE")
    assert r.status == 422 and r.json["code"] == "MANDATE_NUMBER_REQUIRED"
    r = post_status(api, buyer.token, iid, "MANDATEE", mandate_number="M-2026-123")
    assert r.status == 200 and r.json["mandate_number"] == "M-2026-123"
    r = post_status(api, buyer.token, iid, "MISE_EN_PAIEMENT")
    assert r.status == 200 and r.json["lifecycle_code"] == 211 and r.json["payment"]["running"] is False

    history = api.get(f"/v1/invoices/{iid}/history", token=supplier.token).json["items"]
    assert [(h["status"], h["actor_role"]) for h in history] == [
        ("DEPOSEE", "SUPPLIER"), ("EN_COURS_ACHEMINEMENT", "PLATFORM"), ("MISE_A_DISPOSITION", "PLATFORM"),
        ("SUSPENDUE", "RECIPIENT"), ("COMPLETEE", "SUPPLIER"), ("SERVICE_FAIT", "RECIPIENT"),
        ("MANDATEE", "RECIPIENT"), ("MISE_EN_PAIEMENT", "RECIPIENT")]
    suspended = history[3]
    assert suspended["reason_code"] == "JUSTIF_ABS" and suspended["comment"] == "Joindre le PV de réception"
    assert suspended["actor_id"] == buyer.user_id and history[6]["mandate_number"] == "M-2026-123"
    link = api.get(f"/v1/invoices/{iid}/documents/pdf", token=buyer.token)
    assert link.status == 200 and "X-Amz-Signature" in link.json["url"]


def test_who_may_do_what(api, parties, new_user, member):
    buyer, supplier = parties["buyer_user"], parties["clerk"]
    iid = enter(api, parties)
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    stranger = new_user("stranger")
    for path in (f"/v1/invoices/{iid}", f"/v1/invoices/{iid}/history", f"/v1/invoices/{iid}/next-statuses",
                 f"/v1/invoices/{uuid.uuid4()}", "/v1/invoices/not-an-id"):
        r = api.get(path, token=stranger.token)
        assert r.status == 404 and r.json["code"] == "INVOICE_NOT_FOUND", (path, r)
    assert post_status(api, stranger.token, iid, "SERVICE_FAIT").status == 404
    r = post_status(api, supplier.token, iid, "SERVICE_FAIT")  # a buyer's status
    assert r.status == 409 and r.json["code"] == "TRANSITION_NOT_ALLOWED"
    reader = member(buyer, parties["buyer"], permissions={"INVOICES_RECEIVED": "CONSULTATION"})
    assert api.get(f"/v1/invoices/{iid}", token=reader.token).status == 200
    r = post_status(api, reader.token, iid, "SERVICE_FAIT")  # reads, may not act (the matrix found a 409)
    assert r.status == 403 and r.json["code"] == "SPACE_PERMISSION_REQUIRED"
    r = post_status(api, buyer.token, iid, "MISE_EN_PAIEMENT")  # not from MISE_A_DISPOSITION
    assert r.status == 409 and "MANDATEE" in r.json["allowed"]
    r = api.post(f"/v1/invoices/{iid}/complete", {"comment": "x"}, token=supplier.token)
    assert r.status == 409  # not suspended
    r = post_status(api, buyer.token, iid, "REJETEE", reason_code="NOT_A_CODE")
    assert r.status == 422 and r.json["code"] == "UNKNOWN_REASON_CODE"
    r = post_status(api, buyer.token, iid, "PAYEE")
    assert r.status == 422 and r.json["field"] == "status"
    assert api.get(f"/v1/invoices/{iid}", token=buyer.token).json["status"] == "MISE_A_DISPOSITION"


@pytest.mark.parametrize("mode", ["same-final-move", "different-moves-if-match"])
def test_two_buyers_racing_exactly_one_wins(api, parties, member, mode):
    buyer = parties["buyer_user"]
    second = member(buyer, parties["buyer"], permissions={"INVOICES_RECEIVED": "MODIFICATION"})
    iid = enter(api, parties)
    seen = wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    if mode == "same-final-move":  # REJETEE is final: after one, none can follow
        calls = [(u, {"status": "REJETEE", "reason_code": "CALCUL_ERR"}, {}) for u in (buyer, second)] * 4
        losers = {409}
    else:  # each decides on the version it read: If-Match
        v = {"If-Match": f'"{seen["version"]}"'}
        calls = [(buyer, {"status": "SERVICE_FAIT"}, v), (second, {"status": "REJETEE", "reason_code": "CALCUL_ERR"}, v),
                 (buyer, {"status": "SUSPENDUE", "reason_code": "JUSTIF_ABS"}, v),
                 (second, {"status": "COMPTABILISEE"}, v)] * 2
        losers = {409, 412}
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        replies = list(pool.map(lambda c: api.post(f"/v1/invoices/{iid}/status", c[1], token=c[0].token,
                                                   headers=c[2]), calls))
    winners = [r for r in replies if r.status == 200]
    assert len(winners) == 1, replies
    assert all(r.status in losers for r in replies if r.status != 200), replies
    final = api.get(f"/v1/invoices/{iid}", token=buyer.token).json
    assert final["status"] == winners[0].json["status"] and final["version"] == winners[0].json["version"]
    history = api.get(f"/v1/invoices/{iid}/history", token=buyer.token).json["items"]
    assert len(history) == 4  # deposited, routing, available, the one winner


def test_recycle_to_another_buyer_and_service(api, parties, new_user, new_structure):
    buyer, supplier = parties["buyer_user"], parties["clerk"]
    iid = enter(api, parties)
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    r = post_status(api, buyer.token, iid, "A_RECYCLER", reason_code="DEST_ERR", comment="Pas pour nous")
    assert r.status == 200 and r.json["lifecycle_code"] == 221
    other_user = new_user("other-buyer")
    other = new_structure(other_user, name=f"Département {uuid.uuid4().hex[:5]}")
    api.post(f"/v1/structures/{other['structure_id']}/services", {"code": "DGS", "name": "DGS"}, token=other_user.token)
    # recycling to an unknown or private structure, or an unknown service: refused, nothing changes
    from conftest import random_siret

    private = new_structure(parties["owner"], kind="PRIVATE")
    for body, code in (({"recipient_identifier": random_siret()}, "BUYER_UNKNOWN"),
                       ({"recipient_identifier": private["identifier"]}, "BUYER_NOT_PUBLIC"),
                       ({"recipient_identifier": other["identifier"], "service_code": "NOPE"}, "SERVICE_UNKNOWN")):
        r = api.post(f"/v1/invoices/{iid}/recycle", body, token=supplier.token)
        assert r.status == 422 and r.json["code"] == code, r
    assert api.post(f"/v1/invoices/{iid}/recycle", {"recipient_identifier": other["identifier"]},
                    token=buyer.token).status == 409  # the buyer does not recycle
    r = api.post(f"/v1/invoices/{iid}/recycle", {"recipient_identifier": other["identifier"], "service_code": "DGS"},
                 token=supplier.token)
    assert r.status == 200 and r.json["status"] == "DEPOSEE" and r.json["buyer_structure_id"] == other["structure_id"]
    routed = wait_status(api, other_user.token, iid, "MISE_A_DISPOSITION")
    assert routed["service_code"] == "DGS" and routed["number"] == api.get(
        f"/v1/invoices/{iid}", token=supplier.token).json["number"]
    assert api.get(f"/v1/invoices/{iid}", token=buyer.token).status == 404  # the first buyer no longer sees it
    seen_by_new = api.get(f"/v1/invoices/{iid}/history", token=other_user.token).json["items"]
    assert seen_by_new[0]["previous_status"] == "A_RECYCLER" and "Pas pour nous" not in str(seen_by_new)
    full = api.get(f"/v1/invoices/{iid}/history", token=supplier.token).json["items"]
    assert "Pas pour nous" in str(full)  # the supplier sees the whole story
    received = api.get(f"/v1/invoices?role=RECIPIENT&structure_id={other['structure_id']}", token=other_user.token)
    assert [i["invoice_id"] for i in received.json["items"]] == [iid]


def test_lists_by_index_with_filters(api, parties):
    buyer, supplier = parties["buyer_user"], parties["clerk"]
    small, big = enter(api, parties, amount="10"), enter(api, parties, amount="5000")
    wait_status(api, buyer.token, big, "MISE_A_DISPOSITION")
    wait_status(api, buyer.token, small, "MISE_A_DISPOSITION")
    sid_b, sid_s = parties["buyer"]["structure_id"], parties["supplier"]["structure_id"]
    got = api.get(f"/v1/invoices?role=RECIPIENT&structure_id={sid_b}&min_amount=1000", token=buyer.token).json
    assert [i["invoice_id"] for i in got["items"]] == [big]
    got = api.get(f"/v1/invoices?role=SUPPLIER&structure_id={sid_s}&status=MISE_A_DISPOSITION&limit=1",
                  token=supplier.token).json
    assert len(got["items"]) == 1 and got["next_page_token"]
    page2 = api.get(f"/v1/invoices?role=SUPPLIER&structure_id={sid_s}&status=MISE_A_DISPOSITION&limit=1"
                    f"&page_token={got['next_page_token']}", token=supplier.token).json
    assert {got["items"][0]["invoice_id"], page2["items"][0]["invoice_id"]} == {small, big}
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert api.get(f"/v1/invoices?role=RECIPIENT&structure_id={sid_b}&from={tomorrow}",
                   token=buyer.token).json["items"] == []
    r = api.get(f"/v1/invoices?role=RECIPIENT&structure_id={sid_b}", token=supplier.token)
    assert r.status == 404  # the supplier's user is not a member of the buyer
    assert api.get(f"/v1/invoices?role=BOTH&structure_id={sid_b}", token=buyer.token).status == 422
    for bad in ("1e200", "1" * 41, "-1"):
        r = api.get(f"/v1/invoices?role=RECIPIENT&structure_id={sid_b}&min_amount={bad}", token=buyer.token)
        assert r.status == 422 and r.json["field"] == "min_amount", (bad, r)


def test_an_invoice_goes_overdue_when_the_clock_moves_31_days(api, parties, clock):
    buyer, supplier = parties["buyer_user"], parties["clerk"]
    iid = enter(api, parties, amount="1000")
    inv = wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    assert inv["payment"]["days_left"] == 30 and inv["payment"]["days_late"] == 0
    assert api.post("/_local/schedules/run").json["ran"]  # nothing is late yet
    assert api.get(f"/v1/invoices/{iid}", token=buyer.token).json["payment"]["days_late"] == 0

    moved = clock.advance("P31D")
    assert date.fromisoformat(moved["now"][:10]) == date.today() + timedelta(days=31)
    shown = api.get(f"/v1/invoices/{iid}", token=buyer.token).json["payment"]  # the token still works
    assert shown["days_late"] == 1 and shown["days_left"] == -1 and shown["fixed_indemnity"] == "40.00"
    assert shown["late_interest"] == "0.33"  # 1200 EUR incl. VAT x (2.15 + 8) % x 1 / 365
    ran = {r["function"]: r for r in api.post("/_local/schedules/run").json["ran"]}
    assert ran["process"]["ok"] and ran["process"]["result"]["flagged"] >= 1, ran  # (earlier tests' invoices too)
    again = {r["function"]: r for r in api.post("/_local/schedules/run").json["ran"]}
    assert again["process"]["result"]["flagged"] == 0  # each announced once
    history = api.get(f"/v1/invoices/{iid}/history", token=supplier.token).json["items"]
    assert [h["details"] for h in history].count({"overdue": True}) == 1
    assert history[-1]["details"] == {"overdue": True} and history[-1]["at"][:10] == moved["now"][:10]


def test_revenue_order_is_received_like_an_invoice_but_informational(api, new_user, new_structure):
    state_user, local_user = new_user("ordonnateur"), new_user("collectivite")
    issuer = new_structure(state_user, name=f"DRFiP {uuid.uuid4().hex[:5]}")
    recipient = new_structure(local_user, name=f"Commune {uuid.uuid4().hex[:5]}")
    body = {"issuer_structure_id": issuer["structure_id"], "recipient_identifier": recipient["identifier"],
            "number": f"T-{uuid.uuid4().hex[:6]}", "issue_date": date.today().isoformat(), "amount": "2500.00",
            "subject": "Redevance d'occupation du domaine public"}
    r = api.post("/v1/revenue-orders", body, token=state_user.token)
    assert r.status == 201, r
    assert r.json["document_type"] == "REVENUE_ORDER" and r.json["informational"] is True
    rid = r.json["invoice_id"]
    inv = wait_status(api, local_user.token, rid, "MISE_A_DISPOSITION")
    assert inv["notice"].startswith("Revenue order") and inv["payment"] is None
    listed = api.get(f"/v1/invoices?role=RECIPIENT&structure_id={recipient['structure_id']}", token=local_user.token)
    assert [i["invoice_id"] for i in listed.json["items"]] == [rid]
    assert api.get(f"/v1/invoices/{rid}/documents/pdf", token=local_user.token).status == 200
    r = post_status(api, local_user.token, rid, "SERVICE_FAIT")
    assert r.status == 200 and r.json["informational"] is True
    # only a public issuer with the right, to a public recipient; a cancellation names its order
    assert api.post("/v1/revenue-orders", body, token=local_user.token).status == 404
    r = api.post("/v1/revenue-orders", {**body, "number": "T-2", "kind": "ANNULATION"}, token=state_user.token)
    assert r.status == 422 and r.json["code"] == "CANCELS_NUMBER_REQUIRED"
    assert api.post("/v1/revenue-orders", body, token=state_user.token).json["code"] == "DOUBLON"


@pytest.mark.slow
def park_an_invoice(api, parties) -> tuple[str, dict]:
    """An invoice whose buyer stopped receiving between deposit and routing: retried with backoff,
    then parked EN_ERREUR. The buyer's space is left closed."""
    buyer, buyer_sid = parties["buyer_user"], parties["buyer"]["structure_id"]
    iid = enter(api, parties)
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    # back to DEPOSEE (as if just deposited), the buyer closes its space, the workflow starts
    from orchestre.domain.invoices import HistoryEntry
    from orchestre.repositories.invoices import InvoiceRepository

    repo = InvoiceRepository()
    inv = repo.get(iid, consistent=True)
    repo.transition(inv.model_copy(update={"status": "DEPOSEE", "version": inv.version + 1, "payment_clock": None}),
                    inv, HistoryEntry(invoice_id=iid, at="2000-01-01T00:00:00Z", status="DEPOSEE", actor_role="PLATFORM"))
    assert api.delete(f"/v1/structures/{buyer_sid}/spaces/INVOICES_RECEIVED", token=buyer.token).status == 200
    boto3.client("stepfunctions").start_execution(stateMachineArn=os.environ["LIFECYCLE_STATE_MACHINE_ARN"],
                                                  input=f'{{"invoice_id": "{iid}"}}')
    return iid, wait_status(api, parties["clerk"].token, iid, "EN_ERREUR", timeout=40)


def test_a_failing_route_parks_the_invoice(api, parties):
    """The buyer stops receiving between deposit and routing: retries with backoff, then EN_ERREUR
    with the cause (operations are alerted through the RoutingFailures metric and the alarm)."""
    buyer, buyer_sid = parties["buyer_user"], parties["buyer"]["structure_id"]
    iid, inv = park_an_invoice(api, parties)
    assert "no longer receives" in inv["routing_error"]
    history = [h["status"] for h in api.get(f"/v1/invoices/{iid}/history", token=parties["clerk"].token).json["items"]]
    assert history[-1] == "EN_ERREUR"
    # a parked invoice is not a dead end: the buyer reopens, the supplier sends it again
    assert api.put(f"/v1/structures/{buyer_sid}/spaces/INVOICES_RECEIVED", token=buyer.token).status == 200
    r = api.post(f"/v1/invoices/{iid}/recycle", {"recipient_identifier": parties["buyer"]["identifier"],
                                                 "service_code": "SERV-1"}, token=parties["clerk"].token)
    assert r.status == 200, r
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")


def test_both_sides_are_notified_along_the_lifecycle(api, parties):
    """Deposit -> the buyer is told (email + its SQS queue); suspension -> the supplier is told;
    completion; SERVICE_FAIT, MANDATEE, MISE_EN_PAIEMENT -> the supplier is told it is paid."""
    from test_notifications import emails_to, receive, subscribe, wait_emails

    buyer, supplier_owner, clerk = parties["buyer_user"], parties["owner"], parties["clerk"]
    sqs = boto3.client("sqs")
    queues = {side: sqs.create_queue(QueueName=f"subscriber-{side}-{uuid.uuid4().hex[:6]}")["QueueUrl"]
              for side in ("buyer", "supplier")}
    mail = {side: f"{side}-{uuid.uuid4().hex[:6]}@example.fr" for side in ("buyer", "supplier")}
    for side, structure, user, events in (("buyer", parties["buyer"], buyer, ["MISE_A_DISPOSITION"]),
                                          ("supplier", parties["supplier"], supplier_owner,
                                           ["SUSPENDUE", "MISE_EN_PAIEMENT"])):
        for channel, target, ev in (("EMAIL", mail[side], events), ("SQS", queues[side], ["ALL"])):
            r = subscribe(api, user, structure, channel=channel, target=target, events=ev)
            assert r.status == 201, r
    iid = enter(api, parties, amount="1000")
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    [available] = wait_emails(mail["buyer"])
    number = api.get(f"/v1/invoices/{iid}", token=buyer.token).json["number"]
    import re

    assert number in available.subject and "1200,00" in re.sub(r"[\s\u202f\u00a0]", "", available.body)
    assert post_status(api, buyer.token, iid, "SUSPENDUE", reason_code="JUSTIF_ABS",
                       comment="Manque le PV").status == 200
    [suspended] = wait_emails(mail["supplier"])
    assert "JUSTIF_ABS" in suspended.body and "Manque le PV" in suspended.body
    assert api.post(f"/v1/invoices/{iid}/complete", {"comment": "PV joint"}, token=clerk.token).status == 200
    for status, extra in (("SERVICE_FAIT", {}), ("MANDATEE", {"mandate_number": "M-1"}), ("MISE_EN_PAIEMENT", {})):
        assert post_status(api, buyer.token, iid, status, **extra).status == 200
    wait_emails(mail["supplier"], count=2)
    assert len(emails_to(mail["buyer"])) == 1  # the buyer subscribed to MISE_A_DISPOSITION by email only
    trail = ["EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION", "SUSPENDUE", "COMPLETEE", "SERVICE_FAIT", "MANDATEE",
             "MISE_EN_PAIEMENT"]
    for side in ("buyer", "supplier"):
        messages = [m for m in receive(queues[side], until=len(trail)) if m.get("invoice_id") == iid]
        got = sorted(messages, key=lambda m: m["at"])
        assert [m["status"] for m in got if m["status"] in trail] == trail, (side, got)
        assert all(m["detail_type"] == "InvoiceStatusChanged" for m in got)
    history = api.get(f"/v1/invoices/{iid}/history", token=clerk.token).json["items"]
    assert [h["status"] for h in history] == ["DEPOSEE", *trail]


def test_a_closed_invoice_is_never_overdue(api, parties, platform):
    buyer = parties["buyer_user"]
    iid = enter(api, parties)
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    r = post_status(api, buyer.token, iid, "REJETEE", reason_code="CALCUL_ERR")
    assert r.status == 200 and r.json["payment"]["running"] is False and r.json["payment"]["days_left"] is None
    item = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"],
                                             Key={"PK": {"S": f"INV#{iid}"}, "SK": {"S": "INVOICE"}})["Item"]
    assert "GSI3PK" not in item  # out of the due-date index: the overdue job cannot see it


def test_a_stuck_routing_is_restarted_by_the_sweep(api, parties, platform):
    """A workflow that never started (or died): the scheduled sweep starts a new one."""
    from datetime import datetime, timezone

    from orchestre.domain.invoices import HistoryEntry
    from orchestre.repositories.invoices import InvoiceRepository

    buyer = parties["buyer_user"]
    iid = enter(api, parties)
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    repo = InvoiceRepository()
    inv = repo.get(iid, consistent=True)
    old = (datetime.now(timezone.utc) - timedelta(minutes=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    repo.transition(inv.model_copy(update={"status": "DEPOSEE", "version": inv.version + 1, "payment_clock": None,
                                           "updated_at": old}),
                    inv, HistoryEntry(invoice_id=iid, at=old, status="DEPOSEE", actor_role="PLATFORM"))
    out = platform.gateway.invoke_function("process", {"source": "aws.events", "detail-type": "Scheduled Event"})
    assert out["restarted"] >= 1
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")


def test_the_invoice_item_stays_under_one_kilobyte(api, parties):
    """Every status change rewrites the invoice item: under 1 KB it costs one write unit (two in
    its transaction) and one per listing index, not twice that (bench/RESULTS.md, cost)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    buyer, supplier = parties["buyer_user"], parties["clerk"]
    iid = enter(api, parties, amount="123456.78")
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    r = post_status(api, buyer.token, iid, "SUSPENDUE", reason_code="JUSTIF_ABS", comment="Joindre le PV " * 10)
    assert r.status == 200
    r = api.post(f"/v1/invoices/{iid}/complete", {"comment": "PV joint", "attachments": [
        {"file_name": f"pv-{n}.pdf", "content_base64": b64(b"%PDF")} for n in range(3)]}, token=supplier.token)
    assert r.status == 200
    for status, extra in (("SERVICE_FAIT", {}), ("MANDATEE", {"mandate_number": "M-2026-000123"})):
        assert post_status(api, buyer.token, iid, status, **extra).status == 200
    item = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"],
                                             Key={"PK": {"S": f"INV#{iid}"}, "SK": {"S": "INVOICE"}})["Item"]
    size = sum(len(k.encode()) + DynamoType(v).size() for k, v in item.items())
    assert size < 1024, (size, sorted(item))
    # and it still reads back whole: ids from the keys, file keys under the invoice's prefix
    inv = api.get(f"/v1/invoices/{iid}", token=buyer.token).json
    assert inv["invoice_id"] == iid and inv["buyer_structure_id"] == parties["buyer"]["structure_id"]
    assert {"pv-0.pdf", "pv-1.pdf", "pv-2.pdf"} <= set(inv["documents"])
    url = api.get(f"/v1/invoices/{iid}/documents/pv-1.pdf", token=buyer.token)
    assert url.status in (200, 302, 303), url
