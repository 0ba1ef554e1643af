"""Dayparting windows against a brute-force model that lists every allowed minute of the week."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budget_pipeline.rules.dayparting import MINUTES_PER_DAY, Window, in_hours, local_moment, parse_clock

ZONES = ["America/New_York", "Europe/London", "Asia/Kathmandu", "Pacific/Chatham", "UTC"]
# Instants around the 2026 DST changes of those zones, so the property crosses them.
TRANSITIONS = [
    dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC),  # New York springs forward
    dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC),  # New York falls back
    dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC),  # London springs forward
    dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC),  # London falls back
    dt.datetime(2026, 4, 4, 14, 0, tzinfo=dt.UTC),  # Chatham ends DST (+13:45 -> +12:45)
    dt.datetime(2026, 9, 26, 14, 0, tzinfo=dt.UTC),  # Chatham starts DST
]


def allowed_minutes(window: Window) -> set[tuple[int, int]]:
    """Every (weekday, minute) the window covers, walking minute by minute from each start."""
    length = window.end - window.start if window.end > window.start else window.end + MINUTES_PER_DAY - window.start
    out = set()
    for day in window.weekdays:
        for k in range(length):
            minute = window.start + k
            out.add(((day + minute // MINUTES_PER_DAY) % 7, minute % MINUTES_PER_DAY))
    return out


@st.composite
def windows(draw: st.DrawFn) -> Window:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start = draw(st.integers(0, MINUTES_PER_DAY - 1))
    end = draw(st.integers(0, MINUTES_PER_DAY).filter(lambda e: e != start))
    return Window(days, start, end)


instants = st.builds(
    lambda base, offset: base + dt.timedelta(minutes=offset),
    st.sampled_from(TRANSITIONS),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(windows(), min_size=1, max_size=3), instants, st.sampled_from(ZONES))
def test_membership_matches_the_minute_by_minute_model(ws: list[Window], instant: dt.datetime, zone: str) -> None:
    local = instant.astimezone(ZoneInfo(zone))
    moment = (local.weekday(), local.hour * 60 + local.minute)
    expected = any(moment in allowed_minutes(w) for w in ws)
    assert in_hours(ws, instant, zone) is expected


def test_no_windows_means_any_hour() -> None:
    assert in_hours([], dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), "UTC")


def test_contract_example_window_past_midnight_belongs_to_its_start_day() -> None:
    saturday_night = Window(frozenset({5}), parse_clock("22:00", allow_24=False), parse_clock("02:00", allow_24=True))
    ny = "America/New_York"
    sat_2330 = dt.datetime(2026, 11, 28, 23, 30, tzinfo=ZoneInfo(ny))
    sun_0130 = dt.datetime(2026, 11, 29, 1, 30, tzinfo=ZoneInfo(ny))
    sun_2330 = dt.datetime(2026, 11, 29, 23, 30, tzinfo=ZoneInfo(ny))
    fri_0130 = dt.datetime(2026, 11, 27, 1, 30, tzinfo=ZoneInfo(ny))
    assert [in_hours([saturday_night], t, ny) for t in (sat_2330, sun_0130, sun_2330, fri_0130)] == [
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("instant", "zone", "moment"),
    [
        (dt.datetime(2026, 11, 25, 18, 15, tzinfo=dt.UTC), "Asia/Kathmandu", (3, 0)),  # Thursday 00:00 at +05:45
        (dt.datetime(2026, 11, 25, 10, 15, tzinfo=dt.UTC), "Pacific/Chatham", (3, 0)),  # Thursday 00:00 at +13:45
        (dt.datetime(2026, 7, 1, 11, 15, tzinfo=dt.UTC), "Pacific/Chatham", (3, 0)),  # Thursday 00:00 at +12:45
    ],
)
def test_local_moment_for_odd_offsets(instant: dt.datetime, zone: str, moment: tuple[int, int]) -> None:
    assert local_moment(instant, zone) == moment


def test_end_24_00_runs_to_midnight() -> None:
    evening = Window(frozenset({0}), 18 * 60, MINUTES_PER_DAY)
    assert evening.contains(0, 23 * 60 + 59)
    assert not evening.contains(1, 0)


def test_invalid_windows() -> None:
    with pytest.raises(ValueError):
        Window(frozenset({0}), 600, 600)
    with pytest.raises(ValueError):
        parse_clock("9:00", allow_24=False)
