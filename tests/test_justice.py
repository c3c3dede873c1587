"""Justice fee memos: courts, drafts, numbering under a billing mandate (also under concurrency),
certification and taxation to payment, refusal and duplication, the platform's rules, the 2018
revocation job."""

from __future__ import annotations

import io
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import boto3
import pytest
from pypdf import PdfReader
from test_notifications import emails_to, mailbox, wait_emails

from orchestre.domain.common import today

YEAR = today().year


@pytest.fixture
def court(api, new_user, new_structure, member, operator):
    """A court (flagged by operators, JUSTICE_MEMOS open) with a fees-office clerk and a magistrate."""
    manager = new_user("greffe")
    city = f"Ville{uuid.uuid4().hex[:6]}"
    s = new_structure(manager, name=f"Tribunal judiciaire {uuid.uuid4().hex[:6]}", email=mailbox(),
                      address={"postal_code": "69003", "city": city})
    code = f"TJ{uuid.uuid4().hex[:6].upper()}"
    r = api.put(f"/v1/admin/structures/{s['structure_id']}/court", {"code": code, "kind": "TRIBUNAL_JUDICIAIRE"},
                token=operator.token)
    assert r.status == 200 and r.json["court"] == {"code": code, "kind": "TRIBUNAL_JUDICIAIRE"}, r
    assert api.put(f"/v1/structures/{s['structure_id']}/spaces/JUSTICE_MEMOS", {}, token=manager.token).status == 200
    clerk = member(manager, s, permissions={"JUSTICE_MEMOS": "MODIFICATION"})
    judge = member(manager, s, permissions={"JUSTICE_MEMOS": "MODIFICATION"})
    members = api.get(f"/v1/structures/{s['structure_id']}/attachments?status=VALIDEE", token=manager.token).json
    version = next(m["version"] for m in members["items"] if m["user_id"] == judge.user_id)
    r = api.patch(f"/v1/structures/{s['structure_id']}/attachments/{judge.user_id}", {"court_role": "MAGISTRAT"},
                  token=manager.token, headers={"If-Match": f'"{version}"'})
    assert r.status == 200 and r.json["court_role"] == "MAGISTRAT", r
    return {"court": s, "code": code, "city": city, "manager": manager, "clerk": clerk, "judge": judge}


@pytest.fixture
def provider(api, new_user, new_structure, member):
    def make(category="EXPERT", kind="PRIVATE"):
        manager = new_user("expert")
        s = new_structure(manager, kind=kind, name=f"Cabinet {uuid.uuid4().hex[:6]}", email=mailbox())
        r = api.put(f"/v1/structures/{s['structure_id']}/spaces/JUSTICE_MEMOS", {"provider_category": category},
                    token=manager.token)
        assert r.status == 200 and r.json["provider_category"] == category, r
        reader = member(manager, s, permissions={"JUSTICE_MEMOS": "CONSULTATION"})
        return {"structure": s, "manager": manager, "reader": reader}

    return make


def memo_body(p, c, number=None, fee_type="HONORAIRES_EXPERTISE", quantity="1", unit_price="300.00",
              mission_end=None, **extra):
    end = mission_end or today() - timedelta(days=10)
    body = {"provider_structure_id": p["structure"]["structure_id"], "court_structure_id": c["court"]["structure_id"],
            "decision": {"kind": "ORDONNANCE", "date": (end - timedelta(days=40)).isoformat(), "reference": "ORD-12"},
            "prescriber": "Mme la juge d'instruction Martin", "case_reference": "PARQUET-2026-42",
            "mission_start": (end - timedelta(days=30)).isoformat(), "mission_end": end.isoformat(),
            "vat_regime": "ASSUJETTI",
            "lines": [{"fee_type": fee_type, "description": "Expertise comptable", "quantity": quantity,
                       "unit_price": unit_price, "vat_rate": "20"}], **extra}
    if number:
        body["number"] = number
    return body


def create(api, p, c, expect=201, **kw):
    r = api.post("/v1/justice/memos", memo_body(p, c, **kw), token=p["manager"].token)
    assert r.status == expect, r
    return r.json


def status(api, token, memo_id, value, expect=200, **extra):
    r = api.post(f"/v1/justice/memos/{memo_id}/status", {"status": value, **extra}, token=token)
    assert r.status == expect, r
    return r.json


