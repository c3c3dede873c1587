"""Justice fee memos in ``make bench``: 50 concurrent submissions under one billing mandate (every
number distinct and consecutive, no error; time per submission), one memo from draft to
MISE_EN_PAIEMENT counted like an invoice's lifecycle, and the 2018 revocation job over 10,000
providers with an active mandate (it pages through the sparse index of active mandates: no scan)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from .platform_bench import PASSWORD, Bench

CONCURRENT = 50
PROVIDERS = 10_000


def parties(b: Bench) -> dict:
    from orchestre.repositories.identity import IdentityProvider

    court_user = b.user("greffe")
    court = b.ok(201, "POST", "/v1/structures", b.structure_body("PUBLIC", name=f"Tribunal judiciaire {uuid.uuid4().hex[:6]}"),
                 token=court_user["token"])
    op = b.user("operator")
    IdentityProvider().add_to_group(op["email"], "operators")
    op["token"] = b.ok(200, "POST", "/v1/auth/token", {"email": op["email"], "password": PASSWORD})["access_token"]
    b.ok(200, "PUT", f"/v1/admin/structures/{court['structure_id']}/court",
         {"code": f"TJ{uuid.uuid4().hex[:6].upper()}", "kind": "TRIBUNAL_JUDICIAIRE"}, token=op["token"])
    b.ok(200, "PUT", f"/v1/structures/{court['structure_id']}/spaces/JUSTICE_MEMOS", {}, token=court_user["token"])
    return {"court": court, "court_user": court_user, "operator": op}


def provider(b: Bench, mandate: bool) -> dict:
    user = b.user("expert")
    s = b.ok(201, "POST", "/v1/structures", b.structure_body(), token=user["token"])
    b.ok(200, "PUT", f"/v1/structures/{s['structure_id']}/spaces/JUSTICE_MEMOS", {"provider_category": "EXPERT"},
         token=user["token"])
    if mandate:
        b.ok(200, "POST", f"/v1/structures/{s['structure_id']}/billing-mandate", {"accept_terms": True},
             token=user["token"])
    return {"structure": s, "user": user}


def draft(b: Bench, ctx: dict, p: dict, number: str | None = None) -> str:
    end = b.today - timedelta(days=10)
    body = {"provider_structure_id": p["structure"]["structure_id"], "court_structure_id": ctx["court"]["structure_id"],
            "decision": {"kind": "ORDONNANCE", "date": (end - timedelta(days=40)).isoformat(), "reference": "ORD-1"},
            "prescriber": "Mme la juge Martin", "case_reference": "PARQUET-2026-1",
            "mission_start": (end - timedelta(days=30)).isoformat(), "mission_end": end.isoformat(),
            "vat_regime": "ASSUJETTI",
            "lines": [{"fee_type": "HONORAIRES_EXPERTISE", "description": "Expertise", "quantity": "1",
                       "unit_price": "300.00", "vat_rate": "20"}]}
    if number:
        body["number"] = number
    return b.ok(201, "POST", "/v1/justice/memos", body, token=p["user"]["token"])["memo_id"]


def memo_to_payment(b: Bench, ctx: dict, p: dict) -> str:
    """Draft, submission (the platform renders the PDF), certification by the clerk, payment."""
    memo_id = draft(b, ctx, p, number=f"M-{uuid.uuid4().hex[:8]}")
    b.ok(200, "POST", f"/v1/justice/memos/{memo_id}/submit", token=p["user"]["token"])
    for status in ("CERTIFIE", "MISE_EN_PAIEMENT"):
        b.ok(200, "POST", f"/v1/justice/memos/{memo_id}/status", {"status": status}, token=ctx["court_user"]["token"])
    return memo_id


def concurrent_submissions(b: Bench, ctx: dict) -> dict:
    p = provider(b, mandate=True)
    drafts = [draft(b, ctx, p) for _ in range(CONCURRENT)]
    b.quiesce()

    def submit(memo_id: str) -> tuple[float, int, object]:
        t0 = time.perf_counter()
        status, data = b.call("POST", f"/v1/justice/memos/{memo_id}/submit", token=p["user"]["token"])
        return time.perf_counter() - t0, status, data

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        results = list(pool.map(submit, drafts))
    wall = time.perf_counter() - t0
    numbers = sorted(d["number"] for _t, s, d in results if s == 200)
    year = b.today.year
    expected = [f"{year}-{i:011d}" for i in range(1, CONCURRENT + 1)]
    out = {"submissions": CONCURRENT, "errors": sum(1 for _t, s, _d in results if s != 200),
           "distinct_numbers": len(set(numbers)), "consecutive": numbers == expected,
           "first": numbers[0] if numbers else None, "last": numbers[-1] if numbers else None,
           "wall_seconds": round(wall, 2), **b.percentiles([t for t, _s, _d in results])}
    return out


def active_mandates(b: Bench, count: int, template: dict) -> list[str]:
    """``count`` private providers with the justice space open and an active mandate, written straight
    into moto (copies of a real provider's profile and justice record; not counted)."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends["123456789012"][b.region]
    profile = b._item(f"STRUCT#{template['structure_id']}", "PROFILE")
    record = b._item(f"STRUCT#{template['structure_id']}", "JUSTICE#PROVIDER")
    ids = []
    for _ in range(count):
        sid = str(uuid.uuid4())
        item = {**profile, "PK": {"S": f"STRUCT#{sid}"}, "structure_id": {"S": sid}}
        for key in ("GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"):  # not in the directory's or identifiers' indexes
            item.pop(key, None)
        backend.put_item(b.table, item)
        backend.put_item(b.table, {**record, "PK": {"S": f"STRUCT#{sid}"}, "GSI3SK": {"S": sid}})
        ids.append(sid)
    return ids


def revocation(b: Bench, ctx: dict, dry_run: bool) -> dict:
    job_id = b.ok(202, "POST", "/v1/admin/jobs/revoke-justice-mandates", {"dry_run": dry_run},
                  token=ctx["operator"]["token"])["job_id"]
    deadline = time.time() + 900
    while time.time() < deadline:
        item = b._item(f"JOB#{job_id}", "JOB")
        if item and item["status"]["S"] != "RUNNING":
            break
        time.sleep(0.2)
    job = b.ok(200, "GET", f"/v1/admin/jobs/{job_id}", token=ctx["operator"]["token"])
    if job["status"] != "SUCCEEDED":
        raise RuntimeError(f"revocation job {job_id}: {job}")
    return {k: v["count"] for k, v in job["report"].items() if isinstance(v, dict) and "count" in v}


def run(b: Bench) -> dict:
    ctx = parties(b)
    p = provider(b, mandate=False)
    memo_to_payment(b, ctx, p)  # warm the justice containers
    b.quiesce()
    _r, memo = b.counted("justice_memo_to_payment", memo_to_payment, b, ctx, p)
    memo["api_requests"] = 4  # draft, submit, two statuses
    serial = []
    for _ in range(20):  # one submission alone, for comparison
        memo_id = draft(b, ctx, p, number=f"S-{uuid.uuid4().hex[:8]}")
        t0 = time.perf_counter()
        b.ok(200, "POST", f"/v1/justice/memos/{memo_id}/submit", token=p["user"]["token"])
        serial.append(time.perf_counter() - t0)
    b.quiesce()
    conc, counted = b.counted("justice_concurrent_submissions", concurrent_submissions, b, ctx)
    conc["transactions"] = counted["by_operation"].get("dynamodb.TransactWriteItems", 0)
    conc["aws_calls"] = counted["total"]
    conc["alone"] = b.percentiles(serial)
    print(f"  justice: {CONCURRENT} concurrent submissions under one mandate: {conc['errors']} errors, "
          f"{conc['distinct_numbers']} distinct numbers, consecutive {conc['consecutive']} ({conc['first']} .. "
          f"{conc['last']}), p50 {conc['p50']} ms, p95 {conc['p95']} ms, {conc['wall_seconds']} s in all, "
          f"{conc['transactions']} transactions; alone p50 {conc['alone']['p50']} ms", flush=True,
          file=b.out)
    t0 = time.perf_counter()
    template = provider(b, mandate=True)["structure"]
    active_mandates(b, PROVIDERS - 1, template)
    inserted = time.perf_counter() - t0
    b.quiesce()
    jobs = {}
    for dry_run in (True, False):
        name = "justice_revocation_dry_run" if dry_run else "justice_revocation"
        t0 = time.perf_counter()
        report, counted = b.counted(name, revocation, b, ctx, dry_run)
        counted["seconds"] = round(time.perf_counter() - t0, 1)
        counted["report"] = report
        counted["api_requests"] = 1
        jobs[name] = counted
        print(f"  justice: revocation job{' (dry run)' if dry_run else ''} over {report.get('revoked', 0)} active "
              f"mandates: {counted['total']} AWS calls, "
              f"{counted['dynamodb_wru']} WRU, {counted['by_operation'].get('dynamodb.Scan', 0)} scans, "
              f"{counted['seconds']} s", flush=True, file=b.out)
    print(f"  justice: memo draft -> MISE_EN_PAIEMENT {memo['total']} AWS calls ({memo['dynamodb_wru']} WRU); "
          f"providers written in {inserted:.1f} s", flush=True, file=b.out)
    return {"memo_to_payment": memo, "concurrent_submissions": conc, **jobs}
