"""Budget alerts: which of a brand's alert percents its spend has reached in a day or a month.
Pure: the store records each (brand, period, period start, percent) once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from budget_pipeline.rules.calendar import month_start
from budget_pipeline.rules.reasons import budget_reached

DAILY = "daily"
MONTHLY = "monthly"
DEFAULT_PERCENTS = (80, 100)


@dataclass(frozen=True)
class Alert:
    """A brand's `period` spend that reached `percent` of its budget in the period starting
    `period_start` (a local date, or a month's first day)."""

    brand_id: int
    period: str
    period_start: dt.date
    percent: int
    spend: Decimal
    budget: Decimal

    @property
    def key(self) -> tuple[int, str, dt.date, int]:
        return (self.brand_id, self.period, self.period_start, self.percent)


def reached_percents(spend: Decimal, budget: Decimal, percents: tuple[int, ...]) -> list[int]:
    """The percents of `budget` that `spend` has reached (the comparison that pauses: at or over)."""
    return [percent for percent in sorted(percents) if budget_reached(spend, budget * percent / 100)]


def period_alerts(
    brand_id: int, period: str, period_start: dt.date, spend: Decimal, budget: Decimal, percents: tuple[int, ...]
) -> list[Alert]:
    """An alert for each percent of `budget` that `spend` in one period has reached."""
    return [
        Alert(brand_id, period, period_start, percent, spend, budget)
        for percent in reached_percents(spend, budget, percents)
    ]


def late_alerts(
    brand_id: int,
    days: Mapping[dt.date, Decimal],
    first: dt.date,
    today: dt.date,
    daily_budget: Decimal,
    monthly_budget: Decimal,
    percents: tuple[int, ...],
) -> list[Alert]:
    """The alerts of a brand whose new spend reaches back to `first`, before `today`: each day
    from `first` to yesterday, and each whole month before today's from `first`'s month, summed
    from `days` (the brand's spend per local day, from `first`'s month on)."""
    found, months = [], dict[dt.date, Decimal]()
    this_month, first_month = month_start(today), month_start(first)
    for day, amount in sorted(days.items()):
        if day >= today:
            continue
        if day >= first:
            found += period_alerts(brand_id, DAILY, day, amount, daily_budget, percents)
        if first_month <= (month := month_start(day)) < this_month:
            months[month] = months.get(month, Decimal(0)) + amount
    for month, amount in months.items():
        found += period_alerts(brand_id, MONTHLY, month, amount, monthly_budget, percents)
    return found
