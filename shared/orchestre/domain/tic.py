"""TIC/TICGN refund requests (demandes de remboursement TIC, billing frame A21) and delegations.

Farmers get back part of the excise on the fuels they use. A request is a payment request of the
one lifecycle engine: its statuses and moves are rows of ``lifecycle.TIC_TRANSITIONS`` (a draft,
then the département's service: suspend for a missing document, the farmer completes, reject,
MISE_EN_PAIEMENT). What is specific is here, as dated data: the refund rates, the filing windows,
the bulk-GNR rule, the electronic-filing rule; and the delegation's statuses (its workflow is
``workflows/tic-delegation.asl.json``).

Sources: the issue (rates, windows, the 2024 GNR rule, the electronic-filing dates), REFERENCE.md
§6 [W] (eligible beneficiaries, the DDFIP processing, the delegation). Where a fact was not
confirmed [U], the choice is written here, in one place.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from .common import Command, Record
from .invoices import AttachmentInput
from .lifecycle import Status

BILLING_FRAME = "A21"
DOCUMENT_TYPE = "TIC_REQUEST"
MAX_LINES = 50


class BeneficiaryCategory(StrEnum):
    EXPLOITANT_INDIVIDUEL = "EXPLOITANT_INDIVIDUEL"
    SOCIETE_AGRICOLE = "SOCIETE_AGRICOLE"  # GAEC, EARL, SCEA...
    CUMA = "CUMA"
    ETA = "ETA"  # agricultural or forestry contractor
    GIE_AGRICOLE = "GIE_AGRICOLE"  # an all-farmer GIE


class OrganisationType(StrEnum):
    """A structure's kind of organisation (profile field): centres and firms file for farms."""

    AGRICULTURAL_MANAGEMENT_CENTRE = "AGRICULTURAL_MANAGEMENT_CENTRE"
    ACCOUNTING_FIRM = "ACCOUNTING_FIRM"
    OTHER = "OTHER"


DELEGATE_TYPES = frozenset({OrganisationType.AGRICULTURAL_MANAGEMENT_CENTRE, OrganisationType.ACCOUNTING_FIRM})


class Product(StrEnum):
    GNR = "GNR"  # gazole non routier, in hectolitres
    FIOUL_LOURD = "FIOUL_LOURD"  # heavy fuel oil, in 100 kg
    GPL = "GPL"  # LPG, in 100 kg
    GAZ_NATUREL_COMBUSTIBLE = "GAZ_NATUREL_COMBUSTIBLE"  # in MWh
    GAZ_NATUREL_CARBURANT = "GAZ_NATUREL_CARBURANT"  # in MWh


UNITS: dict[Product, str] = {Product.GNR: "hl", Product.FIOUL_LOURD: "100 kg", Product.GPL: "100 kg",
                             Product.GAZ_NATUREL_COMBUSTIBLE: "MWh", Product.GAZ_NATUREL_CARBURANT: "MWh"}


class Purchase(StrEnum):
    BULK = "BULK"  # en vrac, delivered to the farm
    RETAIL = "RETAIL"  # at the pump


# Refund rates by (year of consumption, product), EUR per unit of UNITS. Source: the table
# (DGDDI / ministry of agriculture notes for each campaign); 2017's heavy fuel oil rate is 93.55 EUR
# per tonne, i.e. 9.355 per 100 kg. A year or product absent here is refused (never computed as 0).
# [U] 2017's natural gas rate (5.761 EUR/MWh) is taken as the combustible one; the carburant rate
# of 4.69 EUR/MWh as the same for 2021, 2022 and 2023.
RATES: dict[tuple[int, Product], Decimal] = {
    (2017, Product.GNR): Decimal("11.23"),
    (2017, Product.FIOUL_LOURD): Decimal("9.355"),
    (2017, Product.GAZ_NATUREL_COMBUSTIBLE): Decimal("5.761"),
    **{(y, Product.GNR): Decimal("14.96") for y in (2021, 2022, 2023)},
    (2021, Product.FIOUL_LOURD): Decimal("13.765"),
    (2022, Product.FIOUL_LOURD): Decimal("13.765"),
    (2023, Product.FIOUL_LOURD): Decimal("13.76"),
    **{(y, Product.GPL): Decimal("5.72") for y in (2021, 2022, 2023)},
    (2021, Product.GAZ_NATUREL_COMBUSTIBLE): Decimal("7.89"),
    (2022, Product.GAZ_NATUREL_COMBUSTIBLE): Decimal("7.87"),
    (2023, Product.GAZ_NATUREL_COMBUSTIBLE): Decimal("7.83"),
    **{(y, Product.GAZ_NATUREL_CARBURANT): Decimal("4.69") for y in (2021, 2022, 2023)},
}

