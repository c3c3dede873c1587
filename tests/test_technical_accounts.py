"""Technical accounts: created by managers, act for their structure, credentials rotated without downtime."""

from __future__ import annotations


def _token(api, login, password):
    r = api.post("/v1/auth/token", {"email": login, "password": password})
    assert r.status == 200, r
    return r.json["access_token"]


def test_create_use_rotate_revoke(api, new_user, new_structure, member):
    owner = new_user()
    s = new_structure(owner, kind="PRIVATE")
    sid = s["structure_id"]
    clerk = member(owner, s, permissions={"INVOICES_ISSUED": "CONSULTATION"})
    base = f"/v1/structures/{sid}/technical-accounts"
    assert api.post(base, {"name": "ERP"}, token=clerk.token).status == 403
    r = api.post(base, {"name": "ERP SAP"}, token=owner.token)
    assert r.status == 201, r
    account, first = r.json["account"], r.json["credential"]
    assert account["inbound_prefix"] == f"inbound/{account['account_id']}/" and first["slot"] == "a"
    token_a = _token(api, first["login"], first["password"])
    # the account acts for its structure, with its rights
    me = api.get(f"/v1/structures/{sid}", token=token_a)
    assert me.status == 200 and me.json["structure_id"] == sid
    members = api.get(f"/v1/structures/{sid}/attachments?status=VALIDEE", token=owner.token).json["items"]
    assert {"INVOICES_ISSUED": "MODIFICATION"} in [m["permissions"] for m in members if m["user_id"] == account["account_id"]]
    # rotation: a second credential, both work
    r = api.post(f"{base}/{account['account_id']}/credentials", token=owner.token)
    assert r.status == 201 and r.json["credential"]["slot"] == "b"
    second = r.json["credential"]
    token_b = _token(api, second["login"], second["password"])
    assert api.get(f"/v1/structures/{sid}", token=token_a).status == 200
    assert api.get(f"/v1/structures/{sid}", token=token_b).status == 200
    r = api.post(f"{base}/{account['account_id']}/credentials", token=owner.token)
    assert r.status == 409 and r.json["code"] == "CREDENTIAL_SLOTS_FULL"
    # revoke the first: it can no longer log in; the second still works
    r = api.delete(f"{base}/{account['account_id']}/credentials/a", token=owner.token)
    assert r.status == 200 and [c["slot"] for c in r.json["credentials"]] == ["b"]
    assert api.post("/v1/auth/token", {"email": first["login"], "password": first["password"]}).status == 401
    assert api.get(f"/v1/structures/{sid}", token=token_b).status == 200
    listed = api.get(base, token=owner.token).json["items"]
    assert [a["account_id"] for a in listed] == [account["account_id"]]
    assert all("password" not in c for a in listed for c in a["credentials"])
    audit = [e["action"] for e in api.get(f"/v1/structures/{sid}/audit", token=owner.token).json["items"]]
    assert audit[:3] == ["TECHNICAL_CREDENTIAL_REVOKED", "TECHNICAL_CREDENTIAL_ISSUED", "TECHNICAL_ACCOUNT_CREATED"]


def test_outsiders_cannot_manage_accounts(api, new_user, new_structure):
    owner, stranger = new_user(), new_user()
    s = new_structure(owner, kind="PRIVATE")
    base = f"/v1/structures/{s['structure_id']}/technical-accounts"
    assert api.post(base, {"name": "x"}, token=stranger.token).status == 404
    assert api.get(base, token=stranger.token).status == 404
    r = api.post(base, {"name": "x", "permissions": {"WORKS": "MODIFICATION"}}, token=owner.token)
    assert r.status == 422 and r.json["code"] == "SPACE_NOT_OPEN"
    assert api.get(base, token=owner.token).json["items"] == []


def test_a_revoked_credential_stops_at_once(api, new_user, new_structure):
    """Revocation deletes the credential's identity and its acts-as record: its still-unexpired access
    token is refused at the very next request (401 TOKEN_REVOKED), not when it expires."""
    owner = new_user()
    s = new_structure(owner, kind="PRIVATE")
    base = f"/v1/structures/{s['structure_id']}/technical-accounts"
    r = api.post(base, {"name": "ERP"}, token=owner.token).json
    account, cred = r["account"], r["credential"]
    token = _token(api, cred["login"], cred["password"])
    assert api.get(f"/v1/structures/{s['structure_id']}", token=token).status == 200  # it acts for the structure
    api.post(f"{base}/{account['account_id']}/credentials", token=owner.token)
    assert api.delete(f"{base}/{account['account_id']}/credentials/a", token=owner.token).status == 200
    r = api.get(f"/v1/structures/{s['structure_id']}", token=token)
    assert r.status == 401 and r.json["code"] == "TOKEN_REVOKED", r
    assert api.post("/v1/auth/token", {"email": cred["login"], "password": cred["password"]}).status == 401


def test_edi_prefix_must_be_a_technical_account(api, new_user, new_structure):
    import boto3, json, os, time, uuid

    s3, bucket = boto3.client("s3"), os.environ["EXCHANGE_BUCKET"]
    owner = new_user()
    key = f"inbound/{owner.user_id}/x.xml"  # a user id is not a technical account
    s3.put_object(Bucket=bucket, Key=key, Body=b"<x/>")
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            report = json.loads(s3.get_object(Bucket=bucket, Key=f"outbound/{owner.user_id}/x.xml.report.json")["Body"].read())
            break
        except s3.exceptions.NoSuchKey:
            time.sleep(0.3)
    else:
        raise AssertionError("no report")
    assert report["status"] == "REJECTED" and report["validation"]["errors"][0]["rule"] == "UNKNOWN_ACCOUNT"
