"""Data access for justice fee memos' providers: the billing mandate, the numbering sequence, the
restricted account's count. The memos themselves are payment requests (``repositories/invoices``).

| item | PK | SK | GSI3 (keys only) |
| --- | --- | --- | --- |
| a provider's justice record | STRUCT#<provider> | JUSTICE#PROVIDER | JUSTICEMANDATE#ACTIVE / <provider> (while active) |

One item per provider, every write of it conditional: the mandate's status (with its history), the
last number the mandate gave (``sequence``, never reused), how many memos the provider holds and
whether a court processed one yet (the restricted account).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dynamo import Page, Table, update_op
from .structures import structure_pk

SK = "JUSTICE#PROVIDER"
ACTIVE_MANDATES = "JUSTICEMANDATE#ACTIVE"


@dataclass
class ProviderRecord:
    structure_id: str
    mandate_status: str = "NONE"  # ACTIVE, REVOKED, NONE
    mandate_history: list[dict[str, Any]] = field(default_factory=list)
    terms_version: str | None = None
    sequence: int = 0
    memo_count: int = 0
    processed: bool = False
    revision: int = 0

    @property
    def mandate_active(self) -> bool:
        return self.mandate_status == "ACTIVE"


class JusticeProviders:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def get(self, structure_id: str) -> ProviderRecord:
        return self.record(structure_id, self.table.get(structure_pk(structure_id), SK, consistent=True))

    @staticmethod
    def record(structure_id: str, item: dict[str, Any] | None) -> ProviderRecord:
        """The record of an item as read (or as a lost condition handed it back)."""
        item = item or {}
        return ProviderRecord(structure_id, item.get("mandate_status", "NONE"), list(item.get("mandate_history", [])),
                              item.get("terms_version"), int(item.get("sequence", 0)), int(item.get("memo_count", 0)),
                              bool(item.get("processed", False)), int(item.get("revision", 0)))

    def mandate_op(self, record: ProviderRecord, status: str, entry: dict[str, Any],
                   terms_version: str | None = None) -> dict:
        """The mandate's new status, conditional on the record as read (ConditionFailed: it changed)."""
        sets = ["#ms = :s", "#mh = list_append(if_not_exists(#mh, :empty), :e)", "#rev = :next", "#t = :type"]
        names = {"#ms": "mandate_status", "#mh": "mandate_history", "#rev": "revision", "#t": "type"}
        values: dict[str, Any] = {":s": status, ":e": [entry], ":empty": [], ":next": record.revision + 1,
                                  ":type": "JUSTICE_PROVIDER"}
        if terms_version:
            sets.append("#tv = :v")
            names["#tv"] = "terms_version"
            values[":v"] = terms_version
        if status == "ACTIVE":  # in the sparse index of active mandates (the revocation job reads it)
            sets += ["GSI3PK = :g", "GSI3SK = :sid"]
            values.update({":g": ACTIVE_MANDATES, ":sid": record.structure_id})
            expression = "SET " + ", ".join(sets)
        else:
            expression = "SET " + ", ".join(sets) + " REMOVE GSI3PK, GSI3SK"
        condition = "attribute_not_exists(#rev)" if record.revision == 0 else "#rev = :rev"
        if record.revision:
            values[":rev"] = record.revision
        return update_op(structure_pk(record.structure_id), SK, expression, names=names, values=values,
                         condition=condition)

    @staticmethod
    def revoke_active_op(structure_id: str, entry: dict[str, Any]) -> dict:
        """Revoke the mandate without reading the record first; ConditionFailed: it is not active."""
        return update_op(structure_pk(structure_id), SK,
                         "SET #ms = :s, #mh = list_append(if_not_exists(#mh, :empty), :e), #rev = #rev + :one "
                         "REMOVE GSI3PK, GSI3SK",
                         names={"#ms": "mandate_status", "#mh": "mandate_history", "#rev": "revision"},
                         values={":s": "REVOKED", ":e": [entry], ":empty": [], ":one": 1, ":active": "ACTIVE"},
                         condition="#ms = :active")

    def count_memo_op(self, structure_id: str, most_while_restricted: int) -> dict:
        """One memo more; ConditionFailed while the account is restricted and holds ``most`` already."""
        return update_op(structure_pk(structure_id), SK, "ADD #n :one SET #t = :type",
                         names={"#t": "type", "#n": "memo_count", "#p": "processed"},
                         values={":one": 1, ":most": most_while_restricted, ":true": True, ":type": "JUSTICE_PROVIDER"},
                         condition="#p = :true OR attribute_not_exists(#n) OR #n < :most")

    def sequence_op(self, record: ProviderRecord, next_sequence: int) -> dict:
        """The mandate gives ``next_sequence``: conditional on the sequence as read and the mandate active."""
        return update_op(structure_pk(record.structure_id), SK, "SET #seq = :n",
                         names={"#seq": "sequence", "#ms": "mandate_status"},
                         values={":n": next_sequence, ":prev": record.sequence, ":active": "ACTIVE"},
                         condition="#ms = :active AND (#seq = :prev OR attribute_not_exists(#seq))")

    def processed_op(self, structure_id: str) -> dict:
        """A court processed one of the provider's memos: the account is no longer restricted."""
        return update_op(structure_pk(structure_id), SK, "SET #p = :true", names={"#p": "processed"},
                         values={":true": True})

    def active_mandates(self, limit: int, page_token: str | None) -> Page:
        """Providers with an active mandate (keys only: GSI3SK is the structure id), in id order."""
        return self.table.query(ACTIVE_MANDATES, index="GSI3", limit=limit, page_token=page_token)
