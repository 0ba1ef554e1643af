import datetime as dt
import zoneinfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from budget_pipeline.rules.calendar import (
    EARLIEST_INSTANT,
    LATEST_INSTANT,
    current_days,
    local_date,
    local_dates,
    month_start,
    next_month_start,
    reset_due,
)
from budget_pipeline.rules.pacing import day_elapsed, month_elapsed

UTC = dt.UTC


def test_local_date_follows_the_brand_zone() -> None:
    instant = dt.datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert local_date(instant, "America/New_York") == dt.date(2026, 11, 24)
    assert local_date(instant, "Asia/Tokyo") == dt.date(2026, 11, 25)
    assert local_date(dt.datetime(2026, 11, 25, 18, 15, tzinfo=UTC), "Asia/Kathmandu") == dt.date(2026, 11, 26)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        local_date(dt.datetime(2026, 11, 25, 3, 0), "UTC")  # noqa: DTZ001


# hypothesis takes naive bounds and attaches the zone it is given.
NAIVE_FIRST = dt.datetime(1971, 1, 1)  # noqa: DTZ001
NAIVE_LAST = dt.datetime(2999, 12, 30)  # noqa: DTZ001
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe"]


@given(
    st.lists(
        st.tuples(
            st.datetimes(NAIVE_FIRST, NAIVE_LAST, timezones=st.just(UTC)),
            st.integers(0, len(ZONES) - 1),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_local_dates_over_columns_agree_with_local_date(rows: list[tuple[dt.datetime, int]]) -> None:
    """The column form ingestion and re-dating use is the scalar rule, row by row (DST and odd
    offsets included)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    micros = np.array([(at - epoch) // dt.timedelta(microseconds=1) for at, _ in rows], dtype=np.int64)
    zones = np.array([zone for _, zone in rows], dtype=np.int32)
    got = local_dates(micros, zones, ZONES).astype(object).tolist()
    assert got == [local_date(at, ZONES[zone]) for at, zone in rows]


def test_months() -> None:
    assert month_start(dt.date(2026, 2, 17)) == dt.date(2026, 2, 1)
    assert next_month_start(dt.date(2026, 12, 31)) == dt.date(2027, 1, 1)
    assert next_month_start(dt.date(2024, 1, 31)) == dt.date(2024, 2, 1)


def test_current_days_span_the_zones() -> None:
    instant = dt.datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    assert current_days(instant, {"America/New_York", "Asia/Tokyo"}) == {dt.date(2026, 11, 25), dt.date(2026, 11, 26)}
    assert current_days(instant, set()) == {dt.date(2026, 11, 25)}


@pytest.mark.parametrize(
    "instant",
    [EARLIEST_INSTANT, LATEST_INSTANT - dt.timedelta(microseconds=1)],
    ids=["the earliest instant", "the latest instant"],
)
def test_the_edges_of_the_evaluable_instants_hold_in_every_zone(instant: dt.datetime) -> None:
    """Whatever its zone, a brand's day and month around an instant the CLI accepts can be
    evaluated: their bounds and elapsed shares exist (before, 2 January of year 1 put a month's
    start east of UTC in year 0)."""
    for zone in sorted(zoneinfo.available_timezones()):
        day = local_date(instant, zone)
        assert month_start(day) <= day < next_month_start(day)
        day_elapsed(instant, zone)
        month_elapsed(instant, zone)


D = dt.date(2026, 12, 1)


@pytest.mark.parametrize(
    ("last", "monthly", "due"),
    [
        (None, False, True),  # never reset
        (D - dt.timedelta(days=1), False, True),  # the day turned
        (D, False, False),  # reset already
        (D + dt.timedelta(days=1), False, False),  # a reset run that waited behind the next one
        (D + dt.timedelta(days=2), False, True),  # a run ahead: it must not hold the resets back
        (dt.date(9999, 11, 29), False, True),
        (dt.date(2026, 11, 1), True, True),
        (D, True, False),
        (dt.date(2027, 1, 1), True, False),
        (dt.date(2027, 2, 1), True, True),
        (dt.date(9999, 11, 1), True, True),
    ],
)
def test_a_reset_is_due_for_a_later_period_and_past_a_run_ahead(last: dt.date | None, monthly: bool, due: bool) -> None:
    assert reset_due(last, D, monthly=monthly) is due
