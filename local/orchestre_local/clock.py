"""The local platform's clock: ``POST /_local/clock`` moves the domain's ``now()`` in every function.

The offset is a file (``orchestre.domain.common.CLOCK_FILE_ENV``) that each container reads when it
changes; it is written whole and renamed into place, so a reader never sees half of it. Time only
moves forward, or back to real time with a reset: what was written meanwhile keeps its future dates
(a lockout until then, deadlines already passed), so after a reset that went far, ``make reset``
starts the data afresh too.
"""

from __future__ import annotations

import calendar
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestre.domain.common import iso, read_clock_offset

from .files import atomic_write

# ISO 8601 durations: PnYnMnWnD, then T with nHnMnS (seconds may have a fraction)
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
MAX_ADVANCE = timedelta(days=366 * 20)


class BadDuration(ValueError):
    pass


def add_duration(moment: datetime, duration: str) -> datetime:
    """``moment`` + an ISO 8601 duration: years and months on the calendar (31 January + P1M is the
    last day of February), the rest as exact time."""
    m = _DURATION.match(duration or "")
    if not m:
        raise BadDuration("advance is an ISO 8601 duration such as P8D, PT2H or P1M (forward only)")
    parts = {k: v for k, v in m.groupdict().items() if v is not None}
    months = int(parts.get("years", 0)) * 12 + int(parts.get("months", 0))
    if months:
        total = moment.month - 1 + months
        year, month = moment.year + total // 12, total % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        moment = moment.replace(year=year, month=month, day=day)
    return moment + timedelta(weeks=int(parts.get("weeks", 0)), days=int(parts.get("days", 0)),
                              hours=int(parts.get("hours", 0)), minutes=int(parts.get("minutes", 0)),
                              seconds=float(parts.get("seconds", 0)))


class LocalClock:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    def offset(self) -> timedelta:
        return read_clock_offset(self.path)

    def advance(self, duration: str) -> datetime:
        with self._lock:
            real = datetime.now(UTC)
            current = real + self.offset()
            try:
                target = add_duration(current, duration)
            except (OverflowError, ValueError) as exc:  # past year 9999, or too many hours
                if isinstance(exc, BadDuration):
                    raise
                raise BadDuration("advance by at most 20 years at a time") from None
            if target - current > MAX_ADVANCE:
                raise BadDuration("advance by at most 20 years at a time")
            self._write((target - real).total_seconds())
            return target

    def reset(self) -> datetime:
        self._write(0.0)
        return datetime.now(UTC)

    def _write(self, seconds: float) -> None:
        with self._lock:  # two moves at once: one after the other, neither lost
            atomic_write(self.path, json.dumps({"offset_seconds": seconds}))

    def view(self) -> dict:
        moment = self.now()
        return {"now": iso(moment), "offset_seconds": round(self.offset().total_seconds(), 3),
                "real_now": iso(datetime.now(UTC))}
