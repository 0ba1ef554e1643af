import datetime as dt

import pytest

from budget_pipeline.rules.calendar import current_days, day_bounds_utc, local_date, month_start, next_month_start

UTC = dt.UTC


def test_local_date_follows_the_brand_zone() -> None:
    instant = dt.datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert local_date(instant, "America/New_York") == dt.date(2026, 11, 24)
    assert local_date(instant, "Asia/Tokyo") == dt.date(2026, 11, 25)
    assert local_date(dt.datetime(2026, 11, 25, 18, 15, tzinfo=UTC), "Asia/Kathmandu") == dt.date(2026, 11, 26)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        local_date(dt.datetime(2026, 11, 25, 3, 0), "UTC")  # noqa: DTZ001


@pytest.mark.parametrize(
    ("day", "hours"),
    [(dt.date(2026, 3, 8), 23), (dt.date(2026, 11, 1), 25), (dt.date(2026, 11, 25), 24)],
)
def test_day_bounds_are_dst_aware(day: dt.date, hours: int) -> None:
    start, end = day_bounds_utc(day, "America/New_York")
    assert (end - start) == dt.timedelta(hours=hours)
    assert local_date(start, "America/New_York") == day
    assert local_date(end - dt.timedelta(microseconds=1), "America/New_York") == day


def test_months() -> None:
    assert month_start(dt.date(2026, 2, 17)) == dt.date(2026, 2, 1)
    assert next_month_start(dt.date(2026, 12, 31)) == dt.date(2027, 1, 1)
    assert next_month_start(dt.date(2024, 1, 31)) == dt.date(2024, 2, 1)


def test_current_days_span_the_zones() -> None:
    instant = dt.datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    assert current_days(instant, {"America/New_York", "Asia/Tokyo"}) == {dt.date(2026, 11, 25), dt.date(2026, 11, 26)}
    assert current_days(instant, set()) == {dt.date(2026, 11, 25)}
