"""Data access for TIC delegations. The refund requests themselves are payment requests
(``repositories/invoices``); the département -> service guards are structures' (``claim_ops``).

| item | PK | SK | GSI1 | GSI2 | GSI3 (keys only) |
| --- | --- | --- | --- | --- | --- |
| a delegation | TICDELEG#<id> | DELEGATION | TICDELEGFARM#<farm> / <asked_at>#<id> | TICDELEGATE#<centre> / <asked_at>#<id> | TICDELEGDUE#<day> / <id> (while PENDING: its answer day; ACTIVE: the day after ``until``) |
| an event of the delegation (its outbox) | TICDELEG#<id> | EVENT#<revision> | | | |
| the pair's current delegation | TICDELEGPAIR#<farm>#<centre> | GUARD | | | |

The pair guard keeps one open (PENDING or ACTIVE) delegation per farm and centre; it goes with the
delegation's end, in the same transaction. Every status change is conditional on the status read.
"""

from __future__ import annotations

from typing import Any

from .dynamo import ConditionFailed, Page, Table, delete_op, put_op

SK = "DELEGATION"
DUE = "TICDELEGDUE#"


def delegation_pk(delegation_id: str) -> str:
    return f"TICDELEG#{delegation_id}"


def pair_pk(farm_id: str, centre_id: str) -> str:
    return f"TICDELEGPAIR#{farm_id}#{centre_id}"


def _clean(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if not item:
        return None
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "type") and not k.startswith("GSI")}


class Delegations:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def get(self, delegation_id: str) -> dict[str, Any] | None:
        return _clean(self.table.get(delegation_pk(delegation_id), SK, consistent=True))

    def current(self, farm_id: str, centre_id: str) -> dict[str, Any] | None:
        """The pair's open delegation (PENDING or ACTIVE), if any."""
        guard = self.table.get(pair_pk(farm_id, centre_id), "GUARD", consistent=True)
        return self.get(guard["delegation_id"]) if guard else None

    @staticmethod
    def _keys(d: dict[str, Any], due_day: str | None) -> dict[str, Any]:
        keys = {"GSI1PK": f"TICDELEGFARM#{d['beneficiary_structure_id']}", "GSI1SK": f"{d['asked_at']}#{d['delegation_id']}",
                "GSI2PK": f"TICDELEGATE#{d['delegate_structure_id']}", "GSI2SK": f"{d['asked_at']}#{d['delegation_id']}"}
        if due_day:
            keys.update(GSI3PK=f"{DUE}{due_day}", GSI3SK=d["delegation_id"])
        return keys

    def create_ops(self, d: dict[str, Any], due_day: str) -> list[dict]:
        """The delegation and its pair guard (ConditionFailed at 0: the pair has an open one)."""
        return [put_op({"PK": pair_pk(d["beneficiary_structure_id"], d["delegate_structure_id"]), "SK": "GUARD",
                        "type": "GUARD", "delegation_id": d["delegation_id"]}, "attribute_not_exists(PK)"),
                put_op({"PK": delegation_pk(d["delegation_id"]), "SK": SK, "type": "TIC_DELEGATION", **d,
                        **self._keys(d, due_day)}, "attribute_not_exists(PK)")]

    def move_ops(self, before: dict[str, Any], after: dict[str, Any], due_day: str | None) -> list[dict]:
        """``after`` replaces ``before`` (conditional on its status and revision); an ended delegation
        gives its pair guard up."""
        ops = [put_op({"PK": delegation_pk(after["delegation_id"]), "SK": SK, "type": "TIC_DELEGATION", **after,
                       **self._keys(after, due_day)}, "#s = :s AND #r = :r", {"#s": "status", "#r": "revision"},
                      {":s": before["status"], ":r": before["revision"]})]
        if after["status"] not in ("PENDING", "ACTIVE"):
            ops.append(delete_op(pair_pk(after["beneficiary_structure_id"], after["delegate_structure_id"]), "GUARD"))
        return ops

    @staticmethod
    def event_op(d: dict[str, Any], outbox_attributes: dict[str, Any]) -> dict:
        """The event of one change of the delegation, as an item of its own (the outbox publishes what is
        inserted), written once."""
        return put_op({"PK": delegation_pk(d["delegation_id"]), "SK": f"EVENT#{int(d['revision']):04d}",
                       "type": "TIC_DELEGATION_EVENT", "status": d["status"], "at": d["updated_at"], **outbox_attributes},
                      "attribute_not_exists(PK)")

    def set_token(self, delegation_id: str, token: str) -> dict[str, Any] | None:
        """The workflow's task token, kept while the delegation is PENDING; None: it was answered already
        (the caller then ends the wait itself)."""
        try:
            return _clean(self.table.update(delegation_pk(delegation_id), SK, "SET task_token = :t",
                                            values={":t": token, ":p": "PENDING"}, condition="#s = :p",
                                            names={"#s": "status"}))
        except ConditionFailed:
            return None

    def of(self, side: str, structure_id: str, limit: int, page_token: str | None) -> Page:
        """A farm's delegates (FARM) or a centre's farms (DELEGATE), newest first."""
        index, prefix = ("GSI1", "TICDELEGFARM#") if side == "FARM" else ("GSI2", "TICDELEGATE#")
        page = self.table.query(f"{prefix}{structure_id}", index=index, limit=limit, page_token=page_token,
                                newest_first=True)
        return Page([_clean(i) for i in page.items], page.next_token)

    def due(self, day: str, limit: int = 100, page_token: str | None = None) -> Page:
        """Delegations whose answer or end falls on ``day`` (keys only)."""
        return self.table.query(f"{DUE}{day}", index="GSI3", limit=limit, page_token=page_token)

