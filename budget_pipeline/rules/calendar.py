"""Brand-local calendar: which local day and month an instant falls in, and their UTC bounds."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def require_aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no UTC offset")
    return instant


def parse_instant(text: str) -> dt.datetime:
    """An ISO-8601 instant with an offset or Z; a naive timestamp is an error."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp like 2026-11-25T10:00:00Z") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add Z or +HH:MM")
    return value.astimezone(dt.UTC)


def local_date(instant: dt.datetime, timezone: str) -> dt.date:
    """The calendar date in `timezone` at `instant`."""
    return require_aware(instant).astimezone(ZoneInfo(timezone)).date()


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month_start(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def day_bounds_utc(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [start, end) of local `day`; 23 or 25 hours long across DST changes."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def days_between(first: dt.date, stop: dt.date) -> list[dt.date]:
    """Every date in [first, stop)."""
    return [first + dt.timedelta(days=n) for n in range((stop - first).days)]


def current_days(instant: dt.datetime, timezones: set[str] | frozenset[str]) -> set[dt.date]:
    """The local dates that `instant` falls on across `timezones` (one or two dates, UTC if none)."""
    return {local_date(instant, zone) for zone in (timezones or {"UTC"})}
