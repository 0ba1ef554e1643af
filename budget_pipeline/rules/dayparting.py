"""Dayparting windows: weekly [start, end) ranges of brand-local wall-clock minutes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from budget_pipeline.rules.calendar import require_aware

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
ALL_DAYS = frozenset(range(7))


@dataclass(frozen=True)
class Window:
    """A window that opens at `start` minutes past local midnight on each of `weekdays`
    (0 = Monday) and closes at `end`. An `end` before `start` runs past midnight into the
    next day, and the window still belongs to the day it starts on."""

    weekdays: frozenset[int]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < MINUTES_PER_DAY:
            raise ValueError(f"start minute {self.start} outside 0..1439")
        if not 0 <= self.end <= MINUTES_PER_DAY:
            raise ValueError(f"end minute {self.end} outside 0..1440")
        if self.start == self.end:
            raise ValueError("a window cannot start and end at the same minute")

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def contains(self, weekday: int, minute: int) -> bool:
        """Whether the local wall-clock moment (`weekday`, `minute` past midnight) is inside."""
        if not self.crosses_midnight:
            return weekday in self.weekdays and self.start <= minute < self.end
        if weekday in self.weekdays and minute >= self.start:
            return True
        return (weekday - 1) % 7 in self.weekdays and minute < self.end


def weekday_mask(weekdays: Iterable[int]) -> int:
    return sum(1 << day for day in set(weekdays))


@lru_cache(maxsize=128)
def weekdays_from_mask(mask: int) -> frozenset[int]:
    return frozenset(day for day in range(7) if mask & (1 << day))


def parse_clock(text: str, *, allow_24: bool) -> int:
    """Minutes past midnight of "HH:MM"; "24:00" only where `allow_24`."""
    hours, sep, minutes = text.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError(f'{text!r} is not a time like "09:30"')
    total = int(hours) * 60 + int(minutes)
    if allow_24 and total == MINUTES_PER_DAY:
        return total
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"{text!r} is not a time of day" + (' (or "24:00")' if allow_24 else ""))
    return total


@lru_cache(maxsize=1024)
def local_moment(instant: dt.datetime, timezone: str) -> tuple[int, int]:
    """(weekday, minute past midnight) of `instant` on the wall clock of `timezone`."""
    local = require_aware(instant).astimezone(ZoneInfo(timezone))
    return local.weekday(), local.hour * 60 + local.minute


def in_hours(windows: Iterable[Window], instant: dt.datetime, timezone: str) -> bool:
    """Whether a campaign with these windows may run at `instant`; no windows = any hour."""
    windows = tuple(windows)
    if not windows:
        return True
    weekday, minute = local_moment(instant, timezone)
    return any(window.contains(weekday, minute) for window in windows)


def window_key(windows: Iterable[tuple[int, int, int]]) -> str:
    """The text that stands for a campaign's windows, each (weekday mask, start, end) in its
    order: "31:480-1200;96:0-1440"; "" for none. Campaigns with the same windows share it, so
    the dayparting rule decides once per (time zone, key) rather than once per campaign."""
    return ";".join(f"{mask}:{start}-{end}" for mask, start, end in windows)


@lru_cache(maxsize=4096)
def windows_from_key(key: str) -> tuple[Window, ...]:
    """The windows `window_key` wrote into `key`."""
    out = []
    for part in filter(None, key.split(";")):
        mask, _, span = part.partition(":")
        start, _, end = span.partition("-")
        out.append(Window(weekdays_from_mask(int(mask)), int(start), int(end)))
    return tuple(out)