# The filing window of year N: from the campaign's opening (1 January N+1 unless a campaign opened
# on another date: CAMPAIGN_OPENINGS) to 31 December N+3; GNR lines of 2021 and 2022 close on 31
# December N+2 (the issue).
CAMPAIGN_OPENINGS: dict[int, date] = {}  # year N -> opening date, where it was not 1 January N+1
WINDOW_YEARS = 3
GNR_SHORT_WINDOW = {2021: 2, 2022: 2}  # year N -> years after N its GNR lines may be filed
# From 1 July 2024 bulk farm GNR is taxed at the reduced rate at delivery: no refund (retail still is).
BULK_GNR_LAST_DAY = date(2024, 6, 30)
# Electronic filing: mandatory above 300 EUR from 1 June 2018, for every amount from the 2020
# campaign. [U] "The 2020 campaign" read as the requests filed from 2020 (consumption of 2019 on).
ELECTRONIC_FILING_FROM = date(2018, 6, 1)
ELECTRONIC_FILING_THRESHOLD = Decimal("300")
ELECTRONIC_FILING_EVERY_AMOUNT_FROM_YEAR = 2019

# A delegation asked and left unanswered this long expires (the issue).
DELEGATION_ANSWER_DAYS = 30

CENT = Decimal("0.01")


def rate(year: int, product: Product) -> Decimal | None:
    return RATES.get((year, product))


def line_amount(quantity: Decimal, unit_rate: Decimal) -> Decimal:
    return (quantity * unit_rate).quantize(CENT, rounding=ROUND_HALF_UP)


def opening(year: int) -> date:
    return CAMPAIGN_OPENINGS.get(year, date(year + 1, 1, 1))


def closing(year: int, product: Product | None = None) -> date:
    years = GNR_SHORT_WINDOW.get(year, WINDOW_YEARS) if product is Product.GNR else WINDOW_YEARS
    return date(year + years, 12, 31)


def electronic_filing_mandatory(year: int, total: Decimal, on: date) -> bool:
    if year >= ELECTRONIC_FILING_EVERY_AMOUNT_FROM_YEAR:
        return True
    return on >= ELECTRONIC_FILING_FROM and total > ELECTRONIC_FILING_THRESHOLD


def department(postal_code: str | None) -> str | None:
    """The département of a French postal code: 2 digits, 2A/2B in Corsica, 3 digits overseas."""
    code = (postal_code or "").replace(" ", "")
    if not re.fullmatch(r"\d{5}", code):
        return None
    if code.startswith("97") or code.startswith("98"):
        return code[:3]
    if code.startswith("20"):
        return "2A" if int(code[:3]) < 202 else "2B"
    return code[:2]


DEPARTMENT = r"^(0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-6])$"


class DelegationStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    REFUSED = "REFUSED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"  # unanswered for DELEGATION_ANSWER_DAYS
    LAPSED = "LAPSED"  # past its ``until``


class Scope(StrEnum):
    FILE = "FILE"  # file and follow the farm's requests
    CONSULT = "CONSULT"  # follow them only


# -- commands ---------------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=2,
                                    description="Up to 8 digits and 2 decimals, in the product's unit.")]


class RequestLine(Command):
    supplier_invoice_number: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    delivery_date: date
    product: Product
    quantity: Quantity
    purchase: Purchase = Purchase.RETAIL


