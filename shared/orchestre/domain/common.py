"""Small shared pieces of the domain: clock, ids, base models, text normalisation."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The platform's timestamp form: UTC, milliseconds, ``Z`` (sorts as text)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(now())


def today() -> date:
    return now().date()


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
