"""Structures: creation, profile updates, billing parameters, spaces, services, audit, idempotency."""

from __future__ import annotations

import uuid

import boto3
import os

from conftest import random_siret


def _count_items(pk: str) -> int:
    ddb = boto3.client("dynamodb")
    out = ddb.query(TableName=os.environ["TABLE_NAME"], KeyConditionExpression="PK = :p",
                    ExpressionAttributeValues={":p": {"S": pk}})
    return out["Count"]


def _create(api, user, **body):
    payload = {"identifier_type": "SIRET", "identifier": random_siret(), "name": "Commune test", "kind": "PUBLIC"}
    payload.update(body)
    return api.post("/v1/structures", payload, token=user.token)


def test_create_public_structure_defaults(api, new_user):
    u = new_user("buyer")
    r = _create(api, u, name="Mairie de Test", billing={"service_code_required": True})
    assert r.status == 201, r
    s = r.json
    assert s["kind"] == "PUBLIC" and s["version"] == 1 and r.header("ETag") == '"1"'
    assert s["spaces"] == ["INVOICES_ISSUED", "INVOICES_RECEIVED"]
    assert s["billing"]["service_code_required"] is True and s["billing"]["payment_status_managed"] is False
    me = api.get("/v1/me", token=u.token).json
    assert me["attachments"][0]["attachment"]["role"] == "PRIMARY_MANAGER"
    got = api.get(f"/v1/structures/{s['structure_id']}", token=u.token)
    assert got.status == 200 and got.json == s


def test_private_structure_and_la_poste_siret(api, new_user):
    u = new_user()
    # La Poste's SIRETs follow the digit-sum rule, not Luhn
    r = _create(api, u, identifier="356 000 000 00048", kind="PRIVATE", name="Établissement postal")
    if r.status == 409:  # another run created it: still proves the identifier was accepted
        assert r.json["code"] == "IDENTIFIER_TAKEN"
    else:
        assert r.status == 201, r
        assert r.json["identifier"] == "35600000000048" and r.json["spaces"] == ["INVOICES_ISSUED"]


def test_other_identifier_types(api, new_user):
    u = new_user()
    r = _create(api, u, identifier_type="UE_HORS_FRANCE", identifier="DE136695976", kind="PRIVATE")
    assert r.status in (201, 409), r
    r = _create(api, u, identifier_type="UE_HORS_FRANCE", identifier="DE136695977", kind="PRIVATE")
    assert r.status == 422 and r.json["code"] == "INVALID_IDENTIFIER"
    r = _create(api, u, identifier_type="HORS_UE", identifier=f"US-{uuid.uuid4().hex[:8]}", kind="PRIVATE")
    assert r.status == 201, r
    r = _create(api, u, identifier_type="HORS_UE", identifier="../../x", kind="PRIVATE")
    assert r.status == 422 and r.json["field"] == "identifier"


