"""Data access for structures, services, attachments, users and the audit trail.

Single-table layout (table ``main``):

| item | PK | SK | GSI1 (PK / SK) | GSI2 (PK / SK) |
| --- | --- | --- | --- | --- |
| structure | STRUCT#<id> | PROFILE | | DIRID#PUBLIC / <identifier> (public only) |
| directory entry | STRUCT#<id> | DIRENTRY#<name key> | DIR#<first char> / <name key>#<id> | |
| identifier guard | IDENT#<type>#<identifier> | IDENT | | |
| service | STRUCT#<id> | SERVICE#<code> | | |
| attachment | STRUCT#<id> | MEMBER#<user> | USER#<user> / MEMBER#<structure> | STRUCT#<id>#MEMBERS#<status> / <user> |
| audit event | STRUCT#<id> | AUDIT#<at>#<rand> | | |
| user | USER#<id> | PROFILE | | |
| technical account | STRUCT#<id> | TECH#<account> | | |
| technical account pointer | TECHACCT#<account> | ACCOUNT | | |
"""

from __future__ import annotations

import secrets
from typing import Any

from ..domain.common import name_keys, search_key
from ..domain.models import Attachment, AttachmentStatus, AuditEvent, Service, Structure, TechnicalAccount, User
from .dynamo import ConditionFailed, Page, Table, delete_op, put_op, update_op

DIRECTORY_IDS = "DIRID#PUBLIC"


COURT_CODE = "COURTCODE#"
TIC_DEPARTMENT = "TICDEPT#"  # a département -> the public service that processes its TIC refunds


def structure_pk(structure_id: str) -> str:
    return f"STRUCT#{structure_id}"


def identifier_pk(identifier_type: str, identifier: str) -> str:
    return f"IDENT#{identifier_type}#{identifier}"


class IdentifierTaken(Exception):
    def __init__(self, structure_id: str | None):
        super().__init__("identifier taken")
        self.structure_id = structure_id


class StructureRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    # -- items ---------------------------------------------------------------------------

    @staticmethod
    def _structure_item(s: Structure) -> dict[str, Any]:
        item = {"PK": structure_pk(s.structure_id), "SK": "PROFILE", "type": "STRUCTURE"}
        item.update(s.model_dump(mode="json", exclude_none=True))
        if _listed(s):
            item["GSI2PK"] = DIRECTORY_IDS
            item["GSI2SK"] = s.identifier
        return item

    @staticmethod
    @staticmethod
    def claim_ops(prefix: str, structure_id: str, codes: list[str], previous: list[str]) -> list[dict]:
        """Guards that keep each code to one structure (a court's code, a département's TIC service):
        ConditionFailed when another structure holds one; the codes it gave up are released."""
        ops = [put_op({"PK": f"{prefix}{code}", "SK": "GUARD", "type": "GUARD", "structure_id": structure_id},
                      "attribute_not_exists(PK) OR structure_id = :s", values={":s": structure_id}) for code in codes]
        return ops + [delete_op(f"{prefix}{code}", "GUARD") for code in previous if code not in codes]

    def claim_holder(self, prefix: str, code: str) -> str | None:
        item = self.table.get(f"{prefix}{code}", "GUARD", consistent=True)
        return item["structure_id"] if item else None

    @classmethod
    def court_code_ops(cls, structure_id: str, code: str, previous: str | None) -> list[dict]:
        return cls.claim_ops(COURT_CODE, structure_id, [code], [previous] if previous else [])

    def get_many(self, structure_ids: list[str]) -> dict[str, Structure]:
        """Profiles by id, in batches (missing ones are absent)."""
        items = self.table.batch_get([(structure_pk(i), "PROFILE") for i in dict.fromkeys(structure_ids)])
        return {i["structure_id"]: Structure.model_validate(i) for i in items}

    def court_code_holder(self, code: str) -> str | None:
        return self.claim_holder(COURT_CODE, code)

    @staticmethod
    def _catalogue_keys(s: Structure | None) -> dict[tuple[str, str], list[str]]:
        """The search keys of a structure in each catalogue it is in, by (entry prefix, index prefix): the
        public directory (by name), the courts (by name, code or city)."""
        if not _listed(s):
            return {}
        out = {("DIRENTRY#", "DIR#"): name_keys(s.name)}
        if s.court is not None:
            city = name_keys(s.address.city) if s.address and s.address.city else []
            out[("COURTENTRY#", "COURT#")] = list(dict.fromkeys(
                [*name_keys(s.name), search_key(s.court.code), *city]))
        return out

    @classmethod
    def _directory_ops(cls, after: Structure, before: Structure | None = None) -> list[dict]:
        """Search entries of a public structure in its catalogues: one per key (a word position of the
        name, a court's code or city), sharded by first character, each a copy of the profile (a search
        needs no second read). Entries it no longer has are deleted."""
        pk = structure_pk(after.structure_id)
        new = cls._catalogue_keys(after)
        old = cls._catalogue_keys(before) if before else {}
        ops = [delete_op(pk, f"{entry}{k}") for (entry, index), keys in old.items() for k in keys
               if k not in new.get((entry, index), [])]
        body = after.model_dump(mode="json", exclude_none=True)
        for (entry, index), keys in new.items():
            for k in keys:
                ops.append(put_op({"PK": pk, "SK": f"{entry}{k}", "type": entry.rstrip("#"), "GSI1PK": f"{index}{k[0]}",
                                   "GSI1SK": f"{k}#{after.structure_id}", **body}))
        return ops

    @staticmethod
    def _service_item(s: Service) -> dict[str, Any]:
        item = {"PK": structure_pk(s.structure_id), "SK": f"SERVICE#{s.code}", "type": "SERVICE"}
        item.update(s.model_dump(mode="json", exclude_none=True))
        return item

    @staticmethod
    def _attachment_item(a: Attachment) -> dict[str, Any]:
        item = {
            "PK": structure_pk(a.structure_id),
            "SK": f"MEMBER#{a.user_id}",
            "type": "ATTACHMENT",
            "GSI1PK": f"USER#{a.user_id}",
            "GSI1SK": f"MEMBER#{a.structure_id}",
            "GSI2PK": f"{structure_pk(a.structure_id)}#MEMBERS#{a.status.value}",
            "GSI2SK": a.user_id,
        }
        item.update(a.model_dump(mode="json", exclude_none=True))
        return item

    @staticmethod
    def _audit_op(event: AuditEvent) -> dict:
        item = {
            "PK": structure_pk(event.structure_id),
            "SK": f"AUDIT#{event.at}#{secrets.token_hex(4)}",
            "type": "AUDIT",
        }
        item.update(event.model_dump(mode="json", exclude_none=True))
        return put_op(item)

    @staticmethod
    def _versioned_put(item: dict[str, Any], expected_version: int) -> dict:
        return put_op(item, "#v = :v", {"#v": "version"}, {":v": expected_version})

    # -- structures ----------------------------------------------------------------------

    def create(self, structure: Structure, creator: Attachment, audit: AuditEvent) -> None:
        guard = {
            "PK": identifier_pk(structure.identifier_type.value, structure.identifier),
            "SK": "IDENT",
            "type": "IDENTIFIER",
            "structure_id": structure.structure_id,
        }
        try:
            self.table.transact(
                [
                    put_op(guard, "attribute_not_exists(PK)"),
                    put_op(self._structure_item(structure), "attribute_not_exists(PK)"),
                    put_op(self._attachment_item(creator)),
                    self._audit_op(audit),
                    *self._directory_ops(structure),
                ]
            )
        except ConditionFailed as exc:
            if exc.index == 0:
                raise IdentifierTaken((exc.item or {}).get("structure_id")) from None
            raise

    def get(self, structure_id: str) -> Structure | None:
        item = self.table.get(structure_pk(structure_id), "PROFILE")
        return Structure.model_validate(item) if item else None

    def find_by_identifier(self, identifier_type: str, identifier: str) -> Structure | None:
        guard = self.table.get(identifier_pk(identifier_type, identifier), "IDENT")
        return self.get(guard["structure_id"]) if guard else None

    def save(self, structure: Structure, before: Structure, audit: AuditEvent, also: tuple[dict, ...] = ()) -> None:
        """Replace the profile read as ``before`` if nobody changed it since (ConditionFailed)."""
        self.table.transact(
            [self._versioned_put(self._structure_item(structure), before.version), self._audit_op(audit),
             *self._directory_ops(structure, before), *also]
        )

    # -- services ------------------------------------------------------------------------

    def create_service(self, service: Service, audit: AuditEvent) -> None:
        self.table.transact([put_op(self._service_item(service), "attribute_not_exists(PK)"), self._audit_op(audit)])

    def save_service(self, service: Service, expected_version: int, audit: AuditEvent) -> None:
        self.table.transact(
            [self._versioned_put(self._service_item(service), expected_version), self._audit_op(audit)]
        )

    def get_service(self, structure_id: str, code: str) -> Service | None:
        item = self.table.get(structure_pk(structure_id), f"SERVICE#{code}")
        return Service.model_validate(item) if item else None

    def list_services(self, structure_id: str, limit: int, page_token: str | None) -> tuple[list[Service], str | None]:
        page = self.table.query(structure_pk(structure_id), begins_with="SERVICE#", limit=limit, page_token=page_token)
        return [Service.model_validate(i) for i in page.items], page.next_token

    # -- attachments ---------------------------------------------------------------------

    def get_attachment(self, structure_id: str, user_id: str) -> Attachment | None:
        item = self.table.get(structure_pk(structure_id), f"MEMBER#{user_id}")
        return Attachment.model_validate(item) if item else None

    def request_attachment(self, attachment: Attachment, audit: AuditEvent) -> None:
        """A new request, or a new one after a refusal or deactivation (ConditionFailed otherwise)."""
        condition = "attribute_not_exists(PK) OR #s IN (:refused, :off)"
        values = {":refused": AttachmentStatus.REFUSEE.value, ":off": AttachmentStatus.DESACTIVEE.value}
        self.table.transact(
            [put_op(self._attachment_item(attachment), condition, {"#s": "status"}, values), self._audit_op(audit)]
        )

    def save_attachment(
        self, attachment: Attachment, expected_status: AttachmentStatus, expected_version: int, audit: AuditEvent
    ) -> None:
        """Write a decision if the attachment is still in ``expected_status`` at ``expected_version``."""
        op = put_op(
            self._attachment_item(attachment),
            "#s = :s AND #v = :v",
            {"#s": "status", "#v": "version"},
            {":s": expected_status.value, ":v": expected_version},
        )
        self.table.transact([op, self._audit_op(audit)])

    def list_attachments(
        self, structure_id: str, status: AttachmentStatus | None, limit: int, page_token: str | None
    ) -> tuple[list[Attachment], str | None]:
        if status:
            page = self.table.query(
                f"{structure_pk(structure_id)}#MEMBERS#{status.value}", index="GSI2", limit=limit, page_token=page_token
            )
        else:
            page = self.table.query(structure_pk(structure_id), begins_with="MEMBER#", limit=limit, page_token=page_token)
        return [Attachment.model_validate(i) for i in page.items], page.next_token

    def list_user_attachments(self, user_id: str, limit: int = 100, page_token: str | None = None) -> Page:
        return self.table.query(f"USER#{user_id}", index="GSI1", begins_with="MEMBER#", limit=limit, page_token=page_token)

    # -- technical accounts --------------------------------------------------------------

    def _technical_item(self, account: TechnicalAccount) -> dict[str, Any]:
        item = {"PK": structure_pk(account.structure_id), "SK": f"TECH#{account.account_id}", "type": "TECHNICAL"}
        item.update(account.model_dump(mode="json", exclude_none=True))
        return item

    def create_technical(self, account: TechnicalAccount, membership: Attachment, credential_user: User,
                         audit: AuditEvent) -> None:
        pointer = {"PK": f"TECHACCT#{account.account_id}", "SK": "ACCOUNT", "type": "TECHNICAL_POINTER",
                   "structure_id": account.structure_id}
        self.table.transact([
            put_op(pointer, "attribute_not_exists(PK)"),
            put_op(self._technical_item(account), "attribute_not_exists(PK)"),
            put_op(self._attachment_item(membership), "attribute_not_exists(PK)"),
            put_op(UserRepository.item(credential_user), "attribute_not_exists(PK)"),
            self._audit_op(audit),
        ])

    def save_technical(self, account: TechnicalAccount, expected_version: int, audit: AuditEvent,
                       new_user: User | None = None, removed_user_id: str | None = None) -> None:
        """Replace the account if nobody changed it since ``expected_version`` (ConditionFailed)."""
        ops = [self._versioned_put(self._technical_item(account), expected_version)]
        if new_user is not None:
            ops.append(put_op(UserRepository.item(new_user), "attribute_not_exists(PK)"))
        if removed_user_id is not None:  # the revoked credential no longer acts as the account
            ops.append(delete_op(f"USER#{removed_user_id}", "PROFILE"))
        ops.append(self._audit_op(audit))
        self.table.transact(ops)

    def get_technical(self, structure_id: str, account_id: str) -> TechnicalAccount | None:
        item = self.table.get(structure_pk(structure_id), f"TECH#{account_id}")
        return TechnicalAccount.model_validate(item) if item else None

    def find_technical_account(self, account_id: str) -> TechnicalAccount | None:
        pointer = self.table.get(f"TECHACCT#{account_id}", "ACCOUNT")
        return self.get_technical(pointer["structure_id"], account_id) if pointer else None

    def list_technical(self, structure_id: str) -> list[TechnicalAccount]:
        page = self.table.query(structure_pk(structure_id), begins_with="TECH#", limit=100)
        return [TechnicalAccount.model_validate(i) for i in page.items]

    # -- audit ---------------------------------------------------------------------------

    def list_audit(self, structure_id: str, limit: int, page_token: str | None) -> tuple[list[AuditEvent], str | None]:
        page = self.table.query(
            structure_pk(structure_id), begins_with="AUDIT#", limit=limit, page_token=page_token, newest_first=True
        )
        return [AuditEvent.model_validate(i) for i in page.items], page.next_token

    # -- directory -----------------------------------------------------------------------

    def directory_by_name(self, key: str, limit: int, page_token: str | None,
                          catalogue: str = "DIR#") -> tuple[list[Structure], str | None]:
        """Public structures with a key starting with ``key`` (a search key, non-empty) in a catalogue:
        the directory's names (``DIR#``), or the courts' names, codes and cities (``COURT#``)."""
        page = self.table.query(f"{catalogue}{key[0]}", index="GSI1", begins_with=key, limit=limit,
                                page_token=page_token)
        unique = {i["structure_id"]: i for i in page.items}  # two words of one name may match
        return [Structure.model_validate(i) for i in unique.values()], page.next_token

    def find_buyer(self, siret: str | None, siren: str | None) -> tuple[Structure | None, int]:
        """The structure a buyer identifier designates, and how many it designates: a SIRET names one
        structure (any kind: the caller checks it is public); a SIREN names its public establishments,
        and counts only when it names exactly one."""
        if siret:
            found = self.find_by_identifier("SIRET", siret)
            return found, int(found is not None)
        if siren:
            matches, _ = self.directory_by_identifier(siren, 2, None)
            return (matches[0] if len(matches) == 1 else None), len(matches)
        return None, 0

    def directory_by_identifier(self, prefix: str, limit: int, page_token: str | None) -> tuple[list[Structure], str | None]:
        """Public structures by identifier prefix (empty: all of them, in SIRET order)."""
        page = self.table.query(DIRECTORY_IDS, index="GSI2", begins_with=prefix or None, limit=limit,
                                page_token=page_token)
        return [Structure.model_validate(i) for i in page.items], page.next_token


