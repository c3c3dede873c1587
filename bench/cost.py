"""Cost per million invoices, from the counted calls, the measured durations and the configured memory.

Inputs: one counted full lifecycle (``aws_calls.lifecycle_*`` of ``bench.platform_bench``), the
price table ``bench/prices.json`` (dated, sources named; see docs/pricing.md), the memory sizes of
``orchestre.platform``.

Lambda bills the handler's duration times the configured memory, and gives CPU in proportion to
memory (one full vCPU at 1,769 MB). Each invocation's handler run is measured in its container,
split into CPU time and waiting (on AWS calls). At memory ``m`` below 1,769 MB the CPU part
stretches by 1769/m; the waiting part does not. Two bases for the waiting part:

- ``measured``: the local wait, i.e. moto's answers, much slower than DynamoDB's (an upper bound);
- ``aws_estimate``: ``AWS_CALL_MS`` per AWS call of the handlers (typical in-region latency, an
  assumption).

The headline (``usd_per_million_invoices``) uses ``measured``: the conservative basis.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from orchestre.platform import function

PRICES = Path(__file__).with_name("prices.json")
AWS_CALL_MS = 10.0
FULL_VCPU_MB = 1769  # Lambda's memory size with one full vCPU
SFN_BILLING_GB = 64 / 1024  # Express: memory billed in 64 MB increments; the minimum is assumed
S3_STORAGE_MONTHS = 1  # storage of one month is charged per invoice (retention accumulates: see notes)


def billed_seconds(lifecycle: dict, basis: str) -> dict[str, float]:
    """Each function's billed duration for one invoice, at its configured memory."""
    wall, cpu = lifecycle["lambda_seconds"], lifecycle["lambda_cpu_seconds"]
    waits = {f: max(0.0, wall[f] - cpu[f]) for f in wall}
    if basis == "aws_estimate":
        total = sum(waits.values()) or 1.0
        calls = lifecycle.get("handler_calls", 0)
        waits = {f: calls * AWS_CALL_MS / 1000 * w / total for f, w in waits.items()}
    return {f: cpu[f] * max(1.0, FULL_VCPU_MB / function(f).memory_mb) + waits[f] for f in wall}


def _lambda_gb_seconds(lifecycle: dict, basis: str) -> tuple[float, dict]:
    # Lambda bills each invocation rounded up to 1 ms: negligible at these durations
    per_fn = {f: s * function(f).memory_mb / 1024 for f, s in billed_seconds(lifecycle, basis).items()}
    return sum(per_fn.values()), {f: round(v, 4) for f, v in per_fn.items()}


def per_invoice(lifecycle: dict, region_prices: dict, basis: str = "measured") -> dict:
    ops = lifecycle["by_operation"]
    p = region_prices
    gb_s, gb_s_by_fn = _lambda_gb_seconds(lifecycle, basis)
    invocations = sum(lifecycle["lambda_invocations"].values())
    events = ops.get("events.PutEvents", 0)
    delivered = lifecycle.get("event_deliveries", {})
    # a rule delivering an event to a queue: one SendMessage, billed to us; to a function or a
    # workflow: a Lambda invocation (counted with the others) or an execution (below)
    sqs_requests = sum(v for k, v in ops.items() if k.startswith("sqs.")) + delivered.get("queue", 0)
    s3_puts = sum(v for k, v in ops.items() if k in ("s3.PutObject", "s3.CopyObject", "s3.ListObjects"))
    s3_gets = sum(v for k, v in ops.items() if k in ("s3.GetObject", "s3.HeadObject"))
    sfn_execs = ops.get("states.StartExecution", 0) + delivered.get("state_machine", 0)
    sfn_seconds = math.ceil(lifecycle.get("workflow_task_seconds", 0) * 10) / 10 if sfn_execs else 0.0
    emails = ops.get("ses.SendEmail", 0) + ops.get("ses.SendRawEmail", 0) + ops.get("sesv2.SendEmail", 0)
    usd = {
        "api_gateway": lifecycle["api_requests"] * p["apigw_rest_per_million"] / 1e6,
        "lambda_requests": invocations * p["lambda_requests_per_million"] / 1e6,
        "lambda_compute": gb_s * p["lambda_gb_second"],
        "dynamodb_writes": lifecycle["dynamodb_wru"] * p["dynamodb_wru_per_million"] / 1e6,
        "dynamodb_reads": lifecycle["dynamodb_rru"] * p["dynamodb_rru_per_million"] / 1e6,
        "dynamodb_storage_1_month": lifecycle["dynamodb_item_bytes_written"] / 1e9 * p["dynamodb_storage_gb_month"],
        "s3_requests": s3_puts * p["s3_put_per_1000"] / 1000 + s3_gets * p["s3_get_per_1000"] / 1000,
        "s3_storage_1_month": lifecycle["s3_bytes_put"] / 1e9 * p["s3_storage_gb_month"] * S3_STORAGE_MONTHS,
        "step_functions_requests": sfn_execs * p["sfn_express_requests_per_million"] / 1e6,
        "step_functions_duration": sfn_seconds * SFN_BILLING_GB * p["sfn_express_gb_second"],
        "eventbridge": events * p["eventbridge_custom_events_per_million"] / 1e6,
        "sqs": sqs_requests * p["sqs_requests_per_million"] / 1e6,
    }
    quantities = {"api_requests": lifecycle["api_requests"], "lambda_invocations": invocations,
                  "lambda_gb_seconds": round(gb_s, 4), "lambda_gb_seconds_by_function": gb_s_by_fn,
                  "dynamodb_wru": lifecycle["dynamodb_wru"], "dynamodb_rru": lifecycle["dynamodb_rru"],
                  "s3_puts": s3_puts, "s3_gets": s3_gets, "s3_bytes": lifecycle["s3_bytes_put"],
                  "sfn_executions": sfn_execs, "sfn_billed_seconds": sfn_seconds, "eventbridge_events": events,
                  "sqs_requests": sqs_requests, "emails": emails}
    return {"usd": usd, "quantities": quantities, "ses_usd": emails * p["ses_per_1000_emails"] / 1000}


