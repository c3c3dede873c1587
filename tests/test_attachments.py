"""Attachment requests: approval, refusal, roles, rights, deactivation, races."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def _request(api, user, structure, **body):
    payload = {"identifier_type": structure["identifier_type"], "identifier": structure["identifier"], **body}
    return api.post("/v1/attachments", payload, token=user.token)


def test_request_approve_and_act(api, new_user, new_structure):
    owner, clerk = new_user("owner"), new_user("clerk")
    s = new_structure(owner)
    sid = s["structure_id"]
    r = _request(api, clerk, s, permissions={"INVOICES_RECEIVED": "MODIFICATION"}, message="Service comptable")
    assert r.status == 201, r
    assert r.json["attachment"]["status"] == "EN_COURS_DE_VALIDATION" and r.json["structure_id"] == sid
    # pending: not a member yet
    assert api.get(f"/v1/structures/{sid}", token=clerk.token).status == 404
    pending = api.get(f"/v1/structures/{sid}/attachments?status=EN_COURS_DE_VALIDATION", token=owner.token).json
    assert [a["user_id"] for a in pending["items"]] == [clerk.user_id]
    again = _request(api, clerk, s)
    assert again.status == 409 and again.json["code"] == "ATTACHMENT_EXISTS"
    ok = api.post(f"/v1/structures/{sid}/attachments/{clerk.user_id}/approve",
                  {"permissions": {"INVOICES_RECEIVED": "CONSULTATION"}}, token=owner.token)
    assert ok.status == 200, ok
    assert ok.json["status"] == "VALIDEE" and ok.json["permissions"] == {"INVOICES_RECEIVED": "CONSULTATION"}
    assert ok.json["decided_by"] == owner.user_id
    assert api.get(f"/v1/structures/{sid}", token=clerk.token).status == 200
    me = api.get("/v1/me", token=clerk.token).json
    assert me["attachments"][0]["attachment"]["role"] == "USER"
    validated = api.get(f"/v1/structures/{sid}/attachments?status=VALIDEE", token=owner.token).json["items"]
    assert sorted(a["user_id"] for a in validated) == sorted([owner.user_id, clerk.user_id])
    audit = [e["action"] for e in api.get(f"/v1/structures/{sid}/audit", token=owner.token).json["items"]]
    assert audit[:2] == ["ATTACHMENT_APPROVED", "ATTACHMENT_REQUESTED"]


def test_second_approval_and_refusal_are_409(api, new_user, new_structure):
    owner, clerk = new_user(), new_user()
    s = new_structure(owner)
    sid = s["structure_id"]
    _request(api, clerk, s)
    url = f"/v1/structures/{sid}/attachments/{clerk.user_id}"
    assert api.post(f"{url}/approve", {}, token=owner.token).status == 200
    r = api.post(f"{url}/approve", {}, token=owner.token)
    assert r.status == 409 and r.json["code"] == "ATTACHMENT_ALREADY_DECIDED"
    r = api.post(f"{url}/refuse", {"reason": "late"}, token=owner.token)
    assert r.status == 409
    listed = api.get(f"/v1/structures/{sid}/attachments?status=VALIDEE", token=owner.token).json["items"]
    assert next(a for a in listed if a["user_id"] == clerk.user_id)["version"] == 2


def test_refusal_needs_a_reason_and_allows_a_new_request(api, new_user, new_structure):
    owner, clerk = new_user(), new_user()
    s = new_structure(owner)
    sid = s["structure_id"]
    _request(api, clerk, s)
    url = f"/v1/structures/{sid}/attachments/{clerk.user_id}"
    r = api.post(f"{url}/refuse", {}, token=owner.token)
    assert r.status == 422 and r.json["field"] == "reason"
    r = api.post(f"{url}/refuse", {"reason": "Inconnu du service"}, token=owner.token)
    assert r.status == 200 and r.json["status"] == "REFUSEE" and r.json["reason"] == "Inconnu du service"
    assert api.get(f"/v1/structures/{sid}", token=clerk.token).status == 404
    r = _request(api, clerk, s, message="Je suis bien au service comptable")
    assert r.status == 201 and r.json["attachment"]["status"] == "EN_COURS_DE_VALIDATION"


def test_two_managers_racing_exactly_one_wins(api, new_user, new_structure, member):
    owner = new_user()
    s = new_structure(owner)
    sid = s["structure_id"]
    second = member(owner, s, role="SECONDARY_MANAGER")
    for _ in range(3):  # a few rounds: each must have exactly one winner
        clerk = new_user("racer")
        _request(api, clerk, s)
        url = f"/v1/structures/{sid}/attachments/{clerk.user_id}"
        calls = [(owner, "approve", {}), (second, "approve", {}), (owner, "refuse", {"reason": "no"}),
                 (second, "refuse", {"reason": "non"})] * 2
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            replies = list(pool.map(lambda c: api.post(f"{url}/{c[1]}", c[2], token=c[0].token), calls))
        statuses = sorted(r.status for r in replies)
        assert statuses == [200] + [409] * (len(calls) - 1), replies
        assert all(r.json["code"] == "ATTACHMENT_ALREADY_DECIDED" for r in replies if r.status == 409)
        winner = next(r for r in replies if r.status == 200).json
        listed = api.get(f"/v1/structures/{sid}/attachments?status={winner['status']}", token=owner.token).json["items"]
        stored = next(a for a in listed if a["user_id"] == clerk.user_id)
        assert stored["version"] == 2 and stored["decided_by"] == winner["decided_by"]


def test_who_may_approve_and_grant(api, new_user, new_structure, member):
    owner, stranger = new_user(), new_user()
    s = new_structure(owner)
    sid = s["structure_id"]
    plain = member(owner, s, permissions={"INVOICES_ISSUED": "MODIFICATION"})
    second = member(owner, s, role="SECONDARY_MANAGER")
    candidate = new_user()
    _request(api, candidate, s, role="SECONDARY_MANAGER")
    url = f"/v1/structures/{sid}/attachments/{candidate.user_id}"
    assert api.post(f"{url}/approve", {}, token=stranger.token).status == 404
    r = api.post(f"{url}/approve", {}, token=plain.token)
    assert r.status == 403 and r.json["code"] == "MANAGER_REQUIRED"
    r = api.post(f"{url}/approve", {}, token=second.token)
    assert r.status == 403 and r.json["code"] == "ROLE_NOT_GRANTABLE"
    r = api.post(f"{url}/approve", {"role": "PRIMARY_MANAGER"}, token=owner.token)
    assert r.status == 422  # not a grantable value
    r = api.post(f"{url}/approve", {"role": "USER", "permissions": {"WORKS": "CONSULTATION"}}, token=second.token)
    assert r.status == 422 and r.json["code"] == "SPACE_NOT_OPEN" and r.json["field"] == "permissions.WORKS"
    r = api.post(f"{url}/approve", {"role": "USER"}, token=second.token)
    assert r.status == 200 and r.json["role"] == "USER"


def test_update_rights_deactivate_and_leave(api, new_user, new_structure, member):
    owner = new_user()
    s = new_structure(owner)
    sid = s["structure_id"]
    clerk = member(owner, s, permissions={"INVOICES_RECEIVED": "CONSULTATION"})
    url = f"/v1/structures/{sid}/attachments/{clerk.user_id}"
    r = api.patch(url, {"permissions": {"INVOICES_RECEIVED": "MODIFICATION"}}, token=owner.token)
    assert r.status == 428
    r = api.patch(url, {"permissions": {"INVOICES_RECEIVED": "MODIFICATION"}}, token=owner.token,
                  headers={"If-Match": '"2"'})
    assert r.status == 200 and r.json["permissions"] == {"INVOICES_RECEIVED": "MODIFICATION"} and r.json["version"] == 3
    # the primary manager cannot be deactivated, not even by himself
    r = api.post(f"/v1/structures/{sid}/attachments/{owner.user_id}/deactivate", token=owner.token)
    assert r.status == 403 and r.json["code"] == "PRIMARY_MANAGER_PROTECTED"
    r = api.post(f"{url}/deactivate", token=owner.token)
    assert r.status == 200 and r.json["status"] == "DESACTIVEE"
    assert api.get(f"/v1/structures/{sid}", token=clerk.token).status == 404
    assert api.post(f"{url}/deactivate", token=owner.token).status == 409
    # a member may leave
    other = member(owner, s)
    r = api.post(f"/v1/structures/{sid}/attachments/{other.user_id}/deactivate", token=other.token)
    assert r.status == 200 and r.json["status"] == "DESACTIVEE"


def test_request_for_unknown_structure_or_closed_space(api, new_user, new_structure):
    owner, clerk = new_user(), new_user()
    s = new_structure(owner, kind="PRIVATE")
    r = api.post("/v1/attachments", {"identifier_type": "SIRET", "identifier": "11111111111112"},
                 token=clerk.token)
    assert r.status == 422 and r.json["code"] == "INVALID_IDENTIFIER"
    from conftest import random_siret

    r = api.post("/v1/attachments", {"identifier_type": "SIRET", "identifier": random_siret()}, token=clerk.token)
    assert r.status == 404 and r.json["code"] == "STRUCTURE_NOT_FOUND"
    r = _request(api, clerk, s, permissions={"INVOICES_RECEIVED": "CONSULTATION"})
    assert r.status == 422 and r.json["code"] == "SPACE_NOT_OPEN"
    r = _request(api, clerk, s, role="PRIMARY_MANAGER")
    assert r.status == 422 and r.json["field"] == "role"
