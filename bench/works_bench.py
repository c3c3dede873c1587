"""Works contracts in ``make bench``: one monthly cycle (A4 -> A15 -> A19 -> payable -> MISE_EN_PAIEMENT),
counted like an invoice's lifecycle, and the deadline job over 10,000 open pieces (it reads the due
days' partitions of the sparse index only: no scan)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from .platform_bench import TRANSITIONS, Bench

OPEN_PIECES = 10_000


def site(b: Bench) -> dict:
    def party(kind, **extra):
        user = b.user(kind.lower())
        s = b.ok(201, "POST", "/v1/structures", b.structure_body(kind, **extra), token=user["token"])
        b.ok(200, "PUT", f"/v1/structures/{s['structure_id']}/spaces/WORKS", {}, token=user["token"])
        return user, s

    moa_user, moa = party("PUBLIC")
    moe_user, moe = party("PRIVATE")
    holder_user, holder = party("PRIVATE")
    contract = b.ok(201, "POST", "/v1/works/contracts", {
        "number": f"B-{uuid.uuid4().hex[:6]}", "title": "Bench", "moa_structure_id": moa["structure_id"],
        "moe_structure_id": moe["structure_id"], "holder_structure_id": holder["structure_id"]},
        token=moa_user["token"])
    return {"contract": contract, "moa": (moa_user, moa), "moe": (moe_user, moe), "holder": (holder_user, holder)}


def piece(b: Bench, s: dict, who: str, frame: str, previous: str | None = None) -> dict:
    user, structure = s[who]
    return b.ok(201, "POST", f"/v1/works/contracts/{s['contract']['contract_id']}/pieces", {
        "frame": frame, "depositor_structure_id": structure["structure_id"], "number": f"{frame}-{uuid.uuid4().hex[:8]}",
        "issue_date": b.today.isoformat(), "amount_without_vat": "1000.00", "vat_amount": "200.00",
        "amount_with_vat": "1200.00", "cumulative_without_vat": "1000.00",
        **({"previous_piece_id": previous} if previous else {})}, token=user["token"])


def monthly_cycle(b: Bench, s: dict) -> str:
    a4 = piece(b, s, "holder", "A4")
    a15 = piece(b, s, "moe", "A15", a4["piece_id"])
    a19 = piece(b, s, "moa", "A19", a15["piece_id"])
    for status, extra in TRANSITIONS:
        b.ok(200, "POST", f"/v1/invoices/{a19['piece_id']}/status", {"status": status, **extra},
             token=s["moa"][0]["token"])
    return a19["piece_id"]


def open_pieces(b: Bench, count: int) -> None:
    """``count`` pieces whose deadline runs over the next six days, written straight into moto (not counted)."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends["123456789012"][b.region]
    start = datetime.now(UTC) + timedelta(hours=2)
    for i in range(count):
        wake = (start + timedelta(minutes=i * 6 * 24 * 60 // count)).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")
        pid = str(uuid.uuid4())
        backend.put_item(b.table, {"PK": {"S": f"INV#{pid}"}, "SK": {"S": "INVOICE"}, "GSI3PK": {"S": f"WORKSDUE#{wake[:10]}"},
                                   "GSI3SK": {"S": f"{wake}#{pid}"}, "status": {"S": "MISE_A_DISPOSITION_MOE"}})


def run(b: Bench) -> dict:
    from orchestre import platform as spec

    s = site(b)
    monthly_cycle(b, s)  # warm the works containers
    b.quiesce()
    _r, cycle = b.counted("works_monthly_cycle", monthly_cycle, b, s)
    cycle["api_requests"] = 6  # three deposits, three statuses
    t0 = time.perf_counter()
    open_pieces(b, OPEN_PIECES)
    inserted = time.perf_counter() - t0
    works = spec.function("works")
    b.quiesce()
    (_r, job) = b.counted("works_deadline_job", b.platform.scheduler.run, works)
    job["open_pieces"] = OPEN_PIECES
    job["api_requests"] = 0
    scans = job["by_operation"].get("dynamodb.Scan", 0)
    print(f"  works: monthly cycle {cycle['total']} AWS calls ({cycle['dynamodb_wru']} WRU); deadline job over "
          f"{OPEN_PIECES} open pieces: {job['total']} AWS calls, {job['dynamodb_rru']} RRU, {scans} scans "
          f"(pieces written in {inserted:.1f} s)", flush=True, file=b.out)
    return {"monthly_cycle": cycle, "deadline_job": job}