def test_bad_input_is_refused_precisely(api, new_user):
    u = new_user()
    siret = random_siret()
    bad = siret[:-1] + str((int(siret[-1]) + 1) % 10)
    cases = [
        ({"identifier": bad}, 422, "INVALID_IDENTIFIER", "identifier"),
        ({"identifier": "123"}, 422, "INVALID_IDENTIFIER", "identifier"),
        ({"name": "x" * 101}, 422, "VALIDATION_ERROR", "name"),
        ({"name": ""}, 422, "VALIDATION_ERROR", "name"),
        ({"kind": "SEMI_PUBLIC"}, 422, "VALIDATION_ERROR", "kind"),
        ({"colour": "blue"}, 422, "VALIDATION_ERROR", "colour"),
        ({"identifier_type": "RIDET", "identifier": "1234567001"}, 422, "PUBLIC_REQUIRES_SIRET", "identifier_type"),
        ({"kind": "PRIVATE", "billing": {"service_code_required": True}}, 422, "NOT_A_PUBLIC_STRUCTURE", "billing"),
        ({"address": {"country_code": "france"}}, 422, "VALIDATION_ERROR", "address.country_code"),
    ]
    for change, status, code, field in cases:
        r = _create(api, u, **change)
        assert (r.status, r.json["code"], r.json["field"]) == (status, code, field), (change, r)
        assert r.header("Content-Type") == "application/problem+json"
    r = api.post("/v1/structures", raw=b'{"identifier_type": "SIRET", ', token=u.token)
    assert r.status == 400 and r.json["code"] == "MALFORMED_JSON"
    r = api.post("/v1/structures", raw=b"identifier=1", token=u.token,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415 and r.json["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert api.get("/v1/structures", token=u.token).json["items"] == []  # nothing was written


def test_identifier_taken_is_409_and_writes_nothing(api, new_user):
    a, b = new_user(), new_user()
    first = _create(api, a)
    again = _create(api, b, identifier=first.json["identifier"], name="Other")
    assert again.status == 409 and again.json["code"] == "IDENTIFIER_TAKEN" and again.json["field"] == "identifier"
    assert api.get("/v1/structures", token=b.token).json["items"] == []


def test_outsiders_get_404_members_403(api, new_user, new_structure, member):
    owner, stranger = new_user(), new_user()
    s = new_structure(owner)
    sid = s["structure_id"]
    for path in (f"/v1/structures/{sid}", f"/v1/structures/{sid}/services", f"/v1/structures/{sid}/audit",
                 f"/v1/structures/{sid}/attachments", f"/v1/structures/{uuid.uuid4()}"):
        r = api.get(path, token=stranger.token)
        assert r.status == 404 and r.json["code"] == "STRUCTURE_NOT_FOUND", (path, r)
    r = api.patch(f"/v1/structures/{sid}", {"name": "Hijack"}, token=stranger.token, headers={"If-Match": '"1"'})
    assert r.status == 404
    user = member(owner, s, permissions={"INVOICES_RECEIVED": "CONSULTATION"})
    assert api.get(f"/v1/structures/{sid}", token=user.token).status == 200
    r = api.patch(f"/v1/structures/{sid}", {"name": "Hijack"}, token=user.token, headers={"If-Match": '"1"'})
    assert r.status == 403 and r.json["code"] == "MANAGER_REQUIRED"
    r = api.post(f"/v1/structures/{sid}/services", {"code": "X", "name": "X"}, token=user.token)
    assert r.status == 403
    assert api.get(f"/v1/structures/{sid}/audit", token=user.token).status == 403
    assert api.get(f"/v1/structures/{sid}", token=owner.token).json["name"] == s["name"]


def test_update_needs_if_match_and_refuses_stale_versions(api, new_user, new_structure):
    u = new_user()
    s = new_structure(u)
    path = f"/v1/structures/{s['structure_id']}"
    r = api.patch(path, {"name": "Nouveau nom"}, token=u.token)
    assert r.status == 428 and r.json["code"] == "PRECONDITION_REQUIRED" and r.json["field"] == "If-Match"
    r = api.patch(path, {"name": "Nouveau nom", "email": "compta@mairie.fr"}, token=u.token, headers={"If-Match": '"1"'})
    assert r.status == 200 and r.json["name"] == "Nouveau nom" and r.json["version"] == 2 and r.header("ETag") == '"2"'
    r = api.patch(path, {"name": "Lost update"}, token=u.token, headers={"If-Match": '"1"'})
    assert r.status == 412 and r.json["code"] == "VERSION_MISMATCH" and r.json["current_version"] == 2
    r = api.patch(path, {"name": None}, token=u.token, headers={"If-Match": '"2"'})
    assert r.status == 422 and r.json["field"] == "name"
    r = api.patch(path, {"identifier": "x"}, token=u.token, headers={"If-Match": '"2"'})
    assert r.status == 422 and r.json["field"] == "identifier"
    assert api.get(path, token=u.token).json["name"] == "Nouveau nom"


def test_billing_parameters_and_spaces(api, new_user, new_structure):
    u = new_user()
    s = new_structure(u)
    sid = s["structure_id"]
    params = {"service_code_required": True, "legal_commitment_required": True,
              "service_code_or_commitment_required": False, "payment_status_managed": True}
    r = api.put(f"/v1/structures/{sid}/billing-parameters", params, token=u.token, headers={"If-Match": '"1"'})
    assert r.status == 200 and r.json["billing"] == params and r.json["version"] == 2
    r = api.put(f"/v1/structures/{sid}/spaces/JUSTICE_MEMOS", token=u.token)
    assert r.status == 200 and "JUSTICE_MEMOS" in r.json["spaces"]
    r = api.delete(f"/v1/structures/{sid}/spaces/INVOICES_RECEIVED", token=u.token)
    assert r.status == 200 and "INVOICES_RECEIVED" not in r.json["spaces"]
    r = api.put(f"/v1/structures/{sid}/spaces/KITCHEN", token=u.token)
    assert r.status == 422 and r.json["field"] == "space"
    private = new_structure(u, kind="PRIVATE")
    r = api.put(f"/v1/structures/{private['structure_id']}/billing-parameters", params, token=u.token,
                headers={"If-Match": '"1"'})
    assert r.status == 422 and r.json["code"] == "NOT_A_PUBLIC_STRUCTURE"


def test_services_lifecycle(api, new_user, new_structure):
    u = new_user()
    s = new_structure(u)
    base = f"/v1/structures/{s['structure_id']}/services"
    r = api.post(base, {"code": "SERV-01", "name": "Comptabilité", "valid_from": "2026-01-01",
                        "legal_commitment_required": True}, token=u.token)
    assert r.status == 201 and r.json["active"] is True and r.json["legal_commitment_required"] is True
    assert api.post(base, {"code": "SERV-01", "name": "Dup"}, token=u.token).json["code"] == "SERVICE_EXISTS"
    r = api.post(base, {"code": "bad code!", "name": "x"}, token=u.token)
    assert r.status == 422 and r.json["field"] == "code"
    r = api.post(base, {"code": "S2", "name": "x", "valid_from": "2026-05-01", "valid_to": "2026-01-01"}, token=u.token)
    assert r.status == 422
    for i in range(3):
        assert api.post(base, {"code": f"SERV-1{i}", "name": f"S{i}"}, token=u.token).status == 201
    page1 = api.get(f"{base}?limit=2", token=u.token).json
    assert len(page1["items"]) == 2 and page1["next_page_token"]
    page2 = api.get(f"{base}?limit=2&page_token={page1['next_page_token']}", token=u.token).json
    codes = [x["code"] for x in page1["items"] + page2["items"]]
    assert sorted(codes) == ["SERV-01", "SERV-10", "SERV-11", "SERV-12"] and page2["next_page_token"] is None
    r = api.patch(f"{base}/SERV-01", {"active": False}, token=u.token, headers={"If-Match": '"1"'})
    assert r.status == 200 and r.json["active"] is False and r.json["version"] == 2
    r = api.patch(f"{base}/SERV-01", {"active": True}, token=u.token, headers={"If-Match": '"1"'})
    assert r.status == 412
    assert api.get(f"{base}/NOPE", token=u.token).json["code"] == "SERVICE_NOT_FOUND"
    assert api.get(f"{base}?limit=0", token=u.token).status == 422
    r = api.get(f"{base}?page_token=not-a-token", token=u.token)
    assert r.status == 422 and r.json["code"] == "INVALID_PAGE_TOKEN"
    other = new_structure(u)
    r = api.get(f"/v1/structures/{other['structure_id']}/services?page_token={page1['next_page_token']}", token=u.token)
    assert r.status == 422 and r.json["code"] == "INVALID_PAGE_TOKEN"  # a cursor of another structure


def test_audit_trail_records_every_change(api, new_user, new_structure):
    u = new_user()
    s = new_structure(u)
    sid = s["structure_id"]
    api.post(f"/v1/structures/{sid}/services", {"code": "A1", "name": "A"}, token=u.token)
    api.patch(f"/v1/structures/{sid}", {"name": "Renamed"}, token=u.token, headers={"If-Match": '"1"'})
    api.put(f"/v1/structures/{sid}/spaces/WORKS", token=u.token)
    events = api.get(f"/v1/structures/{sid}/audit", token=u.token).json["items"]
    assert [e["action"] for e in events] == ["SPACE_OPENED", "STRUCTURE_UPDATED", "SERVICE_CREATED", "STRUCTURE_CREATED"]
    assert all(e["actor"] == u.user_id for e in events)


def test_idempotency_key_creates_once(api, new_user):
    u = new_user()
    body = {"identifier_type": "SIRET", "identifier": random_siret(), "name": "Idem", "kind": "PRIVATE"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.post("/v1/structures", body, token=u.token, headers=key)
    again = api.post("/v1/structures", body, token=u.token, headers=key)
    assert first.status == again.status == 201
    assert first.json["structure_id"] == again.json["structure_id"] and again.header("Idempotent-Replayed") == "true"
    assert len(api.get("/v1/structures", token=u.token).json["items"]) == 1
    changed = api.post("/v1/structures", {**body, "name": "Other"}, token=u.token, headers=key)
    assert changed.status == 422 and changed.json["code"] == "IDEMPOTENCY_KEY_REUSED"
    # without a key, the same body is a second request: refused as a duplicate identifier
    assert api.post("/v1/structures", body, token=u.token).json["code"] == "IDENTIFIER_TAKEN"
    assert _count_items(f"STRUCT#{first.json['structure_id']}") == 3  # profile, primary manager, audit


def test_crafted_headers_and_tokens_are_4xx(api, new_user, new_structure):
    import base64
    import json as _json

    u = new_user()
    s = new_structure(u)
    path = f"/v1/structures/{s['structure_id']}"
    r = api.patch(path, {"name": "x"}, token=u.token, headers={"If-Match": '"²"'})
    assert r.status == 412 and r.json["code"] == "VERSION_MISMATCH"

    def token(obj) -> str:
        return base64.urlsafe_b64encode(_json.dumps(obj).encode()).decode().rstrip("=")

    for bad in (token({"PK": {"S": f"STRUCT#{s['structure_id']}"}}),  # a key without its sort key
                base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("="),  # deep nesting
                token({"PK": {"S": f"STRUCT#{s['structure_id']}"}, "SK": {"N": "1"}})):
        r = api.get(f"{path}/services?page_token={bad}", token=u.token)
        assert r.status == 422 and r.json["code"] == "INVALID_PAGE_TOKEN", r


def test_a_pending_request_does_not_reveal_the_profile(api, new_user, new_structure):
    owner, asker = new_user(), new_user()
    s = new_structure(owner, kind="PRIVATE", email="compta@secret.fr")
    r = api.post("/v1/attachments", {"identifier_type": "SIRET", "identifier": s["identifier"]}, token=asker.token)
    assert r.status == 201
    assert api.get("/v1/structures", token=asker.token).json["items"] == []
    assert b"compta@secret.fr" not in api.get("/v1/me", token=asker.token).raw
