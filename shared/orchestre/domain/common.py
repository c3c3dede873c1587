"""Small shared pieces of the domain: clock, ids, base models, text normalisation."""

from __future__ import annotations

import json
import os
import re
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

# The domain's one clock. On AWS it is the system clock. The local platform (never deployed) can
# move it forward: ORCHESTRE_CLOCK_FILE names a file holding {"offset_seconds": n} that every
# function's container reads (POST /_local/clock), so that deadlines, payment delays and lockouts
# can be tried without waiting. Token expiry is not the domain's: it stays on real time.
CLOCK_FILE_ENV = "ORCHESTRE_CLOCK_FILE"
_offset: tuple[tuple[int, int, int] | None, timedelta] = (None, timedelta(0))


def clock_offset() -> timedelta:
    """How far the local platform moved the clock (zero on AWS). The file is re-read when it changes
    (it is replaced, never edited in place: a new inode each time)."""
    global _offset
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path:
        return timedelta(0)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return timedelta(0)
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    if _offset[0] != stamp:
        _offset = (stamp, read_clock_offset(path))
    return _offset[1]


def read_clock_offset(path) -> timedelta:
    """The offset a clock file holds (``{"offset_seconds": n}``); zero if it is missing or malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            return timedelta(seconds=float(json.load(f)["offset_seconds"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + clock_offset()


def iso(moment: datetime) -> str:
    """The platform's timestamp form: UTC, milliseconds, ``Z`` (sorts as text)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(now())


def today() -> date:
    return now().date()


_PLATFORM_ID = re.compile(r"[0-9a-f-]{36}")


def is_platform_id(value: str | None) -> bool:
    """Whether ``value`` has the shape of the ids the platform makes (``new_id``): others are not looked up."""
    return bool(value) and _PLATFORM_ID.fullmatch(value) is not None


def new_id() -> str:
    return str(uuid.uuid4())


# Both bases defer_build: a model's validators are built on first use, not at import. A function
# uses few of the models it imports, and building them all took 15-25 ms of its cold start.
class Command(BaseModel):
    """A request body: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Record(BaseModel):
    """A stored entity (tolerates attributes added by later versions)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


def search_key(text: str) -> str:
    """Accent-free, upper-case, single-spaced form of a name, for prefix search."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^A-Z0-9]+", " ", ascii_only.upper()).strip()


_STOPWORDS = frozenset("A AU AUX D DE DES DU EN ET L LA LE LES SUR".split())


def name_keys(name: str, most: int = 12) -> list[str]:
    """The search keys of a name: the whole name, and the name from each significant word on.

    "Commune de Villeurbanne" gives "COMMUNE DE VILLEURBANNE" and "VILLEURBANNE": a prefix search
    on any significant word finds it.
    """
    words = search_key(name).split()
    keys = [" ".join(words[i:]) for i, w in enumerate(words) if i == 0 or w not in _STOPWORDS]
    return list(dict.fromkeys(keys))[:most]
