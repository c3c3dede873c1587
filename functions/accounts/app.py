"""Accounts: sign-up, confirmation, tokens, and the caller's profile."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from typing import Literal

from orchestre.api.http import bearer_token, caller, create_app, json_response, make_handler
from orchestre.api.idempotency import run_once
from orchestre.api.views import IdempotencyKey, replay_headers
from orchestre.domain.models import Attachment, User
from orchestre.repositories.identity import Challenge, Tokens
from orchestre.services.accounts import AccountService, Confirm, Credentials, SecondFactor, SignUp, TotpConfirmation
from orchestre.services.structures import StructureService

app = create_app()
accounts = AccountService()
structures = StructureService()


class AccountCreated(BaseModel):
    user_id: str
    email: str
    confirmed: bool


class TokenResponse(BaseModel):
    access_token: str
    id_token: str
    refresh_token: str | None = None
    token_type: str = "Bearer"
    expires_in: int


class MfaChallenge(BaseModel):
    """The password was right; send the authenticator's code with this session to POST /v1/auth/token/mfa."""

    challenge: Literal["SOFTWARE_TOKEN_MFA"]
    session: str
    next: str = "/v1/auth/token/mfa"


class TotpEnrolment(BaseModel):
    secret: str
    otpauth_uri: str
    next: str = "/v1/me/mfa/verify"


def _tokens(t: Tokens) -> TokenResponse:
    return TokenResponse(access_token=t.access_token, id_token=t.id_token, refresh_token=t.refresh_token,
                         expires_in=t.expires_in)


class Membership(BaseModel):
    structure_id: str
    structure_name: str
    identifier_type: str
    identifier: str
    kind: str
    attachment: Attachment


class Me(BaseModel):
    user: User | None
    attachments: list[Membership]


@app.post("/v1/accounts", tags=["Accounts"], summary="Create a user account",
          responses={201: {"description": "Created"}})
def sign_up(body: SignUp, idempotency_key: IdempotencyKey = None) -> Response[AccountCreated]:
    payload = body.model_dump(mode="json", exclude={"password"})

    def create() -> dict:
        user, confirmed = accounts.sign_up(body)
        return AccountCreated(user_id=user.user_id, email=user.email, confirmed=confirmed).model_dump()

    result, replayed = run_once(idempotency_key, body.email, "accounts.create", payload, create)
    return json_response(result, 201, headers=replay_headers(replayed))


@app.post("/v1/accounts/confirm", tags=["Accounts"], summary="Confirm an account with the emailed code",
          responses={204: {"description": "Confirmed"}})
def confirm(body: Confirm) -> Response[None]:
    accounts.confirm(body)
    return Response(status_code=204)


@app.post("/v1/auth/token", tags=["Accounts"],
          summary="Exchange email and password for tokens, or for a second-factor challenge (TOTP enrolled)")
def token(body: Credentials) -> TokenResponse | MfaChallenge:
    result = accounts.token(body)
    if isinstance(result, Challenge):
        return MfaChallenge(challenge="SOFTWARE_TOKEN_MFA", session=result.session)
    return _tokens(result)


@app.post("/v1/auth/token/mfa", tags=["Accounts"], summary="Complete a sign-in with the authenticator's code")
def token_second_factor(body: SecondFactor) -> TokenResponse:
    return _tokens(accounts.second_factor(body))


@app.post("/v1/me/mfa", tags=["Accounts"], summary="Enrol a TOTP authenticator: its secret and otpauth URI (QR code)",
          responses={201: {"description": "Created"}})
def start_mfa() -> Response[TotpEnrolment]:
    secret, uri = accounts.start_totp(caller(app), bearer_token(app))
    return json_response(TotpEnrolment(secret=secret, otpauth_uri=uri), 201)


@app.post("/v1/me/mfa/verify", tags=["Accounts"],
          summary="Confirm the authenticator with a code: sign-ins then ask for it")
def verify_mfa(body: TotpConfirmation) -> User:
    return accounts.confirm_totp(caller(app), bearer_token(app), body)


@app.get("/v1/me", tags=["Accounts"], summary="The caller and their attachments to structures")
def me() -> Me:
    user_id = caller(app)
    memberships = [
        Membership(structure_id=s.structure_id, structure_name=s.name, identifier_type=s.identifier_type.value,
                   identifier=s.identifier, kind=s.kind.value, attachment=a)
        for s, a in structures.mine(user_id)
    ]
    return Me(user=accounts.profile(user_id), attachments=memberships)


handler = make_handler(app)
