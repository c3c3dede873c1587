"""Sign-in hardening: TOTP second factor, lockout, operators, revoked and crafted tokens."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pyotp
import pytest
from conftest import PASSWORD

from orchestre.repositories.identity import IdentityProvider


def totp_now(secret: str, offset_steps: int = 0) -> str:
    """The authenticator's code, away from a step boundary (the platform and the identity provider
    both check it, a few milliseconds apart)."""
    while time.time() % 30 > 27:
        time.sleep(0.5)
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30 * offset_steps))


def sign_in(api, email, password=PASSWORD):
    return api.post("/v1/auth/token", {"email": email, "password": password})


def enrol(api, user) -> str:
    r = api.post("/v1/me/mfa", token=user.token)
    assert r.status == 201, r
    secret = r.json["secret"]
    assert r.json["otpauth_uri"].startswith("otpauth://totp/Orchestre:") and f"secret={secret}" in r.json["otpauth_uri"]
    v = api.post("/v1/me/mfa/verify", {"code": totp_now(secret)}, token=user.token)
    assert v.status == 200 and v.json["mfa_enabled"] is True, v
    return secret


def wait_next_step():
    time.sleep(30 - time.time() % 30 + 0.5)


def test_totp_enrolment_then_a_challenged_sign_in(api, new_user):
    user = new_user("mfa")
    r = api.post("/v1/me/mfa/verify", {"code": "123456"}, token=user.token)
    assert r.status == 409 and r.json["code"] == "MFA_NOT_STARTED"
    start = api.post("/v1/me/mfa", token=user.token).json
    wrong = api.post("/v1/me/mfa/verify", {"code": totp_now(start["secret"], -2)}, token=user.token)
    assert wrong.status == 422 and wrong.json["code"] == "INVALID_MFA_CODE"  # two steps old
    assert api.post("/v1/me/mfa/verify", {"code": totp_now(start["secret"])}, token=user.token).status == 200
    secret = start["secret"]

    first = sign_in(api, user.email)
    assert first.status == 200 and first.json["challenge"] == "SOFTWARE_TOKEN_MFA" and "access_token" not in first.json
    wait_next_step()  # the enrolment used this step's code
    code = totp_now(secret)
    done = api.post("/v1/auth/token/mfa", {"email": user.email, "session": first.json["session"], "code": code})
    assert done.status == 200 and done.json["access_token"], done
    assert api.get("/v1/me", token=done.json["access_token"]).status == 200

    # the same code again, for a new sign-in: replayed
    again = sign_in(api, user.email).json
    r = api.post("/v1/auth/token/mfa", {"email": user.email, "session": again["session"], "code": code})
    assert r.status == 401 and r.json["code"] == "MFA_CODE_REPLAYED", r
    # the step before (used: the code above is a later one's), the next step, two steps old, not digits:
    # each a failed sign-in
    r = api.post("/v1/auth/token/mfa", {"email": user.email, "session": again["session"],
                                        "code": totp_now(secret, -1)})
    assert r.status == 401 and r.json["code"] == "MFA_CODE_REPLAYED", r
    for bad in (totp_now(secret, 1), "12a456"):
        r = api.post("/v1/auth/token/mfa", {"email": user.email, "session": again["session"], "code": bad})
        assert r.status == 401 and r.json["code"] == "INVALID_MFA_CODE", (bad, r)
    # the fifth failure in a row (two replays, two wrong codes, this one) locks the account
    r = api.post("/v1/auth/token/mfa", {"email": user.email, "session": again["session"], "code": "1234567"})
    assert r.status == 429 and r.json["code"] == "ACCOUNT_LOCKED", r


def test_five_failed_sign_ins_lock_the_account_for_15_minutes(api, new_user, clock):
    user = new_user("lock")
    for attempt in range(1, 5):
        r = sign_in(api, user.email, "Wrong-password-1")
        assert r.status == 401 and r.json["code"] == "INVALID_CREDENTIALS", (attempt, r)
    r = sign_in(api, user.email, "Wrong-password-1")  # the fifth in a row
    assert r.status == 429 and r.json["code"] == "ACCOUNT_LOCKED", r
    retry_at = datetime.fromisoformat(r.json["retry_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=14) < retry_at - datetime.now(UTC) <= timedelta(minutes=15, seconds=5)
    assert int(r.header("Retry-After")) > 800
    r = sign_in(api, user.email)  # the sixth, with the right password: still locked, nothing else changes
    assert r.status == 429 and r.json["code"] == "ACCOUNT_LOCKED" and r.json["retry_at"] == retry_at.isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    assert api.get("/v1/me", token=user.token).status == 200  # a token issued before stays valid
    clock.advance("PT14M")
    assert sign_in(api, user.email).json["code"] == "ACCOUNT_LOCKED"
    clock.advance("PT61S")
    assert sign_in(api, user.email).status == 200  # unlocked, and the count starts again
    assert sign_in(api, user.email, "Wrong-password-1").json["code"] == "INVALID_CREDENTIALS"


def test_a_code_typed_at_the_end_of_its_step_is_accepted_in_the_next(api, new_user):
    """RFC 6238: one step back is accepted (the code was typed in time, it arrived just after)."""
    user = new_user("late")
    start = api.post("/v1/me/mfa", token=user.token).json
    wait_next_step()
    late = api.post("/v1/me/mfa/verify", {"code": totp_now(start["secret"], -1)}, token=user.token)
    assert late.status == 200 and late.json["mfa_enabled"] is True, late


def test_parallel_guesses_cannot_pass_the_limit(api, new_user):
    """Each attempt is counted before it is made: twelve wrong passwords at once get at most five answers
    from the identity provider; the account is locked after them, the right password included."""
    from concurrent.futures import ThreadPoolExecutor

    user = new_user("burst")
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda _: sign_in(api, user.email, "Wrong-password-1").json["code"], range(12)))
    assert codes.count("INVALID_CREDENTIALS") <= 4 and codes.count("ACCOUNT_LOCKED") >= 8, codes
    assert set(codes) <= {"INVALID_CREDENTIALS", "ACCOUNT_LOCKED", "SIGN_IN_CONTENDED"}, codes
    assert sign_in(api, user.email).json["code"] == "ACCOUNT_LOCKED"


def test_a_second_factor_switched_off_at_the_identity_provider_is_switched_on_again(api, new_user):
    """A token's holder could switch TOTP off with Cognito's own API: the platform refuses the sign-in
    that skipped the factor, and puts the factor back."""
    from orchestre.repositories import aws

    user = new_user("bypass")
    enrol(api, user)
    aws.client("cognito-idp").set_user_mfa_preference(AccessToken=user.token, SoftwareTokenMfaSettings={
        "Enabled": False, "PreferredMfa": False})
    r = sign_in(api, user.email)
    assert r.status == 401 and r.json["code"] == "MFA_REQUIRED", r
    again = sign_in(api, user.email)
    assert again.status == 200 and again.json.get("challenge") == "SOFTWARE_TOKEN_MFA", again


def test_replacing_an_active_second_factor_needs_its_current_code(api, new_user):
    user = new_user("replace")
    old = enrol(api, user)
    new = api.post("/v1/me/mfa", token=user.token).json["secret"]
    wait_next_step()
    r = api.post("/v1/me/mfa/verify", {"code": totp_now(new)}, token=user.token)
    assert r.status == 403 and r.json["code"] == "MFA_CURRENT_CODE_REQUIRED", r
    r = api.post("/v1/me/mfa/verify", {"code": totp_now(new), "current_code": "000000"}, token=user.token)
    assert r.status == 403 and r.json["code"] == "MFA_CURRENT_CODE_REQUIRED", r
    r = api.post("/v1/me/mfa/verify", {"code": totp_now(new), "current_code": totp_now(old)}, token=user.token)
    assert r.status == 200 and r.json["mfa_enabled"] is True, r


def test_technical_credentials_are_not_locked_out(api, new_user, new_structure):
    """Anyone who knows an account id could otherwise keep an integration locked out."""
    manager = new_user("integrator")
    s = new_structure(manager, kind="PRIVATE")
    r = api.post(f"/v1/structures/{s['structure_id']}/technical-accounts", {"name": "ERP"}, token=manager.token)
    assert r.status == 201, r
    login, password = r.json["credential"]["login"], r.json["credential"]["password"]
    codes = [sign_in(api, login, "Wrong-password-1").json["code"] for _ in range(6)]
    assert codes == ["INVALID_CREDENTIALS"] * 6
    assert sign_in(api, login, password).status == 200


def test_an_unknown_email_is_counted_the_same(api):
    """No enumeration: an address without an account is locked like any other."""
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.fr"
    codes = [sign_in(api, email, "Wrong-password-1").json["code"] for _ in range(5)]
    assert codes == ["INVALID_CREDENTIALS"] * 4 + ["ACCOUNT_LOCKED"]


def test_operators_look_up_flag_and_disable(api, operator, new_user, new_structure):
    manager = new_user("manager")
    s = new_structure(manager, kind="PRIVATE")
    found = api.get(f"/v1/admin/structures?identifier_type=SIRET&identifier={s['identifier']}", token=operator.token)
    assert found.status == 200 and found.json["structure_id"] == s["structure_id"]
    assert found.json["migrated_from_chorus_portail_pro"] is False
    r = api.patch(f"/v1/admin/structures/{s['structure_id']}", {"migrated_from_chorus_portail_pro": True},
                  token=operator.token, headers={"If-Match": found.header("ETag")})
    assert r.status == 200 and r.json["migrated_from_chorus_portail_pro"] is True
    audit = api.get(f"/v1/structures/{s['structure_id']}/audit", token=manager.token).json["items"][0]
    assert audit["action"] == "OPERATOR_FLAGS_SET" and audit["actor"] == operator.user_id
    assert api.get("/v1/admin/audit", token=operator.token).json["items"][0]["action"] == "STRUCTURE_FLAGS_SET"

    looked = api.get(f"/v1/admin/users?email={manager.email}", token=operator.token).json
    assert looked["user"]["user_id"] == manager.user_id and looked["attachments"][0]["role"] == "PRIMARY_MANAGER"
    assert api.post(f"/v1/admin/users/{manager.user_id}/disable", token=operator.token).status == 200
    r = api.get("/v1/me", token=manager.token)  # refused at once, with a token that has not expired
    assert r.status == 401 and r.json["code"] == "TOKEN_REVOKED"
    assert sign_in(api, manager.email).status == 401


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/admin/structures/x"), ("GET", "/v1/admin/users?email=a@b.fr"), ("GET", "/v1/admin/invoices"),
    ("PUT", "/v1/admin/settings"), ("POST", "/v1/admin/users/x/disable"), ("GET", "/v1/admin/audit"),
])
def test_operator_routes_are_refused_to_a_manager(api, new_user, new_structure, method, path):
    manager = new_user("manager")
    new_structure(manager)
    body = {"mfa_required_for_managers": True} if method == "PUT" else None
    r = api.call(method, path, body, token=manager.token)
    assert r.status == 403 and r.json["code"] == "OPERATOR_REQUIRED", r


def test_a_parked_invoice_is_listed_and_resent_by_an_operator(api, parties, operator):
    from test_lifecycle import park_an_invoice, wait_status

    buyer_user, buyer = parties["buyer_user"], parties["buyer"]
    iid, parked = park_an_invoice(api, parties)  # its buyer stopped receiving invoices
    assert parked["routing_error"]
    listed = api.get("/v1/admin/invoices?limit=100", token=operator.token).json["items"]
    assert iid in [i["invoice_id"] for i in listed]
    assert api.put(f"/v1/structures/{buyer['structure_id']}/spaces/INVOICES_RECEIVED", {},
                   token=buyer_user.token).status == 200
    r = api.post(f"/v1/admin/invoices/{iid}/resend", {"comment": "Espace rouvert"}, token=operator.token)
    assert r.status == 200 and r.json["status"] == "DEPOSEE", r
    wait_status(api, buyer_user.token, iid, "MISE_A_DISPOSITION")
    history = api.get(f"/v1/invoices/{iid}/history", token=parties["clerk"].token).json["items"]
    resent = [h for h in history if h["actor_role"] == "OPERATOR"]
    assert resent and resent[0]["actor_id"] == operator.user_id and resent[0]["comment"] == "Espace rouvert"
    again = api.post(f"/v1/admin/invoices/{iid}/resend", {}, token=operator.token)
    assert again.status == 409 and again.json["code"] == "TRANSITION_NOT_ALLOWED"  # only a parked one


def test_managers_must_enrol_a_second_factor_once_required(api, operator, new_user, new_structure, member):
    manager = new_user("manager")
    s = new_structure(manager)
    clerk = member(manager, s, permissions={"INVOICES_RECEIVED": "CONSULTATION"})
    other = new_user("operator-2")
    IdentityProvider().add_to_group(other.email, "operators")
    other.token = sign_in(api, other.email).json["access_token"]
    r = api.put("/v1/admin/settings", {"mfa_required_for_managers": True}, token=operator.token)
    assert r.status == 409 and r.json["code"] == "MFA_ENROLMENT_REQUIRED", r  # it would lock the operator out
    enrol(api, operator)
    assert api.put("/v1/admin/settings", {"mfa_required_for_managers": True}, token=operator.token).status == 200
    try:
        time.sleep(2.5)  # the setting's cache in each function
        r = api.get(f"/v1/structures/{s['structure_id']}", token=manager.token)
        assert r.status == 403 and r.json["code"] == "MFA_ENROLMENT_REQUIRED", r
        assert api.get("/v1/me", token=manager.token).status == 200  # where to enrol from
        assert api.get(f"/v1/structures/{s['structure_id']}", token=clerk.token).status == 200  # not a manager
        enrol(api, manager)
        assert api.get(f"/v1/structures/{s['structure_id']}", token=manager.token).status == 200
        r = api.get("/v1/admin/audit", token=other.token)  # an operator too
        assert r.status == 403 and r.json["code"] == "MFA_ENROLMENT_REQUIRED", r
        assert api.get("/v1/admin/audit", token=operator.token).json["items"][0]["action"] == "SETTINGS_CHANGED"
    finally:
        assert api.put("/v1/admin/settings", {"mfa_required_for_managers": False}, token=operator.token).status == 200
        time.sleep(2.5)


def _crafted(claims: dict, key=None, alg="RS256", headers=None) -> str:
    """Signed with ``key``: another RSA key by default, or the pool's own ("pool": moto's fixed key), so
    that only the claims are wrong."""
    if key == "pool":
        import gzip
        import json as _json
        from pathlib import Path

        import moto

        raw = gzip.decompress((Path(moto.__file__).parent / "cognitoidp/resources/jwks-private.json.gz").read_bytes())
        key = jwt.PyJWK(_json.loads(raw)).key
    if key is None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_crafted_tokens_are_refused(api, new_user):
    user = new_user()
    real = jwt.decode(user.token, options={"verify_signature": False})
    header = jwt.get_unverified_header(user.token)
    now = int(time.time())
    cases = {
        "alg none": jwt.encode(real, None, algorithm="none"),
        "another key, the pool's kid": _crafted(real, headers={"kid": header["kid"]}),
        "wrong issuer": _crafted({**real, "iss": "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_other"},
                                 "pool", headers={"kid": header["kid"]}),
        "expired": _crafted({**real, "exp": now - 10}, "pool", headers={"kid": header["kid"]}),
        "an id token": _crafted({**real, "token_use": "id"}, "pool", headers={"kid": header["kid"]}),
        "another client": _crafted({**real, "client_id": "someoneelse"}, "pool", headers={"kid": header["kid"]}),
        "no scope": _crafted({k: v for k, v in real.items() if k != "scope"}, "pool", headers={"kid": header["kid"]}),
    }
    assert api.get("/v1/me", token=_crafted(real, "pool", headers={"kid": header["kid"]})).status == 200  # the key
    head, payload, signature = user.token.split(".")
    import base64
    import json

    tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered["sub"] = str(uuid.uuid4())
    cases["tampered claims"] = ".".join([head, base64.urlsafe_b64encode(json.dumps(tampered).encode()).decode().rstrip("="),
                                         signature])
    for name, token in cases.items():
        r = api.get("/v1/me", token=token)
        assert r.status == 401 and r.json["code"] == "UNAUTHENTICATED", (name, r)
    assert api.get("/v1/me", token=user.token).status == 200
