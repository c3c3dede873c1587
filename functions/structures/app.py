"""Structures: profile, billing parameters, spaces, services, attachments, audit trail."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from orchestre.api.http import caller, create_app, expected_version, json_response, make_handler, metrics
from orchestre.api.idempotency import run_once
from orchestre.api.views import IdempotencyKey, IfMatch, Limit, Page, PageToken, replay_headers
from orchestre.domain.models import (
    ApproveAttachment,
    Attachment,
    AttachmentStatus,
    OpenSpace,
    TicProcessing,
    AuditEvent,
    BillingParameters,
    CreateService,
    CreateStructure,
    CreateTechnicalAccount,
    CredentialSlot,
    RefuseAttachment,
    RequestAttachment,
    Service,
    Space,
    Structure,
    TechnicalAccount,
    UpdateAttachment,
    UpdateService,
    UpdateStructure,
)
from orchestre.services.structures import StructureService, TechnicalAccounts

app = create_app()
structures = StructureService()
technical = TechnicalAccounts(structures)

StructureId = Annotated[str, Path(max_length=64, description="The structure's id.")]
UserId = Annotated[str, Path(max_length=64, description="The attached user's id.")]
ServiceCodePath = Annotated[str, Path(max_length=100)]
TAG_S, TAG_SVC, TAG_A = "Structures", "Services", "Attachments"


class MyStructure(BaseModel):
    structure: Structure
    attachment: Attachment


class AttachmentRequested(BaseModel):
    structure_id: str
    structure_name: str
    attachment: Attachment


def _structure(s: Structure, status: int = 200, headers: dict | None = None) -> Response[Structure]:
    return json_response(s, status, etag=s.version, headers=headers)


# -- structures --------------------------------------------------------------------------


@app.get("/v1/structures", tags=[TAG_S], summary="Structures the caller is an approved member of")
def list_mine() -> Page[MyStructure]:
    return Page(items=[MyStructure(structure=s, attachment=a)
                       for s, a in structures.mine(caller(app), active_only=True)])


@app.post("/v1/structures", tags=[TAG_S], summary="Create a structure (the caller becomes its primary manager)",
          responses={201: {"description": "Created"}})
def create_structure(body: CreateStructure, idempotency_key: IdempotencyKey = None) -> Response[Structure]:
    user = caller(app)
    result, replayed = run_once(idempotency_key, user, "structures.create", body.model_dump(mode="json"),
                                lambda: structures.create(user, body).model_dump(mode="json"))
    if not replayed:
        metrics.add_metric(name="StructuresCreated", unit="Count", value=1)
    return _structure(Structure.model_validate(result), 201, replay_headers(replayed))


@app.get("/v1/structures/<structure_id>", tags=[TAG_S], summary="Read a structure's profile")
def get_structure(structure_id: StructureId) -> Response[Structure]:
    structure, _ = structures.get(caller(app), structure_id)
    return _structure(structure)


@app.patch("/v1/structures/<structure_id>", tags=[TAG_S], summary="Update the profile (managers; If-Match)")
def update_structure(structure_id: StructureId, body: UpdateStructure, if_match: IfMatch = None) -> Response[Structure]:
    return _structure(structures.update(caller(app), structure_id, body, expected_version(app)))


@app.put("/v1/structures/<structure_id>/billing-parameters", tags=[TAG_S],
         summary="Set the billing parameters of a public structure (managers; If-Match)")
def set_billing(structure_id: StructureId, body: BillingParameters, if_match: IfMatch = None) -> Response[Structure]:
    return _structure(structures.set_billing(caller(app), structure_id, body, expected_version(app)))


@app.put("/v1/structures/<structure_id>/spaces/<space>", tags=[TAG_S],
         summary="Open a space (managers); JUSTICE_MEMOS takes the provider's category, TIC_REFUNDS the farm's "
                 "PACAGE number and beneficiary category")
def open_space(structure_id: StructureId, space: Annotated[Space, Path()],
               body: OpenSpace | None = None) -> Response[Structure]:
    return _structure(structures.set_space(caller(app), structure_id, space, True, body))


@app.put("/v1/structures/<structure_id>/tic-processing", tags=[TAG_S],
         summary="A public service declares the départements whose TIC refund requests it processes (managers)")
def tic_processing(structure_id: StructureId, body: TicProcessing) -> Response[Structure]:
    return _structure(structures.set_tic_processing(caller(app), structure_id, body))


@app.delete("/v1/structures/<structure_id>/spaces/<space>", tags=[TAG_S], summary="Close a space (managers)")
def close_space(structure_id: StructureId, space: Annotated[Space, Path()]) -> Response[Structure]:
    return _structure(structures.set_space(caller(app), structure_id, space, False))


@app.get("/v1/structures/<structure_id>/audit", tags=[TAG_S], summary="Audit trail, newest first (managers)")
def audit(structure_id: StructureId, limit: Limit = 50, page_token: PageToken = None) -> Page[AuditEvent]:
    items, token = structures.audit(caller(app), structure_id, limit, page_token)
    return Page(items=items, next_page_token=token)


# -- services ----------------------------------------------------------------------------


@app.post("/v1/structures/<structure_id>/services", tags=[TAG_SVC], summary="Create a service (managers)",
          responses={201: {"description": "Created"}})
def create_service(structure_id: StructureId, body: CreateService,
                   idempotency_key: IdempotencyKey = None) -> Response[Service]:
    user = caller(app)
    result, replayed = run_once(idempotency_key, user, f"services.create.{structure_id}", body.model_dump(mode="json"),
                                lambda: structures.create_service(user, structure_id, body).model_dump(mode="json"))
    service = Service.model_validate(result)
    return json_response(service, 201, etag=service.version, headers=replay_headers(replayed))


@app.get("/v1/structures/<structure_id>/services", tags=[TAG_SVC], summary="List services (members)")
def list_services(structure_id: StructureId, limit: Limit = 50, page_token: PageToken = None) -> Page[Service]:
    items, token = structures.list_services(caller(app), structure_id, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/structures/<structure_id>/services/<code>", tags=[TAG_SVC], summary="Read a service (members)")
def get_service(structure_id: StructureId, code: ServiceCodePath) -> Response[Service]:
    service = structures.get_service(caller(app), structure_id, code)
    return json_response(service, etag=service.version)


@app.patch("/v1/structures/<structure_id>/services/<code>", tags=[TAG_SVC],
           summary="Update, deactivate or reactivate a service (managers; If-Match)")
def update_service(structure_id: StructureId, code: ServiceCodePath, body: UpdateService,
                   if_match: IfMatch = None) -> Response[Service]:
    service = structures.update_service(caller(app), structure_id, code, body, expected_version(app))
    return json_response(service, etag=service.version)


# -- attachments -------------------------------------------------------------------------


@app.post("/v1/attachments", tags=[TAG_A], summary="Ask to be attached to a structure, found by its identifier",
          responses={201: {"description": "Requested"}})
def request_attachment(body: RequestAttachment, idempotency_key: IdempotencyKey = None) -> Response[AttachmentRequested]:
    user = caller(app)

    def create() -> dict:
        structure, attachment = structures.request_attachment(user, body)
        return AttachmentRequested(structure_id=structure.structure_id, structure_name=structure.name,
                                   attachment=attachment).model_dump(mode="json")

    result, replayed = run_once(idempotency_key, user, "attachments.request", body.model_dump(mode="json"), create)
    return json_response(result, 201, headers=replay_headers(replayed))


@app.get("/v1/structures/<structure_id>/attachments", tags=[TAG_A], summary="List attachments (managers)")
def list_attachments(structure_id: StructureId, status: Annotated[AttachmentStatus | None, Query()] = None,
                     limit: Limit = 50, page_token: PageToken = None) -> Page[Attachment]:
    items, token = structures.list_attachments(caller(app), structure_id, status, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.post("/v1/structures/<structure_id>/attachments/<user_id>/approve", tags=[TAG_A],
          summary="Approve a pending request with a role and per-space rights (managers)")
def approve(structure_id: StructureId, user_id: UserId, body: ApproveAttachment) -> Response[Attachment]:
    attachment = structures.approve(caller(app), structure_id, user_id, body)
    return json_response(attachment, etag=attachment.version)


@app.post("/v1/structures/<structure_id>/attachments/<user_id>/refuse", tags=[TAG_A],
          summary="Refuse a pending request, with a reason (managers)")
def refuse(structure_id: StructureId, user_id: UserId, body: RefuseAttachment) -> Response[Attachment]:
    attachment = structures.refuse(caller(app), structure_id, user_id, body)
    return json_response(attachment, etag=attachment.version)


@app.patch("/v1/structures/<structure_id>/attachments/<user_id>", tags=[TAG_A],
           summary="Change a member's role or rights (managers; If-Match)")
def update_attachment(structure_id: StructureId, user_id: UserId, body: UpdateAttachment,
                      if_match: IfMatch = None) -> Response[Attachment]:
    attachment = structures.update_attachment(caller(app), structure_id, user_id, body, expected_version(app))
    return json_response(attachment, etag=attachment.version)


@app.post("/v1/structures/<structure_id>/attachments/<user_id>/deactivate", tags=[TAG_A],
          summary="Deactivate a member (managers), or leave the structure (the member)")
def deactivate(structure_id: StructureId, user_id: UserId) -> Response[Attachment]:
    attachment = structures.deactivate(caller(app), structure_id, user_id)
    return json_response(attachment, etag=attachment.version)


# -- technical accounts ------------------------------------------------------------------

TAG_T = "Technical accounts"
AccountId = Annotated[str, Path(max_length=64)]


class TechnicalAccountView(BaseModel):
    account_id: str
    structure_id: str
    name: str
    credentials: list[dict]
    inbound_prefix: str
    outbound_prefix: str
    created_at: str


class IssuedCredential(BaseModel):
    account: TechnicalAccountView
    credential: dict  # {"slot", "login", "password"}: the password is shown once


def _account_view(a: TechnicalAccount) -> TechnicalAccountView:
    return TechnicalAccountView(account_id=a.account_id, structure_id=a.structure_id, name=a.name,
                                credentials=[{"slot": c.slot.value, "login": c.login, "created_at": c.created_at}
                                             for c in a.credentials],
                                inbound_prefix=a.inbound_prefix, outbound_prefix=a.outbound_prefix,
                                created_at=a.created_at)


@app.post("/v1/structures/<structure_id>/technical-accounts", tags=[TAG_T],
          summary="Create a technical account for API and EDI integration (managers); the password is shown once",
          responses={201: {"description": "Created"}})
def create_technical(structure_id: StructureId, body: CreateTechnicalAccount) -> Response[IssuedCredential]:
    account, credential = technical.create(caller(app), structure_id, body)
    return json_response(IssuedCredential(account=_account_view(account), credential=credential), 201)


@app.get("/v1/structures/<structure_id>/technical-accounts", tags=[TAG_T], summary="List technical accounts (managers)")
def list_technical(structure_id: StructureId) -> Page[TechnicalAccountView]:
    return Page(items=[_account_view(a) for a in technical.list(caller(app), structure_id)])


@app.post("/v1/structures/<structure_id>/technical-accounts/<account_id>/credentials", tags=[TAG_T],
          summary="Issue a second credential (rotation without downtime: switch, then revoke the old one)",
          responses={201: {"description": "Created"}})
def rotate_technical(structure_id: StructureId, account_id: AccountId) -> Response[IssuedCredential]:
    account, credential = technical.rotate(caller(app), structure_id, account_id)
    return json_response(IssuedCredential(account=_account_view(account), credential=credential), 201)


@app.delete("/v1/structures/<structure_id>/technical-accounts/<account_id>/credentials/<slot>", tags=[TAG_T],
            summary="Revoke a credential")
def revoke_technical(structure_id: StructureId, account_id: AccountId,
                     slot: Annotated[CredentialSlot, Path()]) -> TechnicalAccountView:
    return _account_view(technical.revoke(caller(app), structure_id, account_id, slot.value))


# -- notification subscriptions ----------------------------------------------------------

from orchestre.domain.subscriptions import ConfirmSubscription, CreateSubscription, Subscription  # noqa: E402
from orchestre.services.notifications import SubscriptionService  # noqa: E402

TAG_N = "Subscriptions"
subscriptions = SubscriptionService(structures)
SubscriptionId = Annotated[str, Path(max_length=64, description="The subscription's id.")]


@app.post("/v1/structures/<structure_id>/subscriptions", tags=[TAG_N],
          summary="Subscribe the structure to invoice events, by email or into an SQS queue (managers; at most 20)",
          responses={201: {"description": "Created"}})
def create_subscription(structure_id: StructureId, body: CreateSubscription,
                        idempotency_key: IdempotencyKey = None) -> Response[Subscription]:
    user = caller(app)
    result, replayed = run_once(idempotency_key, user, f"subscriptions.create.{structure_id}",
                                body.model_dump(mode="json"),
                                lambda: subscriptions.create(user, structure_id, body).model_dump(mode="json"))
    subscription = Subscription.model_validate(result)
    if not replayed:
        metrics.add_metric(name="SubscriptionsCreated", unit="Count", value=1)
    location = f"/v1/structures/{structure_id}/subscriptions/{subscription.subscription_id}"
    return json_response(subscription, 201, headers={"Location": location, **replay_headers(replayed)})


@app.get("/v1/structures/<structure_id>/subscriptions", tags=[TAG_N], summary="List subscriptions (managers)")
def list_subscriptions(structure_id: StructureId, limit: Limit = 50,
                       page_token: PageToken = None) -> Page[Subscription]:
    items, token = subscriptions.list(caller(app), structure_id, limit, page_token)
    return Page(items=items, next_page_token=token)


@app.get("/v1/structures/<structure_id>/subscriptions/<subscription_id>", tags=[TAG_N],
         summary="Read a subscription (managers)")
def get_subscription(structure_id: StructureId, subscription_id: SubscriptionId) -> Subscription:
    return subscriptions.get(caller(app), structure_id, subscription_id)


@app.post("/v1/structures/<structure_id>/subscriptions/<subscription_id>/confirm", tags=[TAG_N],
          summary="Confirm an SQS subscription with the token the platform sent to the queue (managers)")
def confirm_subscription(structure_id: StructureId, subscription_id: SubscriptionId,
                         body: ConfirmSubscription) -> Subscription:
    return subscriptions.confirm(caller(app), structure_id, subscription_id, body.token)


@app.delete("/v1/structures/<structure_id>/subscriptions/<subscription_id>", tags=[TAG_N],
            summary="Delete a subscription (managers)", responses={204: {"description": "Deleted"}})
def delete_subscription(structure_id: StructureId, subscription_id: SubscriptionId) -> Response[None]:
    subscriptions.delete(caller(app), structure_id, subscription_id)
    return Response(status_code=204, body=None)


handler = make_handler(app)
