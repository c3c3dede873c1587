"""Public directory of buyers: identity, billing rules and active services; CSV export."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from orchestre.api.http import caller, create_app, logger, make_handler
from orchestre.api.views import Limit, Page, PageToken
from orchestre.domain.models import Address, BillingParameters, Service, Space, Structure
from orchestre.services.directory import DirectoryService

app = create_app()
directory = DirectoryService()
TAG = "Directory"
StructureId = Annotated[str, Path(max_length=64)]


class DirectoryEntry(BaseModel):
    structure_id: str
    identifier_type: str
    identifier: str
    name: str
    address: Address | None = None
    accepts_invoices: bool
    billing: BillingParameters
    tic_departments: list[str] = Field(default_factory=list,
                                       description="Départements whose TIC refund requests it processes.")


class CourtEntry(BaseModel):
    structure_id: str
    name: str
    code: str
    kind: str
    address: Address | None = None


class DirectoryService_(BaseModel):
    code: str
    name: str
    legal_commitment_required: bool
    valid_from: str | None = None
    valid_to: str | None = None


class DirectoryServices(BaseModel):
    structure: DirectoryEntry
    items: list[DirectoryService_]
    next_page_token: str | None = None


class DirectoryExport(BaseModel):
    url: str
    expires_in: int
    generated_at: str | None
    rows: int


def _entry(s: Structure) -> DirectoryEntry:
    return DirectoryEntry(structure_id=s.structure_id, identifier_type=s.identifier_type.value,
                          identifier=s.identifier, name=s.name, address=s.address,
                          accepts_invoices=s.has_space(Space.INVOICES_RECEIVED), billing=s.billing,
                          tic_departments=s.tic_departments)


def _service(s: Service) -> DirectoryService_:
    return DirectoryService_(code=s.code, name=s.name, legal_commitment_required=s.legal_commitment_required,
                             valid_from=s.valid_from and s.valid_from.isoformat(),
                             valid_to=s.valid_to and s.valid_to.isoformat())


@app.get("/v1/directory/structures", tags=[TAG],
         summary="Search public buyers by name prefix (q) or SIRET/SIREN prefix (identifier)")
def search(
    q: Annotated[str | None, Query(max_length=100, description="Start of the name (accents and case ignored)")] = None,
    identifier: Annotated[str | None, Query(max_length=14, pattern=r"^[0-9 ]+$",
                                            description="Start of the SIRET: a SIREN lists every establishment")] = None,
    kind: Annotated[Literal["PUBLIC"], Query(description="The directory lists public structures only")] = "PUBLIC",
    limit: Limit = 50,
    page_token: PageToken = None,
) -> Page[DirectoryEntry]:
    caller(app)
    items, token = directory.search(q, identifier, limit, page_token)
    return Page(items=[_entry(s) for s in items], next_page_token=token)


@app.get("/v1/directory/courts", tags=[TAG],
         summary="Courts open to justice fee memos, by the start of their name, code or city (q)")
def courts(q: Annotated[str, Query(min_length=1, max_length=100, description="Start of a name, code or city")],
           limit: Limit = 50, page_token: PageToken = None) -> Page[CourtEntry]:
    caller(app)
    items, token = directory.courts(q, limit, page_token)
    return Page(items=[CourtEntry(structure_id=s.structure_id, name=s.name, code=s.court.code, kind=s.court.kind.value,
                                  address=s.address) for s in items], next_page_token=token)


@app.get("/v1/directory/structures/<structure_id>", tags=[TAG], summary="A public buyer's billing rules")
def get_entry(structure_id: StructureId) -> DirectoryEntry:
    caller(app)
    return _entry(directory.public_structure(structure_id))


@app.get("/v1/directory/structures/<structure_id>/services", tags=[TAG],
         summary="A public buyer's services open to invoicing today")
def services(structure_id: StructureId, limit: Limit = 50, page_token: PageToken = None) -> DirectoryServices:
    caller(app)
    structure, items, token = directory.services(structure_id, limit, page_token)
    return DirectoryServices(structure=_entry(structure), items=[_service(s) for s in items], next_page_token=token)


@app.get("/v1/directory/export", tags=[TAG],
         summary="The whole public directory as CSV (one row per active service): a short-lived download URL")
def export() -> DirectoryExport:
    caller(app)
    return DirectoryExport(**directory.latest_export())


def scheduled(event: dict, _context) -> dict:
    """Daily EventBridge schedule: regenerate the CSV export."""
    info = directory.export()
    logger.info("directory export regenerated", extra=info)
    return info


handler = make_handler(app, on_event=scheduled)