def _listed(s: Structure | None) -> bool:
    return s is not None and s.is_public and s.status == "ACTIVE"


class UserRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    @staticmethod
    def item(user: User) -> dict[str, Any]:
        return {"PK": f"USER#{user.user_id}", "SK": "PROFILE", "type": "USER",
                **user.model_dump(mode="json", exclude_none=True)}

    def create(self, user: User) -> None:
        self.table.put(self.item(user), "attribute_not_exists(PK)")

    def get(self, user_id: str, consistent: bool = False) -> User | None:
        item = self.table.get(f"USER#{user_id}", "PROFILE", consistent=consistent)
        return User.model_validate(item) if item else None

    def set_mfa(self, user_id: str, enabled: bool) -> User:
        return User.model_validate(self.table.update(f"USER#{user_id}", "PROFILE", "SET mfa_enabled = :e",
                                                     values={":e": enabled}, condition="attribute_exists(PK)"))

    def disable(self, user_id: str, also: tuple[dict, ...] = ()) -> User:
        self.table.transact([update_op(f"USER#{user_id}", "PROFILE", "SET disabled = :d", values={":d": True},
                                       condition="attribute_exists(PK)"), *also])
        return User.model_validate(self.table.get(f"USER#{user_id}", "PROFILE", consistent=True))
