"""Budget alerts: a brand's daily (monthly) spend reaching each of its `alerts` percents of the
budget in a local day (month) is recorded once per brand, period, period start and percent.

The comparison is the one that pauses (`rules.reasons.budget_reached`: spend at or over the
budget × percent / 100). An enforcement right after a month was ingested at once has every
day's alerts of the month to record, so store.alerts makes it in the database, set by set, on
exact amounts (tests/store/test_alerts_property.py checks it against sums of the records)."""

from __future__ import annotations

from collections.abc import Container, Iterable
from decimal import ROUND_CEILING, Decimal

DAILY = "daily"
MONTHLY = "monthly"

MICRO = Decimal("0.000001")  # the smallest amount a budget or spend has


def threshold(budget: Decimal, percent: int) -> Decimal:
    """The least amount, in whole micro-units, at or over `percent` of `budget`: spend (always
    whole micro-units) reaches the percent exactly when it is at least this. Computed here, so
    that the store compares spend with it and forms no product of two amounts (SQLite's
    integers would overflow into floating point for the largest budgets)."""
    return (budget * percent / 100).quantize(MICRO, rounding=ROUND_CEILING)


def reaches(spend: Decimal, budget: Decimal, percent: int) -> bool:
    """Whether `spend` reaches `percent` of `budget` (the comparison that pauses, at 100): the
    same as `spend >= threshold(budget, percent)`, spend being whole micro-units, without
    rounding (exact: amounts of 20 digits times a percent fit Decimal's 28)."""
    return spend * 100 >= budget * percent


def new_percents(spend: Decimal, budget: Decimal, percents: Iterable[int], recorded: Container[int]) -> list[int]:
    """The `percents` of `budget` that `spend` reaches and that are not `recorded` yet for its
    period: the alerts a pass records for that period."""
    return [percent for percent in percents if percent not in recorded and reaches(spend, budget, percent)]
