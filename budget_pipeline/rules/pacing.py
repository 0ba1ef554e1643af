"""Pace, projections and predictive pause: pure arithmetic on spend, budgets and time.

- The recent rate of a brand is its spend per minute over the hour of records before `as_of`.
- Predictive pause (`pause_ahead: D`): a budget counts as reached when spend + rate × D ≥ budget.
- Pace is spend ÷ (budget × the elapsed share of the local day or month): 1.00 is on track to
  spend exactly the budget, above it is ahead; none at the period's first instant.
- A projected day is its spend plus the recent rate over the rest of the local day.
- A projected month is its spend so far, plus the rest of today as projected, plus for each day
  still to come the mean spend of the completed days of the month that fall on the same weekday
  (a day without spend among them, at zero; the mean of all completed days where there is none;
  today's projection on the first day).
  Projections are never below the spend so far.
- A budget reached (or predicted to be, with a pause_ahead) pauses every campaign of the brand
  until that budget's reset (the budget rule), so nothing more is projected in it: with the
  daily budget reached, the rest of today adds nothing (the days to come are projected as
  ever); with the monthly, the rest of the month.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from budget_pipeline.rules.calendar import next_month_start, require_aware
from budget_pipeline.rules.money import CENTS
from budget_pipeline.rules.reasons import DAILY_BUDGET, MONTHLY_BUDGET, Reasons, budget_reached

RATE_WINDOW = dt.timedelta(hours=1)
MINUTES_PER_WINDOW = Decimal(60)
HUNDREDTHS = Decimal("0.01")


_NONE: Reasons = frozenset()
_REACHED: dict[tuple[bool, bool], Reasons] = {
    (daily, monthly): frozenset([DAILY_BUDGET] * daily + [MONTHLY_BUDGET] * monthly)
    for daily in (False, True)
    for monthly in (False, True)
}


def rate_per_minute(spend_in_window: Decimal) -> Decimal:
    """Spend per minute of the hour of records before `as_of`."""
    return spend_in_window / MINUTES_PER_WINDOW


def predicted_reach(spend: Decimal, budget: Decimal, rate: Decimal, ahead_minutes: int) -> bool:
    """Whether spend, going on at `rate` for `ahead_minutes` more, reaches `budget`."""
    return budget_reached(spend + rate * ahead_minutes, budget)


def brand_budget_presence(
    daily: Decimal,
    daily_budget: Decimal,
    monthly: Decimal,
    monthly_budget: Decimal,
    rate: Decimal = Decimal(0),
    ahead_minutes: int | None = None,
) -> tuple[Reasons, Reasons]:
    """(reasons present, those of them present only by prediction). Without `ahead_minutes`
    the rule is the reactive one: a budget is reached when spend is at or over it."""
    if ahead_minutes is None:  # every brand of a full pass without pause_ahead: no sets built
        return _REACHED[(budget_reached(daily, daily_budget), budget_reached(monthly, monthly_budget))], _NONE
    present, predicted = set(), set()
    for reason, spend, budget in ((DAILY_BUDGET, daily, daily_budget), (MONTHLY_BUDGET, monthly, monthly_budget)):
        if budget_reached(spend, budget):
            present.add(reason)
        elif ahead_minutes is not None and predicted_reach(spend, budget, rate, ahead_minutes):
            present.add(reason)
            predicted.add(reason)
    return frozenset(present), frozenset(predicted)


def _local_bounds(day: dt.date, zone: str) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)


def day_elapsed(as_of: dt.datetime, zone: str) -> tuple[dt.timedelta, dt.timedelta]:
    """(time elapsed in the local day of `as_of`, that day's length: 23, 24 or 25 hours)."""
    local = require_aware(as_of).astimezone(ZoneInfo(zone))
    start, end = _local_bounds(local.date(), zone)
    return as_of - start, end - start


def month_elapsed(as_of: dt.datetime, zone: str) -> tuple[dt.timedelta, dt.timedelta]:
    """(time elapsed in the local month of `as_of`, that month's length)."""
    day = require_aware(as_of).astimezone(ZoneInfo(zone)).date()
    start, _ = _local_bounds(day.replace(day=1), zone)
    end, _ = _local_bounds(next_month_start(day), zone)
    return as_of - start, end - start


def pace(spend: Decimal, budget: Decimal, elapsed: dt.timedelta, length: dt.timedelta) -> Decimal | None:
    """spend ÷ (budget × elapsed share), two decimals; None at the period's first instant."""
    if elapsed <= dt.timedelta(0):
        return None
    share = Decimal(elapsed // dt.timedelta(microseconds=1)) / Decimal(length // dt.timedelta(microseconds=1))
    return (spend / (budget * share)).quantize(HUNDREDTHS, ROUND_HALF_UP)


def projected_day(spend: Decimal, rate: Decimal, as_of: dt.datetime, zone: str) -> Decimal:
    """The day's spend if it goes on at `rate` to the end of the local day."""
    elapsed, length = day_elapsed(as_of, zone)
    minutes_left = Decimal((length - elapsed) // dt.timedelta(microseconds=1)) / 60_000_000
    return spend + max(rate, Decimal(0)) * minutes_left


def projected_month(
    month_to_date: Decimal,
    today_spend: Decimal,
    today_projected: Decimal,
    completed_days: Mapping[dt.date, Decimal],
    today: dt.date,
) -> Decimal:
    """The month's spend if today goes on at the recent rate and each day still to come spends
    what completed days of this month on its weekday spent on average (all completed days where
    none fell on it; today's projection when none is completed yet). `completed_days` has the
    spend of the month's days before `today`; a day it leaves out spent nothing, and counts."""
    by_weekday: dict[int, list[Decimal]] = {}
    day = today.replace(day=1)
    while day < today:
        by_weekday.setdefault(day.weekday(), []).append(completed_days.get(day, Decimal(0)))
        day += dt.timedelta(days=1)
    everything = [spend for spends in by_weekday.values() for spend in spends]
    overall = sum(everything, Decimal(0)) / len(everything) if everything else today_projected
    future = Decimal(0)
    day = today + dt.timedelta(days=1)
    while day < next_month_start(today):
        same = by_weekday.get(day.weekday())
        future += sum(same, Decimal(0)) / len(same) if same else overall
        day += dt.timedelta(days=1)
    return month_to_date + max(today_projected - today_spend, Decimal(0)) + future


def brand_projections(
    daily_spend: Decimal,
    daily_budget: Decimal,
    month_to_date: Decimal,
    monthly_budget: Decimal,
    rate: Decimal,
    completed_days: Mapping[dt.date, Decimal],
    as_of: dt.datetime,
    zone: str,
    today: dt.date,
    ahead_minutes: int | None = None,
) -> tuple[Decimal, Decimal]:
    """A brand's projected day and month (`today` its local date at `as_of`): at the recent
    `rate` while its budgets let it spend; a budget reached (or, with `ahead_minutes`, its
    pause_ahead, predicted to be) pauses it, and nothing more is spent until that budget resets."""
    present, _ = brand_budget_presence(daily_spend, daily_budget, month_to_date, monthly_budget, rate, ahead_minutes)
    if MONTHLY_BUDGET in present:
        return daily_spend, month_to_date
    if DAILY_BUDGET in present:
        rate = Decimal(0)
    projected_today = projected_day(daily_spend, rate, as_of, zone)
    return projected_today, projected_month(month_to_date, daily_spend, projected_today, completed_days, today)


def in_cents(projected: Decimal, spent: Decimal) -> Decimal:
    """A projected spend as shown: in cents, rounded half up, and never below the spend so far
    (`projected` never is; a spend of fractions of a cent, rounded, could be: 12.344 spent is
    shown as 12.35 projected, not 12.34)."""
    return max(projected.quantize(CENTS, ROUND_HALF_UP), spent.quantize(CENTS, ROUND_CEILING))