class RequestFields(Command):
    year: Annotated[int, Field(ge=2000, le=2100)]
    iban: Annotated[str, StringConstraints(min_length=15, max_length=42)]
    bic: Annotated[str, StringConstraints(min_length=8, max_length=11)]
    sworn_statement: bool = Field(False, description="The farm is not a firm in difficulty (required to submit).")
    lines: Annotated[list[RequestLine], Field(min_length=1)]

    @field_validator("iban")
    @classmethod
    def _iban(cls, v: str) -> str:
        from stdnum import iban

        try:
            return iban.validate(v)
        except Exception as exc:  # stdnum's ValidationError family
            raise ValueError(f"not a valid IBAN ({exc})") from None

    @field_validator("bic")
    @classmethod
    def _bic(cls, v: str) -> str:
        from stdnum import bic

        try:
            return bic.validate(v)
        except Exception as exc:
            raise ValueError(f"not a valid BIC ({exc})") from None


class CreateRequest(RequestFields):
    beneficiary_structure_id: Id
    attachments: Annotated[list[AttachmentInput], Field(max_length=20)] = Field(default_factory=list)


class UpdateRequest(Command):
    iban: Annotated[str, StringConstraints(min_length=15, max_length=42)] | None = None
    bic: Annotated[str, StringConstraints(min_length=8, max_length=11)] | None = None
    sworn_statement: bool | None = None
    lines: Annotated[list[RequestLine], Field(min_length=1)] | None = None


class RequestStatus(Command):
    status: Status
    reason_code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    comment: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class AskDelegation(Command):
    delegate_structure_id: Id
    beneficiary_structure_id: Id
    scope: Scope
    until: date


class TicLine(Record):
    supplier_invoice_number: str
    delivery_date: date
    product: Product
    quantity: Decimal
    purchase: Purchase
    unit: str
    rate: Decimal
    amount: Decimal


class TicInfo(Record):
    """What a request carries beyond an invoice's fields."""

    year: int
    pacage: str
    beneficiary_category: BeneficiaryCategory
    department: str
    iban: str
    bic: str
    sworn_statement: bool
    lines: list[TicLine]
    electronic_filing_mandatory: bool
    filed_by_structure_id: str | None = None  # a delegate's structure, when it filed
    delegation_id: str | None = None
    submitted_at: str | None = None


def priced_lines(year: int, lines: list[RequestLine], on: date) -> list[TicLine]:
    """Each line checked against the rules and priced from the rate table (``RuleBroken`` otherwise)."""
    from .errors import InvalidInput

    if len(lines) > MAX_LINES:
        raise InvalidInput(f"A request holds at most {MAX_LINES} lines.", code="TOO_MANY_LINES", field="lines")
    out = []
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        if line.delivery_date.year != year:
            raise InvalidInput(f"A request of {year} covers deliveries of {year}.", code="DELIVERY_OUTSIDE_YEAR",
                               field=f"{where}.delivery_date")
        if line.product is Product.GNR and line.purchase is Purchase.BULK and line.delivery_date > BULK_GNR_LAST_DAY:
            raise InvalidInput("From 1 July 2024 bulk GNR is taxed at the reduced rate at delivery: no refund "
                               "(retail purchases still are).", code="BULK_GNR_NOT_REFUNDABLE",
                               field=f"{where}.purchase")
        unit_rate = rate(year, line.product)
        if unit_rate is None:
            raise InvalidInput(f"No refund rate of {line.product.value} for {year}.", code="NO_REFUND_RATE",
                               field=f"{where}.product")
        if not opening(year) <= on <= closing(year, line.product):
            raise InvalidInput(f"{line.product.value} of {year} is filed from {opening(year).isoformat()} to "
                               f"{closing(year, line.product).isoformat()}.", code="OUTSIDE_FILING_WINDOW",
                               field="year" if line.product is not Product.GNR else f"{where}.product")
        out.append(TicLine(**line.model_dump(), unit=UNITS[line.product], rate=unit_rate,
                           amount=line_amount(line.quantity, unit_rate)))
    return out


def answer_by(asked_at: date) -> date:
    return asked_at + timedelta(days=DELEGATION_ANSWER_DAYS)
