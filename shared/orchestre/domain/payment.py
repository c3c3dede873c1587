"""The payment-delay clock (délai global de paiement) and late-payment compensation.

The legal delay (30 days for the State and local authorities, 50 for public hospitals,
configurable per structure) starts when the invoice is made available (MISE_A_DISPOSITION),
stops while it is SUSPENDUE and resumes at COMPLETEE. Once late, the supplier is owed
interest at the ECB main refinancing rate + 8 points (the rate in force on the first day of the
half-year) and a fixed indemnity of 40 EUR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .common import Record

DEFAULT_DELAY_DAYS = 30
HOSPITAL_DELAY_DAYS = 50
FIXED_INDEMNITY = Decimal("40.00")
PENALTY_POINTS = Decimal("8")

# ECB main refinancing operations rate on the first day of each half-year (percent). A table of
# data: operators add a row each January and July. Values to check against the ECB before use.
ECB_RATES: tuple[tuple[date, Decimal], ...] = (
    (date(2024, 1, 1), Decimal("4.50")),
    (date(2024, 7, 1), Decimal("4.25")),
    (date(2025, 1, 1), Decimal("3.15")),
    (date(2025, 7, 1), Decimal("2.15")),
    (date(2026, 1, 1), Decimal("2.15")),
    (date(2026, 7, 1), Decimal("2.15")),
)


def ecb_rate(on: date) -> Decimal:
    half = date(on.year, 1 if on.month <= 6 else 7, 1)
    applicable = [rate for start, rate in ECB_RATES if start <= half]
    return applicable[-1] if applicable else ECB_RATES[0][1]


class PaymentClock(Record):
    """Stored on the invoice; every field derivable from the status history."""

    started_at: datetime  # MISE_A_DISPOSITION
    delay_days: int
    suspended_days: int = 0  # whole days spent SUSPENDUE, accumulated
    suspended_since: datetime | None = None  # set while SUSPENDUE
    paid_at: datetime | None = None  # MISE_EN_PAIEMENT


@dataclass(frozen=True)
class ClockView:
    due_date: date
    running: bool
    days_left: int | None  # None once paid or stopped
    days_late: int
    late_interest: Decimal
    fixed_indemnity: Decimal


def suspend(clock: PaymentClock, at: datetime) -> PaymentClock:
    return clock.model_copy(update={"suspended_since": at}) if clock.suspended_since is None else clock


def resume(clock: PaymentClock, at: datetime) -> PaymentClock:
    if clock.suspended_since is None:
        return clock
    days = max(0, (at.date() - clock.suspended_since.date()).days)
    return clock.model_copy(update={"suspended_since": None, "suspended_days": clock.suspended_days + days})


def due_date(clock: PaymentClock, today: date | None = None) -> date:
    """Start + delay + days suspended (while suspended, the days so far count too)."""
    extra = clock.suspended_days
    if clock.suspended_since is not None and today is not None:
        extra += max(0, (today - clock.suspended_since.date()).days)
    return clock.started_at.date() + timedelta(days=clock.delay_days + extra)


def view(clock: PaymentClock, amount: Decimal, today: date) -> ClockView:
    end = clock.paid_at.date() if clock.paid_at else today
    due = due_date(clock, end)
    running = clock.paid_at is None and clock.suspended_since is None
    late = max(0, (end - due).days)
    rate = (ecb_rate(due + timedelta(days=1)) + PENALTY_POINTS) / Decimal(100)
    interest = (amount * rate * Decimal(late) / Decimal(365)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return ClockView(
        due_date=due,
        running=running,
        days_left=(due - today).days if running else None,
        days_late=late,
        late_interest=interest if late else Decimal("0.00"),
        fixed_indemnity=FIXED_INDEMNITY if late else Decimal("0.00"),
    )
