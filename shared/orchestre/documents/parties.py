"""The parties printed on a generated invoice (seller BG-4, buyer BG-7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

if TYPE_CHECKING:  # pragma: no cover
    from orchestre.domain.models import Structure

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PartyInfo(BaseModel):
    """Who a party is, as far as an invoice needs it.

    ``siret`` is written as BT-29/BT-46 (``GlobalID`` scheme 0009) and its SIREN as the legal
    registration BT-30/BT-47 (scheme 0002). A party without SIRET gives ``identifier``, with its
    ISO 6523 ``identifier_scheme`` when it has one (``GlobalID``), else it is written as a plain
    ``ram:ID``. ``vat_id`` is BT-31/BT-48 and starts with the ISO country prefix (BR-CO-09).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: Text
    siret: Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")] | None = None
    identifier: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    identifier_scheme: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = None
    vat_id: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[0-9A-Za-z+*.]{2,13}$")] | None = None
    address_line: Annotated[str, StringConstraints(max_length=140)] | None = None
    address_line2: Annotated[str, StringConstraints(max_length=140)] | None = None
    postal_code: Annotated[str, StringConstraints(max_length=16)] | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    country_code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "FR"

    @property
    def siren(self) -> str | None:
        return self.siret[:9] if self.siret else None

    @property
    def has_identifier(self) -> bool:
        """BR-CO-26: a seller is identified by BT-29, BT-30 or BT-31."""
        return bool(self.siret or self.identifier or self.vat_id)

    @classmethod
    def from_structure(cls, structure: Structure) -> PartyInfo:
        """The party of a platform structure (its identifier type decides what goes where)."""
        kind = str(structure.identifier_type)
        address = structure.address
        vat_id = structure.vat_number or (structure.identifier if kind == "UE_HORS_FRANCE" else None)
        return cls(
            name=structure.name[:200],
            siret=structure.identifier if kind == "SIRET" else None,
            # A natural person's identifier is not printed; a UE company is identified by its VAT id.
            identifier=None if kind in ("SIRET", "PARTICULIER", "UE_HORS_FRANCE") else structure.identifier,
            vat_id=vat_id.replace(" ", "").upper() if vat_id else None,
            address_line=address.line1 if address else None,
            address_line2=address.line2 if address else None,
            postal_code=address.postal_code if address else None,
            city=address.city if address else None,
            country_code=address.country_code if address else "FR",
        )


def french_vat_id(siren: str) -> str:
    """The French intra-community VAT number of a SIREN: FR + key + SIREN.

    key = (12 + 3 × (SIREN mod 97)) mod 97. Only meaningful for a VAT-registered company: the
    caller decides whether to use it (a company under the VAT franchise has none).
    """
    if len(siren) != 9 or not siren.isdigit():
        raise ValueError("a SIREN has 9 digits")
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
