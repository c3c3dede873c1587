"""TIC/TICGN refund requests: the rate table on every product and year, the filing windows and the
GNR rules, one request a year, the département's service processing it on the lifecycle engine, and
delegations (asked, approved, a delegate filing, revoked; expired with the local clock)."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import date
from decimal import Decimal

import pytest
from test_notifications import mailbox, wait_emails

from orchestre.domain import tic
from orchestre.domain.errors import InvalidInput

IBAN, BIC = "FR7630006000011234567890189", "AGRIFRPP882"
YEAR = 2023  # open until 31 December 2026 (today's requests); GNR of 2021 and 2022 closed
_departments = itertools.cycle([f"{n:02d}" for n in range(1, 96) if n not in (20, 75)])  # 75: the matrix's


# -- the rules, as data ------------------------------------------------------------------------------

def test_every_rate_of_the_table_prices_its_lines():
    for (year, product), rate in tic.RATES.items():
        on = tic.opening(year)  # inside every window of the year
        line = tic.RequestLine(supplier_invoice_number="F1", delivery_date=date(year, 3, 1), product=product,
                               quantity=Decimal("123.45"), purchase=tic.Purchase.RETAIL)
        [priced] = tic.priced_lines(year, [line], on)
        assert priced.rate == rate and priced.amount == (Decimal("123.45") * rate).quantize(Decimal("0.01"),
                                                                                            rounding="ROUND_HALF_UP")
    assert tic.line_amount(Decimal("0.01"), Decimal("14.96")) == Decimal("0.15")  # 0.1496: half-up to the cent
    assert tic.line_amount(Decimal("100"), Decimal("9.355")) == Decimal("935.50")  # 2017 heavy fuel oil per 100 kg
    assert tic.RATES[(2017, tic.Product.FIOUL_LOURD)] * 10 == Decimal("93.550")  # 93.55 EUR a tonne


def _refused(year, product, delivery, on, purchase=tic.Purchase.RETAIL) -> str:
    line = tic.RequestLine(supplier_invoice_number="F1", delivery_date=delivery, product=product,
                           quantity=Decimal("10"), purchase=purchase)
    with pytest.raises(InvalidInput) as e:
        tic.priced_lines(year, [line], on)
    return e.value.code


def test_the_windows_and_the_gnr_rules():
    gnr, gas = tic.Product.GNR, tic.Product.GAZ_NATUREL_COMBUSTIBLE
    assert _refused(2023, gnr, date(2023, 5, 1), date(2023, 12, 31)) == "OUTSIDE_FILING_WINDOW"  # from 1 Jan N+1
    assert tic.priced_lines(2023, [tic.RequestLine(supplier_invoice_number="F", delivery_date=date(2023, 5, 1),
                                                   product=gnr, quantity=Decimal(1))], date(2026, 12, 31))
    assert _refused(2023, gnr, date(2023, 5, 1), date(2027, 1, 1)) == "OUTSIDE_FILING_WINDOW"  # to 31 Dec N+3
    # GNR of 2021 and 2022: 31 December N+2; their other products keep N+3
    assert _refused(2022, gnr, date(2022, 5, 1), date(2025, 1, 1)) == "OUTSIDE_FILING_WINDOW"
    assert tic.priced_lines(2022, [tic.RequestLine(supplier_invoice_number="F", delivery_date=date(2022, 5, 1),
                                                   product=gas, quantity=Decimal(1))], date(2025, 6, 1))
    assert _refused(2023, gnr, date(2022, 12, 31), date(2024, 6, 1)) == "DELIVERY_OUTSIDE_YEAR"
    assert _refused(2019, gnr, date(2019, 5, 1), date(2020, 6, 1)) == "NO_REFUND_RATE"  # never priced as zero
    assert _refused(2017, tic.Product.GPL, date(2017, 5, 1), date(2018, 6, 1)) == "NO_REFUND_RATE"
    # bulk GNR delivered from 1 July 2024 is taxed at the reduced rate: no refund; retail still is
    assert _refused(2024, gnr, date(2024, 7, 1), date(2025, 3, 1), tic.Purchase.BULK) == "BULK_GNR_NOT_REFUNDABLE"
    assert tic.electronic_filing_mandatory(2017, Decimal("300.00"), date(2018, 6, 1)) is False
    assert tic.electronic_filing_mandatory(2017, Decimal("300.01"), date(2018, 6, 1)) is True
    assert tic.electronic_filing_mandatory(2017, Decimal("300.01"), date(2018, 5, 31)) is False
    assert tic.electronic_filing_mandatory(2023, Decimal("1"), date(2024, 1, 2)) is True
    assert [tic.department(c) for c in ("69003", "20090", "20200", "97411", "x")] == ["69", "2A", "2B", "974", None]


# -- through the API ----------------------------------------------------------------------------------

@pytest.fixture
def region(api, new_user, new_structure, member):
    """A département's service (a public structure) with a processing clerk, and a way to make farms there."""
    manager = new_user("ddfip")
    service = new_structure(manager, name=f"DDFIP {uuid.uuid4().hex[:6]}", email=mailbox())
    for _ in range(30):
        department = next(_departments)
        r = api.put(f"/v1/structures/{service['structure_id']}/tic-processing", {"departments": [department]},
                    token=manager.token)
        if r.status == 200:
            break
        assert r.status == 409 and r.json["code"] == "DEPARTMENT_TAKEN", r
    assert r.json["tic_departments"] == [department]

    def farm(**extra):
        owner = new_user("farm")
        f = new_structure(owner, kind="PRIVATE", name=f"EARL {uuid.uuid4().hex[:6]}", email=mailbox(),
                          address={"postal_code": f"{department}100", "city": "Bourg"}, **extra)
        r = api.put(f"/v1/structures/{f['structure_id']}/spaces/TIC_REFUNDS",
                    {"pacage": f"{uuid.uuid4().int % 10**9:09d}", "beneficiary_category": "SOCIETE_AGRICOLE"},
                    token=owner.token)
        assert r.status == 200 and r.json["pacage"], r
        return {"structure": f, "owner": owner}

    return {"service": service, "manager": manager, "department": department, "farm": farm}


