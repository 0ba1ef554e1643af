"""Pace, projections and predictive pause on constructed histories with known answers, and the
properties the predictive rule must keep."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from budget_pipeline.rules.pacing import (
    brand_budget_presence,
    brand_projections,
    day_elapsed,
    in_cents,
    month_elapsed,
    pace,
    projected_day,
    projected_month,
    rate_per_minute,
)
from budget_pipeline.rules.reasons import DAILY_BUDGET, MONTHLY_BUDGET, brand_budget_reasons

UTC = dt.UTC
NY = "America/New_York"


def test_pace_is_spend_over_the_budget_share_of_the_time_gone() -> None:
    noon = dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 12:00 in New York
    assert pace(Decimal(50), Decimal(100), *day_elapsed(noon, NY)) == Decimal("1.00")
    assert pace(Decimal(80), Decimal(100), *day_elapsed(noon, NY)) == Decimal("1.60")
    midnight = dt.datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # the local day's first instant
    assert pace(Decimal(0), Decimal(100), *day_elapsed(midnight, NY)) is None
    # 2026-11-01 has 25 hours in New York: at 11:00 local, 12 of them have gone.
    long_day = dt.datetime(2026, 11, 1, 16, 0, tzinfo=UTC)
    assert day_elapsed(long_day, NY) == (dt.timedelta(hours=12), dt.timedelta(hours=25))
    assert pace(Decimal(48), Decimal(100), *day_elapsed(long_day, NY)) == Decimal("1.00")
    # Halfway through November (15 of 30 days; the month has 30 days and one more hour in NY).
    mid_month = dt.datetime(2026, 11, 16, 5, 0, tzinfo=UTC)
    elapsed, length = month_elapsed(mid_month, NY)
    assert length == dt.timedelta(days=30, hours=1) and elapsed == dt.timedelta(days=15, hours=1)
    assert pace(Decimal(1000), Decimal(2000), elapsed, length) == Decimal("1.00")


def test_a_projected_day_runs_the_recent_rate_to_local_midnight() -> None:
    six_pm = dt.datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # 18:00 in New York: 360 minutes left
    assert rate_per_minute(Decimal(30)) == Decimal("0.5")
    assert projected_day(Decimal(30), Decimal("0.5"), six_pm, NY) == Decimal(210)
    assert projected_day(Decimal(30), Decimal(0), six_pm, NY) == Decimal(30), "never below the spend so far"


def test_a_projected_month_weights_the_days_to_come_by_weekday() -> None:
    # November 2026: the 1st is a Sunday. Completed days 1..24 spent 10 on weekdays, 20 at weekends.
    completed = {dt.date(2026, 11, d): Decimal(20 if dt.date(2026, 11, d).weekday() >= 5 else 10) for d in range(1, 25)}
    today = dt.date(2026, 11, 25)  # a Wednesday; so far today 4, projected 12
    so_far = sum(completed.values(), Decimal(0)) + 4
    # To come: Thu 26 (10), Fri 27 (10), Sat 28 (20), Sun 29 (20), Mon 30 (10) = 70; today 8 more.
    assert projected_month(so_far, Decimal(4), Decimal(12), completed, today) == so_far + 8 + 70
    # On the first day nothing is completed: each day to come spends what today is projected to.
    first = dt.date(2026, 11, 1)
    assert projected_month(Decimal(5), Decimal(5), Decimal(9), {}, first) == 5 + 4 + 29 * 9
    # Days with no completed day on their weekday take the mean of all completed days: on the
    # 3rd, Sunday 1st (no spend) and Monday 2nd (10) are completed; the 27 days to come hold
    # 4 Sundays (0), 4 Mondays (10) and 19 other days (the mean, 5).
    two = {dt.date(2026, 11, 2): Decimal(10)}
    assert projected_month(Decimal(10), Decimal(0), Decimal(0), two, dt.date(2026, 11, 3)) == 10 + 40 + 95


def test_a_completed_day_without_spend_counts_as_nothing_spent() -> None:
    # 120 on Sunday 1 November, nothing since: on Friday the 20th the three Sundays gone spent
    # 40 on average and every other weekday nothing, so the two Sundays to come add 80.
    completed = {dt.date(2026, 11, 1): Decimal(120)}
    assert projected_month(Decimal(120), Decimal(0), Decimal(0), completed, dt.date(2026, 11, 20)) == 200


def test_a_budget_reached_stops_the_projection_until_its_reset() -> None:
    """A brand paused by its budget spends nothing more until that budget resets: its recent
    rate (the spend before the pause) is not run on to the end of the day or month."""
    six_pm = dt.datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # 18:00 on Wednesday the 25th in New York
    today = dt.date(2026, 11, 25)
    completed = {dt.date(2026, 11, d): Decimal(20 if dt.date(2026, 11, d).weekday() >= 5 else 10) for d in range(1, 25)}
    so_far = sum(completed.values(), Decimal(0)) + 30  # 30 today, 340 in the month

    def projected(daily_budget: str, monthly_budget: str) -> tuple[Decimal, Decimal]:
        return brand_projections(
            Decimal(30),
            Decimal(daily_budget),
            so_far,
            Decimal(monthly_budget),
            Decimal("0.5"),
            completed,
            six_pm,
            NY,
            today,
        )

    # Under both budgets: 360 minutes at 0.5 more today (210), and the five days to come (70).
    assert projected("1000", "5000") == (Decimal(210), so_far + 180 + 70)
    # The daily budget reached (at, and over it): today stays at 30; the days to come, after the
    # daily reset, are projected as ever.
    assert projected("30", "5000") == projected("25", "5000") == (Decimal(30), so_far + 70)
    # The monthly budget reached: nothing more this month, today included.
    assert projected("1000", str(so_far)) == (Decimal(30), so_far)
    # Just under the daily budget the rate runs on (the pause that stops it has not come).
    assert projected("30.01", "5000") == (Decimal(210), so_far + 180 + 70)
    # With a pause_ahead the budgets count as reached at spend + rate x pause_ahead: 30 + 0.5 x
    # 20 = 40 reaches a daily budget of 40, which pauses the brand; one of 41 it does not.
    ahead = brand_projections(
        Decimal(30), Decimal(40), so_far, Decimal(5000), Decimal("0.5"), completed, six_pm, NY, today, 20
    )
    assert ahead == (Decimal(30), so_far + 70)
    assert brand_projections(
        Decimal(30), Decimal(41), so_far, Decimal(5000), Decimal("0.5"), completed, six_pm, NY, today, 20
    ) == (Decimal(210), so_far + 180 + 70)
    # On a month's first day, paused by its daily budget: the days to come spend what today did.
    first = dt.datetime(2026, 11, 1, 22, 0, tzinfo=UTC)  # 17:00 on Sunday the 1st in New York
    assert brand_projections(
        Decimal(30), Decimal(30), Decimal(30), Decimal(5000), Decimal("0.5"), {}, first, NY, dt.date(2026, 11, 1)
    ) == (Decimal(30), Decimal(30) + 29 * 30)


money = st.decimals(min_value=0, max_value=10**6, places=2)
budgets = st.decimals(min_value=Decimal("0.01"), max_value=10**6, places=2)
rates = st.decimals(min_value=0, max_value=10**4, places=4)


@given(money, budgets, money, budgets, rates, st.integers(1, 24 * 60))
def test_predictive_pause_never_pauses_a_brand_whose_projection_stays_under_budget(
    daily: Decimal, daily_budget: Decimal, monthly: Decimal, monthly_budget: Decimal, rate: Decimal, ahead: int
) -> None:
    present, predicted = brand_budget_presence(daily, daily_budget, monthly, monthly_budget, rate, ahead)
    assert (DAILY_BUDGET in present) == (daily + rate * ahead >= daily_budget)
    assert (MONTHLY_BUDGET in present) == (monthly + rate * ahead >= monthly_budget)
    # Predicted exactly where the budget is not yet reached, and never more than present.
    reached = brand_budget_reasons(daily, daily_budget, monthly, monthly_budget)
    assert predicted == present - reached and predicted <= present


@given(money, budgets, money, budgets, rates)
def test_without_pause_ahead_the_rule_is_the_reactive_one(
    daily: Decimal, daily_budget: Decimal, monthly: Decimal, monthly_budget: Decimal, rate: Decimal
) -> None:
    present, predicted = brand_budget_presence(daily, daily_budget, monthly, monthly_budget, rate, None)
    assert present == brand_budget_reasons(daily, daily_budget, monthly, monthly_budget)
    assert predicted == frozenset()


@given(
    spent=st.decimals(min_value=0, max_value=10**9, places=6),
    more=st.decimals(min_value=0, max_value=10**6, places=6),
)
def test_a_projection_is_shown_in_cents_and_never_below_the_spend(spent: Decimal, more: Decimal) -> None:
    shown = in_cents(spent + more, spent)
    assert shown.as_tuple().exponent == -2 and shown >= spent
    rounded = (spent + more).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert shown == rounded or (rounded < spent and shown - spent < Decimal("0.01"))
