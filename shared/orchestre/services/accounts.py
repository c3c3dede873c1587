"""Use cases of accounts: sign-up, confirmation, tokens, the caller's profile."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import StringConstraints, field_validator

from ..domain import security
from ..domain.common import Command, iso, now, now_iso
from ..domain.errors import Conflict, Forbidden, InvalidInput, TooManyRequests, Unauthenticated
from ..domain.models import Email, Name, User
from ..repositories.identity import Challenge, IdentityProvider, Tokens
from ..repositories.security import SignInAttempts, TotpSecrets
from ..repositories.structures import UserRepository

TotpCode = Annotated[str, StringConstraints(min_length=1, max_length=10)]

Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]


class SignUp(Command):
    email: Email
    password: Password
    first_name: Name
    last_name: Name

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("password")
    @classmethod
    def _strong(cls, value: str) -> str:
        if not (re.search(r"[a-z]", value) and re.search(r"[A-Z]", value) and re.search(r"[0-9]", value)):
            raise ValueError("the password needs a lower-case letter, an upper-case letter and a digit")
        return value


class Confirm(Command):
    email: Email
    code: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class Credentials(Command):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class SecondFactor(Command):
    """The second step of a sign-in: the session the first step answered, and the authenticator's code."""

    email: Email
    session: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    code: TotpCode


class TotpConfirmation(Command):
    code: TotpCode  # of the new secret
    current_code: TotpCode | None = None  # of the active one, when a second factor replaces it


