"""Admin: the platform operators' routes (``/v1/admin/...``), refused to everyone else (403).

Look up a structure or a user, flag a structure (migrated from Chorus Portail Pro), disable a user,
list the invoices parked EN_ERREUR and route one again, the events the bus refused, the platform
settings, the operators' audit.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from orchestre.api.http import create_app, expected_version, json_response, make_handler, operator
from orchestre.api.views import IfMatch, Limit, Page, PageToken
from orchestre.domain.identifiers import IdentifierType
from orchestre.domain.models import AuditEvent, Structure, User
from orchestre.domain.justice import OpenCourt
from orchestre.services.admin import AdminService, Resend, Settings, StructureFlags

app = create_app()
admin = AdminService()
TAG = "Operators"
Id = Annotated[str, Path(max_length=64)]


class UserView(BaseModel):
    user: User
    attachments: list[dict]


class ParkedInvoice(BaseModel):
    invoice_id: str
    number: str
    status: str
    supplier_structure_id: str
    buyer_structure_id: str
    routing_error: str | None
    updated_at: str
    version: int


class ParkedEvent(BaseModel):
    at: str
    parked_type: str = Field(description="The event's detail-type.")
    event_id: str
    source_key: dict[str, str] = Field(description="The item that carries the event (its history entry).")
    reason: str = Field(description="Why the bus refused it.")
    parked_detail: str | None = Field(None, description="The event's detail (JSON), unless too large to copy.")


class Outcome(BaseModel):
    count: int
    ids: list[str]


class JobView(BaseModel):
    job_id: str
    kind: str
    status: str = Field(description="RUNNING, SUCCEEDED or FAILED.")
    dry_run: bool
    started_at: str
    started_by: str
    finished_at: str | None = None
    error: str | None = None
    pages: int
    report: dict[str, Outcome] = Field(description="What the job did, by outcome (revoked, kept_migrated...).")


class SettingsView(BaseModel):
    mfa_required_for_managers: bool | None = None
    updated_by: str | None = None
    updated_at: str | None = None


@app.get("/v1/admin/structures", tags=[TAG], summary="Find a structure by its identifier")
def find_structure(identifier_type: Annotated[IdentifierType, Query()],
                   identifier: Annotated[str, Query(min_length=1, max_length=80)]) -> Response[Structure]:
    operator(app)
    s = admin.find_structure(identifier_type, identifier)
    return json_response(s, etag=s.version)


@app.get("/v1/admin/structures/<structure_id>", tags=[TAG], summary="A structure, whatever its members")
def get_structure(structure_id: Id) -> Response[Structure]:
    operator(app)
    s = admin.structure(structure_id)
    return json_response(s, etag=s.version)


@app.patch("/v1/admin/structures/<structure_id>", tags=[TAG],
           summary="Set a structure's operator flags (migrated_from_chorus_portail_pro); If-Match")
def set_flags(structure_id: Id, body: StructureFlags, if_match: IfMatch = None) -> Response[Structure]:
    who = operator(app)
    s = admin.set_flags(who, structure_id, body, expected_version(app))
    return json_response(s, etag=s.version)


@app.put("/v1/admin/structures/<structure_id>/court", tags=[TAG],
         summary="Flag a public structure as a court (juridiction), which receives justice fee memos")
def set_court(structure_id: Id, body: OpenCourt) -> Response[Structure]:
    structure = admin.set_court(operator(app), structure_id, body)
    return json_response(structure, etag=structure.version)


@app.get("/v1/admin/users", tags=[TAG], summary="Find a user by email, with their attachments")
def find_user(email: Annotated[str, Query(min_length=3, max_length=254)]) -> UserView:
    operator(app)
    user, attachments = admin.find_user(email)
    return UserView(user=user, attachments=attachments)


@app.get("/v1/admin/users/<user_id>", tags=[TAG], summary="A user, with their attachments")
def get_user(user_id: Id) -> UserView:
    operator(app)
    user, attachments = admin.user(user_id)
    return UserView(user=user, attachments=attachments)


@app.post("/v1/admin/users/<user_id>/disable", tags=[TAG],
          summary="Disable a user: no more sign-in, and every token refused at once")
def disable_user(user_id: Id) -> User:
    return admin.disable_user(operator(app), user_id)


@app.get("/v1/admin/invoices", tags=[TAG], summary="Invoices parked EN_ERREUR (routing failed), newest first")
def parked(limit: Limit = 50, page_token: PageToken = None) -> Page[ParkedInvoice]:
    operator(app)
    items, token = admin.lifecycle.parked(limit, page_token)
    return Page(items=[ParkedInvoice(**i.model_dump(include=set(ParkedInvoice.model_fields))) for i in items],
                next_page_token=token)


@app.post("/v1/admin/invoices/<invoice_id>/resend", tags=[TAG],
          summary="Route a parked invoice again (EN_ERREUR -> DEPOSEE, then the routing workflow)")
def resend(invoice_id: Id, body: Resend) -> ParkedInvoice:
    inv = admin.resend(operator(app), invoice_id, body)
    return ParkedInvoice(**inv.model_dump(include=set(ParkedInvoice.model_fields)))


@app.get("/v1/admin/events/parked", tags=[TAG],
         summary="Events the bus refused for good (too large, malformed), parked by the outbox, newest first")
def parked_events(limit: Limit = 50, page_token: PageToken = None) -> Page[ParkedEvent]:
    operator(app)
    items, token = admin.parked_events(limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/admin/jobs/<job_id>", tags=[TAG], summary="An operations job: its status and its report")
def job(job_id: Id) -> JobView:
    operator(app)
    return JobView(**admin.job(job_id))


@app.get("/v1/admin/settings", tags=[TAG], summary="Platform settings")
def get_settings() -> SettingsView:
    operator(app)
    return SettingsView(**admin.settings())


@app.put("/v1/admin/settings", tags=[TAG], summary="Change platform settings (mfa_required_for_managers)")
def put_settings(body: Settings) -> SettingsView:
    return SettingsView(**admin.set_settings(operator(app), body))


@app.get("/v1/admin/audit", tags=[TAG], summary="What operators did, newest first")
def audit(limit: Limit = 50, page_token: PageToken = None) -> Page[AuditEvent]:
    operator(app)
    items, token = admin.audit.list(limit, page_token)
    return Page(items=items, next_page_token=token)


handler = make_handler(app)
