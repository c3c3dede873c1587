"""Works contracts: the supplier -> MOE -> MOA circuit, its payable documents and legal deadlines."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from test_notifications import emails_to, mailbox, wait_emails

from conftest import b64


@pytest.fixture
def site(api, new_user, new_structure):
    """A contracting authority (public, with a finance service), a project manager, a holder and a
    sub-contractor, each with the WORKS space open, and their contract."""
    def party(kind, **extra):
        manager = new_user(kind.lower())
        s = new_structure(manager, kind=kind, email=mailbox(), **extra)
        assert api.put(f"/v1/structures/{s['structure_id']}/spaces/WORKS", {}, token=manager.token).status == 200
        return manager, s

    moa_user, moa = party("PUBLIC", name=f"Commune {uuid.uuid4().hex[:6]}")
    assert api.post(f"/v1/structures/{moa['structure_id']}/services", {"code": "TRAVAUX", "name": "Travaux"},
                    token=moa_user.token).status == 201
    moe_user, moe = party("PRIVATE", name=f"Architecte {uuid.uuid4().hex[:6]}")
    holder_user, holder = party("PRIVATE", name=f"BTP {uuid.uuid4().hex[:6]}")
    sub_user, sub = party("PRIVATE", name=f"Sous-traitant {uuid.uuid4().hex[:6]}")
    r = api.post("/v1/works/contracts", {
        "number": f"M-{uuid.uuid4().hex[:6]}", "title": "Rénovation de l'école", "moa_structure_id": moa["structure_id"],
        "service_code": "TRAVAUX", "legal_commitment": "EJ-2026-1", "moe_structure_id": moe["structure_id"],
        "holder_structure_id": holder["structure_id"], "subcontractor_structure_ids": [sub["structure_id"]],
        "payment_delay_days": 30, "moe_review_days": 7}, token=moa_user.token)
    assert r.status == 201, r
    return {"contract": r.json, "moa": moa, "moa_user": moa_user, "moe": moe, "moe_user": moe_user,
            "holder": holder, "holder_user": holder_user, "sub": sub, "sub_user": sub_user}


def piece(api, site, who: str, frame: str, previous: str | None = None, amount="1000.00", vat="200.00",
          cumulative="1000.00", expect=201, **extra):
    body = {"frame": frame, "depositor_structure_id": site[who]["structure_id"], "number": f"{frame}-{uuid.uuid4().hex[:6]}",
            "issue_date": date.today().isoformat(), "amount_without_vat": amount, "vat_amount": vat,
            "amount_with_vat": str(float(amount) + float(vat)) if extra.get("with_vat") is None else extra.pop("with_vat"),
            "cumulative_without_vat": cumulative, **({"previous_piece_id": previous} if previous else {}), **extra}
    body["amount_with_vat"] = f"{float(body['amount_with_vat']):.2f}"
    r = api.post(f"/v1/works/contracts/{site['contract']['contract_id']}/pieces", body, token=site[f"{who}_user"].token)
    assert r.status == expect, r
    return r.json


def get_piece(api, site, who, piece_id):
    r = api.get(f"/v1/works/pieces/{piece_id}", token=site[f"{who}_user"].token)
    assert r.status == 200, r
    return r.json


def test_the_monthly_cycle_to_payment(api, site):
    contract = site["contract"]
    a4 = piece(api, site, "holder", "A4")
    assert a4["status"] == "MISE_A_DISPOSITION_MOE" and a4["addressee_structure_id"] == site["moe"]["structure_id"]
    deadline = datetime.fromisoformat(a4["deadline"]["at"].replace("Z", "+00:00"))
    deposited = datetime.fromisoformat(a4["deposited_at"].replace("Z", "+00:00"))
    assert a4["deadline"]["kind"] == "MOE_REVIEW" and deadline - deposited == timedelta(days=7)
    assert a4["deadline"]["reminder_at"]  # two days before
    # the MOE admits 900 of the 1000 in its progress statement
    a15 = piece(api, site, "moe", "A15", a4["piece_id"], amount="900.00", vat="180.00", cumulative="900.00")
    assert a15["status"] == "MISE_A_DISPOSITION_MOA" and a15["previous_piece_id"] == a4["piece_id"]
    answered = get_piece(api, site, "holder", a4["piece_id"])
    assert answered["status"] == "PRISE_EN_COMPTE_MOE" and answered["next_piece_id"] == a15["piece_id"]
    assert answered["deadline"] is None  # the MOE answered in time
    again = piece(api, site, "moe", "A15", a4["piece_id"], expect=409)
    assert again["code"] == "PIECE_ALREADY_ANSWERED"
    # the MOA validates: a payable document in its received invoices
    a19 = piece(api, site, "moa", "A19", a15["piece_id"], amount="900.00", vat="180.00", cumulative="900.00")
    assert a19["payable"] is True and a19["status"] == "MISE_A_DISPOSITION"
    assert get_piece(api, site, "moe", a15["piece_id"])["status"] == "PRISE_EN_COMPTE_MOA"
    moa = site["moa_user"].token
    listed = api.get(f"/v1/invoices?role=RECIPIENT&structure_id={site['moa']['structure_id']}", token=moa).json["items"]
    (inv,) = [i for i in listed if i["invoice_id"] == a19["piece_id"]]
    assert inv["billing_frame"] == "A19" and inv["service_code"] == "TRAVAUX" and inv["legal_commitment"] == "EJ-2026-1"
    assert inv["supplier_structure_id"] == site["holder"]["structure_id"] and inv["amount_with_vat"] == "1080.00"
    # its clock started when the holder's piece reached the MOE
    assert inv["payment"]["due_date"] == (deposited.date() + timedelta(days=30)).isoformat()
    issued = api.get(f"/v1/invoices?role=SUPPLIER&structure_id={site['holder']['structure_id']}",
                     token=site["holder_user"].token).json["items"]
    assert [i["invoice_id"] for i in issued] == [a19["piece_id"]]  # the pieces are not invoices
    for status, extra in (("SERVICE_FAIT", {}), ("MANDATEE", {"mandate_number": "M-1"}), ("MISE_EN_PAIEMENT", {})):
        r = api.post(f"/v1/invoices/{a19['piece_id']}/status", {"status": status, **extra}, token=moa)
        assert r.status == 200, r
    pieces = api.get(f"/v1/works/contracts/{contract['contract_id']}/pieces", token=moa).json["items"]
    assert [(p["frame"], p["status"]) for p in pieces] == [
        ("A4", "PRISE_EN_COMPTE_MOE"), ("A15", "PRISE_EN_COMPTE_MOA"), ("A19", "MISE_EN_PAIEMENT")]
    history = api.get(f"/v1/works/pieces/{a4['piece_id']}/history", token=site["holder_user"].token).json["items"]
    assert [(h["status"], h["actor_role"]) for h in history] == [
        ("MISE_A_DISPOSITION_MOE", "SUPPLIER"), ("PRISE_EN_COMPTE_MOE", "PLATFORM")]


def test_a_silent_moe_lets_the_moa_pay_on_the_supplier_amounts(api, site, clock):
    moe_mail, moa_mail = site["moe"]["email"], site["moa"]["email"]
    a4 = piece(api, site, "holder", "A4", amount="1000.00", vat="200.00")
    wait_emails(moe_mail)  # "a piece is addressed to you"
    clock.advance("P5DT1H")  # the reminder, two days before the MOE's 7 days
    ran = {r["function"]: r for r in api.post("/_local/schedules/run").json["ran"]}
    assert ran["works"]["result"]["reminded"] >= 1, ran["works"]
    reminder = wait_emails(moe_mail, 2)[1]
    assert "délai" in reminder.subject
    clock.advance("P3D")  # 8 days: the MOE stayed silent
    assert api.post("/_local/schedules/run").json["ran"]
    silent = get_piece(api, site, "moa", a4["piece_id"])
    assert silent["status"] == "ABSENCE_VALIDATION_MOE_DELAI_REGLEMENTAIRE"
    assert silent["addressee_structure_id"] == site["moa"]["structure_id"]
    # the MOA (now the addressee), the MOE (whose delay passed) and the holder are told
    assert "Sans validation" in wait_emails(moa_mail)[-1].subject
    assert "Sans validation" in wait_emails(moe_mail, 3)[2].subject
    assert "Sans validation" in wait_emails(site["holder"]["email"])[-1].subject
    # the MOA validates the holder's piece itself, on its amounts
    a19 = piece(api, site, "moa", "A19", a4["piece_id"], amount="1000.00", vat="200.00")
    r = api.post(f"/v1/invoices/{a19['piece_id']}/status", {"status": "MANDATEE", "mandate_number": "M-2"},
                 token=site["moa_user"].token)
    assert r.status == 200 and r.json["amount_with_vat"] == "1200.00", r
    assert r.json["payment"]["days_left"] == 30 - 8  # the contractor did not wait for the silent MOE
    assert api.post(f"/v1/invoices/{a19['piece_id']}/status", {"status": "MISE_EN_PAIEMENT"},
                    token=site["moa_user"].token).status == 200


def test_the_final_cycle_with_the_tacit_general_statement(api, site, clock):
    a7 = piece(api, site, "holder", "A7", amount="5000.00", vat="1000.00", cumulative="50000.00")
    a17 = piece(api, site, "moe", "A17", a7["piece_id"], amount="5000.00", vat="1000.00", cumulative="50000.00")
    assert a17["deadline"]["kind"] == "MOA_GENERAL_STATEMENT"
    early = piece(api, site, "holder", "A22", a17["piece_id"], amount="5000.00", vat="1000.00", expect=409)
    assert early["code"] == "TACIT_PROCEDURE_NOT_OPEN"
    clock.advance("P31D")  # the MOA does not notify the general statement within its 30 days
    api.post("/_local/schedules/run")
    a22 = piece(api, site, "holder", "A22", a17["piece_id"], amount="5000.00", vat="1000.00", cumulative="50000.00")
    assert a22["status"] == "MISE_A_DISPOSITION_MOA" and a22["deadline"]["kind"] == "MOA_TACIT"
    assert get_piece(api, site, "moa", a17["piece_id"])["status"] == "REMPLACEE_PAR_A22"
    clock.advance("P11D")  # silent 10 more days: the A22 becomes the DGD
    ran = {r["function"]: r for r in api.post("/_local/schedules/run").json["ran"]}
    assert ran["works"]["result"]["tacit_dgd"] >= 1, ran["works"]
    done = get_piece(api, site, "holder", a22["piece_id"])
    assert done["status"] == "PRISE_EN_COMPTE_MOA" and done["next_piece_id"]
    a23 = get_piece(api, site, "moa", done["next_piece_id"])
    assert a23["frame"] == "A23" and a23["payable"] is True and a23["amounts"]["with_vat"] == "6000.00"
    inv = api.get(f"/v1/invoices/{a23['piece_id']}", token=site["moa_user"].token).json
    assert inv["status"] == "MISE_A_DISPOSITION" and inv["billing_frame"] == "A23"


def test_a_subcontractor_request_goes_through_the_holder(api, site):
    a10 = piece(api, site, "sub", "A10")
    assert a10["status"] == "A_VALIDER_TITULAIRE" and a10["deadline"]["kind"] == "HOLDER_ACCEPTANCE"
    nxt = api.get(f"/v1/works/pieces/{a10['piece_id']}/next-statuses", token=site["holder_user"].token).json
    assert {s["status"] for s in nxt["allowed"]} == {"MISE_A_DISPOSITION_MOE", "REFUSEE_FOURNISSEUR"}
    r = api.post(f"/v1/works/pieces/{a10['piece_id']}/status", {"status": "MISE_A_DISPOSITION_MOE"},
                 token=site["holder_user"].token)
    assert r.status == 200 and r.json["addressee_structure_id"] == site["moe"]["structure_id"], r
    assert r.json["deadline"]["kind"] == "MOE_REVIEW"
    a15 = piece(api, site, "moe", "A15", a10["piece_id"])
    a19 = piece(api, site, "moa", "A19", a15["piece_id"])
    inv = api.get(f"/v1/invoices/{a19['piece_id']}", token=site["moa_user"].token).json
    assert inv["supplier_structure_id"] == site["sub"]["structure_id"]  # the sub-contractor is paid directly


def test_bad_pieces_are_refused_and_nothing_is_written(api, site, new_user, new_structure):
    contract_id = site["contract"]["contract_id"]
    listed = lambda: len(api.get(f"/v1/works/contracts/{contract_id}/pieces",  # noqa: E731
                                 token=site["moa_user"].token).json["items"])
    a4 = piece(api, site, "holder", "A4")
    before = listed()
    assert piece(api, site, "moe", "A4", expect=403)["code"] == "FRAME_NOT_ALLOWED"
    assert piece(api, site, "holder", "A15", a4["piece_id"], expect=403)["code"] == "FRAME_NOT_ALLOWED"
    r = piece(api, site, "holder", "A4", with_vat="1300.00", expect=422)
    assert r["code"] == "VALIDATION_ERROR" and "amount_with_vat" in r["detail"]
    assert piece(api, site, "holder", "A4", cumulative="-1.00", expect=422)["code"] == "VALIDATION_ERROR"
    assert piece(api, site, "moe", "A15", expect=422)["code"] == "PREVIOUS_PIECE_REQUIRED"
    assert piece(api, site, "holder", "A4", a4["piece_id"], expect=422)["code"] == "PREVIOUS_PIECE_NOT_EXPECTED"
    assert piece(api, site, "moa", "A19", a4["piece_id"], expect=409)["code"] == "PIECE_NOT_ANSWERABLE"
    # a piece of another contract
    other = api.post("/v1/works/contracts", {**{k: site["contract"][k] for k in (
        "title", "moa_structure_id", "moe_structure_id", "holder_structure_id")}, "number": "OTHER-1"},
        token=site["moa_user"].token).json
    foreign = api.post(f"/v1/works/contracts/{other['contract_id']}/pieces", {
        "frame": "A4", "depositor_structure_id": site["holder"]["structure_id"], "number": "X-1",
        "issue_date": date.today().isoformat(), "amount_without_vat": "1", "vat_amount": "0", "amount_with_vat": "1",
        "cumulative_without_vat": "1"}, token=site["holder_user"].token).json
    assert piece(api, site, "moe", "A15", foreign["piece_id"], expect=422)["code"] == "PREVIOUS_PIECE_OF_ANOTHER_CONTRACT"
    # refusals: a reason is required, and an amount error is never one
    moe = site["moe_user"].token
    r = api.post(f"/v1/works/pieces/{a4['piece_id']}/status", {"status": "REFUSEE_MOE"}, token=moe)
    assert r.status == 422 and r.json["code"] == "REASON_REQUIRED"
    r = api.post(f"/v1/works/pieces/{a4['piece_id']}/status", {"status": "REFUSEE_MOE", "reason_code": "ERREUR_MONTANT"},
                 token=moe)
    assert r.status == 422 and r.json["code"] == "REFUSAL_REASON_FORBIDDEN"
    r = api.post(f"/v1/works/pieces/{a4['piece_id']}/status", {"status": "REFUSEE_MOE"},
                 token=site["holder_user"].token)  # not the holder's move
    assert r.status == 409 and r.json["code"] == "TRANSITION_NOT_ALLOWED"
    assert listed() == before and get_piece(api, site, "moe", a4["piece_id"])["status"] == "MISE_A_DISPOSITION_MOE"
    # strangers see nothing of the contract
    stranger = new_user("stranger")
    new_structure(stranger, kind="PRIVATE")
    for path in (f"/v1/works/contracts/{contract_id}", f"/v1/works/contracts/{contract_id}/pieces",
                 f"/v1/works/pieces/{a4['piece_id']}", f"/v1/works/contracts/{contract_id}/deadlines"):
        r = api.get(path, token=stranger.token)
        assert r.status == 404 and r.json["code"] in ("CONTRACT_NOT_FOUND", "PIECE_NOT_FOUND"), (path, r)
    # a refusal with a reason stops the circuit
    r = api.post(f"/v1/works/pieces/{a4['piece_id']}/status", {"status": "REFUSEE_MOE", "reason_code": "PIECE_INCOMPLETE",
                                                               "comment": "Attachements manquants"}, token=moe)
    assert r.status == 200 and r.json["status"] == "REFUSEE_MOE" and r.json["deadline"] is None
    assert piece(api, site, "moe", "A15", a4["piece_id"], expect=409)["code"] == "PIECE_NOT_ANSWERABLE"


def test_two_moe_answers_racing_exactly_one_wins(api, site):
    from concurrent.futures import ThreadPoolExecutor

    a4 = piece(api, site, "holder", "A4")
    body = lambda n: {"frame": "A15", "depositor_structure_id": site["moe"]["structure_id"], "number": f"R-{n}",  # noqa: E731
                      "issue_date": date.today().isoformat(), "amount_without_vat": "1000.00", "vat_amount": "200.00",
                      "amount_with_vat": "1200.00", "cumulative_without_vat": "1000.00",
                      "previous_piece_id": a4["piece_id"]}
    path = f"/v1/works/contracts/{site['contract']['contract_id']}/pieces"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: api.post(path, body(n), token=site["moe_user"].token), range(4)))
    assert sorted(r.status for r in results) == [201, 409, 409, 409], results
    assert {r.json["code"] for r in results if r.status == 409} == {"PIECE_ALREADY_ANSWERED"}


def test_contracts_are_seen_by_their_parties_and_deadlines_listed(api, site):
    for who, role in (("moa", "MOA"), ("moe", "MOE"), ("holder", "SUPPLIER"), ("sub", "SUPPLIER")):
        r = api.get(f"/v1/works/contracts?role={role}&structure_id={site[who]['structure_id']}",
                    token=site[f"{who}_user"].token)
        assert [c["contract_id"] for c in r.json["items"]] == [site["contract"]["contract_id"]], (who, r)
    a4 = piece(api, site, "holder", "A4", pdf_base64=b64(b"%PDF-1.7 the holder's own"),
               attachments=[{"file_name": "attachements.txt", "content_base64": b64(b"ok")}])
    assert a4["documents"] == ["pdf", "attachements.txt"]
    deadlines = api.get(f"/v1/works/contracts/{site['contract']['contract_id']}/deadlines",
                        token=site["moe_user"].token).json["items"]
    assert [(d["piece_id"], d["kind"], d["days"]) for d in deadlines] == [(a4["piece_id"], "MOE_REVIEW", 7)]
    r = api.post("/v1/works/contracts", {**{k: site["contract"][k] for k in (
        "number", "title", "moa_structure_id", "moe_structure_id", "holder_structure_id")}},
        token=site["moa_user"].token)
    assert r.status == 409 and r.json["code"] == "CONTRACT_EXISTS"
    r = api.post("/v1/works/contracts", {**{k: site["contract"][k] for k in (
        "title", "moa_structure_id", "moe_structure_id", "holder_structure_id")}, "number": "N-2"},
        token=site["holder_user"].token)  # only a manager of the MOA creates it
    assert r.status == 404 and r.json["code"] == "STRUCTURE_NOT_FOUND"
