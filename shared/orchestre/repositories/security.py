"""Sign-in protections and platform settings, in the main table.

| item | PK | SK |
| --- | --- | --- |
| failed sign-ins of an account (by email, hashed) | LOGIN#<sha256(email)> | ATTEMPTS |
| TOTP secret of a user (pending, then active; the last step used) | MFA#<user> | TOTP |
| platform settings (operators) | SETTINGS#PLATFORM | SETTINGS |
| operators' audit trail (admin function only) | AUDIT#PLATFORM | AUDIT#<at>#<random> |

The TOTP secret sits apart from the user's profile (its own key prefix): only the accounts
function may read it (least privilege, ``platform.py``). Writes that can race are conditional.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.models import AuditEvent
from ..domain.security import Attempts
from .dynamo import ConditionFailed, Table, put_op, update_op


SETTINGS_PK = "SETTINGS#PLATFORM"
AUDIT_PK = "AUDIT#PLATFORM"


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

    def reserve(self, email: str, at: datetime) -> tuple[bool, Attempts] | None:
        """Count a sign-in attempt before it is made, as a failure (``reset`` or ``refund`` takes it back
        when it succeeds): parallel guesses cannot pass the limit. (False, the record) while the account is
        locked, and no attempt may be made; (True, the record as written) otherwise; None if other
        attempts kept changing the record (nothing was counted: the attempt must not be made)."""
        key = _email_key(email)
        for _ in range(10):
            item = self.table.get(key, "ATTEMPTS", consistent=True)
            before = self._load(item)
            if before.locked(at):
                return False, before
            after = before.after_failure(at)
            revision = int((item or {}).get("revision", 0))
            try:
                if item is None:
                    self.table.put(self._item(key, after, revision + 1), "attribute_not_exists(PK)")
                else:
                    self.table.put(self._item(key, after, revision + 1), "revision = :r", values={":r": revision})
                return True, dataclasses.replace(after, before=before, revision=revision + 1)
            except ConditionFailed:
                continue  # another attempt was counted meanwhile: count on top of it
        return None

    @staticmethod
    def _item(key: str, attempts: Attempts, revision: int) -> dict[str, Any]:
        item = {"PK": key, "SK": "ATTEMPTS", "type": "SIGN_IN_ATTEMPTS", "failures": attempts.failures,
                "revision": revision}
        if attempts.locked_until:
            item["locked_until"] = attempts.locked_until.isoformat()
        return item

    def refund(self, email: str, attempt: Attempts) -> None:
        """Take back one attempt counted by ``reserve`` (it proved the password; the second factor decides
        now): the record it left is restored if nothing was counted since, else one failure is removed."""
        key = _email_key(email)
        before = attempt.before or Attempts()
        try:
            if before.failures == 0 and before.locked_until is None:
                self.table.delete(key, "ATTEMPTS", condition="revision = :r", values={":r": attempt.revision})
            else:
                self.table.put(self._item(key, before, attempt.revision + 1), "revision = :r",
                               values={":r": attempt.revision})
        except ConditionFailed:  # counted on top of since: one failure fewer, unless it locked meanwhile
            try:
                self.table.update(key, "ATTEMPTS", "SET failures = failures - :one, revision = revision + :one",
                                  values={":one": 1, ":zero": 0},
                                  condition="failures > :zero AND attribute_not_exists(locked_until)")
            except ConditionFailed:
                pass

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
        item = self.table.get(SETTINGS_PK, "SETTINGS") or {}
        settings = {k: v for k, v in item.items() if k not in ("PK", "SK", "type")}
        PlatformSettings._cache = (time.monotonic() + self.TTL_SECONDS, settings)
        return settings

    def set(self, changes: dict[str, Any], actor: str, at: str, also: tuple[dict, ...] = ()) -> dict[str, Any]:
        """Change settings, with ``also`` (the audit entry) in the same transaction."""
        sets = ", ".join(f"#k{i} = :v{i}" for i in range(len(changes)))
        names = {f"#k{i}": k for i, k in enumerate(changes)} | {"#t": "type", "#by": "updated_by", "#at": "updated_at"}
        values = {f":v{i}": v for i, v in enumerate(changes.values())} | {":t": "SETTINGS", ":by": actor, ":at": at}
        self.table.transact([update_op(SETTINGS_PK, "SETTINGS", f"SET {sets}, #t = :t, #by = :by, #at = :at",
                                       names=names, values=values), *also])
        PlatformSettings._cache = None
        item = self.table.get(SETTINGS_PK, "SETTINGS", consistent=True) or {}
        return {k: v for k, v in item.items() if k not in ("PK", "SK", "type")}


class PlatformAudit:
    """The operators' actions, newest first. Each is written in the transaction of the change it records
    (``op``); only the admin function may read or write them (least privilege, ``platform.py``)."""

    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def op(self, actor: str, action: str, target: str, **details: Any) -> dict:
        import secrets

        from ..domain.common import now_iso

        at = now_iso()
        return put_op({"PK": AUDIT_PK, "SK": f"AUDIT#{at}#{secrets.token_hex(4)}", "type": "AUDIT",
                       "structure_id": "PLATFORM", "at": at, "actor": actor, "action": action, "target": target,
                       "details": details})

    def list(self, limit: int, page_token: str | None) -> tuple[list[AuditEvent], str | None]:
        page = self.table.query(AUDIT_PK, begins_with="AUDIT#", limit=limit, page_token=page_token, newest_first=True)
        return [AuditEvent.model_validate(i) for i in page.items], page.next_token
