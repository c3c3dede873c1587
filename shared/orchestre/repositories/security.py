"""Sign-in protections and platform settings, in the main table.

| item | PK | SK |
| --- | --- | --- |
| failed sign-ins of an account (by email, hashed) | LOGIN#<sha256(email)> | ATTEMPTS |
| TOTP secret of a user (pending, then active; the last step used) | MFA#<user> | TOTP |
| platform settings (operators) | PLATFORM | SETTINGS |

The TOTP secret sits apart from the user's profile (its own key prefix): only the accounts
function may read it (least privilege, ``platform.py``). Writes that can race are conditional.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.security import Attempts
from .dynamo import ConditionFailed, Table


def _email_key(email: str) -> str:
    return "LOGIN#" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


class SignInAttempts:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def get(self, email: str) -> Attempts:
        item = self.table.get(_email_key(email), "ATTEMPTS", consistent=True)
        return self._load(item)

    @staticmethod
    def _load(item: dict | None) -> Attempts:
        if not item:
            return Attempts()
        locked = item.get("locked_until")
        return Attempts(int(item.get("failures", 0)), datetime.fromisoformat(locked) if locked else None)

    def record_failure(self, email: str, at: datetime) -> Attempts:
        """One more failed sign-in, counted exactly under concurrency (conditional on the count read)."""
        key = _email_key(email)
        for _ in range(5):
            item = self.table.get(key, "ATTEMPTS", consistent=True)
            before = self._load(item)
            after = before.after_failure(at)
            new = {"PK": key, "SK": "ATTEMPTS", "type": "SIGN_IN_ATTEMPTS", "failures": after.failures,
                   "revision": int((item or {}).get("revision", 0)) + 1}
            if after.locked_until:
                new["locked_until"] = after.locked_until.isoformat()
            try:
                if item is None:
                    self.table.put(new, "attribute_not_exists(PK)")
                else:
                    self.table.put(new, "revision = :r", values={":r": int(item.get("revision", 0))})
                return after
            except ConditionFailed:
                continue  # another failure was counted meanwhile: count on top of it
        return after

    def reset(self, email: str) -> None:
        self.table.delete(_email_key(email), "ATTEMPTS")


@dataclass
class TotpRecord:
    pending_secret: str | None = None
    secret: str | None = None
    last_step: int = -1


class TotpSecrets:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def get(self, user_id: str) -> TotpRecord:
        item = self.table.get(f"MFA#{user_id}", "TOTP", consistent=True) or {}
        return TotpRecord(item.get("pending_secret"), item.get("secret"), int(item.get("last_step", -1)))

    def start(self, user_id: str, secret: str) -> None:
        """A new secret awaits its first code (an active one stays active until then)."""
        self.table.update(f"MFA#{user_id}", "TOTP", "SET pending_secret = :p, #t = :t",
                          names={"#t": "type"}, values={":p": secret, ":t": "TOTP"})

    def activate(self, user_id: str, secret: str, step: int) -> bool:
        """The pending secret becomes the active one, its first code's step used (False: it changed)."""
        try:
            self.table.update(f"MFA#{user_id}", "TOTP", "SET secret = :s, last_step = :step REMOVE pending_secret",
                              values={":s": secret, ":step": step}, condition="pending_secret = :s")
            return True
        except ConditionFailed:
            return False

    def use(self, user_id: str, step: int) -> bool:
        """Mark ``step`` used: False if it, or a later one, was used already (a replayed code)."""
        try:
            self.table.update(f"MFA#{user_id}", "TOTP", "SET last_step = :step", values={":step": step},
                              condition="attribute_exists(secret) AND last_step < :step")
            return True
        except ConditionFailed:
            return False


class PlatformSettings:
    """Settings operators change at run time. Read through a short cache (``TTL_SECONDS``): a change
    applies everywhere within that time."""

    TTL_SECONDS = 2.0
    _cache: tuple[float, dict[str, Any]] | None = None

    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def get(self) -> dict[str, Any]:
        cached = PlatformSettings._cache
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        item = self.table.get("PLATFORM", "SETTINGS") or {}
        settings = {k: v for k, v in item.items() if k not in ("PK", "SK", "type")}
        PlatformSettings._cache = (time.monotonic() + self.TTL_SECONDS, settings)
        return settings

    def set(self, changes: dict[str, Any], actor: str, at: str) -> dict[str, Any]:
        sets = ", ".join(f"#k{i} = :v{i}" for i in range(len(changes)))
        names = {f"#k{i}": k for i, k in enumerate(changes)} | {"#t": "type", "#by": "updated_by", "#at": "updated_at"}
        values = {f":v{i}": v for i, v in enumerate(changes.values())} | {":t": "SETTINGS", ":by": actor, ":at": at}
        item = self.table.update("PLATFORM", "SETTINGS", f"SET {sets}, #t = :t, #by = :by, #at = :at",
                                 names=names, values=values)
        PlatformSettings._cache = None
        return {k: v for k, v in item.items() if k not in ("PK", "SK", "type")}