def request_body(farm_id, year=YEAR, lines=None, **extra):
    return {"beneficiary_structure_id": farm_id, "year": year, "iban": IBAN, "bic": BIC, "sworn_statement": True,
            "lines": lines or [
                {"supplier_invoice_number": "FAC-1", "delivery_date": f"{year}-03-10", "product": "GNR",
                 "quantity": "1200.50", "purchase": "RETAIL"},
                {"supplier_invoice_number": "FAC-2", "delivery_date": f"{year}-09-01", "product": "GAZ_NATUREL_COMBUSTIBLE",
                 "quantity": "85.25"}], **extra}


def test_a_request_filed_suspended_completed_and_paid(api, region):
    f = region["farm"]()
    farm_id, token = f["structure"]["structure_id"], f["owner"].token
    r = api.post("/v1/tic/requests", request_body(farm_id), token=token)
    assert r.status == 201, r
    req = r.json
    assert req["status"] == "BROUILLON" and req["recipient_structure_id"] == region["service"]["structure_id"]
    assert [ln["rate"] for ln in req["lines"]] == ["14.96", "7.83"]
    assert [ln["amount"] for ln in req["lines"]] == ["17959.48", "667.51"]  # 1200.50 x 14.96; 85.25 x 7.83 half-up
    assert req["total"] == "18626.99" and req["electronic_filing_mandatory"] is True
    second = api.post("/v1/tic/requests", request_body(farm_id), token=token)
    assert second.status == 409 and second.json["code"] == "TIC_REQUEST_EXISTS"  # one a year
    # a draft is the farm's alone
    rid = req["request_id"]
    assert api.get(f"/v1/tic/requests/{rid}", token=region["manager"].token).status == 404
    sent = api.post(f"/v1/tic/requests/{rid}/submit", token=token)
    assert sent.status == 200 and sent.json["status"] == "MISE_A_DISPOSITION" and sent.json["documents"] == ["pdf"], sent
    assert api.get(f"/v1/tic/requests/{rid}/documents/pdf", token=token).status == 200
    edit = api.patch(f"/v1/tic/requests/{rid}", {"sworn_statement": True}, token=token,
                     headers={"If-Match": f'"{sent.json["version"]}"'})
    assert edit.status == 409 and edit.json["code"] == "REQUEST_NOT_EDITABLE"
    received = api.get(f"/v1/tic/requests?role=RECIPIENT&structure_id={region['service']['structure_id']}",
                       token=region["manager"].token).json["items"]
    assert rid in [x["request_id"] for x in received]
    svc = region["manager"].token
    r = api.post(f"/v1/tic/requests/{rid}/status", {"status": "SUSPENDUE"}, token=svc)
    assert r.status == 422 and r.json["code"] == "REASON_REQUIRED"
    assert api.post(f"/v1/tic/requests/{rid}/status", {"status": "SUSPENDUE", "reason_code": "FACTURE_MANQUANTE",
                                                       "comment": "Facture FAC-2"}, token=svc).json["status"] == "SUSPENDUE"
    done = api.post(f"/v1/tic/requests/{rid}/complete", {"comment": "Voici la facture", "attachments": [
        {"file_name": "FAC-2.pdf", "content_base64": "JVBERi0xLjQK"}]}, token=token)
    assert done.status == 200 and done.json["status"] == "COMPLETEE" and "FAC-2.pdf" in done.json["documents"], done
    paid = api.post(f"/v1/tic/requests/{rid}/status", {"status": "MISE_EN_PAIEMENT"}, token=svc)
    assert paid.status == 200 and paid.json["status"] == "MISE_EN_PAIEMENT"
    history = api.get(f"/v1/tic/requests/{rid}/history", token=token).json["items"]
    assert [h["status"] for h in history] == ["BROUILLON", "MISE_A_DISPOSITION", "SUSPENDUE", "COMPLETEE",
                                              "MISE_EN_PAIEMENT"]
    assert api.get(f"/v1/invoices/{rid}", token=token).status == 404  # not an invoice
    wait_emails(f["structure"]["email"], timeout=20)  # the farm is told of the suspension (and the payment)


