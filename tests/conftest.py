"""Test harness: the local platform (moto server + gateway + the real handlers), once per worker.

Tests talk to the platform through HTTP-shaped calls (``api``) and read AWS state with boto3
against moto. Every test makes its own users and structures (random SIRETs), so tests are
independent without resetting the platform.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
PASSWORD = "Test-password-2026"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.raw[:400]!r}>"


class Api:
    def __init__(self, gateway):
        self.gateway = gateway

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        status, out_headers, out = self.gateway.handle(method, path, h, data)
        return Reply(status, out_headers, out)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture(scope="session")
def platform():
    from orchestre_local.openapi import write
    from orchestre_local.runtime import LocalPlatform

    p = LocalPlatform(api_port=0).start()
    write()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def api(platform) -> Api:
    return Api(platform.gateway)


class Clock:
    """The local platform's clock (``POST /_local/clock``), put back to real time after the test."""

    def __init__(self, api: Api):
        self.api = api

    def advance(self, duration: str) -> dict:
        r = self.api.post("/_local/clock", {"advance": duration})
        assert r.status == 200, r
        return r.json

    def reset(self) -> None:
        assert self.api.post("/_local/clock", {"reset": True}).status == 200


@pytest.fixture
def clock(api):
    c = Clock(api)
    yield c
    c.reset()


def random_siret() -> str:
    from stdnum import luhn

    siren = str(random.randint(10_000_000, 99_999_999))
    siren += luhn.calc_check_digit(siren)  # the SIREN is Luhn-valid on its own
    body = siren + "".join(random.choice("0123456789") for _ in range(4))
    return body + luhn.calc_check_digit(body)  # and so is the whole SIRET


@dataclass
class User:
    user_id: str
    email: str
    token: str


@pytest.fixture
def new_user(api):
    def make(prefix: str = "user") -> User:
        email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.fr"
        r = api.post("/v1/accounts", {"email": email, "password": PASSWORD, "first_name": "Test", "last_name": prefix})
        assert r.status == 201, r
        t = api.post("/v1/auth/token", {"email": email, "password": PASSWORD})
        assert t.status == 200, t
        return User(r.json["user_id"], email, t.json["access_token"])

    return make


@pytest.fixture
def operator(api, new_user):
    """A user ops added to the operators group (aws cognito-idp admin-add-user-to-group)."""
    from orchestre.repositories.identity import IdentityProvider

    user = new_user("operator")
    IdentityProvider().add_to_group(user.email, "operators")
    user.token = api.post("/v1/auth/token", {"email": user.email, "password": PASSWORD}).json["access_token"]
    return user


@pytest.fixture
def new_structure(api):
    def make(user: User, kind: str = "PUBLIC", name: str | None = None, **extra) -> dict:
        body = {"identifier_type": "SIRET", "identifier": random_siret(), "name": name or f"Structure {uuid.uuid4().hex[:8]}",
                "kind": kind, **extra}
        r = api.post("/v1/structures", body, token=user.token)
        assert r.status == 201, r
        return r.json

    return make


@pytest.fixture
def member(api, new_user):
    """A user attached to a structure with the given role and rights, approved by its manager."""

    def make(manager: User, structure: dict, role: str = "USER", permissions: dict | None = None) -> User:
        user = new_user("member")
        r = api.post("/v1/attachments", {"identifier_type": structure["identifier_type"],
                                         "identifier": structure["identifier"], "role": role,
                                         "permissions": permissions or {}}, token=user.token)
        assert r.status == 201, r
        a = api.post(f"/v1/structures/{structure['structure_id']}/attachments/{user.user_id}/approve", {},
                     token=manager.token)
        assert a.status == 200, a
        return user

    return make


# -- invoices: a public buyer and a supplier, files that name them, flows ------------------

FINAL = ("INTEGRATED", "REJECTED")


def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


@pytest.fixture
def parties(api, new_user, new_structure, member):
    """A public buyer (service code required; one service needing an EJ) and a supplier with a member."""
    from orchestre.documents.parties import french_vat_id

    buyer_user = new_user("buyer")
    buyer = new_structure(buyer_user, name=f"Commune {uuid.uuid4().hex[:6]}",
                          billing={"service_code_required": True})
    for code, ej in (("SERV-1", False), ("SERV-EJ", True)):
        r = api.post(f"/v1/structures/{buyer['structure_id']}/services",
                     {"code": code, "name": code, "legal_commitment_required": ej}, token=buyer_user.token)
        assert r.status == 201
    owner = new_user("supplier")
    supplier = new_structure(owner, kind="PRIVATE", name=f"Fournisseur {uuid.uuid4().hex[:6]}")
    r = api.patch(f"/v1/structures/{supplier['structure_id']}",
                  {"vat_number": french_vat_id(supplier["identifier"][:9]),
                   "address": {"line1": "1 rue de la Paix", "postal_code": "75002", "city": "Paris"}},
                  token=owner.token, headers={"If-Match": '"1"'})
    assert r.status == 200, r
    supplier = r.json
    clerk = member(owner, supplier, permissions={"INVOICES_ISSUED": "MODIFICATION"})
    return {"buyer": buyer, "buyer_user": buyer_user, "supplier": supplier, "owner": owner, "clerk": clerk}


def invoice_file(p, number=None, service="SERV-1", ej=None, buyer=None, fmt="pdf", kind="FACTURE",
                 preceding=None) -> tuple[str, bytes]:
    from datetime import date

    from orchestre.documents.parties import PartyInfo
    from orchestre.documents.pipeline import generate
    from orchestre.domain.invoices import LineInput, PortalInvoice

    buyer = buyer or p["buyer"]
    number = number or f"F-{uuid.uuid4().hex[:8]}"
    cmd = PortalInvoice(
        supplier_structure_id=p["supplier"]["structure_id"], recipient_identifier=buyer["identifier"],
        service_code=service, legal_commitment=ej, number=number, kind=kind, preceding_invoice=preceding,
        issue_date=date.today(),
        lines=[LineInput(description="Prestation de conseil", quantity="3", unit_price="450.00", vat_rate="20")],
    )
    seller = PartyInfo(name=p["supplier"]["name"], siret=p["supplier"]["identifier"],
                       vat_id=p["supplier"]["vat_number"], city="Paris", postal_code="75002")
    buyer_party = PartyInfo(name=buyer["name"], siret=buyer["identifier"], city="Lyon", postal_code="69001")
    g = generate(cmd, seller, buyer_party)
    return number, (g.pdf if fmt == "pdf" else g.xml)


def submit(api, token, content: bytes, name="facture.pdf", headers=None) -> str:
    r = api.post("/v1/flows", {"file_name": name, "content_base64": b64(content)}, token=token, headers=headers)
    assert r.status == 202, r
    assert r.json["status"] == "RECEIVED" and r.header("Location") == f"/v1/flows/{r.json['flow_id']}"
    return r.json["flow_id"]


def wait_flow(api, token, flow_id, timeout=30.0) -> dict:
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        r = api.get(f"/v1/flows/{flow_id}", token=token)
        assert r.status == 200, r
        if r.json["status"] in FINAL:
            return r.json
        time.sleep(0.2)
    raise AssertionError(f"flow {flow_id} not integrated in {timeout}s: {r.json}")


