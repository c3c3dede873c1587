"""Data access for works contracts. Their pieces are payment requests (``InvoiceRepository``).

| item | PK | SK |
| --- | --- | --- |
| contract | CONTRACT#<id> | CONTRACT |
| contract number guard (per MOA) | CONTRACTNUM#<moa>#<number> | GUARD |
| a party's view of a contract | WORKSPARTY#<structure> | <MOA, MOE or SUPPLIER>#<created at>#<contract> |
| a piece of the contract (pointer) | CONTRACT#<id> | PIECE#<deposited at>#<piece> |

The pieces themselves are ``INV#<id>`` items (document type WORKS_PIECE, or INVOICE for the payable
documents), with the lifecycle's history and outbox; a contract lists them by its pointers (a key
query), and a piece's running deadline puts it in the sparse GSI3 (``WORKSDUE#<day>``).
"""

from __future__ import annotations

from typing import Any

from ..domain.works import Contract, Party
from .dynamo import ConditionFailed, Page, Table, put_op

ROLE_GROUP = {Party.MOA: "MOA", Party.MOE: "MOE", Party.HOLDER: "SUPPLIER", Party.CO_CONTRACTOR: "SUPPLIER",
              Party.SUBCONTRACTOR: "SUPPLIER"}


class ContractNumberTaken(Exception):
    pass


class ContractRepository:
    def __init__(self, table: Table | None = None):
        self.table = table or Table()

    def create(self, contract: Contract) -> None:
        ops = [
            put_op({"PK": f"CONTRACTNUM#{contract.moa_structure_id}#{contract.number.upper()}", "SK": "GUARD",
                    "type": "GUARD", "contract_id": contract.contract_id}, "attribute_not_exists(PK)"),
            put_op({"PK": f"CONTRACT#{contract.contract_id}", "SK": "CONTRACT", "type": "CONTRACT",
                    **contract.model_dump(mode="json", exclude_none=True)}, "attribute_not_exists(PK)"),
        ]
        seen = set()
        for structure_id, parties in contract.parties().items():
            for party in parties:
                group = ROLE_GROUP[party]
                if (structure_id, group) in seen:
                    continue
                seen.add((structure_id, group))
                ops.append(put_op({"PK": f"WORKSPARTY#{structure_id}",
                                   "SK": f"{group}#{contract.created_at}#{contract.contract_id}",
                                   "type": "CONTRACT_PARTY", "contract_id": contract.contract_id}))
        try:
            self.table.transact(ops)
        except ConditionFailed as exc:
            if exc.index == 0:
                raise ContractNumberTaken(contract.number) from None
            raise

    def get(self, contract_id: str) -> Contract | None:
        item = self.table.get(f"CONTRACT#{contract_id}", "CONTRACT")
        return Contract.model_validate(item) if item else None

    def of_structure(self, structure_id: str, group: str, limit: int, page_token: str | None) -> tuple[list[Contract], str | None]:
        """The contracts a structure is a party of, in one role group (MOA, MOE, SUPPLIER), newest first."""
        page = self.table.query(f"WORKSPARTY#{structure_id}", begins_with=f"{group}#", limit=limit,
                                page_token=page_token, newest_first=True)
        found = {i["PK"].removeprefix("CONTRACT#"): Contract.model_validate(i) for i in
                 self.table.batch_get([(f"CONTRACT#{p['contract_id']}", "CONTRACT") for p in page.items])}
        return [found[p["contract_id"]] for p in page.items if p["contract_id"] in found], page.next_token

    @staticmethod
    def pointer_op(contract_id: str, deposited_at: str, piece_id: str) -> dict:
        return put_op({"PK": f"CONTRACT#{contract_id}", "SK": f"PIECE#{deposited_at}#{piece_id}", "type": "PIECE_REF",
                       "piece_id": piece_id})

    def piece_ids(self, contract_id: str, limit: int, page_token: str | None) -> Page:
        return self.table.query(f"CONTRACT#{contract_id}", begins_with="PIECE#", limit=limit, page_token=page_token)

    def all_piece_ids(self, contract_id: str) -> list[str]:
        from .dynamo import all_items

        return [i["piece_id"] for i in all_items(lambda token: self.piece_ids(contract_id, 100, token))]


def contract_view(contract: Contract) -> dict[str, Any]:
    return contract.model_dump(mode="json")
