"""The authorization matrix: every operation of the OpenAPI document, called by those who may not.

For each operation the matrix says how to call it on another tenant's records (path parameters,
a valid body, so that the answer is about authorization and not about the input) and which
callers must be refused:

- ``anonymous``: no token;
- ``stranger``: a user of another structure;
- ``member``: a member of the target structure without the right (a USER with no permission);
- ``consult``: a member with CONSULTATION on the target space, on a write;
- ``technical``: another structure's technical account.

Each refusal is 401, 403 or 404, a problem document that shows nothing of the target (its name,
identifier, invoice number). Where a caller is allowed by design the matrix says why (a member
reads its structure's profile; anyone signed in reads the public directory). An operation of the
document missing from the matrix fails the test: a new route cannot ship untested.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from conftest import PASSWORD, b64, invoice_file, random_siret, submit, wait_flow

ACTORS = ("anonymous", "stranger", "member", "consult", "technical")
ALL = frozenset(ACTORS)
OUTSIDERS = frozenset({"anonymous", "stranger", "technical"})  # members are allowed (reads)
SELF = "acts on the caller's own records (or creates them): only a token is required"
PUBLIC_DIRECTORY = "the public directory: anyone signed in may read it"
TIC_READ = "CONSULTATION on INVOICES_RECEIVED reads the TIC requests the service received"
DELEGATIONS_READ = "any member of the farm sees its structure's delegations"


@dataclass
class Case:
    side: str | None = None  # "buyer" or "supplier": whose members are member/consult
    body: dict | None = None
    refuse: frozenset = ALL
    why: str = ""  # why the others may
    headers: dict = field(default_factory=dict)


# (method, path) -> Case. Path parameters are filled from the world (see `world`).
def _matrix(w: dict) -> dict[tuple[str, str], Case]:
    B, S, I = w["buyer"], w["supplier"], w["invoice_number"]
    if_match = {"If-Match": '"1"'}
    invoice_body = {"supplier_structure_id": S["structure_id"], "recipient_identifier": B["identifier"],
                    "service_code": "SERV-1", "number": f"M-{uuid.uuid4().hex[:6]}", "issue_date": "2026-11-30",
                    "lines": [{"description": "x", "quantity": "1", "unit_price": "1", "vat_rate": "20"}]}
    self_ = Case(refuse=frozenset({"anonymous"}), why=SELF)
    directory = Case(refuse=frozenset({"anonymous"}), why=PUBLIC_DIRECTORY)
    manager_only_b = Case(side="buyer")
    return {
        ("POST", "/v1/me/mfa"): self_,
        ("POST", "/v1/me/mfa/verify"): Case(body={"code": "123456"}, refuse=frozenset({"anonymous"}), why=SELF),
        ("GET", "/v1/me"): self_,
        ("GET", "/v1/structures/{structure_id}"): Case(side="buyer", refuse=OUTSIDERS,
                                                       why="any member reads its structure's profile"),
        ("PATCH", "/v1/structures/{structure_id}"): Case(side="buyer", body={"name": "Pris"}, headers=if_match),
        ("PUT", "/v1/structures/{structure_id}/billing-parameters"): Case(side="buyer", body={}, headers=if_match),
        ("PUT", "/v1/structures/{structure_id}/spaces/{space}"): Case(side="buyer", body={}),
        ("DELETE", "/v1/structures/{structure_id}/spaces/{space}"): manager_only_b,
        ("GET", "/v1/structures/{structure_id}/audit"): manager_only_b,
        ("GET", "/v1/structures/{structure_id}/services"): Case(side="buyer", refuse=OUTSIDERS,
                                                                why="members see their structure's services"),
        ("POST", "/v1/structures/{structure_id}/services"): Case(side="buyer", body={"code": "NEW-1", "name": "n"}),
        ("GET", "/v1/structures/{structure_id}/services/{code}"): Case(side="buyer", refuse=OUTSIDERS,
                                                                       why="members see their structure's services"),
        ("PATCH", "/v1/structures/{structure_id}/services/{code}"): Case(side="buyer", body={"name": "n"},
                                                                         headers=if_match),
        ("GET", "/v1/structures/{structure_id}/attachments"): manager_only_b,
        ("POST", "/v1/structures/{structure_id}/attachments/{user_id}/approve"): Case(side="buyer", body={}),
        ("POST", "/v1/structures/{structure_id}/attachments/{user_id}/refuse"): Case(side="buyer",
                                                                                     body={"reason": "non"}),
        ("PATCH", "/v1/structures/{structure_id}/attachments/{user_id}"): Case(side="buyer", body={"role": "USER"},
                                                                               headers=if_match),
        ("POST", "/v1/structures/{structure_id}/attachments/{user_id}/deactivate"): manager_only_b,
        ("GET", "/v1/structures/{structure_id}/technical-accounts"): Case(side="supplier"),
        ("POST", "/v1/structures/{structure_id}/technical-accounts"): Case(side="supplier", body={"name": "ERP"}),
        ("POST", "/v1/structures/{structure_id}/technical-accounts/{account_id}/credentials"): Case(side="supplier"),
        ("DELETE", "/v1/structures/{structure_id}/technical-accounts/{account_id}/credentials/{slot}"):
            Case(side="supplier"),
        ("GET", "/v1/structures/{structure_id}/subscriptions"): manager_only_b,
        ("POST", "/v1/structures/{structure_id}/subscriptions"): Case(side="buyer", body={
            "channel": "EMAIL", "target": "x@example.fr", "events": ["ALL"]}),
        ("GET", "/v1/structures/{structure_id}/subscriptions/{subscription_id}"): manager_only_b,
        ("DELETE", "/v1/structures/{structure_id}/subscriptions/{subscription_id}"): manager_only_b,
        ("POST", "/v1/structures/{structure_id}/subscriptions/{subscription_id}/confirm"):
            Case(side="buyer", body={"token": "0123456789abcdef"}),
        ("GET", "/v1/structures"): self_,
        ("POST", "/v1/structures"): Case(body={"identifier_type": "SIRET", "identifier": random_siret(),
                                               "name": "Ma structure", "kind": "PRIVATE"},
                                         refuse=frozenset({"anonymous"}), why=SELF),
        ("POST", "/v1/attachments"): Case(body={"identifier_type": "SIRET", "identifier": B["identifier"]},
                                          refuse=frozenset({"anonymous"}),
                                          why="anyone may ask to be attached; a manager decides"),
        ("GET", "/v1/directory/structures/{structure_id}"): directory,
        ("GET", "/v1/directory/structures/{structure_id}/services"): directory,
        ("GET", "/v1/directory/structures"): directory,
        ("GET", "/v1/directory/export"): directory,
        ("GET", "/v1/flows/{flow_id}"): Case(side="supplier"),  # a flow is its depositor's only
        ("POST", "/v1/validations"): Case(body={"file_name": "f.xml", "content_base64": b64(b"<x/>")},
                                          refuse=frozenset({"anonymous"}), why="validates a file, stores nothing"),
        ("POST", "/v1/uploads"): Case(body={"file_name": "f.pdf"}, refuse=frozenset({"anonymous"}), why=SELF),
        ("POST", "/v1/flows"): Case(body={"file_name": "f.xml", "content_base64": b64(b"<x/>")},
                                    refuse=frozenset({"anonymous"}),
                                    why="the caller's own flow; the deposit rules check it acts for the seller"),
        ("POST", "/v1/invoices"): Case(side="supplier", body=invoice_body),
        ("GET", "/v1/invoices"): Case(side="buyer", refuse=ALL - {"consult"}, why="CONSULTATION reads the list"),
        ("GET", "/v1/invoices/{invoice_id}"): Case(side="buyer", refuse=ALL - {"consult"}, why="CONSULTATION reads"),
        ("GET", "/v1/invoices/{invoice_id}/history"): Case(side="buyer", refuse=ALL - {"consult"},
                                                           why="CONSULTATION reads"),
        ("GET", "/v1/invoices/{invoice_id}/next-statuses"): Case(side="buyer", refuse=ALL - {"consult"},
                                                                 why="CONSULTATION reads (and may do nothing)"),
        ("GET", "/v1/invoices/{invoice_id}/documents/{name}"): Case(side="buyer", refuse=ALL - {"consult"},
                                                                    why="CONSULTATION reads"),
        ("POST", "/v1/invoices/{invoice_id}/status"): Case(side="buyer", body={"status": "SERVICE_FAIT"}),
        ("POST", "/v1/invoices/{invoice_id}/complete"): Case(side="supplier", body={"comment": "ok"}),
        ("POST", "/v1/invoices/{invoice_id}/recycle"): Case(side="supplier", body={
            "recipient_identifier": B["identifier"], "service_code": "SERV-1"}),
        ("POST", "/v1/revenue-orders"): Case(side="buyer", body={
            "issuer_structure_id": B["structure_id"], "recipient_identifier": B["identifier"], "number": "T-1",
            "issue_date": "2026-11-30", "amount": "10.00", "subject": "x"}),
        # works: the contract's parties only (the buyer is its MOA, the supplier its holder)
        ("POST", "/v1/works/contracts"): Case(side="buyer", body={
            "number": f"W-{uuid.uuid4().hex[:6]}", "title": "t", "moa_structure_id": B["structure_id"],
            "moe_structure_id": w["moe"]["structure_id"], "holder_structure_id": S["structure_id"]}),
        ("GET", "/v1/works/contracts"): Case(side="buyer"),
        ("GET", "/v1/works/contracts/{contract_id}"): Case(side="buyer"),
        ("POST", "/v1/works/contracts/{contract_id}/pieces"): Case(side="supplier", body={
            "frame": "A4", "depositor_structure_id": S["structure_id"], "number": f"P-{uuid.uuid4().hex[:6]}",
            "issue_date": "2026-11-30", "amount_without_vat": "10.00", "vat_amount": "2.00", "amount_with_vat": "12.00",
            "cumulative_without_vat": "10.00"}),
        ("GET", "/v1/works/contracts/{contract_id}/pieces"): Case(side="buyer"),
        ("GET", "/v1/works/contracts/{contract_id}/deadlines"): Case(side="buyer"),
        ("GET", "/v1/works/pieces/{piece_id}"): Case(side="buyer"),
        ("GET", "/v1/works/pieces/{piece_id}/history"): Case(side="buyer"),
        ("GET", "/v1/works/pieces/{piece_id}/next-statuses"): Case(side="buyer"),
        ("GET", "/v1/works/pieces/{piece_id}/documents/{name}"): Case(side="buyer"),
        ("POST", "/v1/works/pieces/{piece_id}/status"): Case(side="buyer", body={
            "status": "REFUSEE_MOE", "reason_code": "AUTRE"}),
        ("GET", "/v1/admin/structures/{structure_id}"): Case(side="buyer"),
        ("PATCH", "/v1/admin/structures/{structure_id}"): Case(side="buyer", body={
            "migrated_from_chorus_portail_pro": True}, headers=if_match),
        ("GET", "/v1/admin/users/{user_id}"): Case(side="buyer"),
        ("POST", "/v1/admin/users/{user_id}/disable"): Case(side="buyer"),
        ("POST", "/v1/admin/invoices/{invoice_id}/resend"): Case(side="buyer", body={}),
        ("GET", "/v1/admin/structures"): Case(side="buyer"),
        ("GET", "/v1/admin/users"): Case(side="buyer"),
        ("GET", "/v1/admin/invoices"): Case(),
        ("GET", "/v1/admin/settings"): Case(),
        ("PUT", "/v1/admin/settings"): Case(body={"mfa_required_for_managers": False}),
        ("GET", "/v1/admin/audit"): Case(),
        ("GET", "/v1/admin/events/parked"): Case(),
        ("PUT", "/v1/admin/structures/{structure_id}/court"): Case(side="buyer", body={
            "code": "TJ-X", "kind": "TRIBUNAL_JUDICIAIRE"}),
        ("GET", "/v1/admin/jobs/{job_id}"): Case(),
        ("POST", "/v1/admin/jobs/revoke-justice-mandates"): Case(body={"dry_run": True}),
        # justice: the provider (the supplier) and the court (the buyer); members need the JUSTICE_MEMOS right,
        # which the world's members do not have
        ("GET", "/v1/directory/courts"): directory,
        ("GET", "/v1/justice/fee-types"): Case(refuse=frozenset({"anonymous"}), why="a referential"),
        ("POST", "/v1/justice/memos"): Case(side="supplier", body=w["memo_body"]),
        ("GET", "/v1/justice/memos"): Case(side="buyer"),
        ("GET", "/v1/justice/memos/{memo_id}"): Case(side="buyer"),
        ("PATCH", "/v1/justice/memos/{memo_id}"): Case(side="supplier", body={"prescriber": "X"}, headers=if_match),
        ("POST", "/v1/justice/memos/{memo_id}/submit"): Case(side="supplier"),
        ("POST", "/v1/justice/memos/{memo_id}/status"): Case(side="buyer", body={"status": "CERTIFIE"}),
        ("POST", "/v1/justice/memos/{memo_id}/duplicate"): Case(side="supplier"),
        ("GET", "/v1/justice/memos/{memo_id}/history"): Case(side="buyer"),
        ("GET", "/v1/justice/memos/{memo_id}/next-statuses"): Case(side="buyer"),
        ("GET", "/v1/justice/memos/{memo_id}/documents/{name}"): Case(side="buyer"),
        ("GET", "/v1/structures/{structure_id}/billing-mandate"): Case(side="supplier"),
        ("POST", "/v1/structures/{structure_id}/billing-mandate"): Case(side="supplier", body={"accept_terms": True}),
        ("DELETE", "/v1/structures/{structure_id}/billing-mandate"): Case(side="supplier"),
        # TIC: the supplier a farm, the buyer its département's service (which reads through INVOICES_RECEIVED)
        ("GET", "/v1/tic/rates"): Case(refuse=frozenset({"anonymous"}), why="a referential"),
        ("PUT", "/v1/structures/{structure_id}/tic-processing"): Case(side="buyer", body={"departments": ["2B"]}),
        ("POST", "/v1/tic/requests"): Case(side="supplier", body=w["tic_body"]),
        ("GET", "/v1/tic/requests"): Case(side="buyer", refuse=ALL - {"consult"}, why=TIC_READ),
        ("GET", "/v1/tic/requests/{request_id}"): Case(side="buyer", refuse=ALL - {"consult"}, why=TIC_READ),
        ("PATCH", "/v1/tic/requests/{request_id}"): Case(side="supplier", body={"sworn_statement": True},
                                                          headers=if_match),
        ("POST", "/v1/tic/requests/{request_id}/submit"): Case(side="supplier"),
        ("POST", "/v1/tic/requests/{request_id}/status"): Case(side="buyer", body={"status": "MISE_EN_PAIEMENT"}),
        ("POST", "/v1/tic/requests/{request_id}/complete"): Case(side="supplier", body={"comment": "x"}),
        ("GET", "/v1/tic/requests/{request_id}/history"): Case(side="buyer", refuse=ALL - {"consult"}, why=TIC_READ),
        ("GET", "/v1/tic/requests/{request_id}/next-statuses"): Case(side="buyer", refuse=ALL - {"consult"},
                                                                       why=TIC_READ),
        ("GET", "/v1/tic/requests/{request_id}/documents/{name}"): Case(side="buyer", refuse=ALL - {"consult"},
                                                                          why=TIC_READ),
        ("POST", "/v1/tic/delegations"): Case(side="supplier", body=w["delegation_body"]),
        ("GET", "/v1/tic/delegations"): Case(side="supplier", refuse=OUTSIDERS, why=DELEGATIONS_READ),
        ("GET", "/v1/tic/delegations/{delegation_id}"): Case(side="supplier", refuse=OUTSIDERS, why=DELEGATIONS_READ),
        ("POST", "/v1/tic/delegations/{delegation_id}/approve"): Case(side="supplier"),
        ("POST", "/v1/tic/delegations/{delegation_id}/refuse"): Case(side="supplier"),
        ("POST", "/v1/tic/delegations/{delegation_id}/revoke"): Case(side="supplier"),
    }


# Operations open to anyone by design (no token): signing up and in.
PUBLIC = {("POST", "/v1/accounts"), ("POST", "/v1/accounts/confirm"), ("POST", "/v1/auth/token"),
          ("POST", "/v1/auth/token/mfa")}


@pytest.fixture(scope="module")
def world(api):
    """Two tenants with records of every kind, their members, and outsiders."""
    def user(prefix):
        email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.fr"
        r = api.post("/v1/accounts", {"email": email, "password": PASSWORD, "first_name": "M", "last_name": prefix})
        assert r.status == 201, r
        return {"user_id": r.json["user_id"], "email": email,
                "token": api.post("/v1/auth/token", {"email": email, "password": PASSWORD}).json["access_token"]}

    def structure(owner, kind, **extra):
        r = api.post("/v1/structures", {"identifier_type": "SIRET", "identifier": random_siret(),
                                        "name": f"Tenant {uuid.uuid4().hex[:6]}", "kind": kind, **extra},
                     token=owner["token"])
        assert r.status == 201, r
        return r.json

    def attach(manager, s, permissions):
        u = user("m")
        assert api.post("/v1/attachments", {"identifier_type": "SIRET", "identifier": s["identifier"],
                                            "permissions": permissions}, token=u["token"]).status == 201
        assert api.post(f"/v1/structures/{s['structure_id']}/attachments/{u['user_id']}/approve", {},
                        token=manager["token"]).status == 200
        return u

    from orchestre.documents.parties import french_vat_id

    bm, sm = user("buyer"), user("supplier")
    B = structure(bm, "PUBLIC", billing={"service_code_required": True})
    assert api.post(f"/v1/structures/{B['structure_id']}/services", {"code": "SERV-1", "name": "S1"},
                    token=bm["token"]).status == 201
    S = structure(sm, "PRIVATE")
    S = api.patch(f"/v1/structures/{S['structure_id']}", {"vat_number": french_vat_id(S["identifier"][:9]),
                  "address": {"postal_code": "75002", "city": "Paris"}}, token=sm["token"],
                  headers={"If-Match": '"1"'}).json
    members = {
        "buyer": {"member": attach(bm, B, {}), "consult": attach(bm, B, {"INVOICES_RECEIVED": "CONSULTATION"})},
        "supplier": {"member": attach(sm, S, {}), "consult": attach(sm, S, {"INVOICES_ISSUED": "CONSULTATION"})},
    }
    clerk = attach(sm, S, {"INVOICES_ISSUED": "MODIFICATION"})
    parties = {"buyer": B, "supplier": S}
    number, pdf = invoice_file(parties)
    report = wait_flow(api, clerk["token"], submit(api, clerk["token"], pdf))
    assert report["status"] == "INTEGRATED", report
    flow_id, invoice_id = report["flow_id"], report["invoices"][0]["invoice_id"]
    pending = user("pending")
    assert api.post("/v1/attachments", {"identifier_type": "SIRET", "identifier": B["identifier"]},
                    token=pending["token"]).status == 201
    sub = api.post(f"/v1/structures/{B['structure_id']}/subscriptions",
                   {"channel": "EMAIL", "target": "w@example.fr", "events": ["ALL"]}, token=bm["token"]).json
    tech = api.post(f"/v1/structures/{S['structure_id']}/technical-accounts", {"name": "ERP"}, token=sm["token"]).json
    # a works contract: the buyer its MOA, the supplier its holder, a third structure its MOE
    moe_user = user("moe")
    moe = structure(moe_user, "PRIVATE")
    for manager, st in ((bm, B), (sm, S), (moe_user, moe)):
        assert api.put(f"/v1/structures/{st['structure_id']}/spaces/WORKS", {}, token=manager["token"]).status == 200
    contract = api.post("/v1/works/contracts", {"number": "W-1", "title": "Travaux", "moa_structure_id": B["structure_id"],
                                                "moe_structure_id": moe["structure_id"],
                                                "holder_structure_id": S["structure_id"]}, token=bm["token"]).json
    works_piece = api.post(f"/v1/works/contracts/{contract['contract_id']}/pieces", {
        "frame": "A4", "depositor_structure_id": S["structure_id"], "number": "A4-1", "issue_date": "2026-11-30",
        "amount_without_vat": "10.00", "vat_amount": "2.00", "amount_with_vat": "12.00",
        "cumulative_without_vat": "10.00"}, token=sm["token"]).json
    # justice: the buyer a court (flagged by an operator), the supplier a provider, a memo sent between them
    from orchestre.repositories.identity import IdentityProvider

    ops = user("ops")
    IdentityProvider().add_to_group(ops["email"], "operators")
    ops_token = api.post("/v1/auth/token", {"email": ops["email"], "password": PASSWORD}).json["access_token"]
    assert api.put(f"/v1/admin/structures/{B['structure_id']}/court", {"code": f"TJ{uuid.uuid4().hex[:6]}",
                   "kind": "TRIBUNAL_JUDICIAIRE"}, token=ops_token).status == 200
    assert api.put(f"/v1/structures/{B['structure_id']}/spaces/JUSTICE_MEMOS", {}, token=bm["token"]).status == 200
    assert api.put(f"/v1/structures/{S['structure_id']}/spaces/JUSTICE_MEMOS", {"provider_category": "EXPERT"},
                   token=sm["token"]).status == 200
    memo_body = {"provider_structure_id": S["structure_id"], "court_structure_id": B["structure_id"],
                 "decision": {"kind": "ORDONNANCE", "date": "2026-10-01", "reference": "ORD-1"}, "prescriber": "Juge",
                 "case_reference": "AFF-1", "mission_start": "2026-10-02", "mission_end": "2026-10-20",
                 "lines": [{"fee_type": "VACATION", "description": "v", "quantity": "1", "unit_price": "50"}]}
    memo = api.post("/v1/justice/memos", {**memo_body, "number": f"MJ-{uuid.uuid4().hex[:6]}"}, token=sm["token"]).json
    assert api.post(f"/v1/justice/memos/{memo['memo_id']}/submit", token=sm["token"]).status == 200
    # TIC: the supplier a farm of Paris (75), the buyer the service of département 75, a centre asking
    assert api.put(f"/v1/structures/{B['structure_id']}/tic-processing", {"departments": ["75"]},
                   token=bm["token"]).status == 200
    assert api.put(f"/v1/structures/{S['structure_id']}/spaces/TIC_REFUNDS",
                   {"pacage": "012345678", "beneficiary_category": "CUMA"}, token=sm["token"]).status == 200
    tic_body = {"beneficiary_structure_id": S["structure_id"], "year": 2023, "iban": "FR7630006000011234567890189",
                "bic": "AGRIFRPP882", "sworn_statement": True, "lines": [
                    {"supplier_invoice_number": "F1", "delivery_date": "2023-03-01", "product": "GNR", "quantity": "10"}]}
    tic_request = api.post("/v1/tic/requests", tic_body, token=sm["token"]).json
    assert api.post(f"/v1/tic/requests/{tic_request['request_id']}/submit", token=sm["token"]).status == 200
    cm = user("centre")
    centre = structure(cm, "PRIVATE", organisation_type="ACCOUNTING_FIRM")
    delegation_body = {"delegate_structure_id": centre["structure_id"], "beneficiary_structure_id": S["structure_id"],
                       "scope": "FILE", "until": "2030-12-31"}
    delegation = api.post("/v1/tic/delegations", delegation_body, token=cm["token"]).json
    stranger = user("stranger")
    X = structure(stranger, "PRIVATE")
    xtech = api.post(f"/v1/structures/{X['structure_id']}/technical-accounts", {"name": "ERP"},
                     token=stranger["token"]).json["credential"]
    xtech_token = api.post("/v1/auth/token", {"email": xtech["login"], "password": xtech["password"]}).json
    return {
        "buyer": B, "supplier": S, "moe": moe, "members": members, "invoice_number": number, "memo_body": memo_body,
        "tic_body": {**tic_body, "year": 2022, "lines": [{**tic_body["lines"][0], "product": "GPL",
                                                           "delivery_date": "2022-03-01"}]},
        "delegation_body": delegation_body,
        "tokens": {"anonymous": None, "stranger": stranger["token"], "technical": xtech_token["access_token"]},
        "params": {"space": "WORKS", "code": "SERV-1", "user_id": pending["user_id"], "flow_id": flow_id,
                   "invoice_id": invoice_id, "name": "pdf", "subscription_id": sub["subscription_id"],
                   "account_id": tech["account"]["account_id"], "slot": "a",
                   "contract_id": contract["contract_id"], "piece_id": works_piece["piece_id"],
                   "memo_id": memo["memo_id"], "job_id": str(uuid.uuid4()),
                   "request_id": tic_request["request_id"], "delegation_id": delegation["delegation_id"]},
        "secrets": [B["name"], B["identifier"], S["name"], S["identifier"], number, memo["number"]],
    }


def _operations() -> set[tuple[str, str]]:
    from orchestre_local.openapi import build

    return {(m.upper(), p) for p, item in build()["paths"].items() for m in item}


def test_every_operation_is_in_the_matrix(world):
    matrix = set(_matrix(world))
    operations = _operations()
    assert operations - matrix - PUBLIC == set(), "operations missing from the authorization matrix"
    assert matrix - operations == set(), "matrix entries for operations that no longer exist"


QUERIES = {("GET", "/v1/invoices"): "?role=RECIPIENT&structure_id={buyer}",
           ("GET", "/v1/admin/structures"): "?identifier_type=SIRET&identifier={buyer_identifier}",
           ("GET", "/v1/admin/users"): "?email=someone@example.fr",
           ("GET", "/v1/directory/structures"): "?q=tenant",
           ("GET", "/v1/works/contracts"): "?role=MOA&structure_id={buyer}",
           ("GET", "/v1/justice/memos"): "?role=COURT&structure_id={buyer}",
           ("GET", "/v1/tic/requests"): "?role=RECIPIENT&structure_id={buyer}",
           ("GET", "/v1/tic/delegations"): "?structure_id={supplier}",
           ("GET", "/v1/directory/courts"): "?q=tenant"}


def _path(world, method, template, side) -> str:
    structure = world["supplier" if side == "supplier" else "buyer"]
    params = {**world["params"], "structure_id": structure["structure_id"]}
    if template.startswith("/v1/admin/users/"):
        params["user_id"] = world["members"]["buyer"]["member"]["user_id"]
    path = template.format(**params)
    query = QUERIES.get((method, template), "")
    return path + query.format(buyer=world["buyer"]["structure_id"], buyer_identifier=world["buyer"]["identifier"],
                               supplier=world["supplier"]["structure_id"])


def test_no_caller_gets_what_is_not_theirs(api, world):
    failures = []
    for (method, template), case in sorted(_matrix(world).items()):
        for actor in ACTORS:
            if actor not in case.refuse:
                continue
            if actor in ("member", "consult"):
                if case.side is None:  # no tenant's space: a member is just another signed-in user
                    token = world["members"]["buyer"][actor]["token"]
                else:
                    token = world["members"][case.side][actor]["token"]
            else:
                token = world["tokens"][actor]
            r = api.call(method, _path(world, method, template, case.side), case.body, token=token,
                         headers=case.headers)
            text = r.raw.decode(errors="replace")
            leaked = [s for s in world["secrets"] if s and s in text]
            if r.status not in (401, 403, 404) or leaked or (r.status >= 400 and "problem+json" not in
                                                                (r.header("Content-Type") or "")):
                failures.append(f"{method} {template} as {actor}: {r.status} {text[:200]} leaked={leaked}")
            elif actor == "anonymous" and r.status != 401:
                failures.append(f"{method} {template} anonymous: {r.status} (expected 401)")
    assert not failures, "\n".join(failures)


def test_the_matrix_can_fail(api, world):
    """The check itself: the buyer's own manager is not refused (so a refusal above means something)."""
    # (the world's buyer manager is not kept; its member with CONSULTATION reads the invoice)
    token = world["members"]["buyer"]["consult"]["token"]
    r = api.get(f"/v1/invoices/{world['params']['invoice_id']}", token=token)
    assert r.status == 200 and r.json["number"] == world["invoice_number"]
