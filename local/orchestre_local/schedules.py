"""Scheduled jobs on this machine: each function's ``schedule`` of the spec, as EventBridge runs it.

On AWS an EventBridge rule invokes the function with a ``Scheduled Event``. Here a thread does the
same: ``rate(...)`` expressions on real elapsed time, ``cron(...)`` expressions on the domain's
clock (so a clock moved with ``POST /_local/clock`` sets the hour). ``POST /_local/schedules/run``
runs every job once, at once (``Scheduler.run_all``).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from orchestre import platform as spec
from orchestre.domain.common import iso

from .functions import Containers, FunctionError

ACCOUNT = "123456789012"
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}


def rate_seconds(expression: str) -> int | None:
    m = _RATE.match(expression)
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2).rstrip("s")] if m else None


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values of one cron field (None: any). Numbers, names, ``*``, ``?``, lists, ranges, steps."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base in ("*", ""):
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = (names or {}).get(a, None) or int(a), (names or {}).get(b, None) or int(b)
        else:
            start = (names or {}).get(base, None) or int(base)
            end = high if step else start
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def cron_matches(expression: str, moment: datetime) -> bool:
    """Does ``cron(min hour day-of-month month day-of-week year)`` (EventBridge's form, UTC) fire at
    ``moment``'s minute? ``L``, ``W`` and ``#`` are not supported (no job of the spec uses them)."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise ValueError(f"not an EventBridge cron expression: {expression}")
    minute, hour, dom, month, dow, year = fields
    checks = (
        (_field(minute, 0, 59), moment.minute),
        (_field(hour, 0, 23), moment.hour),
        (_field(dom, 1, 31), moment.day),
        (_field(month, 1, 12, _MONTHS), moment.month),
        (_field(dow, 1, 7, _DAYS), moment.isoweekday() % 7 + 1),  # 1 = Sunday
        (_field(year, 1970, 2199), moment.year),
    )
    return all(values is None or value in values for values, value in checks)


def scheduled_event(fn: spec.Function, region: str, at: datetime) -> dict[str, Any]:
    """What EventBridge sends a function on its schedule."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": iso(at).replace(".000Z", "Z"), "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/orchestre-schedule-{fn.name}"], "detail": {},
    }


class Scheduler:
    def __init__(self, containers: Containers, region: str, now=None):
        from orchestre.domain.common import now as domain_now

        self.containers = containers
        self.region = region
        self.now = now or domain_now
        self.jobs = [fn for fn in spec.FUNCTIONS if fn.schedule]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, fn: spec.Function) -> dict[str, Any]:
        started = time.perf_counter()
        out: dict[str, Any] = {"function": fn.name, "schedule": fn.schedule}
        try:
            out["result"] = self.containers.invoke(fn.name, scheduled_event(fn, self.region, self.now()))
            out["ok"] = True
        except FunctionError as exc:
            out.update(ok=False, error=f"{exc.error_type}: {exc.message}")
        out["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return out

    def run_all(self) -> list[dict[str, Any]]:
        """Every scheduled job once, one after the other, in the spec's order."""
        return [self.run(fn) for fn in self.jobs]

    # -- on a timer ------------------------------------------------------------------------

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self._loop, name="schedules", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        started = time.monotonic()
        last_rate: dict[str, float] = {fn.name: started for fn in self.jobs}
        last_minute: dict[str, str] = {}
        while not self._stop.wait(1.0):
            moment = self.now()
            minute = moment.strftime("%Y-%m-%dT%H:%M")
            for fn in self.jobs:
                period = rate_seconds(fn.schedule)
                if period is not None:
                    due = time.monotonic() - last_rate[fn.name] >= period
                    if due:
                        last_rate[fn.name] = time.monotonic()
                elif last_minute.get(fn.name) != minute and cron_matches(fn.schedule, moment):
                    last_minute[fn.name] = minute
                    due = True
                else:
                    due = False
                if due and not self._stop.is_set():
                    threading.Thread(target=self.run, args=(fn,), name=f"schedule-{fn.name}", daemon=True).start()
