"""The identity provider (Amazon Cognito user pool): sign-up, confirmation, tokens."""

from __future__ import annotations

import os
from dataclasses import dataclass

from botocore.exceptions import ClientError

from ..domain.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from ..platform import USER_POOL_CLIENT_ENV, USER_POOL_ENV
from . import aws


@dataclass
class Tokens:
    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: int


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


class IdentityProvider:
    @property
    def _client(self):
        return aws.client("cognito-idp")

    @property
    def pool_id(self) -> str:
        return aws.env(USER_POOL_ENV)

    @property
    def client_id(self) -> str:
        return aws.env(USER_POOL_CLIENT_ENV)

    @property
    def auto_confirm(self) -> bool:
        """Local platform and test stages confirm sign-ups at once; production sends a code by email."""
        return os.environ.get("AUTO_CONFIRM_USERS", "false").lower() == "true"

    def sign_up(self, email: str, password: str, first_name: str, last_name: str) -> str:
        try:
            out = self._client.sign_up(
                ClientId=self.client_id,
                Username=email,
                Password=password,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "given_name", "Value": first_name},
                    {"Name": "family_name", "Value": last_name},
                ],
            )
        except ClientError as exc:
            if _code(exc) == "UsernameExistsException":
                raise Conflict("An account with this email exists.", code="EMAIL_TAKEN", field="email") from None
            if _code(exc) in ("InvalidPasswordException", "InvalidParameterException"):
                raise InvalidInput(exc.response["Error"].get("Message", "Invalid password."),
                                   code="WEAK_PASSWORD", field="password") from None
            raise
        if self.auto_confirm:
            self._client.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=email)
        return out["UserSub"]

    def confirm(self, email: str, code: str) -> None:
        try:
            self._client.confirm_sign_up(ClientId=self.client_id, Username=email, ConfirmationCode=code)
        except ClientError as exc:
            if _code(exc) in ("CodeMismatchException", "ExpiredCodeException"):
                raise InvalidInput("The confirmation code is wrong or expired.", code="INVALID_CODE", field="code") from None
            if _code(exc) in ("UserNotFoundException", "NotAuthorizedException"):
                raise InvalidInput("No account awaits confirmation for this email.", code="INVALID_CODE", field="email") from None
            raise

    def create_machine_user(self, login: str, password: str) -> str:
        """A confirmed user with a permanent password (technical account credential); returns its id."""
        out = self._client.admin_create_user(
            UserPoolId=self.pool_id, Username=login, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": login}, {"Name": "email_verified", "Value": "true"}],
        )
        self._client.admin_set_user_password(UserPoolId=self.pool_id, Username=login, Password=password, Permanent=True)
        attrs = {a["Name"]: a["Value"] for a in out["User"].get("Attributes", [])}
        return attrs.get("sub") or self._client.admin_get_user(UserPoolId=self.pool_id, Username=login)["Username"]

    def revoke(self, login: str) -> None:
        """Sign the credential out everywhere (refresh tokens) and delete it."""
        try:
            self._client.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=login)
        except ClientError as exc:
            if _code(exc) != "UserNotFoundException":
                raise
        self.delete(login)

    def delete(self, email: str) -> None:
        try:
            self._client.admin_delete_user(UserPoolId=self.pool_id, Username=email)
        except ClientError as exc:
            if _code(exc) != "UserNotFoundException":
                raise

    def authenticate(self, email: str, password: str) -> Tokens:
        try:
            out = self._client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except ClientError as exc:
            if _code(exc) in ("NotAuthorizedException", "UserNotFoundException"):
                raise Unauthenticated("Wrong email or password.", code="INVALID_CREDENTIALS") from None
            if _code(exc) == "UserNotConfirmedException":
                raise Forbidden("The account is not confirmed yet.", code="ACCOUNT_NOT_CONFIRMED") from None
            if _code(exc) == "PasswordResetRequiredException":
                raise Forbidden("The password must be reset.", code="PASSWORD_RESET_REQUIRED") from None
            raise
        result = out.get("AuthenticationResult")
        if not result:  # a challenge (new password, MFA): not supported on this route
            raise Forbidden(f"Authentication challenge {out.get('ChallengeName')} required.", code="AUTH_CHALLENGE")
        return Tokens(result["AccessToken"], result["IdToken"], result.get("RefreshToken"), result["ExpiresIn"])
