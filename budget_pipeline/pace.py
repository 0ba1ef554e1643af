"""Each brand's pace and projections as of an instant: the store's reads put through
`rules.pacing`, shared by `status`, the spend partitions' metadata and the campaign_status page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection

from budget_pipeline.rules.pacing import (
    brand_projections,
    day_elapsed,
    in_cents,
    month_elapsed,
    pace,
    rate_per_minute,
)
from budget_pipeline.store.reads import BrandRow, BrandSpend, brand_spend, month_days, recent_spend


@dataclass(frozen=True)
class BrandPace:
    """A brand's pace (1.00: on track to spend exactly the budget; None at the period's first
    instant) and its projected spend by the end of its local day and month."""

    local_date: dt.date
    daily_pace: Decimal | None
    monthly_pace: Decimal | None
    projected_daily: Decimal
    projected_monthly: Decimal

    def fields(self) -> dict[str, str | None]:
        """The `status --json` fields."""
        return {
            "daily_pace": None if self.daily_pace is None else str(self.daily_pace),
            "monthly_pace": None if self.monthly_pace is None else str(self.monthly_pace),
            "projected_daily_spend": str(self.projected_daily),
            "projected_monthly_spend": str(self.projected_monthly),
        }


def brand_pace(
    brand: BrandRow, spend: BrandSpend, last_hour: Decimal, completed: dict[dt.date, Decimal], as_of: dt.datetime
) -> BrandPace:
    """One brand's pace and projections from its spend, its spend in the hour before `as_of`
    and its completed days of the month (rules.pacing says how)."""
    today, month = brand_projections(
        spend.daily,
        brand.daily_budget,
        spend.monthly,
        brand.monthly_budget,
        rate_per_minute(last_hour),
        completed,
        as_of,
        brand.timezone,
        spend.local_date,
        brand.pause_ahead_minutes,
    )
    return BrandPace(
        spend.local_date,
        pace(spend.daily, brand.daily_budget, *day_elapsed(as_of, brand.timezone)),
        pace(spend.monthly, brand.monthly_budget, *month_elapsed(as_of, brand.timezone)),
        in_cents(today, spend.daily),
        in_cents(month, spend.monthly),
    )


def brand_paces(
    conn: Connection,
    as_of: dt.datetime,
    brand_rows: dict[int, BrandRow],
    spend: dict[int, BrandSpend] | None = None,
) -> dict[int, BrandPace]:
    """The pace of each of `brand_rows` as of `as_of` (their spend read unless given): three
    queries, whatever the count; keep `brand_rows` to the brands shown."""
    if not brand_rows:
        return {}
    spend = brand_spend(conn, as_of, brand_rows) if spend is None else spend
    recent = recent_spend(conn, as_of, brand_rows)
    completed = month_days(conn, as_of, brand_rows)
    return {
        bid: brand_pace(row, spend[bid], recent.get(bid, Decimal(0)), completed.get(bid, {}), as_of)
        for bid, row in brand_rows.items()
        if bid in spend
    }