def test_a_court_is_found_by_name_code_or_city(api, court, new_user):
    user = new_user()
    for q in (court["court"]["name"].split()[-1], court["code"].lower(), court["city"]):
        found = api.get(f"/v1/directory/courts?q={q}", token=user.token).json["items"]
        assert [f["structure_id"] for f in found] == [court["court"]["structure_id"]], q
        assert found[0]["code"] == court["code"] and found[0]["kind"] == "TRIBUNAL_JUDICIAIRE"


def test_a_memo_certified_then_paid(api, court, provider):
    p = provider()
    number = f"M-{uuid.uuid4().hex[:6]}"
    draft = create(api, p, court, number=number, unit_price="300.00")  # 360 EUR with VAT: a clerk certifies it
    assert draft["status"] == "BROUILLON" and draft["number"] == number and draft["totals"]["with_vat"] == "360.00"
    memo_id = draft["memo_id"]
    # a draft is the provider's alone
    assert api.get(f"/v1/justice/memos/{memo_id}", token=court["clerk"].token).status == 404
    edited = api.patch(f"/v1/justice/memos/{memo_id}", {"prescriber": "M. le juge Durand"}, token=p["manager"].token,
                       headers={"If-Match": f'"{draft["version"]}"'})
    assert edited.status == 200 and edited.json["prescriber"] == "M. le juge Durand", edited
    r = api.post(f"/v1/justice/memos/{memo_id}/submit", token=p["reader"].token)
    assert r.status == 403 and r.json["code"] == "SPACE_PERMISSION_REQUIRED"  # CONSULTATION only
    sent = api.post(f"/v1/justice/memos/{memo_id}/submit", token=p["manager"].token)
    assert sent.status == 200 and sent.json["status"] == "MISE_A_DISPOSITION" and sent.json["number"] == number, sent
    assert sent.json["documents"] == ["pdf"]
    pdf = api.get(f"/v1/justice/memos/{memo_id}/documents/pdf", token=court["clerk"].token)
    assert pdf.status == 200 and pdf.json["url"]
    # the PDF is written after the commit; if that write was lost, the download renders it again
    s3, bucket, key = boto3.client("s3"), os.environ["DOCUMENTS_BUCKET"], f"invoices/{memo_id}/memo.pdf"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read().startswith(b"%PDF")
    s3.delete_object(Bucket=bucket, Key=key)
    assert api.get(f"/v1/justice/memos/{memo_id}/documents/pdf", token=p["manager"].token).status == 200
    text = PdfReader(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).pages[0].extract_text()
    assert number in text
    r = api.patch(f"/v1/justice/memos/{memo_id}", {"prescriber": "X"}, token=p["manager"].token,
                  headers={"If-Match": f'"{sent.json["version"]}"'})
    assert r.status == 409 and r.json["code"] == "MEMO_NOT_EDITABLE"
    received = api.get(f"/v1/justice/memos?role=COURT&structure_id={court['court']['structure_id']}",
                       token=court["clerk"].token).json["items"]
    assert memo_id in [m["memo_id"] for m in received]
    moves = api.get(f"/v1/justice/memos/{memo_id}/next-statuses", token=court["clerk"].token).json["allowed"]
    assert {m["status"] for m in moves} == {"CERTIFIE", "A_TAXER", "REJETEE"}
    assert status(api, court["clerk"].token, memo_id, "CERTIFIE")["lifecycle_code"] == 205
    paid = status(api, court["clerk"].token, memo_id, "MISE_EN_PAIEMENT")
    assert paid["status"] == "MISE_EN_PAIEMENT" and paid["amount_due"] == "360.00"
    history = api.get(f"/v1/justice/memos/{memo_id}/history", token=p["manager"].token).json["items"]
    assert [h["status"] for h in history] == ["BROUILLON", "BROUILLON", "MISE_A_DISPOSITION", "CERTIFIE",
                                              "MISE_EN_PAIEMENT"]
    # not an invoice: the invoice routes do not serve it
    assert api.get(f"/v1/invoices/{memo_id}", token=p["manager"].token).status == 404
    told = wait_emails(court["court"]["email"], timeout=20)  # the court, of the memo sent to it
    time.sleep(1)
    told = emails_to(court["court"]["email"])
    assert [m.subject for m in told] == [f"[Orchestre] Mémoire de frais de justice {number} : Mise à disposition"], \
        [m.body for m in told]
    assert "certifier le mémoire" in told[0].body


