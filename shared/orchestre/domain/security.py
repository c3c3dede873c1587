"""Sign-in protections, as rules of data: lockout after failed sign-ins, TOTP codes, MFA policy.

Counted and checked by the platform itself (not by the identity provider), so that they behave the
same on AWS and on the local platform, on the domain's clock (``/_local/clock`` moves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Chorus Pro locks an account after 5 failed sign-ins (REFERENCE.md §6, support: "5 failed sign-ins
# for 1 hour"); the platform's rule (issue 10): 5 failed sign-ins in a row, password or second
# factor, lock the account for 15 minutes. A successful sign-in resets the count.
MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)

# TOTP (RFC 6238) as authenticator apps make it: 6 digits, 30-second steps. A code is accepted in its
# own step only (no neighbouring window) and once: a code seen before, or an older one, is refused.
TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_ISSUER = "Orchestre"


@dataclass(frozen=True)
class Attempts:
    """The record of an account's failed sign-ins (``locked_until``: ISO time, while locked)."""

    failures: int = 0
    locked_until: datetime | None = None

    def locked(self, at: datetime) -> bool:
        return self.locked_until is not None and at < self.locked_until

    def after_failure(self, at: datetime) -> Attempts:
        """The record once one more sign-in failed at ``at``: the fifth in a row locks."""
        failures = 0 if self.locked_until is not None and at >= self.locked_until else self.failures
        failures += 1
        if failures >= MAX_FAILED_SIGN_INS:
            return Attempts(0, at + LOCKOUT)
        return Attempts(failures, None)


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_STEP_SECONDS


def totp_matches(secret: str, code: str, at: datetime) -> int | None:
    """The TOTP step ``code`` belongs to if it is the code of ``at``'s step, else None."""
    import pyotp

    if not (code.isascii() and code.isdigit() and len(code) == TOTP_DIGITS):
        return None
    step = totp_step(at)
    expected = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).at(step * TOTP_STEP_SECONDS)
    import hmac

    return step if hmac.compare_digest(expected, code) else None


def otpauth_uri(secret: str, email: str) -> str:
    """The provisioning URI that authenticator apps read from a QR code."""
    import pyotp

    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=TOTP_ISSUER)
