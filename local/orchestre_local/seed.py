"""Demo data, created through the API itself (the same handlers and rules as any client)."""

from __future__ import annotations

import json

from .gateway import Gateway

PASSWORD = "Orchestre-demo-2026"
BUYER_USER = "acheteur@ville-demo.fr"
SUPPLIER_USER = "fournisseur@societe-demo.fr"
OPERATOR_USER = "support@orchestre.local"
BUYER_SIRET = "21750001600019"  # a public body (demo)
SUPPLIER_SIRET = "73282932000074"  # a company (demo)
SUPPLIER_VAT = "FR44732829320"
COURT_USER = "greffe@tj-demo.fr"  # the court's fees office (its manager)
JUDGE_USER = "juge@tj-demo.fr"  # a magistrate of the court
COURT_SIRET = "17690123900010"  # a public body (demo)
COURT_CODE = "TJ-LYON"


def _call(gw: Gateway, method: str, path: str, body=None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, raw = gw.handle(method, path, headers, json.dumps(body).encode() if body is not None else None)
    if status >= 400:
        raise RuntimeError(f"seed: {method} {path} -> {status} {raw[:300]!r}")
    return json.loads(raw) if raw else {}


def _account(gw: Gateway, email: str, first: str, last: str) -> str:
    _call(gw, "POST", "/v1/accounts", {"email": email, "password": PASSWORD, "first_name": first, "last_name": last})
    return _call(gw, "POST", "/v1/auth/token", {"email": email, "password": PASSWORD})["access_token"]


def _court(gw: Gateway) -> dict:
    """A court for justice fee memos: flagged by the operator, with its fees office and a magistrate."""
    operator_token = _call(gw, "POST", "/v1/auth/token", {"email": OPERATOR_USER, "password": PASSWORD})["access_token"]
    clerk_token = _account(gw, COURT_USER, "Claude", "Greffier")
    court = _call(gw, "POST", "/v1/structures", {
        "identifier_type": "SIRET", "identifier": COURT_SIRET, "name": "Tribunal judiciaire de Lyon", "kind": "PUBLIC",
        "email": "frais-de-justice@tj-demo.fr",
        "address": {"line1": "67 rue Servient", "postal_code": "69003", "city": "Lyon", "country_code": "FR"},
    }, clerk_token)
    sid = court["structure_id"]
    _call(gw, "PUT", f"/v1/admin/structures/{sid}/court", {"code": COURT_CODE, "kind": "TRIBUNAL_JUDICIAIRE"},
          operator_token)
    _call(gw, "PUT", f"/v1/structures/{sid}/spaces/JUSTICE_MEMOS", {}, clerk_token)
    judge_token = _account(gw, JUDGE_USER, "Sacha", "Magistrate")
    _call(gw, "POST", "/v1/attachments", {"identifier_type": "SIRET", "identifier": COURT_SIRET,
                                          "permissions": {"JUSTICE_MEMOS": "MODIFICATION"}}, judge_token)
    judge_id = _call(gw, "GET", "/v1/me", None, judge_token)["user"]["user_id"]
    _call(gw, "POST", f"/v1/structures/{sid}/attachments/{judge_id}/approve", {"court_role": "MAGISTRAT"}, clerk_token)
    return {"structure_id": sid, "siret": COURT_SIRET, "code": COURT_CODE, "clerk": COURT_USER, "judge": JUDGE_USER}


def seed(gw: Gateway) -> dict:
    buyer_token = _account(gw, BUYER_USER, "Camille", "Acheteuse")
    buyer = _call(gw, "POST", "/v1/structures", {
        "identifier_type": "SIRET", "identifier": BUYER_SIRET, "name": "Ville de Démonstration", "kind": "PUBLIC",
        "email": "factures@ville-demo.fr",
        "address": {"line1": "1 place de la Mairie", "postal_code": "75001", "city": "Paris", "country_code": "FR"},
        "billing": {"service_code_required": True, "legal_commitment_required": False,
                    "service_code_or_commitment_required": False, "payment_status_managed": True},
    }, buyer_token)
    for code, name, ej in (("SERV-FIN", "Direction des finances", False), ("SERV-TECH", "Services techniques", True)):
        _call(gw, "POST", f"/v1/structures/{buyer['structure_id']}/services",
              {"code": code, "name": name, "legal_commitment_required": ej}, buyer_token)
    supplier_token = _account(gw, SUPPLIER_USER, "Dominique", "Fournisseur")
    supplier = _call(gw, "POST", "/v1/structures", {
        "identifier_type": "SIRET", "identifier": SUPPLIER_SIRET, "name": "Société Démo SAS", "kind": "PRIVATE",
        "vat_number": SUPPLIER_VAT, "email": "compta@societe-demo.fr",
        "address": {"line1": "10 rue du Commerce", "postal_code": "69002", "city": "Lyon", "country_code": "FR"},
    }, supplier_token)
    # an operator: signs up like anyone, then ops add the account to the operators group
    _call(gw, "POST", "/v1/accounts", {"email": OPERATOR_USER, "password": PASSWORD, "first_name": "Support",
                                       "last_name": "Orchestre"})
    from orchestre.repositories.identity import IdentityProvider

    IdentityProvider().add_to_group(OPERATOR_USER, "operators")
    court = _court(gw)
    return {
        "court": court,
        "operator": {"user": OPERATOR_USER},
        "buyer": {"structure_id": buyer["structure_id"], "siret": BUYER_SIRET, "user": BUYER_USER},
        "supplier": {"structure_id": supplier["structure_id"], "siret": SUPPLIER_SIRET, "user": SUPPLIER_USER},
        "password": PASSWORD,
    }