def test_a_memo_taxed_by_a_magistrate(api, court, provider):
    p = provider()
    memo = create(api, p, court, number=f"T-{uuid.uuid4().hex[:6]}", quantity="10", unit_price="100.00")  # 1200 EUR
    memo_id = memo["memo_id"]
    api.post(f"/v1/justice/memos/{memo_id}/submit", token=p["manager"].token)
    r = status(api, court["clerk"].token, memo_id, "CERTIFIE", expect=422)
    assert r["code"] == "TAXATION_REQUIRED"  # above 460 EUR with fees that are not tariffed
    assert status(api, court["clerk"].token, memo_id, "A_TAXER")["status"] == "A_TAXER"
    assert status(api, court["clerk"].token, memo_id, "TAXE", expect=409, taxed_amount="1000.00")["code"] == \
        "TRANSITION_NOT_ALLOWED"  # a clerk does not tax
    judge = court["judge"].token
    assert status(api, judge, memo_id, "TAXE", expect=422)["code"] == "TAXED_AMOUNT_REQUIRED"
    assert status(api, judge, memo_id, "TAXE", expect=422, taxed_amount="1300.00")["code"] == "TAXED_AMOUNT_ABOVE_MEMO"
    assert status(api, judge, memo_id, "TAXE", expect=422, taxed_amount="1000.00")["code"] == "REASON_REQUIRED"
    taxed = status(api, judge, memo_id, "TAXE", taxed_amount="1000.00", reason_code="MONTANT_NON_JUSTIFIE",
                   comment="Deux vacations non justifiées")
    assert taxed["taxed_amount"] == "1000.00" and taxed["amount_due"] == "1000.00" and taxed["totals"]["with_vat"] == \
        "1200.00"
    assert status(api, court["clerk"].token, memo_id, "MISE_EN_PAIEMENT")["status"] == "MISE_EN_PAIEMENT"
    emails = wait_emails(p["structure"]["email"], count=2, timeout=20)  # taxed, then paid: the provider is told
    [taxed_email] = [m for m in emails if "Taxé" in m.subject]
    assert "MONTANT_NON_JUSTIFIE" in taxed_email.body and "Deux vacations non justifiées" in taxed_email.body


def test_a_refused_memo_is_duplicated_into_a_new_draft(api, court, provider):
    p = provider()
    memo = create(api, p, court, number=f"R-{uuid.uuid4().hex[:6]}")
    api.post(f"/v1/justice/memos/{memo['memo_id']}/submit", token=p["manager"].token)
    assert status(api, court["clerk"].token, memo["memo_id"], "REJETEE", expect=422)["code"] == "REASON_REQUIRED"
    status(api, court["clerk"].token, memo["memo_id"], "REJETEE", reason_code="PIECE_MANQUANTE")
    r = api.post(f"/v1/justice/memos/{memo['memo_id']}/duplicate", token=p["manager"].token)
    assert r.status == 201, r
    copy = r.json
    assert copy["status"] == "BROUILLON" and copy["number"] is None and copy["duplicate_of"] == memo["memo_id"]
    old = api.get(f"/v1/justice/memos/{memo['memo_id']}", token=p["manager"].token).json
    assert old["status"] == "DUPLIQUE_APRES_REFUS" and old["duplicated_to"] == copy["memo_id"]
    r = api.post(f"/v1/justice/memos/{copy['memo_id']}/submit", token=p["manager"].token)
    assert r.status == 422 and r.json["code"] == "NUMBER_REQUIRED"  # without a mandate: a new number, typed
    assert api.post(f"/v1/justice/memos/{memo['memo_id']}/duplicate", token=p["manager"].token).status == 409


