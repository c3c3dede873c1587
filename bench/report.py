"""bench/RESULTS.md from bench/results.json (the README can link or include it)."""

from __future__ import annotations

from orchestre.platform import function

OPS = ("create_structure", "flow_to_mad", "portal_entry", "routing", "status_transition",
       "status_transition_with_notification", "list_page_50", "lifecycle_portal", "lifecycle_flow")
LAT = ("create_structure", "portal_entry", "routing", "status_transition", "list_page_50", "flow_to_mad", "lifecycle")


def _ops(by_op: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_op.items(), key=lambda kv: -kv[1]))


def markdown(r: dict) -> str:
    b = r.get("bench", {})
    L = [f"# Orchestre benchmark results ({b.get('date', '')})", "",
         f"`make bench` on the local platform (moto in process, handlers in worker processes), "
         f"{b.get('cpus')} CPUs, Python {b.get('python')}: **{b.get('elapsed_seconds')} s** in all "
         f"({', '.join(f'{k} {v} s' for k, v in b.get('phases_seconds', {}).items())}).", ""]

    # summary: targets
    c, cs = r["cost"], r.get("cold_start", {})
    steps = {k: v for k, v in r.get("latency_ms", {}).items() if k != "lifecycle" and v}
    slow = max(steps.items(), key=lambda kv: kv[1]["p50"]) if steps else ("-", {"p50": "-"})
    whole = r.get("latency_ms", {}).get("lifecycle") or {"p50": "-"}
    missed_cold = [n for n, f in cs.get("functions", {}).items() if not f["meets_target"]]
    short = [f"{k} ({v['runs']})" for k, v in r["latency_ms"].items() if v["runs"] < 200]
    conc = r.get("concurrency", {})
    L += ["## Summary", "",
          f"- Cost: **{c['usd_per_million_invoices']} USD per million invoices** ({c['scenario']}, {c['region']}), "
          f"{c['usd_per_year_78m']:.0f} USD/year for 78 million; target ≤ 100 "
          f"{'met' if c['meets_target'] else 'MISSED'}. Biggest cost: **{c['biggest_cost']}** "
          f"({c['share'][c['biggest_cost']] * 100:.0f} %).",
          f"- Slowest step (p50): **{slow[0]}** {slow[1]['p50']} ms; the whole lifecycle (entry to "
          f"MISE_EN_PAIEMENT) {whole['p50']} ms.",
          f"- Cold start ≤ 300 ms (validator excepted): "
          f"{'met' if not missed_cold else 'MISSED for ' + ', '.join(missed_cold)}.",
          f"- Latency runs below 200 (time budget of the 5-minute bench): {', '.join(short) or 'none'}.",
          f"- Concurrency: errors {sum(v['errors'] for v in conc.values())}, lost "
          f"{sum(v['lost'] for v in conc.values())} (routed == accepted at every level).", ""]

    # capabilities beyond the invoice lifecycle: works contracts
    if r.get("works"):
        w, wc = r["works"], c.get("works_monthly_cycle", {})
        job, jc = w["deadline_job"], c.get("works_deadline_job_10k_open", {})
        L += ["## Works contracts", "",
              f"- One monthly cycle (A4 -> A15 -> A19 -> payable -> SERVICE_FAIT, MANDATEE, MISE_EN_PAIEMENT): "
              f"**{w['monthly_cycle']['total']} AWS calls**, {w['monthly_cycle']['dynamodb_wru']} WRU, "
              f"**{wc.get('usd_per_million')} USD per million cycles** "
              f"({', '.join(f'{k} {v}' for k, v in w['monthly_cycle']['by_operation'].items())}).",
              f"- The hourly deadline job over **{job['open_pieces']} open pieces** (none due): "
              f"**{job['total']} AWS calls** ({', '.join(f'{k} {v}' for k, v in job['by_operation'].items())}), "
              f"{job['dynamodb_rru']} RRU, {job['by_operation'].get('dynamodb.Scan', 0)} scans: it reads the due days' "
              f"partitions of the sparse index only. {jc.get('usd_per_month_hourly')} USD a month.", ""]

    if r.get("justice"):
        j, jc = r["justice"], c.get("justice_memo_to_payment", {})
        m, cs = j["memo_to_payment"], j["concurrent_submissions"]
        L += ["## Justice fee memos", "",
              f"- One memo from draft to MISE_EN_PAIEMENT (draft, submission with the PDF rendered, CERTIFIE, "
              f"MISE_EN_PAIEMENT): **{m['total']} AWS calls**, {m['dynamodb_wru']} WRU, "
              f"**{jc.get('usd_per_million')} USD per million memos** "
              f"({', '.join(f'{k} {v}' for k, v in m['by_operation'].items())}).",
              f"- **{cs['submissions']} concurrent submissions under one mandate**: {cs['errors']} errors, "
              f"{cs['distinct_numbers']} distinct numbers, consecutive: {cs['consecutive']} ({cs['first']} .. "
              f"{cs['last']}); per submission p50 **{cs['p50']} ms**, p95 **{cs['p95']} ms** "
              f"({cs['wall_seconds']} s for all 50; one submission alone: p50 {cs['alone']['p50']} ms, p95 "
              f"{cs['alone']['p95']} ms). {cs['transactions']} transactions for {cs['submissions']} numbers: a "
              f"submission that lost the number retries from the record its lost condition handed back, without a "
              f"read. The time under concurrency is queueing on this machine's 2 cores (the local Lambda "
              f"workers and moto share them), not the sequence: on AWS each submission is its own Lambda."]
        for name, label in (("justice_revocation_dry_run", "dry run"), ("justice_revocation", "real run")):
            job = j[name]
            L.append(f"- The 2018 revocation job, {label}, over **{sum(job['report'].values())} providers with an "
                     f"active mandate** ({', '.join(f'{k} {v}' for k, v in job['report'].items())}): "
                     f"**{job['total']} AWS calls**, {job['dynamodb_wru']} WRU, {job['dynamodb_rru']} RRU, "
                     f"**{job['by_operation'].get('dynamodb.Scan', 0)} scans**, {job['seconds']} s "
                     f"({', '.join(f'{k} {v}' for k, v in job['by_operation'].items())}).")
        L.append("- The job's local time is bounded by moto: each page's index query sorts the whole partition of "
                 "active mandates (10,000 items) before it pages; on DynamoDB a page is one Query of 100 keys.")
        L.append("")

    if r.get("tic"):
        t = r["tic"]
        L += ["## TIC refunds", ""]
        for k, label in (("request_to_payment", "One request from draft to MISE_EN_PAIEMENT (draft priced from the "
                                                "rate table, submission with its receipt PDF, payment)"),
                         ("delegation_to_approval", "One delegation from request to approval (the workflow started, "
                                                    "its wait on a task token, the farm's answer ending it)")):
            x = t[k]
            L.append(f"- {label}: **{x['total']} AWS calls**, {x['dynamodb_wru']} WRU, "
                     f"**{c.get('tic_' + k, {}).get('usd_per_million')} USD per million** "
                     f"({', '.join(f'{op} {n}' for op, n in x['by_operation'].items())}).")
        L.append("")

    # 1. AWS calls
    L += ["## 1. AWS calls per operation", "",
          "Counted on moto's side: every AWS call of the platform, from whichever process, is one HTTP request "
          "to the moto server that runs in the bench process; `bench/awscalls.py` wraps moto's WSGI entry "
          "(`DomainDispatcherApplication.__call__`) and records service (SigV4 scope), operation (`X-Amz-Target`, "
          "`Action`, or the S3/Lambda REST shape), bytes, moto's time, and DynamoDB items with their sizes. "
          "Each operation runs alone on a quiet platform and the window closes when no call happened for 0.5 s, "
          "so the asynchronous work it starts (routing, notifications) is in it; the pollers' empty long-poll "
          "`ReceiveMessage` calls are left out (background), receives that returned messages are counted. "
          "`lambda.Invoke` are the Step Functions tasks calling the process function (not an AWS API bill line). "
          "The bench's own reads (waiting for a status) carry a User-Agent marker and are not recorded.", "",
          "| operation | AWS calls | DynamoDB WRU / RRU | items written / read | scans | Lambda invocations | calls |",
          "|---|---:|---:|---:|---:|---|---|"]
    for op in OPS:
        c = r["aws_calls"].get(op)
        if not c:
            continue
        inv = ", ".join(f"{k} {v}" for k, v in c["lambda_invocations"].items())
        L.append(f"| {op} | {c['total']} | {c['dynamodb_wru']:g} / {c['dynamodb_rru']:g} | "
                 f"{c['dynamodb_items_written']} / {c['dynamodb_items_read']} | {c['scans']} | {inv} | "
                 f"{_ops(c['by_operation'])} |")
    st = r["aws_calls"].get("status_transition", {})
    sync = st.get("synchronous", {})
    writes = sum(v for k, v in sync.items() if k in ("dynamodb.TransactWriteItems", "dynamodb.PutItem",
                                                      "dynamodb.UpdateItem"))
    L += ["", f"Targets: a status transition is one conditional write plus one event — measured "
          f"{writes} write call(s) (`{', '.join(k for k in sync if k.startswith('dynamodb.T') or k.startswith('dynamodb.P') or k.startswith('dynamodb.U'))}`) "
          f"and {sync.get('events.PutEvents', 0)} event, plus {sync.get('dynamodb.GetItem', 0)} GetItem "
          f"(reads are not in the target's wording); a list page is one query — measured "
          f"{r['aws_calls'].get('list_page_50', {}).get('by_operation', {}).get('dynamodb.Query', '?')} Query "
          f"(+ {r['aws_calls'].get('list_page_50', {}).get('by_operation', {}).get('dynamodb.GetItem', 0)} GetItem for the caller's rights); scans anywhere: "
          f"{sum(c.get('scans', 0) for c in r['aws_calls'].values())}.", ""]

    # 2. latency
    L += ["## 2. Latency in process (ms)", "",
          "Wall time of each operation through the local gateway, serial runs. `moto` is the time moto spent "
          "answering the operation's AWS calls (workflow→Lambda invokes and long polls excluded); "
          "`platform` = wall − moto. Asynchronous work of earlier runs may overlap a run (no pause between runs). "
          "Runs: up to 200, fewer when the operation's time budget ran out (the bench must fit in 5 minutes). "
          "moto's time no longer grows with the table (`orchestre_local/dynamodb_speed.py`: transactions roll back "
          "by item, queries read their partition); most of what remains is moto's response serializer, which walks "
          "every attribute of every item returned through the API model (most of `list_page_50`'s moto time).", "",
          "| operation | runs | p50 | p95 | max | moto p50 | platform p50 | platform p95 |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for op in LAT:
        x = r["latency_ms"].get(op)
        if x:
            L.append(f"| {op} | {x['runs']} | {x['p50']} | {x['p95']} | {x['max']} | {x['moto_p50']} | "
                     f"{x['platform_p50']} | {x['platform_p95']} |")
    L += ["", "Split on a quiet platform (the counted runs of section 1, one run each: moto's time is then "
          "only this operation's): wall ms / moto ms / platform ms — " + "; ".join(
              f"{op} {c['wall_seconds_to_sync_reply'] * 1000:.0f} / {c['sync_moto_seconds'] * 1000:.0f} / "
              f"{(c['wall_seconds_to_sync_reply'] - c['sync_moto_seconds']) * 1000:.0f}"
              for op, c in r["aws_calls"].items() if "sync_moto_seconds" in c) + ".",
          "", "In the serial runs above, moto's time is summed over every call in the run's window, including the "
          "background work (routing, notifications) of earlier runs: it can exceed the wall time, and `platform` "
          "is then a lower bound.",
          "", "`flow_to_mad`: POST /v1/flows → SQS → deposit → EventBridge → Step Functions "
          "(EXPRESS) → MISE_A_DISPOSITION (each file a new Factur-X PDF: its page rendered once, its CII its own). "
          "`lifecycle`: portal entry, routing (DEPOSEE → MISE_A_DISPOSITION, seen by the bench reading the table "
          "in process), then SERVICE_FAIT, MANDATEE, MISE_EN_PAIEMENT; each lifecycle run gives one "
          "`portal_entry`, one `routing` and three `status_transition` samples.", ""]

    # 3. validation
    L += ["## 3. Validation throughput (one core)", "", "| sample | ours /s | library route /s | ratio | verdicts |",
          "|---|---:|---:|---:|---|"]
    for k, v in r.get("validation", {}).items():
        L.append(f"| {k} | {v['per_second']} | {v['library_per_second']} | {v['ratio']} | "
                 f"{'equal' if v['verdict_equal'] else 'DIFFERENT'} |")

    # 4. cold start
    cs = r.get("cold_start", {})
    L += ["", "## 4. Cold start", "",
          f"Median of {cs.get('runs')} fresh interpreters (`python -c` importing `functions.<name>.app`, cwd the "
          f"repository, the venv's python): the import itself, measured in the child, and the whole interpreter. "
          f"Package = `functions/<name>/` + its layers under `build/layers/` ({cs.get('layers')}). "
          f"Target ≤ {cs.get('target_ms')} ms except the validator (deposit).", "",
          "| function | memory MB | import ms | interpreter ms | package MB | layers | target |",
          "|---|---:|---:|---:|---:|---|---|"]
    for name, f in cs.get("functions", {}).items():
        L.append(f"| {name} | {f['memory_mb']} | {f['import_ms_median']} | {f['process_ms_median']} | "
                 f"{f['package_mb']} | {', '.join(f['layers'])} | {'met' if f['meets_target'] else 'MISSED'} |")
    fl = cs.get("floor_ms")
    if fl:
        L += ["", f"The floor, the libraries alone in a fresh interpreter: pydantic {fl['pydantic']} ms, then "
              f"Powertools (logger, metrics, REST resolver with validation) {fl['powertools']} ms, then boto3 "
              f"{fl['boto3']} ms: **{fl['total']} ms** before any code of ours. Every function but `docs` calls AWS on "
              "every request, so importing boto3 on the first request instead would move its cost into that "
              "request's duration (and out of Lambda's INIT phase and any SnapStart snapshot), not remove it: "
              "not done. The layers ship compiled bytecode; the domain is built lazily (pydantic `defer_build`)."]

    # 5. cost
    c = r["cost"]
    L += ["", "## 5. Cost per million invoices", "",
          f"Full lifecycle up to MISE_EN_PAIEMENT ({c['scenario']}, the dearer of the two deposit channels), "
          f"{c['region']}, the median of three counted runs. Lambda: each handler's run measured in its container, "
          f"CPU apart; below 1,769 MB (one vCPU) the CPU part is stretched by 1769/memory, the wait on AWS "
          f"calls is not; the headline waits at moto's speed (an upper bound), `aws_estimate` at 10 ms per call. "
          f"Prices: `{c['price_table']['file']}` "
          f"dated {c['price_table']['date']} (see docs/pricing.md; entries marked to verify). Emails excluded.", "",
          f"**{c['usd_per_million_invoices']} USD per million invoices; {c['usd_per_year_78m']:.0f} USD per year "
          f"for 78 million.** Target ≤ {c['target_usd_per_million']}: {'met' if c['meets_target'] else 'MISSED'}. "
          f"Biggest cost: **{c['biggest_cost']}**.", "",
          "| service | USD / million | share |", "|---|---:|---:|"]
    for k, v in sorted(c["by_service_usd_per_million"].items(), key=lambda kv: -kv[1]):
        L.append(f"| {k} | {v} | {c['share'][k] * 100:.1f} % |")
    L += ["", "| scenario | region / Lambda basis | USD per million |", "|---|---|---:|"]
    for s, by in c["scenarios"].items():
        for k, v in by.items():
            L.append(f"| {s} | {k} | {v['usd_per_million_invoices']} |")
    q = c["scenarios"][c["scenario"]][f"{c['region']}/measured"]["quantities_per_invoice"]
    L += ["", "Per invoice: " + ", ".join(f"{k} {v}" for k, v in q.items() if not isinstance(v, dict)) + ".", ""]
    L += [f"- {n}" for n in c.get("notes", [])]
    lc = r["aws_calls"].get(c["scenario"], {})
    if lc.get("dynamodb_writes"):
        L += ["", f"DynamoDB writes of one invoice ({c['scenario']}): {lc['dynamodb_wru']} WRU, of which the "
              f"indexes {lc.get('dynamodb_index_wru')}. Units follow AWS's rules: the larger of the item before "
              "and after, doubled in a transaction; per GSI its projection, a changed index key costing a delete "
              "and a put, an unchanged keys-only entry nothing.", "",
              "| operation / item | items | base WRU | index WRU |", "|---|---:|---:|---:|"]
        for k, v in lc["dynamodb_writes"].items():
            L.append(f"| {k} | {v['items']} | {v['base']:g} | {v['index']:g} |")
    if lc.get("lambda_cpu_seconds"):
        by_fn = q.get("lambda_gb_seconds_by_function", {}) if isinstance(q, dict) else {}
        L += ["", "| function | memory MB | invocations | handler s | of which CPU s | GB-s |", "|---|---:|---:|---:|---:|---:|"]
        for f, secs in lc["lambda_seconds"].items():
            L.append(f"| {f} | {function(f).memory_mb} | "
                     f"{lc['lambda_invocations'].get(f)} | {secs} | {lc['lambda_cpu_seconds'].get(f)} | {by_fn.get(f)} |")

    # 6. concurrency
    L += ["", "## 6. Throughput under concurrency", "",
          "Portal entry (`POST /v1/invoices`) by N client threads for a fixed time, then the bench waits until "
          "every accepted invoice is MISE_A_DISPOSITION. `per_second` = routed invoices / time from the first "
          "request to the last routing. Containers are warmed before each level.", "",
          "| clients | accepted | routed | errors | lost | deposited /s | deposited+routed /s |",
          "|---:|---:|---:|---:|---:|---:|---:|"]
    for k, v in r.get("concurrency", {}).items():
        L.append(f"| {k} | {v['accepted']} | {v['routed']} | {v['errors']} | {v['lost']} | "
                 f"{v['deposited_per_second']} | {v['per_second']} |")
    L.append("")
    return "\n".join(L)
