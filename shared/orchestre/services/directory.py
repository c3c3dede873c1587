"""The public directory: what a supplier needs to know before invoicing a public buyer."""

from __future__ import annotations

import csv
import io
import re

from ..domain import access
from ..domain.common import now_iso, search_key, today
from ..domain.models import Service, Space, Structure
from ..repositories.documents import DocumentStore
from ..repositories.structures import StructureRepository

EXPORT_KEY = "exports/directory/latest.csv"
EXPORT_COLUMNS = [
    "structure_id", "identifier_type", "identifier", "name", "postal_code", "city", "country_code",
    "accepts_invoices", "service_code_required", "legal_commitment_required",
    "service_code_or_commitment_required", "payment_status_managed",
    "service_code", "service_name", "service_legal_commitment_required",
]


class DirectoryService:
    def __init__(self, repo: StructureRepository | None = None, documents: DocumentStore | None = None):
        self.repo = repo or StructureRepository()
        self.documents = documents or DocumentStore()

    def search(self, q: str | None, identifier: str | None, limit: int, page_token: str | None):
        key = search_key(q or "")
        if identifier or not key:
            return self.repo.directory_by_identifier(re.sub(r"\s+", "", identifier or ""), limit, page_token)
        return self.repo.directory_by_name(key, limit, page_token)

    def courts(self, q: str, limit: int, page_token: str | None) -> tuple[list[Structure], str | None]:
        """Courts (public structures operators flagged) whose name, code or city starts with ``q``, open
        to justice fee memos."""
        key = search_key(q)
        if not key:
            return [], None
        found, token = self.repo.directory_by_name(key, limit, page_token, catalogue="COURT#")
        return [s for s in found if s.court is not None and s.has_space(Space.JUSTICE_MEMOS)], token

    def public_structure(self, structure_id: str) -> Structure:
        structure = self.repo.get(structure_id)
        if structure is None or not structure.is_public or structure.status != "ACTIVE":
            raise access.not_found(structure_id)
        return structure

    def services(self, structure_id: str, limit: int, page_token: str | None) -> tuple[Structure, list[Service], str | None]:
        """Active services of a public structure, valid today (a page may hold fewer than ``limit``)."""
        structure = self.public_structure(structure_id)
        services, token = self.repo.list_services(structure_id, limit, page_token)
        day = today()
        return structure, [s for s in services if s.is_available(day)], token

    def _rows(self):
        day = today()
        token = None
        while True:
            structures, token = self.repo.directory_by_identifier("", 100, token)
            for s in structures:
                base = {
                    "structure_id": s.structure_id,
                    "identifier_type": s.identifier_type.value,
                    "identifier": s.identifier,
                    "name": s.name,
                    "postal_code": (s.address.postal_code if s.address else "") or "",
                    "city": (s.address.city if s.address else "") or "",
                    "country_code": s.address.country_code if s.address else "FR",
                    "accepts_invoices": s.has_space(Space.INVOICES_RECEIVED),
                    **s.billing.model_dump(),
                }
                services, service_token, emitted = [], None, False
                while True:
                    services, service_token = self.repo.list_services(s.structure_id, 100, service_token)
                    for svc in services:
                        if svc.is_available(day):
                            emitted = True
                            yield {**base, "service_code": svc.code, "service_name": svc.name,
                                   "service_legal_commitment_required": svc.legal_commitment_required}
                    if not service_token:
                        break
                if not emitted:
                    yield base
            if not token:
                return

    def export(self) -> dict:
        """Write the whole public directory as CSV (one row per active service) to the documents bucket."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        rows = 0
        for row in self._rows():
            writer.writerow(row)
            rows += 1
        generated_at = now_iso()
        self.documents.put(EXPORT_KEY, buffer.getvalue().encode("utf-8"), "text/csv; charset=utf-8",
                           {"generated-at": generated_at, "rows": str(rows)})
        return {"generated_at": generated_at, "rows": rows}

    def latest_export(self, max_age_hours: int = 24) -> dict:
        """The latest export with a download URL; regenerated when missing or older than ``max_age_hours``."""
        from datetime import datetime, timedelta

        from ..repositories.documents import metadata_value

        head = self.documents.head(EXPORT_KEY)
        generated_at, rows = metadata_value(head, "generated-at"), metadata_value(head, "rows")
        fresh = False
        if generated_at:
            generated = datetime.fromisoformat(generated_at.replace("Z", "+00:00"))
            fresh = datetime.fromisoformat(now_iso().replace("Z", "+00:00")) - generated < timedelta(hours=max_age_hours)
        info = {"generated_at": generated_at, "rows": int(rows or 0)} if fresh else self.export()
        info["url"] = self.documents.presign_get(EXPORT_KEY, 300, "annuaire-orchestre.csv")
        info["expires_in"] = 300
        return info