def test_bad_memos_are_refused_and_nothing_is_written(api, court, provider, new_structure, new_user):
    p = provider()
    number = f"D-{uuid.uuid4().hex[:6]}"
    create(api, p, court, number=number)
    cases = [
        (dict(number=number), 409, "DOUBLON"),
        (dict(mission_end=today() + timedelta(days=3)), 422, "MISSION_END_IN_FUTURE"),
        (dict(mission_end=date(YEAR - 2, 1, 15)), 422, "TIME_BARRED"),
        (dict(fee_type="ENLEVEMENT"), 422, "FEE_TYPE_NOT_FOR_CATEGORY"),
        (dict(fee_type="NOPE"), 422, "UNKNOWN_FEE_TYPE"),
    ]
    for kw, code, expected in cases:
        r = api.post("/v1/justice/memos", memo_body(p, court, **kw), token=p["manager"].token)
        assert r.status == code and r.json["code"] == expected, (kw, r)
    body = memo_body(p, court)
    body["mission_start"] = (date.fromisoformat(body["mission_end"]) + timedelta(days=1)).isoformat()
    r = api.post("/v1/justice/memos", body, token=p["manager"].token)
    assert r.status == 422 and r.json["code"] == "MISSION_END_BEFORE_START"
    plain = new_structure(new_user(), name="Mairie sans greffe")  # a public structure, not a court
    body = {**memo_body(p, court), "court_structure_id": plain["structure_id"]}
    r = api.post("/v1/justice/memos", body, token=p["manager"].token)
    assert r.status == 422 and r.json["code"] == "NOT_A_COURT"
    stranger = new_user("stranger")
    r = api.post("/v1/justice/memos", memo_body(p, court), token=stranger.token)
    assert r.status == 404
    listed = api.get(f"/v1/justice/memos?role=PROVIDER&structure_id={p['structure']['structure_id']}",
                     token=p["manager"].token).json["items"]
    assert len(listed) == 1  # only the first memo was written
    # two submissions of one draft racing: one wins
    draft = create(api, p, court, number=f"RACE-{uuid.uuid4().hex[:6]}")
    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(lambda _: api.post(f"/v1/justice/memos/{draft['memo_id']}/submit",
                                                   token=p["manager"].token).status, range(2)))
    assert codes == [200, 409], codes


def test_the_mandate_numbers_every_memo_under_concurrency(api, court, provider):
    p = provider()
    sid = p["structure"]["structure_id"]
    assert api.get(f"/v1/structures/{sid}/billing-mandate", token=p["reader"].token).json["status"] == "NONE"
    r = api.post(f"/v1/structures/{sid}/billing-mandate", {"accept_terms": True}, token=p["reader"].token)
    assert r.status == 403  # managers only
    r = api.post(f"/v1/structures/{sid}/billing-mandate", {"accept_terms": False}, token=p["manager"].token)
    assert r.status == 422
    r = api.post(f"/v1/structures/{sid}/billing-mandate", {"accept_terms": True}, token=p["manager"].token)
    assert r.status == 200 and r.json["status"] == "ACTIVE" and r.json["terms_version"], r
    typed = create(api, p, court, expect=422, number="MINE-1")
    assert typed["code"] == "NUMBER_UNDER_MANDATE"
    drafts = [create(api, p, court)["memo_id"] for _ in range(12)]
    with ThreadPoolExecutor(12) as pool:
        sent = list(pool.map(lambda m: api.post(f"/v1/justice/memos/{m}/submit", token=p["manager"].token), drafts))
    assert all(r.status == 200 for r in sent), [r for r in sent if r.status != 200][:2]
    numbers = sorted(r.json["number"] for r in sent)
    assert numbers == [f"{YEAR}-{n:011d}" for n in range(1, 13)]
    audit = api.get(f"/v1/structures/{sid}/audit", token=p["manager"].token).json["items"]
    assert "JUSTICE_MANDATE_SUBSCRIBED" in [a["action"] for a in audit]
    r = api.delete(f"/v1/structures/{sid}/billing-mandate", token=p["manager"].token)
    assert r.status == 200 and r.json["status"] == "REVOKED" and [h["status"] for h in r.json["history"]] == [
        "ACTIVE", "REVOKED"]
    assert api.delete(f"/v1/structures/{sid}/billing-mandate", token=p["manager"].token).status == 409
    assert create(api, p, court, number=f"{YEAR}-00000000001", expect=409)["code"] == "DOUBLON"  # never reused


def test_a_restricted_account_holds_at_most_50_memos(api, court, provider):
    p = provider()
    first = create(api, p, court, number="R-0")
    for i in range(1, 50):
        create(api, p, court, number=f"R-{i}")
    r = api.post("/v1/justice/memos", memo_body(p, court, number="R-50"), token=p["manager"].token)
    assert r.status == 409 and r.json["code"] == "RESTRICTED_ACCOUNT_LIMIT", r
    api.post(f"/v1/justice/memos/{first['memo_id']}/submit", token=p["manager"].token)
    status(api, court["clerk"].token, first["memo_id"], "CERTIFIE")  # the first memo processed: no longer restricted
    create(api, p, court, number="R-50")


