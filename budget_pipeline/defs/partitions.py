"""The spend partitions, defined once: daily and monthly, keyed by the brand-local date.

A PartitionsDefinition has one time zone, but brands live in many. The key of a partition is
a brand-local calendar date, so the definition uses the zone that reaches each date first
(Pacific/Kiritimati, UTC+14): the newest partition is never behind any brand's today.
"""

import datetime as dt
import os

from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition

PARTITION_TIMEZONE = "Pacific/Kiritimati"
DEFAULT_START_DATE = "2025-01-01"


def start_date() -> dt.date:
    text = os.environ.get("BUDGET_START_DATE") or DEFAULT_START_DATE
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"BUDGET_START_DATE must be a date like 2025-01-01, got {text!r}") from None


START_DATE = start_date()

daily_partitions = DailyPartitionsDefinition(
    start_date=START_DATE.isoformat(), timezone=PARTITION_TIMEZONE, end_offset=1, fmt="%Y-%m-%d"
)
monthly_partitions = MonthlyPartitionsDefinition(
    start_date=START_DATE.replace(day=1).isoformat(), timezone=PARTITION_TIMEZONE, end_offset=1, fmt="%Y-%m-%d"
)


def day_key(day: dt.date) -> str:
    return day.isoformat()


def month_key(day: dt.date) -> str:
    return day.replace(day=1).isoformat()
