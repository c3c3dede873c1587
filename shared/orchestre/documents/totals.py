"""Invoice arithmetic: the one place where line amounts, the VAT breakdown and totals are computed.

EN 16931 rules this satisfies by construction:

* BT-131 line net amount = quantity × net price, rounded half-up to 2 decimals (BR-DEC-23);
* BG-23 one VAT breakdown per (category, rate) (BR-S-08, BR-Z-08, BR-E-08…), its taxable amount
  BT-116 the sum of the line net amounts of that group, its tax BT-117 = BT-116 × rate / 100
  rounded half-up to 2 decimals: VAT is computed per group, never summed per line (BR-CO-17);
* BT-106 = Σ BT-131 (BR-CO-10); BT-109 = BT-106 (no document allowances or charges, BR-CO-13);
  BT-110 = Σ BT-117 (BR-CO-14); BT-112 = BT-109 + BT-110 (BR-CO-15); BT-113 = 0;
  BT-115 = BT-112 − BT-113 (BR-CO-16);
* exemption reasons BT-120 are carried for E, AE, K, G and O only (and are forbidden on S, Z:
  BR-S-10, BR-Z-10); category O has no rate (BR-O-05, BR-48).

Amounts are positive for credit notes too (the type code 381 says it is a credit).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, localcontext

from pydantic import BaseModel, ConfigDict

from orchestre.domain.invoices import InvoiceLine, LineInput, Totals, VatBreakdown

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
EXEMPTION_CATEGORIES = frozenset({"E", "AE", "K", "G", "O"})
NO_RATE_CATEGORIES = frozenset({"O"})


def money(value: Decimal) -> Decimal:
    """Round half-up to the cent (``ROUND_HALF_UP`` rounds ties away from zero)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class ComputedInvoice(BaseModel):
    """The result of :func:`compute`: lines with their net amounts, VAT breakdown and totals."""

    model_config = ConfigDict(frozen=True)

    lines: list[InvoiceLine]  # BG-25, line_id "1", "2"… in input order
    vat_breakdown: list[VatBreakdown]  # BG-23, in order of first appearance
    totals: Totals  # BG-22

    @property
    def line_total(self) -> Decimal:
        return self.totals.line_total  # type: ignore[return-value]

    @property
    def tax_exclusive(self) -> Decimal:
        return self.totals.tax_exclusive  # type: ignore[return-value]

    @property
    def tax_amount(self) -> Decimal:
        return self.totals.tax_amount  # type: ignore[return-value]

    @property
    def tax_inclusive(self) -> Decimal:
        return self.totals.tax_inclusive

    @property
    def payable(self) -> Decimal:
        return self.totals.payable  # type: ignore[return-value]

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(b.category for b in self.vat_breakdown)


def compute(lines: Iterable[LineInput]) -> ComputedInvoice:
    """Compute line net amounts, the VAT breakdown and the document totals, in ``Decimal``."""
    out_lines: list[InvoiceLine] = []
    groups: dict[tuple[str, Decimal | None], dict] = {}
    # 15-digit quantities × 15-digit prices need more than the default 28 significant digits.
    with localcontext(prec=64):
        for index, line in enumerate(lines, start=1):
            net = money(line.quantity * line.unit_price)
            rate = None if line.vat_category in NO_RATE_CATEGORIES else line.vat_rate
            out_lines.append(
                InvoiceLine(
                    line_id=str(index),
                    name=line.description,
                    quantity=line.quantity,
                    unit_code=line.unit_code,
                    net_price=line.unit_price,
                    net_amount=net,
                    vat_category=line.vat_category,
                    vat_rate=rate,
                )
            )
            key = (line.vat_category, None if rate is None else rate.normalize())
            group = groups.setdefault(key, {"rate": rate, "taxable": ZERO, "reasons": []})
            group["taxable"] += net
            if (
                line.vat_category in EXEMPTION_CATEGORIES
                and line.exemption_reason
                and line.exemption_reason not in group["reasons"]
            ):
                group["reasons"].append(line.exemption_reason)
        if not out_lines:
            raise ValueError("an invoice has at least one line")

        breakdown = []
        for (category, _), group in groups.items():
            rate = group["rate"]
            taxable = money(group["taxable"])
            tax = money(taxable * rate / HUNDRED) if rate is not None else ZERO
            breakdown.append(
                VatBreakdown(
                    category=category,
                    rate=rate,
                    taxable_amount=taxable,
                    tax_amount=tax,
                    exemption_reason=" ; ".join(group["reasons"]) or None,
                )
            )
        line_total = money(sum((ln.net_amount for ln in out_lines), ZERO))
        tax_amount = money(sum((b.tax_amount for b in breakdown), ZERO))
        tax_inclusive = line_total + tax_amount
        prepaid = ZERO
        totals = Totals(
            line_total=line_total,
            tax_exclusive=line_total,
            tax_amount=tax_amount,
            tax_inclusive=tax_inclusive,
            prepaid=prepaid,
            payable=tax_inclusive - prepaid,
        )
    return ComputedInvoice(lines=out_lines, vat_breakdown=breakdown, totals=totals)
