"""TIC refunds in ``make bench``: one request from draft to MISE_EN_PAIEMENT (draft, submission with its
receipt PDF, payment), and one delegation from request to approval (the workflow's start, its wait on
a task token, the answer), each counted like an invoice's lifecycle (Step Functions included)."""

from __future__ import annotations

import uuid

from .platform_bench import Bench

LINES = [{"supplier_invoice_number": "F1", "delivery_date": "2023-04-12", "product": "GNR", "quantity": "1200.50",
          "purchase": "RETAIL"},
         {"supplier_invoice_number": "F2", "delivery_date": "2023-10-03", "product": "GPL", "quantity": "40"}]


def parties(b: Bench) -> dict:
    service_user = b.user("ddfip")
    service = b.ok(201, "POST", "/v1/structures", b.structure_body("PUBLIC"), token=service_user["token"])
    b.ok(200, "PUT", f"/v1/structures/{service['structure_id']}/tic-processing", {"departments": ["2B"]},
         token=service_user["token"])
    return {"service": service, "service_user": service_user}


def farm(b: Bench) -> dict:
    user = b.user("farm")
    s = b.ok(201, "POST", "/v1/structures", b.structure_body(address={"postal_code": "20200", "city": "Bastia"}),
             token=user["token"])
    b.ok(200, "PUT", f"/v1/structures/{s['structure_id']}/spaces/TIC_REFUNDS",
         {"pacage": f"{uuid.uuid4().int % 10**9:09d}", "beneficiary_category": "EXPLOITANT_INDIVIDUEL"},
         token=user["token"])
    return {"structure": s, "user": user}


def file_and_pay(b: Bench, ctx: dict, f: dict) -> str:
    rid = b.ok(201, "POST", "/v1/tic/requests", {
        "beneficiary_structure_id": f["structure"]["structure_id"], "year": 2023, "iban": "FR7630006000011234567890189",
        "bic": "AGRIFRPP882", "sworn_statement": True, "lines": LINES}, token=f["user"]["token"])["request_id"]
    b.ok(200, "POST", f"/v1/tic/requests/{rid}/submit", token=f["user"]["token"])
    b.ok(200, "POST", f"/v1/tic/requests/{rid}/status", {"status": "MISE_EN_PAIEMENT"}, token=ctx["service_user"]["token"])
    return rid


def centre(b: Bench) -> dict:
    user = b.user("cer")
    s = b.ok(201, "POST", "/v1/structures", b.structure_body(organisation_type="ACCOUNTING_FIRM"), token=user["token"])
    return {"structure": s, "user": user}


def delegate_and_approve(b: Bench, f: dict, c: dict) -> str:
    did = b.ok(201, "POST", "/v1/tic/delegations", {
        "delegate_structure_id": c["structure"]["structure_id"], "beneficiary_structure_id": f["structure"]["structure_id"],
        "scope": "FILE", "until": f"{b.today.year + 2}-12-31"}, token=c["user"]["token"])["delegation_id"]
    b.quiesce(quiet=0.3)  # the workflow reaches its wait
    b.ok(200, "POST", f"/v1/tic/delegations/{did}/approve", token=f["user"]["token"])
    return did


def run(b: Bench) -> dict:
    ctx = parties(b)
    warm = farm(b)
    file_and_pay(b, ctx, warm)  # warm the tic containers
    delegate_and_approve(b, warm, centre(b))
    f, c = farm(b), centre(b)
    b.quiesce()
    _r, request = b.counted("tic_request_to_payment", file_and_pay, b, ctx, f)
    request["api_requests"] = 3
    b.quiesce()
    _r, delegation = b.counted("tic_delegation_to_approval", delegate_and_approve, b, f, c)
    delegation["api_requests"] = 2
    print(f"  tic: request draft -> MISE_EN_PAIEMENT {request['total']} AWS calls ({request['dynamodb_wru']} WRU); "
          f"delegation asked -> approved {delegation['total']} AWS calls "
          f"({', '.join(f'{k} {v}' for k, v in delegation['by_operation'].items())})", flush=True, file=b.out)
    return {"request_to_payment": request, "delegation_to_approval": delegation}
