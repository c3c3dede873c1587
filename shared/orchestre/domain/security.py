"""Sign-in protections, as rules of data: lockout after failed sign-ins, TOTP codes, MFA policy.

Counted and checked by the platform itself (not by the identity provider), so that they behave the
same on AWS and on the local platform, on the domain's clock (``/_local/clock`` moves it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Chorus Pro locks an account after 5 failed sign-ins (REFERENCE.md §6, support: "5 failed sign-ins
# for 1 hour"); the platform's rule (issue 10): 5 failed sign-ins in a row, password or second
# factor, lock the account for 15 minutes. A successful sign-in resets the count.
MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)

# TOTP (RFC 6238) as authenticator apps make it: 6 digits, 30-second steps. A code is accepted in its
# own step or the one before (RFC 6238 §5.2: a code typed at the end of its step arrives in the
# next), and once: a code of a step used already, or of an older one, is refused.
TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_ISSUER = "Orchestre"
TOTP_STEPS_BACK = 1

# Technical credentials (machine logins, long random secrets) are not locked out: anyone who knows an
# account id could otherwise keep an integration locked with five bad passwords every 15 minutes.
TECHNICAL_LOGIN_DOMAIN = "@technical.orchestre.invalid"


@dataclass(frozen=True)
class Attempts:
    """The record of an account's failed sign-ins (``locked_until``: ISO time, while locked)."""

    failures: int = 0
    locked_until: datetime | None = None
    # as the repository reserved it: the record before this attempt, and the revision it wrote
    before: Attempts | None = field(default=None, compare=False, repr=False)
    revision: int = field(default=0, compare=False)

    def locked(self, at: datetime) -> bool:
        return self.locked_until is not None and at < self.locked_until

    def after_failure(self, at: datetime) -> Attempts:
        """The record once one more sign-in failed at ``at``: the fifth in a row locks. A failure
        while locked changes nothing (it never shortens, nor lifts, the lock)."""
        if self.locked(at):
            return Attempts(self.failures, self.locked_until)
        failures = 0 if self.locked_until is not None else self.failures
        failures += 1
        if failures >= MAX_FAILED_SIGN_INS:
            return Attempts(0, at + LOCKOUT)
        return Attempts(failures, None)


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_STEP_SECONDS


def totp_matches(secret: str, code: str, at: datetime) -> int | None:
    """The TOTP step ``code`` belongs to if it is the code of ``at``'s step or of the one before, else None."""
    import hmac

    import pyotp

    if not (code.isascii() and code.isdigit() and len(code) == TOTP_DIGITS):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
    now_step = totp_step(at)
    for step in range(now_step, now_step - TOTP_STEPS_BACK - 1, -1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


def otpauth_uri(secret: str, email: str) -> str:
    """The provisioning URI that authenticator apps read from a QR code."""
    import pyotp

    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=TOTP_ISSUER)
