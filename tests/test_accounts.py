"""Accounts and authentication through the API, with the local Cognito (moto) behind it."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from importlib import resources

import boto3
import jwt

from conftest import PASSWORD


def _email():
    return f"acc-{uuid.uuid4().hex[:10]}@example.fr"


def test_sign_up_token_and_me(api, new_structure):
    email = _email()
    r = api.post("/v1/accounts", {"email": email, "password": PASSWORD, "first_name": "Ana", "last_name": "Lopez"})
    assert r.status == 201, r
    assert r.json["email"] == email and r.json["confirmed"] is True
    t = api.post("/v1/auth/token", {"email": email.upper(), "password": PASSWORD})
    assert t.status == 200, t
    assert t.json["token_type"] == "Bearer" and t.json["expires_in"] > 0
    token = t.json["access_token"]
    me = api.get("/v1/me", token=token)
    assert me.status == 200, me
    assert me.json["user"]["user_id"] == r.json["user_id"]
    assert me.json["attachments"] == []

    class U:  # the structure fixture only needs a token
        pass

    u = U()
    u.token = token
    s = new_structure(u, kind="PRIVATE")
    me = api.get("/v1/me", token=token).json
    assert [(m["structure_id"], m["attachment"]["role"], m["attachment"]["status"]) for m in me["attachments"]] == [
        (s["structure_id"], "PRIMARY_MANAGER", "VALIDEE")
    ]


def test_duplicate_email_is_409(api):
    email = _email()
    body = {"email": email, "password": PASSWORD, "first_name": "A", "last_name": "B"}
    assert api.post("/v1/accounts", body).status == 201
    r = api.post("/v1/accounts", body)
    assert r.status == 409 and r.json["code"] == "EMAIL_TAKEN" and r.json["field"] == "email"
    assert r.header("Content-Type") == "application/problem+json"


def test_weak_password_and_bad_email_are_422(api):
    r = api.post("/v1/accounts", {"email": _email(), "password": "short", "first_name": "A", "last_name": "B"})
    assert r.status == 422 and r.json["code"] == "VALIDATION_ERROR" and r.json["field"] == "password"
    r = api.post("/v1/accounts", {"email": _email(), "password": "alllowercase-no-digit", "first_name": "A", "last_name": "B"})
    assert r.status == 422 and r.json["field"] == "password"
    r = api.post("/v1/accounts", {"email": "not-an-email", "password": PASSWORD, "first_name": "A", "last_name": "B"})
    assert r.status == 422 and r.json["field"] == "email"
    idp = boto3.client("cognito-idp")
    import os

    users = idp.list_users(UserPoolId=os.environ["USER_POOL_ID"], Filter='email = "not-an-email"')["Users"]
    assert users == []


def test_wrong_password_is_401(api, new_user):
    u = new_user()
    r = api.post("/v1/auth/token", {"email": u.email, "password": "Wrong-password-1"})
    assert r.status == 401 and r.json["code"] == "INVALID_CREDENTIALS"
    r = api.post("/v1/auth/token", {"email": _email(), "password": "Wrong-password-1"})
    assert r.status == 401 and r.json["code"] == "INVALID_CREDENTIALS"


def test_routes_need_a_valid_token(api, new_user, platform):
    assert api.get("/v1/me").status == 401
    assert api.get("/v1/me", token="garbage").status == 401
    u = new_user()
    # an ID token is not an access token
    idt = api.post("/v1/auth/token", {"email": u.email, "password": PASSWORD}).json["id_token"]
    assert api.get("/v1/me", token=idt).status == 401
    # an expired access token, correctly signed with the pool's key
    claims = jwt.decode(u.token, options={"verify_signature": False})
    packed = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    private = json.loads(gzip.decompress(packed))
    key = jwt.PyJWK(private).key
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, key, algorithm="RS256", headers={"kid": "dummy"})
    r = api.get("/v1/me", token=expired)
    assert r.status == 401 and r.json["code"] == "UNAUTHENTICATED"
    # the same claims, unexpired, pass: the check above failed on expiry alone
    fresh = jwt.encode({**claims, "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "dummy"})
    assert api.get("/v1/me", token=fresh).status == 200
    # a token signed with another key
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({**claims, "exp": int(time.time()) + 60}, other, algorithm="RS256", headers={"kid": "dummy"})
    assert api.get("/v1/me", token=forged).status == 401


def test_public_routes_need_no_token_and_unknown_routes_are_404(api):
    assert api.get("/openapi.json").status == 200
    r = api.get("/v1/nothing-here")
    assert r.status == 404 and r.json["code"] == "ROUTE_NOT_FOUND"


def test_sign_up_is_idempotent_with_a_key(api):
    email = _email()
    body = {"email": email, "password": PASSWORD, "first_name": "I", "last_name": "D"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.post("/v1/accounts", body, headers=key)
    again = api.post("/v1/accounts", body, headers=key)
    assert first.status == again.status == 201
    assert first.json == again.json
    assert again.header("Idempotent-Replayed") == "true"
