"""Use cases of accounts: sign-up, confirmation, tokens, the caller's profile."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints, field_validator

from ..domain.common import Command, now_iso
from ..domain.models import Email, Name, User
from ..repositories.identity import IdentityProvider, Tokens
from ..repositories.structures import UserRepository

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


class AccountService:
    def __init__(self, idp: IdentityProvider | None = None, users: UserRepository | None = None):
        self.idp = idp or IdentityProvider()
        self.users = users or UserRepository()

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

    def token(self, cmd: Credentials) -> Tokens:
        return self.idp.authenticate(cmd.email.lower(), cmd.password)

    def profile(self, user_id: str) -> User | None:
        return self.users.get(user_id)
