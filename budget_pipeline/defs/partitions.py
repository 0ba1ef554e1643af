"""The spend partitions, defined once: daily and monthly, keyed by the brand-local date.

A PartitionsDefinition has one time zone, but brands live in many. The key of a partition is
a brand-local calendar date, so the definition uses the zone that reaches each date first
(Pacific/Kiritimati, UTC+14): the newest partition is never behind any brand's today.
"""

import datetime as dt

from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition

from budget_pipeline import settings

PARTITION_TIMEZONE = "Pacific/Kiritimati"
START_DATE = settings.start_date()

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