def test_a_rejected_request_frees_its_year(api, region):
    f = region["farm"]()
    farm_id, token = f["structure"]["structure_id"], f["owner"].token
    rid = api.post("/v1/tic/requests", request_body(farm_id), token=token).json["request_id"]
    api.post(f"/v1/tic/requests/{rid}/submit", token=token)
    r = api.post(f"/v1/tic/requests/{rid}/status", {"status": "REJETEE", "reason_code": "NON_ELIGIBLE"},
                 token=region["manager"].token)
    assert r.status == 200, r
    assert api.post("/v1/tic/requests", request_body(farm_id), token=token).status == 201


def test_bad_requests_are_refused_and_nothing_is_written(api, region, new_user, new_structure):
    f = region["farm"]()
    farm_id, token = f["structure"]["structure_id"], f["owner"].token
    line = {"supplier_invoice_number": "F", "delivery_date": f"{YEAR}-03-10", "product": "GNR", "quantity": "10"}
    cases = [
        ({"lines": [{**line, "product": "KEROSENE"}]}, 422, "VALIDATION_ERROR"),
        ({"lines": [{**line, "quantity": "1.234"}]}, 422, "VALIDATION_ERROR"),
        ({"lines": [{**line, "quantity": "-1"}]}, 422, "VALIDATION_ERROR"),
        ({"lines": [{**line, "quantity": "123456789.00"}]}, 422, "VALIDATION_ERROR"),  # 9 digits
        ({"lines": [{**line, "delivery_date": f"{YEAR + 1}-01-02"}]}, 422, "DELIVERY_OUTSIDE_YEAR"),
        ({"year": 2021, "lines": [{**line, "delivery_date": "2021-03-10"}]}, 422, "OUTSIDE_FILING_WINDOW"),
        ({"year": 2024, "lines": [{**line, "delivery_date": "2024-08-10", "purchase": "BULK"}]}, 422, "BULK_GNR_NOT_REFUNDABLE"),
        ({"lines": [line] * 51}, 422, "TOO_MANY_LINES"),
        ({"iban": "FR7630006000011234567890188"}, 422, "VALIDATION_ERROR"),
        ({"bic": "AGRIFRP"}, 422, "VALIDATION_ERROR"),
    ]
    for change, status, code in cases:
        r = api.post("/v1/tic/requests", {**request_body(farm_id), **change}, token=token)
        assert r.status == status and r.json["code"] == code, (change, r)
    listed = api.get(f"/v1/tic/requests?role=BENEFICIARY&structure_id={farm_id}", token=token).json["items"]
    assert listed == []
    draft = api.post("/v1/tic/requests", request_body(farm_id, sworn_statement=False), token=token).json
    r = api.post(f"/v1/tic/requests/{draft['request_id']}/submit", token=token)
    assert r.status == 422 and r.json["code"] == "SWORN_STATEMENT_REQUIRED"
    # a centre cannot open the TIC space; a stranger cannot file for the farm
    owner = new_user("centre")
    centre = new_structure(owner, kind="PRIVATE", organisation_type="AGRICULTURAL_MANAGEMENT_CENTRE")
    r = api.put(f"/v1/structures/{centre['structure_id']}/spaces/TIC_REFUNDS",
                {"pacage": "123456789", "beneficiary_category": "CUMA"}, token=owner.token)
    assert r.status == 422 and r.json["code"] == "DELEGATE_CANNOT_OPEN_TIC"
    r = api.post("/v1/tic/requests", request_body(farm_id, year=YEAR), token=owner.token)
    assert r.status == 404


