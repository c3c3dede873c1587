"""Structure identifiers: one place that says what a valid identifier of each type is."""

from __future__ import annotations

import re
from enum import StrEnum

from .errors import InvalidInput


class IdentifierType(StrEnum):
    SIRET = "SIRET"
    UE_HORS_FRANCE = "UE_HORS_FRANCE"  # intra-EU VAT number of a non-French EU company
    HORS_UE = "HORS_UE"  # company outside the EU: its national identifier
    RIDET = "RIDET"  # New Caledonia
    TAHITI = "TAHITI"  # French Polynesia
    AUTRE = "AUTRE"
    PARTICULIER = "PARTICULIER"  # a natural person


_FREE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,79}$")
_RIDET = re.compile(r"^[0-9]{6,7}[0-9]{3}$")  # 6–7 digit RID + 3 digit establishment rank
_TAHITI = re.compile(r"^[A-Z0-9]{6}[0-9]{3}$")  # 6-character TAHITI number + 3 digit rank


def normalize_identifier(kind: IdentifierType, value: str) -> str:
    """Return the canonical form of ``value`` or raise ``InvalidInput`` on ``identifier``."""
    raw = (value or "").strip()
    if not raw:
        raise InvalidInput("The identifier is empty.", code="INVALID_IDENTIFIER", field="identifier")
    # imported here, not with the models: only a few requests check an identifier (cold start)
    from stdnum import exceptions as stdnum_exc
    from stdnum.eu import vat as eu_vat
    from stdnum.fr import siret as fr_siret

    try:
        if kind is IdentifierType.SIRET:
            # python-stdnum knows both the Luhn rule and La Poste's digit-sum rule.
            return fr_siret.validate(raw)
        if kind is IdentifierType.UE_HORS_FRANCE:
            number = eu_vat.validate(raw)
            if number.startswith("FR"):
                raise InvalidInput(
                    "A French company is identified by its SIRET, not by UE_HORS_FRANCE.",
                    code="INVALID_IDENTIFIER",
                    field="identifier",
                )
            return number
    except stdnum_exc.ValidationError as exc:
        raise InvalidInput(
            f"Invalid {kind.value}: {exc.message}", code="INVALID_IDENTIFIER", field="identifier"
        ) from exc
    compact = re.sub(r"\s+", "", raw).upper() if kind in (IdentifierType.RIDET, IdentifierType.TAHITI) else raw
    pattern = {IdentifierType.RIDET: _RIDET, IdentifierType.TAHITI: _TAHITI}.get(kind, _FREE)
    if not pattern.match(compact):
        raise InvalidInput(
            f"Invalid {kind.value} identifier format.", code="INVALID_IDENTIFIER", field="identifier"
        )
    return compact


def siren_of(siret: str) -> str:
    return siret[:9]