def _real_now():
    """TOTP codes come from the user's authenticator, on real time (like token expiry): not the
    domain's clock, which the local platform may have moved."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


class AccountService:
    def __init__(self, idp: IdentityProvider | None = None, users: UserRepository | None = None,
                 attempts: SignInAttempts | None = None, totp: TotpSecrets | None = None):
        self.idp = idp or IdentityProvider()
        self.users = users or UserRepository()
        self.attempts = attempts or SignInAttempts()
        self.totp = totp or TotpSecrets()

    def sign_up(self, cmd: SignUp) -> tuple[User, bool]:
        """Create the identity and the profile; undo the identity if the profile cannot be written."""
        user_id = self.idp.sign_up(cmd.email, cmd.password, cmd.first_name, cmd.last_name)
        user = User(user_id=user_id, email=cmd.email, first_name=cmd.first_name, last_name=cmd.last_name,
                    created_at=now_iso())
        try:
            self.users.create(user)
        except Exception:
            self.idp.delete(cmd.email)
            raise
        return user, self.idp.auto_confirm

    def confirm(self, cmd: Confirm) -> None:
        self.idp.confirm(cmd.email.lower(), cmd.code)

    # -- signing in: password, then the second factor if the user has one; lockout -----------

    def _attempt(self, email: str) -> security.Attempts | None:
        """Count this sign-in attempt before it is made (refunded when it succeeds); refuse it while the
        account is locked. None for a technical credential (never locked out)."""
        if email.endswith(security.TECHNICAL_LOGIN_DOMAIN):
            return None
        reserved = self.attempts.reserve(email, now())
        if reserved is None:
            raise TooManyRequests("Too many sign-ins at once for this account: try again in a second.",
                                  code="SIGN_IN_CONTENDED", field="email", retry_after_seconds=1)
        allowed, attempts = reserved
        if not allowed:
            raise _locked(attempts)
        return attempts

    def _failed(self, attempts: security.Attempts | None, error: Exception) -> Exception:
        """A failed attempt (counted already): the one that locked the account says so."""
        return _locked(attempts) if attempts is not None and attempts.locked(now()) else error

    def _succeeded(self, email: str, attempts: security.Attempts | None) -> None:
        if attempts is not None:
            self.attempts.reset(email)

    def token(self, cmd: Credentials) -> Tokens | Challenge:
        email = cmd.email.lower()
        attempts = self._attempt(email)
        try:
            result = self.idp.authenticate(email, cmd.password)
        except Unauthenticated as exc:
            raise self._failed(attempts, exc) from None
        if isinstance(result, Tokens):
            self._refuse_without_factor(email)
            self._succeeded(email, attempts)
        elif attempts is not None:  # the password was right: the second factor's own attempt decides
            self.attempts.refund(email, attempts)
        return result

    def _refuse_without_factor(self, email: str) -> None:
        """An enrolled user always signs in with the second factor: if the identity provider gave tokens
        without asking for it (the factor switched off there, behind the platform's back), the factor is
        switched on again and the sign-in refused."""
        user_id = self.idp.user_id(email)
        if user_id and self.totp.get(user_id).secret:
            self.idp.require_totp(email)
            raise Unauthenticated("Your second factor was switched off outside Orchestre: it is on again; sign "
                                  "in again with your authenticator's code.", code="MFA_REQUIRED", field="email")

    def second_factor(self, cmd: SecondFactor) -> Tokens:
        email = cmd.email.lower()
        attempts = self._attempt(email)
        user_id = self.idp.user_id(email)
        record = self.totp.get(user_id) if user_id else None
        step = security.totp_matches(record.secret, cmd.code, _real_now()) if record and record.secret else None
        if step is None:
            raise self._failed(attempts, _invalid_code(Unauthenticated))
        if not self.totp.use(user_id, step):
            raise self._failed(attempts, Unauthenticated("This code was used already: wait for the next one.",
                                                         code="MFA_CODE_REPLAYED", field="code"))
        tokens = self.idp.answer_totp(email, cmd.session, cmd.code)
        self._succeeded(email, attempts)
        return tokens

    # -- enrolling a second factor -----------------------------------------------------------

    def start_totp(self, user_id: str, access_token: str) -> tuple[str, str]:
        """(secret, otpauth URI) of a new TOTP secret, active once a code confirms it."""
        user = self.users.get(user_id)
        if user is None or user.acts_as:
            raise InvalidInput("Technical accounts sign in with their credential only.", code="MFA_NOT_FOR_TECHNICAL",
                               field="Authorization")
        secret = self.idp.start_totp(access_token)
        self.totp.start(user_id, secret)
        return secret, security.otpauth_uri(secret, user.email)

    def confirm_totp(self, user_id: str, access_token: str, cmd: TotpConfirmation) -> User:
        record = self.totp.get(user_id)
        if not record.pending_secret:
            raise Conflict("Start with POST /v1/me/mfa: no secret awaits a code.", code="MFA_NOT_STARTED")
        if record.secret and (cmd.current_code is None or security.totp_matches(
                record.secret, cmd.current_code, _real_now()) is None):
            raise Forbidden("A second factor is active: send its current code as current_code to replace it.",
                            code="MFA_CURRENT_CODE_REQUIRED", field="current_code")
        step = security.totp_matches(record.pending_secret, cmd.code, _real_now())
        if step is None:
            raise _invalid_code(InvalidInput)
        self.idp.confirm_totp(access_token, cmd.code)
        if not self.totp.activate(user_id, record.pending_secret, step):
            raise Conflict("Another enrolment started meanwhile: use its secret.", code="MFA_NOT_STARTED")
        return self.users.set_mfa(user_id, True)

    def profile(self, user_id: str) -> User | None:
        return self.users.get(user_id)


def _invalid_code(error: type[Exception]) -> Exception:
    return error("The code is not the authenticator's current one.", code="INVALID_MFA_CODE", field="code")


def _locked(attempts: security.Attempts) -> TooManyRequests:
    until = attempts.locked_until
    wait = max(1, math.ceil((until - now()).total_seconds()))
    return TooManyRequests(f"Too many failed sign-ins: the account is locked until {iso(until)}.",
                           code="ACCOUNT_LOCKED", field="email", retry_at=iso(until), retry_after_seconds=wait)