def test_a_delegated_filing_end_to_end(api, region, new_user, new_structure, member):
    f = region["farm"]()
    farm_id = f["structure"]["structure_id"]
    centre_manager = new_user("cer")
    centre = new_structure(centre_manager, kind="PRIVATE", name=f"CER France {uuid.uuid4().hex[:6]}",
                           organisation_type="AGRICULTURAL_MANAGEMENT_CENTRE", email=mailbox())
    accountant = member(centre_manager, centre, permissions={"TIC_REFUNDS": "MODIFICATION"})
    reader = member(centre_manager, centre, permissions={"TIC_REFUNDS": "CONSULTATION"})
    ask = {"delegate_structure_id": centre["structure_id"], "beneficiary_structure_id": farm_id, "scope": "FILE",
           "until": f"{date.today().year + 1}-12-31"}
    assert api.post("/v1/tic/delegations", ask, token=accountant.token).status == 403  # managers ask
    r = api.post("/v1/tic/delegations", ask, token=centre_manager.token)
    assert r.status == 201 and r.json["status"] == "PENDING", r
    delegation_id = r.json["delegation_id"]
    assert api.post("/v1/tic/delegations", ask, token=centre_manager.token).json["code"] == "DELEGATION_EXISTS"
    # the farm's managers are told, and approve (not the centre)
    [email] = wait_emails(f["owner"].email, timeout=30)
    assert "délégation" in email.subject.lower()
    assert api.post(f"/v1/tic/delegations/{delegation_id}/approve", token=centre_manager.token).status == 403
    # not yet approved: the centre cannot file
    assert api.post("/v1/tic/requests", request_body(farm_id), token=accountant.token).status == 404
    ok = api.post(f"/v1/tic/delegations/{delegation_id}/approve", token=f["owner"].token)
    assert ok.status == 200 and ok.json["status"] == "ACTIVE", ok
    again = api.post(f"/v1/tic/delegations/{delegation_id}/approve", token=f["owner"].token)
    assert again.status == 409 and again.json["code"] == "DELEGATION_NOT_PENDING"
    # the delegate files; the farm sees it; it is recorded on the farm's behalf
    r = api.post("/v1/tic/requests", request_body(farm_id), token=accountant.token)
    assert r.status == 201 and r.json["filed_by_structure_id"] == centre["structure_id"], r
    rid = r.json["request_id"]
    assert api.post("/v1/tic/requests", request_body(farm_id, year=YEAR), token=reader.token).status in (403, 409)
    assert api.post(f"/v1/tic/requests/{rid}/submit", token=reader.token).status == 403  # CONSULTATION
    assert api.post(f"/v1/tic/requests/{rid}/submit", token=accountant.token).status == 200
    seen = api.get(f"/v1/tic/requests?role=BENEFICIARY&structure_id={farm_id}", token=f["owner"].token).json["items"]
    assert [x["request_id"] for x in seen] == [rid]
    history = api.get(f"/v1/tic/requests/{rid}/history", token=f["owner"].token).json["items"]
    assert history[-1]["details"]["on_behalf_of"] == farm_id
    assert history[-1]["details"]["delegate_structure_id"] == centre["structure_id"]
    audit = api.get(f"/v1/structures/{farm_id}/audit", token=f["owner"].token).json["items"]
    assert "TIC_REQUEST_SUBMITTED_BY_DELEGATE" in [a["action"] for a in audit]
    farms = api.get(f"/v1/tic/delegations?structure_id={centre['structure_id']}", token=reader.token).json["items"]
    assert [d["beneficiary_structure_id"] for d in farms] == [farm_id]
    # the farm revokes: the delegate can no longer act or read
    r = api.post(f"/v1/tic/delegations/{delegation_id}/revoke", token=f["owner"].token)
    assert r.status == 200 and r.json["status"] == "REVOKED"
    assert api.get(f"/v1/tic/requests/{rid}", token=accountant.token).status == 404
    assert api.post("/v1/tic/requests", request_body(farm_id, year=YEAR), token=accountant.token).status == 404


