"""Operations jobs (``/v1/admin/jobs``): their state, their checkpoint, their outcome per target.

| item | PK | SK |
| --- | --- | --- |
| a job | JOB#<id> | JOB |
| what the job did to one target | JOB#<id> | OUT#<outcome>#<target> |

A job works page by page; after each page it moves its checkpoint (conditional on the one it read),
so a job that crashed resumes after the last page it finished. An outcome is written once
(conditional), in the same transaction as the change it records where there is one: a page done
twice records nothing twice, and the report is the outcomes' count.
"""

from __future__ import annotations

from typing import Any

from .dynamo import ConditionFailed, Table, put_op
from .invoices import Event, outbox


class JobRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def create(self, job: dict[str, Any]) -> None:
        self.table.put({"PK": f"JOB#{job['job_id']}", "SK": "JOB", "type": "JOB", **job}, "attribute_not_exists(PK)")

    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self.table.get(f"JOB#{job_id}", "JOB", consistent=True)
        return {k: v for k, v in item.items() if k not in ("PK", "SK", "type")} if item else None

    def checkpoint(self, job_id: str, cursor_read: str | None, cursor: str | None, done: bool, at: str) -> bool:
        """Move the checkpoint past a page (False: another run of the job moved it meanwhile)."""
        try:
            self.table.update(f"JOB#{job_id}", "JOB", "SET #c = :c, pages = pages + :one, updated_at = :at, #d = :d",
                              names={"#c": "cursor", "#d": "pages_done"},
                              values={":c": cursor or "", ":read": cursor_read or "", ":one": 1, ":at": at, ":d": done},
                              condition="#c = :read")
            return True
        except ConditionFailed:
            return False

    def finish(self, job_id: str, status: str, at: str, report: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        values: dict[str, Any] = {":s": status, ":at": at, ":running": "RUNNING"}
        sets = "SET #s = :s, finished_at = :at"
        if report is not None:
            sets += ", report = :r"
            values[":r"] = report
        if error:
            sets += ", #e = :e"
            values[":e"] = error[:1000]
        try:
            self.table.update(f"JOB#{job_id}", "JOB", sets, names={"#s": "status", **({"#e": "error"} if error else {})},
                              values=values, condition="#s = :running")
        except ConditionFailed:
            pass  # finished already (a retried last step)

    @staticmethod
    def _outcome(job_id: str, outcome: str, target: str, **details: Any) -> dict[str, Any]:
        return {"PK": f"JOB#{job_id}", "SK": f"OUT#{outcome}#{target}", "type": "JOB_OUTCOME", "outcome": outcome,
                "target": target, **details}

    @classmethod
    def outcome_op(cls, job_id: str, outcome: str, target: str, event: Event | None = None, **details: Any) -> dict:
        """The job's outcome for ``target`` with the change it records, written once; with ``event``, also
        its outbox (notify sends it)."""
        item = cls._outcome(job_id, outcome, target, **details)
        if event is not None:
            item.update(outbox(event, f"{job_id}/{outcome}/{target}"))
        return put_op(item, "attribute_not_exists(PK)")

    def record_outcomes(self, job_id: str, outcomes: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Outcomes that change nothing else (skipped, kept, a dry run's), a page's at once: their key is
        what they say, so a page done twice writes the same items again."""
        self.table.batch_put([self._outcome(job_id, outcome, target, **details) for outcome, target, details in outcomes])

    def outcomes(self, job_id: str) -> dict[str, list[str]]:
        """Every outcome of the job: the targets, by outcome."""
        out: dict[str, list[str]] = {}
        token = None
        while True:
            page = self.table.query(f"JOB#{job_id}", begins_with="OUT#", limit=1000, page_token=token)
            for item in page.items:
                out.setdefault(item["outcome"], []).append(item["target"])
            token = page.next_token
            if not token:
                return out