def scenario(summary: dict, region: str = "eu-west-3", basis: str = "measured") -> dict:
    """The cost of one counted scenario (any operation measured like a lifecycle), per million runs."""
    prices = json.loads(PRICES.read_text())
    inv = per_invoice(summary, prices["regions"][region], basis)
    total = sum(inv["usd"].values())
    return {"usd_per_million": round(total * 1e6, 2),
            "by_service_usd_per_million": {k: round(v * 1e6, 2) for k, v in inv["usd"].items()},
            "quantities": inv["quantities"]}


def run(aws_calls: dict, region: str = "eu-west-3") -> dict:
    prices = json.loads(PRICES.read_text())
    out: dict = {"price_table": {"file": "bench/prices.json", "date": prices["date"]}, "scenarios": {}}
    for scenario in ("lifecycle_flow", "lifecycle_portal"):
        lc = aws_calls[scenario]
        out["scenarios"][scenario] = {}
        for reg, table in prices["regions"].items():
            for basis in ("measured", "aws_estimate"):
                inv = per_invoice(lc, table, basis)
                total = sum(inv["usd"].values())
                per_m = {k: round(v * 1e6, 2) for k, v in inv["usd"].items()}
                out["scenarios"][scenario][f"{reg}/{basis}"] = {
                    "usd_per_million_invoices": round(total * 1e6, 2),
                    "by_service_usd_per_million": per_m,
                    "share": {k: round(v / total, 3) if total else 0 for k, v in inv["usd"].items()},
                    "quantities_per_invoice": inv["quantities"],
                    "ses_usd_per_million_excluded": round(inv["ses_usd"] * 1e6, 2),
                    "prices_to_verify": table.get("to_verify", []),
                }
    # headline: the dearer channel, in the platform's region, on measured durations
    head_scenario = max(out["scenarios"], key=lambda s: out["scenarios"][s][f"{region}/measured"]["usd_per_million_invoices"])
    head = out["scenarios"][head_scenario][f"{region}/measured"]
    biggest = max(head["by_service_usd_per_million"], key=head["by_service_usd_per_million"].get)
    out.update({
        "region": region, "scenario": head_scenario, "basis": "measured",
        "usd_per_million_invoices": head["usd_per_million_invoices"],
        "usd_per_year_78m": round(head["usd_per_million_invoices"] * 78, 0),
        "share": head["share"], "by_service_usd_per_million": head["by_service_usd_per_million"],
        "biggest_cost": biggest, "target_usd_per_million": 100,
        "meets_target": head["usd_per_million_invoices"] <= 100,
        "emails_excluded": True,
        "notes": [
            "Cognito (per monthly active user), CloudWatch Logs/metrics, X-Ray, KMS and data transfer are not counted.",
            "SQS: the pollers' empty long-poll receives are a fixed cost per queue, not per invoice (left out); "
            "an event a rule delivers to a queue is one SQS request; to a function, one (asynchronous) Lambda "
            "invocation; to a workflow, one Express execution.",
            "Storage: one month of S3 and DynamoDB storage per invoice is included; legal retention (10 years) "
            "accumulates about 12x that per year kept.",
            "DynamoDB units: WRU = ceil(item KB) per item written, x2 in a transaction, +1 per GSI holding the item; "
            "RRU = ceil(KB/4) per read (0.5 if eventually consistent), item sizes by moto's DynamoDB size rule.",
        ],
    })
    return out
