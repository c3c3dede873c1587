"""AWS calls, in-process latency and throughput under concurrency, on the local platform.

The platform is ``orchestre_local.runtime.LocalPlatform`` (moto server in this process, handlers in
worker processes). Calls are counted on moto's side (``bench.awscalls``), Lambda invocations at the
containers. The bench waits for asynchronous states (routing) by reading moto's table in this process: those
reads are no AWS calls.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from . import awscalls
from .awscalls import RECORDER

PASSWORD = "Bench-password-2026"
TRANSITIONS = (("SERVICE_FAIT", {}), ("MANDATEE", {"mandate_number": "M-BENCH-1"}), ("MISE_EN_PAIEMENT", {}))


def random_siret() -> str:
    from stdnum import luhn

    siren = str(random.randint(10_000_000, 99_999_999))
    siren += luhn.calc_check_digit(siren)
    body = siren + "".join(random.choice("0123456789") for _ in range(4))
    return body + luhn.calc_check_digit(body)


class Bench:
    def __init__(self, out=sys.stdout):
        self.out = out
        self.platform = None

    # -- platform ------------------------------------------------------------------------------
    def start(self) -> None:
        from orchestre_local.runtime import LocalPlatform

        awscalls.install()
        self.platform = LocalPlatform(api_port=None).start(log=lambda *_: None)
        awscalls.install_invocations(self.platform.gateway.containers)
        from orchestre_local.eventbridge import record_deliveries

        record_deliveries()
        self.table = self.platform.env["TABLE_NAME"]
        self.region = self.platform.env["AWS_REGION"]
        self.today = date.today()

    def stop(self) -> None:
        if self.platform:
            self.platform.stop()

    def call(self, method, path, body=None, token=None, headers=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        status, _h, raw = self.platform.gateway.handle(method, path, h, data)
        return status, (json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw)

    def ok(self, expected, method, path, body=None, **kw):
        status, data = self.call(method, path, body, **kw)
        if status != expected:
            raise RuntimeError(f"{method} {path}: {status} {str(data)[:300]}")
        return data

    # -- fixtures --------------------------------------------------------------------------------
    def user(self, prefix="bench"):
        email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.fr"
        r = self.ok(201, "POST", "/v1/accounts", {"email": email, "password": PASSWORD, "first_name": "Bench",
                                                 "last_name": prefix})
        t = self.ok(200, "POST", "/v1/auth/token", {"email": email, "password": PASSWORD})
        return {"user_id": r["user_id"], "email": email, "token": t["access_token"]}

    def structure_body(self, kind="PRIVATE", **extra):
        return {"identifier_type": "SIRET", "identifier": random_siret(), "name": f"Bench {uuid.uuid4().hex[:8]}",
                "kind": kind, **extra}

    def parties(self):
        from orchestre.documents.parties import french_vat_id

        buyer_user = self.user("buyer")
        buyer = self.ok(201, "POST", "/v1/structures", self.structure_body("PUBLIC", billing={"service_code_required": True}),
                        token=buyer_user["token"])
        self.ok(201, "POST", f"/v1/structures/{buyer['structure_id']}/services",
                {"code": "SERV-1", "name": "SERV-1", "legal_commitment_required": False}, token=buyer_user["token"])
        owner = self.user("supplier")
        supplier = self.ok(201, "POST", "/v1/structures", self.structure_body(), token=owner["token"])
        supplier = self.ok(200, "PATCH", f"/v1/structures/{supplier['structure_id']}",
                           {"vat_number": french_vat_id(supplier["identifier"][:9]),
                            "address": {"line1": "1 rue de la Paix", "postal_code": "75002", "city": "Paris"}},
                           token=owner["token"], headers={"If-Match": '"1"'})
        return {"buyer": buyer, "buyer_user": buyer_user, "supplier": supplier, "owner": owner}

    def portal_body(self, p, number=None):
        return {"supplier_structure_id": p["supplier"]["structure_id"],
                "recipient_identifier": p["buyer"]["identifier"], "service_code": "SERV-1",
                "number": number or f"B-{uuid.uuid4().hex[:10]}", "issue_date": self.today.isoformat(),
                "lines": [{"description": "Prestation", "quantity": "1", "unit_price": "100", "vat_rate": "20"}]}

    def invoice_pdf(self, p) -> tuple[str, bytes]:
        """A Factur-X EN 16931 PDF of a new number. The visible page is rendered once per supplier
        (fpdf2 takes ~110 ms a page); each file carries its own CII, which is what the platform reads."""
        from orchestre.documents.parties import PartyInfo
        from orchestre.documents.pipeline import generate
        from orchestre.domain.invoices import LineInput, PortalInvoice

        seller = PartyInfo(name=p["supplier"]["name"], siret=p["supplier"]["identifier"],
                           vat_id=p["supplier"]["vat_number"], city="Paris", postal_code="75002")
        buyer = PartyInfo(name=p["buyer"]["name"], siret=p["buyer"]["identifier"], city="Lyon", postal_code="69001")

        def command(number, page=None):
            return PortalInvoice(
                supplier_structure_id=p["supplier"]["structure_id"], recipient_identifier=p["buyer"]["identifier"],
                service_code="SERV-1", number=number, issue_date=self.today, pdf_base64=page,
                lines=[LineInput(description="Prestation de conseil", quantity="3", unit_price="450.00", vat_rate="20")])

        if "page" not in p:
            from orchestre.documents.pdf import render_pdf

            first = generate(command("F-PAGE"), seller, buyer)
            p["page"] = base64.b64encode(render_pdf(first.document, seller, buyer, "A1", note=None, payment_terms=None,
                                                    attachment_names=[])).decode()
        number = f"F-{uuid.uuid4().hex[:10]}"
        return number, generate(command(number, p["page"]), seller, buyer).pdf

    # -- waiting without the platform ------------------------------------------------------------
    # The bench reads moto's table in this process: no request, nothing counted, no load on moto's
    # threads (polling over HTTP every 10 ms took a good share of a core from the platform).
    def _item(self, pk: str, sk: str) -> dict | None:
        return awscalls.item_image(self.region, self.table, {"PK": {"S": pk}, "SK": {"S": sk}})

    def status_of(self, invoice_ids: list[str]) -> dict[str, str]:
        out = {}
        for iid in invoice_ids:
            item = self._item(f"INV#{iid}", "INVOICE")
            if item:
                out[iid] = item["status"]["S"]
        return out

    def wait_routed(self, invoice_id: str, timeout=30.0, status="MISE_A_DISPOSITION") -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.status_of([invoice_id]).get(invoice_id) == status:
                return
            time.sleep(0.01)
        raise RuntimeError(f"{invoice_id} not {status} in {timeout}s")

    def wait_number(self, p, number: str, timeout=30.0) -> str:
        pk = f"INVNUM#{p['supplier']['structure_id']}#{self.today.year}#{number.upper()}"
        deadline = time.time() + timeout
        while time.time() < deadline:
            item = self._item(pk, "GUARD")
            if item:
                return item["invoice_id"]["S"]
            time.sleep(0.01)
        raise RuntimeError(f"invoice {number} not deposited in {timeout}s")

    def quiesce(self, quiet=0.5, timeout=20.0) -> None:
        """Wait until no counted AWS call (idle polls aside) happened for ``quiet`` seconds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.1)
            recent = [c for c in RECORDER.since(max(0, RECORDER.mark() - 200)) if not c.idle]
            last = max((c.started + c.seconds for c in recent), default=0.0)
            if time.perf_counter() - last >= quiet:
                return

    # -- operations (each returns what the next needs) ---------------------------------------------
    def op_create_structure(self, ctx):
        self.ok(201, "POST", "/v1/structures", self.structure_body(), token=ctx["owner"]["token"])

    def op_portal_entry(self, ctx):
        return self.ok(201, "POST", "/v1/invoices", self.portal_body(ctx), token=ctx["owner"]["token"])["invoice_id"]

    def op_flow_to_mad(self, ctx, prepared):
        number, pdf = prepared
        self.ok(202, "POST", "/v1/flows", {"file_name": "facture.pdf", "content_base64": base64.b64encode(pdf).decode()},
                token=ctx["owner"]["token"])
        iid = self.wait_number(ctx, number)
        self.wait_routed(iid)
        return iid

    def op_transition(self, ctx, invoice_id, status, extra):
        self.ok(200, "POST", f"/v1/invoices/{invoice_id}/status", {"status": status, **extra},
                token=ctx["buyer_user"]["token"])

    def op_list_page(self, ctx):
        page = self.ok(200, "GET", f"/v1/invoices?role=RECIPIENT&structure_id={ctx['buyer']['structure_id']}&limit=50",
                       token=ctx["buyer_user"]["token"])
        assert len(page["items"]) == 50, len(page["items"])

    def op_lifecycle(self, ctx, prepared=None):
        if prepared:
            iid = self.op_flow_to_mad(ctx, prepared)
        else:
            iid = self.op_portal_entry(ctx)
            self.wait_routed(iid)
        for status, extra in TRANSITIONS:
            self.op_transition(ctx, iid, status, extra)
        return iid

    # -- measuring -----------------------------------------------------------------------------
    def measured(self, fn, *args):
        """(result, wall seconds, moto seconds, calls, invocations) of one run."""
        mark = RECORDER.mark()
        t0 = time.perf_counter()
        result = fn(*args)
        t1 = time.perf_counter()
        calls = [c for c in RECORDER.since(mark) if c.started <= t1]
        return result, t1 - t0, awscalls.moto_seconds(calls), calls, awscalls.invocations_since(t0, t1)

    def counted(self, name, fn, *args, settle=True, before=True):
        """One run counted alone: the platform is quiet before, and we wait for it to be quiet after
        (asynchronous work started by the operation — routing, notifications — is part of it)."""
        if before:
            self.quiesce()
        mark = RECORDER.mark()
        t0 = time.perf_counter()
        result = fn(*args)
        t_sync = time.perf_counter()
        if settle:
            self.quiesce()
        calls = [c for c in RECORDER.since(mark) if not c.idle]
        idle = [c for c in RECORDER.since(mark) if c.idle]
        invs = awscalls.invocations_since(t0)
        sync_calls = [c for c in calls if c.started <= t_sync]
        summary = awscalls.summarize(calls)
        summary["synchronous"] = awscalls.summarize(sync_calls)["by_operation"]
        summary["lambda_invocations"] = dict(sorted(
            {f: sum(1 for i in invs if i.function == f) for f in {i.function for i in invs}}.items()))
        summary["lambda_seconds"] = {f: round(sum(i.handler_seconds for i in invs if i.function == f), 4)
                                     for f in summary["lambda_invocations"]}
        summary["lambda_cpu_seconds"] = {f: round(sum(i.cpu_seconds for i in invs if i.function == f), 4)
                                         for f in summary["lambda_invocations"]}
        summary["lambda_round_trip_seconds"] = {f: round(sum(i.seconds for i in invs if i.function == f), 4)
                                                for f in summary["lambda_invocations"]}
        summary["workflow_task_seconds"] = round(sum(c.seconds for c in calls if c.service == "lambda"), 4)
        summary["idle_receives_in_window"] = len(idle)
        handler = [c for c in calls if c.service != "lambda" and c.operation not in ("ReceiveMessage", "DeleteMessageBatch")]
        summary["handler_calls"] = len(handler)
        summary["handler_moto_seconds"] = round(sum(c.seconds for c in handler), 4)
        summary["moto_seconds"] = round(awscalls.moto_seconds(calls), 4)
        summary["wall_seconds_to_sync_reply"] = round(t_sync - t0, 4)
        summary["sync_moto_seconds"] = round(awscalls.moto_seconds(sync_calls), 4)
        from orchestre_local.eventbridge import DELIVERIES

        delivered = [kind for at, kind, _arn in list(DELIVERIES) if at >= t0]
        summary["event_deliveries"] = {k: delivered.count(k) for k in sorted(set(delivered))}
        summary["api_requests"] = None  # filled by the caller
        return result, summary

    def median_run(self, name, args, runs=3) -> dict:
        summaries = [self.counted(name, self.op_lifecycle, *args())[1] for _ in range(runs)]
        summaries.sort(key=lambda s: sum(s["lambda_seconds"].values()))
        kept = summaries[len(summaries) // 2]
        kept["runs"] = runs
        kept["lambda_seconds_of_runs"] = [round(sum(s["lambda_seconds"].values()), 4) for s in summaries]
        kept["counts_equal_across_runs"] = all(s["by_operation"] == kept["by_operation"] for s in summaries)
        return kept

    @staticmethod
    def percentiles(values: list[float]) -> dict:
        values = sorted(values)
        if not values:
            return {}
        q = lambda p: values[min(len(values) - 1, max(0, int(round(p * (len(values) - 1)))))]  # noqa: E731
        return {"runs": len(values), "p50": round(q(0.5) * 1000, 2), "p95": round(q(0.95) * 1000, 2),
                "max": round(values[-1] * 1000, 2), "mean": round(statistics.fmean(values) * 1000, 2)}

    def latency(self, name, runs, fn, args_for, budget_s=None, min_runs=20):
        """Up to ``runs`` runs; stops earlier once ``budget_s`` is spent and ``min_runs`` are done."""
        walls, motos = [], []
        t_start = time.perf_counter()
        for i in range(runs):
            if budget_s is not None and i >= min_runs and time.perf_counter() - t_start > budget_s:
                break
            _r, wall, moto, _calls, _invs = self.measured(fn, *args_for(i))
            walls.append(wall)
            motos.append(moto)
        return self.summary(name, walls, motos, runs)

    def lifecycle_latency(self, ctx, runs, budget_s) -> dict:
        """Serial lifecycles (portal entry, routing to MISE_A_DISPOSITION, three transitions), each
        step timed: samples for portal_entry, routing, status_transition and lifecycle."""
        steps = {"portal_entry": [], "routing": [], "status_transition": [], "lifecycle": []}
        t_start = time.perf_counter()
        for i in range(runs):
            if i >= 20 and time.perf_counter() - t_start > budget_s:
                break
            t0, mark = time.perf_counter(), RECORDER.mark()
            iid, wall, moto, _c, _i = self.measured(self.op_portal_entry, ctx)
            steps["portal_entry"].append((wall, moto))
            _r, wall, moto, _c, _i = self.measured(self.wait_routed, iid)
            steps["routing"].append((wall, moto))
            for status, extra in TRANSITIONS:
                _r, wall, moto, _c, _i = self.measured(self.op_transition, ctx, iid, status, extra)
                steps["status_transition"].append((wall, moto))
            t1 = time.perf_counter()
            calls = [c for c in RECORDER.since(mark) if c.started <= t1]
            steps["lifecycle"].append((t1 - t0, awscalls.moto_seconds(calls)))
        out = {}
        for name, samples in steps.items():
            out[name] = self.summary(name, [w for w, _ in samples], [m for _, m in samples], runs)
        return out

    def summary(self, name, walls, motos, target_runs) -> dict:
        out = self.percentiles(walls)
        m = self.percentiles(motos)
        out["moto_p50"], out["moto_p95"] = m["p50"], m["p95"]
        platform = self.percentiles([w - mo for w, mo in zip(walls, motos)])
        out["platform_p50"], out["platform_p95"] = platform["p50"], platform["p95"]
        out["target_runs"] = target_runs
        print(f"  latency {name:<18} runs={out['runs']:<4} p50={out['p50']:8.1f} ms p95={out['p95']:8.1f} ms "
              f"max={out['max']:8.1f} ms (moto p50 {out['moto_p50']:.1f} ms)", file=self.out, flush=True)
        return out

    # -- concurrency -------------------------------------------------------------------------------
    def concurrency(self, ctx_list, clients: int, seconds: float) -> dict:
        accepted: list[str] = []
        errors = 0
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def client(k):
            nonlocal errors
            ctx = ctx_list[k % len(ctx_list)]
            while time.perf_counter() < stop_at:
                try:
                    status, data = self.call("POST", "/v1/invoices", self.portal_body(ctx),
                                             token=ctx["owner"]["token"])
                except Exception:  # noqa: BLE001
                    status, data = 0, None
                with lock:
                    if status == 201:
                        accepted.append(data["invoice_id"])
                    else:
                        errors += 1

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        t_dep = time.perf_counter() - t0
        deadline, routed, pending = time.time() + 90, {}, list(accepted)
        while pending and time.time() < deadline:
            states = self.status_of(pending)
            for iid in pending:
                if states.get(iid) == "MISE_A_DISPOSITION":
                    routed[iid] = True
            pending = [i for i in pending if i not in routed]
            if pending:
                time.sleep(0.1)
        t_all = time.perf_counter() - t0
        res = {"clients": clients, "accepted": len(accepted), "routed": len(routed), "errors": errors,
               "lost": len(accepted) - len(routed), "deposit_seconds": round(t_dep, 2),
               "deposited_per_second": round(len(accepted) / t_dep, 2), "routed_seconds": round(t_all, 2),
               "per_second": round(len(routed) / t_all, 2)}
        print(f"  concurrency {clients:>2} clients: {res['accepted']} accepted, {res['routed']} routed, "
              f"{errors} errors; deposited {res['deposited_per_second']}/s, deposited+routed {res['per_second']}/s",
              file=self.out, flush=True)
        return res


# Seconds each latency loop may take (the bench must fit in 5 minutes): runs stop at 200 or there.
BUDGET_S = {"create_structure": 8, "lifecycle": 105, "list_page_50": 20, "flow_to_mad": 66}


def run(latency_runs=200, conc_seconds=3.0, out=sys.stdout, calls_only=False) -> dict:
    b = Bench(out)
    started = time.perf_counter()
    b.start()
    print(f"platform started in {time.perf_counter() - started:.1f} s", file=out, flush=True)
    results: dict = {"aws_calls": {}, "latency_ms": {}, "concurrency": {}}
    try:
        ctx = b.parties()
        # warm every container once (cold starts are measured apart)
        pdfs = [b.invoice_pdf(ctx) for _ in range(8)]
        b.op_flow_to_mad(ctx, pdfs.pop())
        b.op_lifecycle(ctx)
        b.quiesce()

        # 1. AWS calls per operation, each counted alone on a quiet platform
        counts = results["aws_calls"]
        _r, counts["create_structure"] = b.counted("create_structure", b.op_create_structure, ctx)
        _r, counts["flow_to_mad"] = b.counted("flow_to_mad", b.op_flow_to_mad, ctx, pdfs.pop())
        iid, counts["portal_entry"] = b.counted("portal_entry", b.op_portal_entry, ctx, settle=False)
        _r, counts["routing"] = b.counted("routing", b.wait_routed, iid, before=False)
        status, extra = TRANSITIONS[0]
        _r, counts["status_transition"] = b.counted("status_transition", b.op_transition, ctx, iid, status, extra,
                                                    settle=False)
        b.quiesce()
        _r, counts["status_transition_with_notification"] = b.counted("status_transition", b.op_transition, ctx, iid,
                                                                      *TRANSITIONS[1])
        # the full lifecycles feed the cost: three runs each, the median one by Lambda time is kept
        # (the counts are the same every run; the durations of a single run can catch a hiccup)
        counts["lifecycle_portal"] = b.median_run("lifecycle_portal", lambda: (ctx,), runs=3)
        counts["lifecycle_flow"] = b.median_run("lifecycle_flow", lambda: (ctx, pdfs.pop()), runs=3)
        api = {"create_structure": 1, "flow_to_mad": 1, "portal_entry": 1, "routing": 0, "status_transition": 1,
               "status_transition_with_notification": 1, "lifecycle_portal": 4, "lifecycle_flow": 4}
        for k, v in api.items():
            counts[k]["api_requests"] = v
        print("  AWS calls counted: " + ", ".join(f"{k}={v['total']}" for k, v in counts.items()), file=out, flush=True)
        from . import works_bench

        results["works"] = works_bench.run(b)
        from . import justice_bench

        results["justice"] = justice_bench.run(b)
        from . import tic_bench

        results["tic"] = tic_bench.run(b)
        if calls_only:  # BENCH_ONLY=calls: the counts and the cost, in seconds (for design iterations)
            return results

        # 2. latency, serial runs. The full lifecycle is timed step by step: each run gives a portal
        # entry, a routing, three status transitions and the lifecycle as a whole.
        lat = results["latency_ms"]
        lat["create_structure"] = b.latency("create_structure", latency_runs, b.op_create_structure, lambda i: (ctx,),
                                            BUDGET_S["create_structure"])
        lat.update(b.lifecycle_latency(ctx, latency_runs, BUDGET_S["lifecycle"]))
        for _ in range(50 - lat["lifecycle"]["runs"]):  # the list page wants 50 received invoices at least
            b.op_portal_entry(ctx)
        b.quiesce()
        _r, counts["list_page_50"] = b.counted("list_page_50", b.op_list_page, ctx)
        counts["list_page_50"]["api_requests"] = 1
        lat["list_page_50"] = b.latency("list_page_50", latency_runs, b.op_list_page, lambda i: (ctx,),
                                         BUDGET_S["list_page_50"])
        lat["flow_to_mad"] = b.latency("flow_to_mad", latency_runs, b.op_flow_to_mad,
                                       lambda i: (ctx, b.invoice_pdf(ctx)), BUDGET_S["flow_to_mad"])
        b.quiesce()

        # 6. throughput under concurrency (portal entry, until MISE_A_DISPOSITION)
        ctxs = [ctx] + [b.parties() for _ in range(3)]
        for clients in (1, 4, 16):
            # warm-up: enough containers for this level, not measured
            with ThreadPoolExecutor(clients) as pool:
                warm = list(pool.map(lambda k: b.op_portal_entry(ctxs[k % len(ctxs)]), range(clients)))
            for iid in warm:
                b.wait_routed(iid, timeout=60)
            b.quiesce()
            results["concurrency"][str(clients)] = b.concurrency(ctxs, clients, conc_seconds)
        b.quiesce()
        results["cold_starts_local"] = {name: pool.cold_starts
                                        for name, pool in b.platform.gateway.containers._pools.items()}
    finally:
        b.stop()
    return results
