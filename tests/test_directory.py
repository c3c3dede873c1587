"""The public directory: search by name or SIRET/SIREN, services, pagination, CSV export."""

from __future__ import annotations

import csv
import io
import urllib.request
import uuid


def test_search_by_name_prefix_and_identifier(api, new_user, new_structure):
    u = new_user()
    tag = uuid.uuid4().hex[:6].upper()
    public = new_structure(u, name=f"Hôpital Zéphyr {tag}", address={"postal_code": "13001", "city": "Marseille"})
    new_structure(u, kind="PRIVATE", name=f"Hopital Zephyr {tag} SARL")
    r = api.get(f"/v1/directory/structures?q=hopital%20zephyr%20{tag.lower()}", token=u.token)
    assert r.status == 200, r
    assert [e["structure_id"] for e in r.json["items"]] == [public["structure_id"]]  # private ones are not listed
    entry = r.json["items"][0]
    assert entry["accepts_invoices"] is True and entry["address"]["city"] == "Marseille"
    assert set(entry["billing"]) == {"service_code_required", "legal_commitment_required",
                                     "service_code_or_commitment_required", "payment_status_managed"}
    by_siren = api.get(f"/v1/directory/structures?identifier={public['identifier'][:9]}", token=u.token).json
    assert public["structure_id"] in [e["structure_id"] for e in by_siren["items"]]
    assert api.get(f"/v1/directory/structures/{public['structure_id']}", token=u.token).json["name"] == public["name"]


def test_pagination_walks_every_match_once(api, new_user, new_structure):
    u = new_user()
    tag = uuid.uuid4().hex[:8].upper()
    ids = {new_structure(u, name=f"Commune {tag} {i}")["structure_id"] for i in range(5)}
    seen, token, pages = [], None, 0
    while True:
        url = f"/v1/directory/structures?q=commune%20{tag}&limit=2" + (f"&page_token={token}" if token else "")
        page = api.get(url, token=u.token).json
        seen += [e["structure_id"] for e in page["items"]]
        pages += 1
        token = page["next_page_token"]
        if not token:
            break
    assert sorted(seen) == sorted(ids) and pages >= 3


def test_directory_bad_input(api, new_user, new_structure):
    u = new_user()
    private = new_structure(u, kind="PRIVATE")
    assert api.get("/v1/directory/structures?kind=PRIVATE", token=u.token).status == 422
    assert api.get("/v1/directory/structures?identifier=abc", token=u.token).status == 422
    r = api.get("/v1/directory/structures?page_token=eyJQSyI6eyJTIjoiU1RSVUNUI3gifX0", token=u.token)
    assert r.status == 422 and r.json["code"] == "INVALID_PAGE_TOKEN"
    r = api.get(f"/v1/directory/structures/{private['structure_id']}", token=u.token)
    assert r.status == 404 and r.json["code"] == "STRUCTURE_NOT_FOUND"
    assert api.get("/v1/directory/structures").status == 401


def test_services_show_only_what_can_be_invoiced_today(api, new_user, new_structure):
    u = new_user()
    s = new_structure(u, billing={"service_code_required": True})
    base = f"/v1/structures/{s['structure_id']}/services"
    api.post(base, {"code": "OPEN", "name": "Ouvert", "legal_commitment_required": True}, token=u.token)
    api.post(base, {"code": "OFF", "name": "Fermé", "active": False}, token=u.token)
    api.post(base, {"code": "OLD", "name": "Ancien", "valid_to": "2020-12-31"}, token=u.token)
    api.post(base, {"code": "SOON", "name": "Futur", "valid_from": "2099-01-01"}, token=u.token)
    supplier = new_user("supplier")
    r = api.get(f"/v1/directory/structures/{s['structure_id']}/services", token=supplier.token)
    assert r.status == 200, r
    assert [(x["code"], x["legal_commitment_required"]) for x in r.json["items"]] == [("OPEN", True)]
    assert r.json["structure"]["billing"]["service_code_required"] is True


def test_csv_export_lists_buyers_and_services(api, platform, new_user, new_structure):
    u = new_user()
    s = new_structure(u, name=f"Export {uuid.uuid4().hex[:6]}")
    api.post(f"/v1/structures/{s['structure_id']}/services", {"code": "EXP-1", "name": "Export"}, token=u.token)
    # the daily schedule, as EventBridge calls the function
    info = platform.gateway.invoke_function("directory", {"source": "aws.events", "detail-type": "Scheduled Event"})
    assert info["rows"] >= 1
    r = api.get("/v1/directory/export", token=u.token)
    assert r.status == 200, r
    with urllib.request.urlopen(r.json["url"], timeout=10) as resp:  # presigned S3 URL on the local moto
        rows = list(csv.DictReader(io.StringIO(resp.read().decode("utf-8"))))
    mine = [row for row in rows if row["structure_id"] == s["structure_id"]]
    assert [(m["service_code"], m["identifier"]) for m in mine] == [("EXP-1", s["identifier"])]


def test_any_significant_word_finds_the_buyer_and_renames_follow(api, new_user, new_structure):
    u = new_user()
    tag = uuid.uuid4().hex[:6].upper()
    s = new_structure(u, name=f"Commune de Villeurbanne{tag}")
    sid = s["structure_id"]

    def found(q: str) -> bool:
        r = api.get(f"/v1/directory/structures?q={q}", token=u.token)
        assert r.status == 200, r
        return sid in [e["structure_id"] for e in r.json["items"]]

    assert found(f"villeurbanne{tag.lower()}") and found(f"commune%20de%20villeurbanne{tag}")
    assert not found(f"de%20villeurbanne{tag}")  # "de" is not a significant word: no entry starts there
    r = api.patch(f"/v1/structures/{sid}", {"name": f"Métropole Lyonnaise{tag}"}, token=u.token,
                  headers={"If-Match": '"1"'})
    assert r.status == 200, r
    assert found(f"metropole%20lyonnaise{tag}") and found(f"LYONNAISE{tag}")
    assert not found(f"villeurbanne{tag}")  # the old name's entries are gone
    listing = api.get("/v1/directory/structures?limit=100", token=u.token).json["items"]
    assert len({e["structure_id"] for e in listing}) == len(listing)  # browsing lists each buyer once