def test_an_unanswered_delegation_expires_after_30_days(api, region, new_user, new_structure, clock, platform):
    f = region["farm"]()
    owner = new_user("firm")
    firm = new_structure(owner, kind="PRIVATE", organisation_type="ACCOUNTING_FIRM", email=mailbox())
    r = api.post("/v1/tic/delegations", {"delegate_structure_id": firm["structure_id"],
                                         "beneficiary_structure_id": f["structure"]["structure_id"], "scope": "CONSULT",
                                         "until": f"{date.today().year + 2}-01-31"}, token=owner.token)
    assert r.status == 201, r
    delegation_id = r.json["delegation_id"]
    time.sleep(1)  # the workflow reaches its wait
    clock.advance("P29D")
    assert api.post("/_local/schedules/run").status == 200
    assert api.get(f"/v1/tic/delegations/{delegation_id}", token=owner.token).json["status"] == "PENDING"
    clock.advance("P2D")
    ran = api.post("/_local/schedules/run").json
    assert ran, ran
    d = api.get(f"/v1/tic/delegations/{delegation_id}", token=owner.token).json
    assert d["status"] == "EXPIRED" and [h["status"] for h in d["history"]] == ["PENDING", "EXPIRED"]
    r = api.post(f"/v1/tic/delegations/{delegation_id}/approve", token=f["owner"].token)
    assert r.status == 409 and r.json["code"] == "DELEGATION_NOT_PENDING"
    # the workflow's wait ended with the expiry
    import boto3

    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if "tic-delegation" in m["name"])
    deadline = time.time() + 20
    while time.time() < deadline:
        runs = sfn.list_executions(stateMachineArn=arn)["executions"]
        mine = [e for e in runs if delegation_id in sfn.describe_execution(executionArn=e["executionArn"])["input"]]
        if mine and mine[0]["status"] == "SUCCEEDED":
            break
        time.sleep(0.5)
    assert mine and mine[0]["status"] == "SUCCEEDED", mine
    [told] = wait_emails(owner.email, timeout=20)  # the firm's managers are told it ended
    assert "terminée" in told.subject or "ended" in told.subject