def wait_job(api, token, job_id, timeout=60.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = api.get(f"/v1/admin/jobs/{job_id}", token=token).json
        if job["status"] != "RUNNING":
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still running: {job}")


def test_the_2018_revocation_keeps_the_migrated_structures(api, court, provider, operator):
    plain, migrated, public = provider(), provider(), provider(kind="PUBLIC")
    for p in (plain, migrated, public):
        assert api.post(f"/v1/structures/{p['structure']['structure_id']}/billing-mandate", {"accept_terms": True},
                        token=p["manager"].token).status == 200
    s = api.get(f"/v1/admin/structures/{migrated['structure']['structure_id']}", token=operator.token)
    assert api.patch(f"/v1/admin/structures/{migrated['structure']['structure_id']}",
                     {"migrated_from_chorus_portail_pro": True}, token=operator.token,
                     headers={"If-Match": s.header("ETag")}).status == 200
    r = api.post("/v1/admin/jobs/revoke-justice-mandates", {"dry_run": True}, token=plain["manager"].token)
    assert r.status == 403  # operators only
    ids = {k: p["structure"]["structure_id"] for k, p in (("plain", plain), ("migrated", migrated), ("public", public))}

    def run(dry_run: bool) -> dict:
        r = api.post("/v1/admin/jobs/revoke-justice-mandates", {"dry_run": dry_run}, token=operator.token)
        assert r.status == 202, r
        job = wait_job(api, operator.token, r.json["job_id"])
        assert job["status"] == "SUCCEEDED", job
        return job["report"]

    dry = run(True)
    assert ids["plain"] in dry["revoked"]["ids"] and ids["migrated"] in dry["kept_migrated"]["ids"]
    assert ids["public"] in dry["skipped_public"]["ids"]
    mandate = lambda k, p: api.get(f"/v1/structures/{ids[k]}/billing-mandate", token=p["manager"].token).json  # noqa
    assert mandate("plain", plain)["status"] == "ACTIVE"  # a dry run changes nothing
    real = run(False)
    assert ids["plain"] in real["revoked"]["ids"] and ids["migrated"] in real["kept_migrated"]["ids"]
    assert mandate("plain", plain)["status"] == "REVOKED" and mandate("migrated", migrated)["status"] == "ACTIVE"
    audit = api.get(f"/v1/structures/{ids['plain']}/audit", token=plain["manager"].token).json["items"]
    assert audit[0]["action"] == "JUSTICE_MANDATE_REVOKED_BY_JOB"
    [email] = wait_emails(plain["manager"].email, timeout=30)  # to the structure's managers
    assert "révoqué" in email.subject
    again = run(False)
    assert again["revoked"]["count"] == 0 and ids["migrated"] in again["kept_migrated"]["ids"]  # idempotent
    time.sleep(1)
    assert len(emails_to(plain["manager"].email)) == 1


def test_the_revocation_resumes_after_a_crash(api, provider, monkeypatch, platform):
    """A page that fails halfway is done again from the job's checkpoint: nothing twice, nothing lost."""
    from orchestre_local.functions import module

    from orchestre import platform as spec

    providers = [provider() for _ in range(5)]
    for p in providers:
        api.post(f"/v1/structures/{p['structure']['structure_id']}/billing-mandate", {"accept_terms": True},
                 token=p["manager"].token)
    justice = module(spec.function("justice")).justice
    job = justice.start_revocation("operator-test", dry_run=False)
    real = justice._revoke_one
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the function's container died")
        return real(*args, **kwargs)

    monkeypatch.setattr(justice, "_revoke_one", crashing)
    with pytest.raises(RuntimeError):
        while not justice.revocation_page(job["job_id"], page_size=2)["done"]:
            pass
    monkeypatch.setattr(justice, "_revoke_one", real)
    while not justice.revocation_page(job["job_id"], page_size=2)["done"]:
        pass
    mine = {p["structure"]["structure_id"] for p in providers}
    outcomes = justice.jobs.outcomes(job["job_id"])
    assert mine <= set(outcomes["revoked"]) and len(outcomes["revoked"]) == len(set(outcomes["revoked"]))
    for p in providers:
        r = api.get(f"/v1/structures/{p['structure']['structure_id']}/billing-mandate", token=p["manager"].token)
        assert r.json["status"] == "REVOKED" and [h["status"] for h in r.json["history"]] == ["ACTIVE", "REVOKED"]
