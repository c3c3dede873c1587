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


@dataclass
class Challenge:
    """The password was right; the sign-in goes on with a second factor (``SOFTWARE_TOKEN_MFA``)."""

    name: str
    session: str


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

    def authenticate(self, email: str, password: str) -> Tokens | Challenge:
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
        return self._result(out)

    @staticmethod
    def _result(out: dict) -> Tokens | Challenge:
        result = out.get("AuthenticationResult")
        if result:
            return Tokens(result["AccessToken"], result["IdToken"], result.get("RefreshToken"), result["ExpiresIn"])
        if out.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            return Challenge("SOFTWARE_TOKEN_MFA", out["Session"])
        # another challenge (a new password required...): not offered by this platform
        raise Forbidden(f"Authentication challenge {out.get('ChallengeName')} required.", code="AUTH_CHALLENGE")

    def answer_totp(self, email: str, session: str, code: str) -> Tokens:
        """The second step of a sign-in: the authenticator's code for the session of the first."""
        try:
            out = self._client.respond_to_auth_challenge(
                ClientId=self.client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=session,
                ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code})
        except ClientError as exc:
            if _code(exc) in ("CodeMismatchException", "ExpiredCodeException"):
                raise Unauthenticated("The code is not the authenticator's current one.", code="INVALID_MFA_CODE",
                                      field="code") from None
            if _code(exc) in ("NotAuthorizedException", "ResourceNotFoundException", "InvalidParameterException"):
                raise Unauthenticated("This sign-in session expired or is unknown: sign in again.",
                                      code="MFA_SESSION_EXPIRED", field="session") from None
            raise
        result = self._result(out)
        if not isinstance(result, Tokens):
            raise Forbidden("The sign-in needs another step.", code="AUTH_CHALLENGE")
        return result

    def user_id(self, email: str) -> str | None:
        """The identity provider's id (sub) of the account with this email, if any."""
        try:
            out = self._client.admin_get_user(UserPoolId=self.pool_id, Username=email)
        except ClientError as exc:
            if _code(exc) == "UserNotFoundException":
                return None
            raise
        attrs = {a["Name"]: a["Value"] for a in out.get("UserAttributes", [])}
        return attrs.get("sub") or out["Username"]

    # -- second factor (TOTP software token) -------------------------------------------

    def start_totp(self, access_token: str) -> str:
        """A new TOTP secret for the signed-in user (base32), to be confirmed by a code."""
        return self._as_user(self._client.associate_software_token, AccessToken=access_token)["SecretCode"]

    def confirm_totp(self, access_token: str, code: str) -> None:
        """Check the code with the identity provider and make TOTP the user's second factor."""
        try:
            out = self._as_user(self._client.verify_software_token, AccessToken=access_token, UserCode=code,
                                FriendlyDeviceName="authenticator")
        except ClientError as exc:
            if _code(exc) in ("CodeMismatchException", "EnableSoftwareTokenMFAException"):
                raise InvalidInput("The code is not the authenticator's current one.", code="INVALID_MFA_CODE",
                                   field="code") from None
            raise
        if out.get("Status", "SUCCESS") != "SUCCESS":
            raise InvalidInput("The code was not accepted.", code="INVALID_MFA_CODE", field="code")
        self._as_user(self._client.set_user_mfa_preference, AccessToken=access_token,
                      SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})

    def require_totp(self, email: str) -> None:
        """Switch the user's TOTP second factor on again (operator side: no user token needed)."""
        self._client.admin_set_user_mfa_preference(UserPoolId=self.pool_id, Username=email,
                                                   SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})

    @staticmethod
    def _as_user(call, **kwargs):
        """A call made with the user's access token: a token the identity provider no longer accepts (signed
        out everywhere, disabled) is a 401, not a failure of the platform."""
        try:
            return call(**kwargs)
        except ClientError as exc:
            if _code(exc) == "NotAuthorizedException":
                raise Unauthenticated("The access token is no longer valid.", code="UNAUTHENTICATED",
                                      field="Authorization") from None
            raise

    # -- operators -----------------------------------------------------------------------

    def disable(self, user_id: str) -> None:
        """The account can no longer sign in, and its refresh tokens are revoked."""
        self._client.admin_disable_user(UserPoolId=self.pool_id, Username=user_id)
        self._client.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=user_id)

    def add_to_group(self, email: str, group: str) -> None:
        self._client.admin_add_user_to_group(UserPoolId=self.pool_id, Username=email, GroupName=group)
