"""What the payment requests made on the platform share (justice fee memos, TIC refund requests):
a draft of one structure, sent to another, moved by the one lifecycle engine along its own table.

``SpaceRequests`` holds the shared use cases: reading (404 to whoever may not read it), acting (403
to a reader), history, next statuses, lists of one side, a move with its conflict, the PDF the
platform renders once the request is committed (rendered again at download if that write was lost).
A capability says who reads and acts (``_roles``) and what its PDF is (``_pdf``).
"""

from __future__ import annotations

from ..domain import access
from ..domain import lifecycle as lc
from ..domain.common import is_platform_id
from ..domain.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from ..domain.invoices import Invoice
from ..domain.models import Attachment, Permission, Space, Structure
from ..repositories.documents import DocumentStore
from ..repositories.dynamo import ConditionFailed
from ..repositories.invoices import Change
from ..repositories.structures import StructureRepository
from .lifecycle import LifecycleService


class SpaceRequests:
    SPACE: Space
    DOCUMENT_TYPE: str
    NOUN = "request"  # in messages and codes: "memo" -> MEMO_NOT_FOUND, field memo_id

    def __init__(self, engine: LifecycleService | None = None, documents: DocumentStore | None = None):
        self.engine = engine or LifecycleService()
        self.requests = self.engine.repo
        self.structures: StructureRepository = self.engine.structures
        self.documents = documents or DocumentStore()

    # -- who is who ------------------------------------------------------------------------------

    def _not_found(self, request_id: str) -> NotFound:
        return NotFound(f"{self.NOUN.capitalize()} {request_id} not found.", code=f"{self.NOUN.upper()}_NOT_FOUND",
                        field=f"{self.NOUN}_id")

    def _member(self, user_id: str, structure_id: str, space: Space | None = None
                ) -> tuple[Structure, Attachment, Permission] | None:
        """The structure, the caller's attachment and right on the space (None: none)."""
        structure = self.structures.get(structure_id)
        attachment = self.structures.get_attachment(structure_id, user_id) if structure else None
        if structure is None or attachment is None or not attachment.is_active:
            return None
        held = access.effective_permission(attachment, structure, space or self.SPACE)
        return (structure, attachment, held) if held is not None else None

    def _roles(self, user_id: str, request: Invoice) -> tuple[set[lc.Role], set[lc.Role]]:
        """(roles that may read, roles that may act) of the caller on a request."""
        raise NotImplementedError

    def request_for(self, user_id: str, request_id: str, consistent: bool = False) -> tuple[Invoice, set[lc.Role]]:
        """The request and the roles the caller may act in; 404 to anyone who may not read it."""
        request = self.requests.get(request_id, consistent=consistent) if is_platform_id(request_id) else None
        if request is None or request.document_type != self.DOCUMENT_TYPE:
            raise self._not_found(request_id)
        read, act = self._roles(user_id, request)
        if not read:
            raise self._not_found(request_id)
        return request, act

    def _acting(self, user_id: str, request_id: str) -> tuple[Invoice, set[lc.Role]]:
        request, act = self.request_for(user_id, request_id, consistent=True)
        if not act:
            raise Forbidden(f"MODIFICATION on the {self.SPACE.value} space is required to act on it.",
                            code="SPACE_PERMISSION_REQUIRED", field="space")
        return request, act

    def _check_version(self, request: Invoice, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != request.version:
            raise PreconditionFailed(f"The {self.NOUN} is at version {request.version}; read it again.",
                                     code="VERSION_MISMATCH", field="If-Match", current_version=request.version)

    def _role_for(self, request: Invoice, act: set[lc.Role], to: lc.Status, route: str = "status") -> lc.Role:
        """The role of the caller's that may make this move (checked by ``lc.check_move`` before)."""
        current = lc.Status(request.status)
        return next(r for r in sorted(act) if any(m.to is to and m.route == route
                                                  for m in lc.moves(current, {r}, self.DOCUMENT_TYPE)))

    def _commit(self, changes: list[Change], extra_ops: list[dict] | None = None) -> None:
        try:
            self.engine.commit(changes, extra_ops=extra_ops)
        except ConditionFailed:
            raise Conflict(f"The {self.NOUN} changed meanwhile; read it again.", code="CONCURRENT_UPDATE") from None

    # -- reading ---------------------------------------------------------------------------------------

    def get(self, user_id: str, request_id: str) -> Invoice:
        return self.request_for(user_id, request_id)[0]

    def next_statuses(self, user_id: str, request_id: str) -> tuple[Invoice, list[lc.Move]]:
        request, act = self.request_for(user_id, request_id)
        return request, lc.moves(lc.Status(request.status), act, self.DOCUMENT_TYPE)

    def history(self, user_id: str, request_id: str, limit: int, page_token: str | None):
        self.request_for(user_id, request_id)
        return self.requests.history(request_id, limit, page_token)

    def _list(self, side: str, structure_id: str, limit: int, page_token: str | None,
              status: str | None) -> tuple[list[Invoice], str | None]:
        """One side's requests (SUPPLIER: the sender's, RECIPIENT: the receiver's), newest first."""
        filters = [("status", "=", status)] if status else []
        return self.requests.list(side, structure_id, limit=limit, page_token=page_token, since=None, until=None,
                                  filters=filters, document_type=self.DOCUMENT_TYPE)

    # -- the platform's PDF ----------------------------------------------------------------------------

    def _own_pdf(self, request: Invoice) -> bool:
        return False

    def _pdf(self, request: Invoice) -> bytes:
        raise NotImplementedError

    def _render_pdf(self, request: Invoice) -> None:
        """The platform's PDF of a sent request, from the request as committed (its number and date are
        known only then). If this write is lost after the commit, the first download renders it again."""
        self.documents.put(request.files.pdf_key, self._pdf(request), "application/pdf")

    def document_url(self, user_id: str, request_id: str, name: str) -> str:
        request, _ = self.request_for(user_id, request_id)
        if name == "pdf" and not self._own_pdf(request):
            if request.status == lc.Status.BROUILLON.value:
                raise NotFound("A draft's PDF is made when it is sent.", code="DOCUMENT_NOT_FOUND", field="document")
            if self.documents.head(request.files.pdf_key) is None:
                self._render_pdf(request)
        return self.engine.file_url(request, name)

