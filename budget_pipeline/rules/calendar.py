"""Brand-local calendar: which local day and month an instant falls in, and their UTC bounds."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

# Every instant the rules evaluate at: in any zone its local date, the day after it, and the
# start and end of its month, as local dates and as UTC instants, lie within years 1 to 9999
# (zones' offsets in year 1 are their local mean times, -15:56 to +15:13). From 2 January, a
# zone east of UTC has its month start in year 0 in UTC (tests/rules/test_calendar.py).
EARLIEST_INSTANT = dt.datetime(1, 2, 1, tzinfo=dt.UTC)
LATEST_INSTANT = dt.datetime(9999, 11, 30, tzinfo=dt.UTC)  # exclusive


def require_aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no UTC offset")
    return instant


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def read_iso(text: str) -> dt.datetime:
    """The datetime an ISO-8601 text names, as Python reads it (a lower-case z is Z too)."""
    text = text.strip()
    return dt.datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)


def instant_micros(text: str) -> int | None:
    """Microseconds since 1970 (UTC) of an ISO-8601 instant with an offset; None for any other
    text. Exact also where the instant leaves the calendar in UTC (year 1 at +05:45)."""
    try:
        value = read_iso(text)
    except ValueError:
        return None
    if value.utcoffset() is None:
        return None
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def parse_instant(text: str) -> dt.datetime:
    """An ISO-8601 instant with an offset or Z, within the instants the rules can evaluate at;
    a naive timestamp is an error."""
    try:
        value = read_iso(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp like 2026-11-25T10:00:00Z") from None
    if value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset; add Z or +HH:MM")
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ValueError(_out_of_range(text)) from None
    if not EARLIEST_INSTANT <= utc < LATEST_INSTANT:
        raise ValueError(_out_of_range(text))
    return utc


def _out_of_range(text: str) -> str:
    first, last = EARLIEST_INSTANT.date(), LATEST_INSTANT.date() - dt.timedelta(days=1)
    return f"{text!r} is outside the instants this product can evaluate ({first} to {last})"


def local_date(instant: dt.datetime, timezone: str) -> dt.date:
    """The calendar date in `timezone` at `instant`."""
    return require_aware(instant).astimezone(ZoneInfo(timezone)).date()


def local_dates(utc_micros: np.ndarray, zones: np.ndarray, zone_names: list[str]) -> np.ndarray:
    """`local_date` over whole columns: the calendar date of each instant (microseconds since
    1970, UTC) in the zone `zone_names[zones[i]]`, converting once per zone. The instants must
    lie where their local dates exist (years 1 to 9999)."""
    import pandas as pd  # here, not at the top: most commands never convert a column

    days = np.empty(len(utc_micros), dtype="datetime64[D]")
    for code in np.unique(zones):
        at = np.flatnonzero(zones == code)
        instants = pd.DatetimeIndex(utc_micros[at].astype("datetime64[us]")).tz_localize("UTC")
        days[at] = instants.tz_convert(zone_names[code]).tz_localize(None).to_numpy().astype("datetime64[D]")
    return days


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month_start(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def reset_due(last: dt.date | None, period: dt.date, *, monthly: bool) -> bool:
    """Whether a brand whose budgets were last reset for the local day (month) `last` resets for
    `period`: when `period` is later, and when `last` is more than one period ahead of it (a run
    at an instant ahead, a what-if of a future day up to 9999, must not hold the resets back).
    One period ahead is kept: a reset run that waited behind the next one (a slow `tick` at
    midnight) must not undo it."""
    following = next_month_start(period) if monthly else period + dt.timedelta(days=1)
    return last is None or last < period or last > following


def current_days(instant: dt.datetime, timezones: set[str] | frozenset[str]) -> set[dt.date]:
    """The local dates that `instant` falls on across `timezones` (one or two dates, UTC if none)."""
    return {local_date(instant, zone) for zone in (timezones or {"UTC"})}
