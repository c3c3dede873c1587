"""``make bench``: the performance figures of the platform, on the local platform.

    cd /work/main && .venv/bin/python -m bench

Writes bench/results.json and bench/RESULTS.md. Sections: AWS calls per operation (counted on
moto's side, see bench/awscalls.py), in-process latency (moto time apart), throughput under
concurrency, cold start per function, cost per million invoices (bench/cost.py, prices in
bench/prices.json), validation throughput on one core (bench/validation.py, in a fresh process, run last: it pins the
process to one CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    started = time.perf_counter()
    quick = os.environ.get("BENCH_QUICK") == "1"
    only = os.environ.get("BENCH_ONLY", "")  # "calls": AWS calls and cost only (no file written)
    from . import coldstart, cost, platform_bench, report

    results: dict = {}
    phases: dict[str, float] = {}

    t = time.perf_counter()
    print("== AWS calls, latency, concurrency (local platform)", flush=True)
    kw = dict(latency_runs=10, conc_seconds=2) if quick else {}
    results.update(platform_bench.run(**kw, calls_only=only == "calls"))
    phases["platform"] = time.perf_counter() - t

    t = time.perf_counter()
    print("== cost per million invoices", flush=True)
    results["cost"] = cost.run(results["aws_calls"])
    if "works" in results:  # per million monthly cycles; the deadline job per run and per month (hourly)
        results["cost"]["works_monthly_cycle"] = cost.scenario(results["works"]["monthly_cycle"])
        job = cost.scenario(results["works"]["deadline_job"])
        results["cost"]["works_deadline_job_10k_open"] = {
            "usd_per_run": round(job["usd_per_million"] / 1e6, 6),
            "usd_per_month_hourly": round(job["usd_per_million"] / 1e6 * 24 * 30, 4), "quantities": job["quantities"]}
        print(f"  works monthly cycle: {results['cost']['works_monthly_cycle']['usd_per_million']} USD per million; "
              f"deadline job over 10,000 open pieces: {results['cost']['works_deadline_job_10k_open']['usd_per_month_hourly']}"
              " USD a month (hourly)", flush=True)
    if "justice" in results:  # per million memos; the revocation job per run
        j = results["justice"]
        results["cost"]["justice_memo_to_payment"] = cost.scenario(j["memo_to_payment"])
        results["cost"]["justice_revocation_10k"] = {
            "usd_per_run": round(cost.scenario(j["justice_revocation"])["usd_per_million"] / 1e6, 4)}
        print(f"  justice memo draft -> MISE_EN_PAIEMENT: {results['cost']['justice_memo_to_payment']['usd_per_million']}"
              f" USD per million; revocation job over 10,000 mandates: "
              f"{results['cost']['justice_revocation_10k']['usd_per_run']} USD a run", flush=True)
    if "tic" in results:  # per million requests, per million delegations
        for k in ("request_to_payment", "delegation_to_approval"):
            results["cost"][f"tic_{k}"] = cost.scenario(results["tic"][k])
        print(f"  tic request draft -> MISE_EN_PAIEMENT: {results['cost']['tic_request_to_payment']['usd_per_million']} "
              f"USD per million; delegation asked -> approved: "
              f"{results['cost']['tic_delegation_to_approval']['usd_per_million']} USD per million", flush=True)
    phases["cost"] = time.perf_counter() - t
    if only == "calls":
        print(json.dumps({"cost": {k: results["cost"][k] for k in ("usd_per_million_invoices", "by_service_usd_per_million")},
                          "lifecycle_flow": {k: results["aws_calls"]["lifecycle_flow"][k]
                                             for k in ("dynamodb_wru", "lambda_seconds", "lambda_cpu_seconds", "lambda_seconds_of_runs", "event_deliveries",
                                                       "counts_equal_across_runs", "by_operation")},
                          "wru": {k: v["dynamodb_wru"] for k, v in results["aws_calls"].items()}}, indent=1))
        return 0

    t = time.perf_counter()
    print("== cold start", flush=True)
    results.update(coldstart.run(runs=5))
    phases["cold_start"] = time.perf_counter() - t

    t = time.perf_counter()
    print("== validation throughput (one core)", flush=True)
    # In a fresh process: this one holds moto's state and the platform's threads, which slowed the
    # pure-Python parts (the PDF route) by half in the same run.
    code = ("import json, sys; from bench import validation; "
            f"r = validation.run(seconds={0.5 if quick else 0.8}, min_runs=30, warm_seconds=1.0); "
            "print('RESULT ' + json.dumps(r))")
    p = subprocess.run([sys.executable, "-c", code], cwd=HERE.parent, stdout=subprocess.PIPE, text=True, check=True)
    lines = p.stdout.splitlines()
    print("\n".join(line for line in lines if not line.startswith("RESULT ")), flush=True)
    results["validation"] = json.loads(next(line for line in lines if line.startswith("RESULT "))[7:])
    phases["validation"] = time.perf_counter() - t

    elapsed = time.perf_counter() - started
    results["bench"] = {"elapsed_seconds": round(elapsed, 1), "phases_seconds": {k: round(v, 1) for k, v in phases.items()},
                        "cpus": os.cpu_count(), "python": sys.version.split()[0], "quick": quick,
                        "date": time.strftime("%Y-%m-%d")}
    out = HERE / "results.json"
    out.write_text(json.dumps(results, indent=1, sort_keys=True))
    md = HERE / "RESULTS.md"
    md.write_text(report.markdown(results))
    print(f"\nwrote {out} and {md}")
    print(f"bench elapsed: {elapsed:.1f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
