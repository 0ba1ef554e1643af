"""How the spend partitions are reported to Dagster, in one place: the spend assets and the
refresh op of the control jobs both rebuild through `build_daily`/`build_monthly` and report
through `partition_events`, so the UI cannot show two versions of the truth.

Every materialization and every check result belongs to one partition and describes that
partition alone (its own records, spend and brands), also when one run builds many.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetCheckEvaluation, AssetMaterialization, DagsterInstance, MetadataValue, PartitionsDefinition
from sqlalchemy import Connection, Engine

from budget_pipeline.defs.checks import (
    DAILY_SPEND,
    MONTHLY_SPEND,
    CheckOutcome,
    reconcile,
    within_budget,
)
from budget_pipeline.defs.dagster_compat import latest_materialization
from budget_pipeline.defs.markdown import md_table
from budget_pipeline.defs.partitions import daily_partitions, day_key, month_key, monthly_partitions
from budget_pipeline.pace import BrandPace, brand_paces
from budget_pipeline.rules.calendar import month_start, next_month_start
from budget_pipeline.rules.money import money_text, spend_text
from budget_pipeline.rules.reasons import budget_reached
from budget_pipeline.store.aggregates import (
    DayTotals,
    PeriodTotals,
    PeriodUse,
    budget_use,
    days_of_moved_campaigns,
    months_from_days,
    raw_totals_by_day,
    rebuild_daily,
    rebuild_monthly,
)
from budget_pipeline.store.db import writing
from budget_pipeline.store.reads import brands

BRANDS_SHOWN = 10


@dataclass(frozen=True)
class PartitionReport:
    """One rebuilt partition: what it holds, its brands' budget use, and its check outcomes."""

    asset: str
    key: str
    totals: PeriodTotals
    use: PeriodUse
    checks: list[CheckOutcome]
    # The pace now of the shown brands for which this partition is the current day (month).
    paces: dict[int, BrandPace] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            # Counts as numbers, so the UI plots them; money as exact text, in each currency.
            "records": MetadataValue.int(self.totals.records),
            "dagster/row_count": MetadataValue.int(self.totals.rows),
            "spend": MetadataValue.text(self.spent() or "0.00"),
            "brands_with_spend": MetadataValue.int(self.use.brands_with_spend),
            "brands_at_or_over_budget": MetadataValue.int(len(self.use.reached)),
            "brands_by_budget_use": MetadataValue.md(budget_use_table(self.use, self.paces, self.monthly)),
        }

    @property
    def monthly(self) -> bool:
        return self.asset == MONTHLY_SPEND

    def spent(self) -> str:
        """The partition's spend in each of its brands' currencies, by code ("36.51 GBP + 240.10 USD")."""
        return " + ".join(f"{spend_text(spend)} {currency}" for currency, spend in self.use.spend_by_currency)

    def description(self) -> str:
        if not self.totals.records:
            return f"{self.key}: no spend recorded"
        spent = self.spent()
        return f"{self.key}: {self.totals.records} records, {spent} spent by {self.use.brands_with_spend} brand(s)"


def budget_use_table(use: PeriodUse, paces: dict[int, BrandPace] | None = None, monthly: bool = False) -> str:
    """The brands nearest (or over) their budgets first; says when it is cut. For a brand whose
    current day (month) this is, its pace and projected spend now; "-" for a period gone by."""
    if not use.brands_with_spend:
        return "no spend in this partition"
    paces = paces or {}
    table = []
    for u in use.nearest:
        now = paces.get(u.brand_id)
        pace_now = (now.monthly_pace if monthly else now.daily_pace) if now else None
        projected = (now.projected_monthly if monthly else now.projected_daily) if now else None
        table.append(
            [
                u.brand,
                f"{money_text(u.budget)} {u.currency}",
                f"{spend_text(u.spend)} {u.currency}",
                f"{u.share:.0%}" + (" (reached)" if budget_reached(u.spend, u.budget) else ""),
                "-" if pace_now is None else str(pace_now),
                "-" if projected is None else f"{money_text(projected)} {u.currency}",
            ]
        )
    headers = ["brand", "budget", "spend", "used", "pace now", "projected"]
    return md_table(headers, table, total=use.brands_with_spend, more="brands, less used")


def _current_paces(
    conn: Connection, as_of: dt.datetime | None, uses: Sequence[dict[dt.date, PeriodUse]]
) -> dict[int, BrandPace]:
    """The pace at `as_of` of the brands shown in any period of `uses`: read once for all the
    partitions of a transaction (each read scans the hour of raw records before `as_of`)."""
    if as_of is None:
        return {}
    shown = {u.brand_id for by_period in uses for use in by_period.values() for u in use.nearest}
    return brand_paces(conn, as_of, brands(conn, shown)) if shown else {}


def _paces_of(
    paces: dict[int, BrandPace], uses: dict[dt.date, PeriodUse], *, monthly: bool
) -> dict[dt.date, dict[int, BrandPace]]:
    """For each period, the paces of its shown brands whose current period it is."""
    by_period: dict[dt.date, dict[int, BrandPace]] = {}
    for bid, now in paces.items():
        period = month_start(now.local_date) if monthly else now.local_date
        if bid in {u.brand_id for u in uses.get(period, PeriodUse()).nearest}:
            by_period.setdefault(period, {})[bid] = now
    return by_period


@dataclass
class _Built:
    """What one transaction rebuilt, read back for its reports: each day's and month's totals,
    brands' budget use, and (days) the raw records' totals, read after the write."""

    days: dict[dt.date, PeriodTotals] = field(default_factory=dict)
    day_uses: dict[dt.date, PeriodUse] = field(default_factory=dict)
    raw: DayTotals = field(default_factory=dict)
    months: dict[dt.date, PeriodTotals] = field(default_factory=dict)
    month_uses: dict[dt.date, PeriodUse] = field(default_factory=dict)

    def add_days(self, conn: Connection, built: dict[dt.date, PeriodTotals], first: dt.date, stop: dt.date) -> None:
        self.days.update(built)
        self.day_uses.update(budget_use(conn, monthly=False, first=first, stop=stop, nearest=BRANDS_SHOWN))
        # Reconciled with a read of the raw records of its own, after the write: a record the
        # rebuild left out (its campaign unknown to the catalog, say) shows as a difference.
        self.raw.update(raw_totals_by_day(conn, first, stop))

    def add_months(self, conn: Connection, built: dict[dt.date, PeriodTotals]) -> None:
        if not built:
            return
        self.months.update(built)
        first, stop = min(built), max(built) + dt.timedelta(days=1)
        self.month_uses.update(budget_use(conn, monthly=True, first=first, stop=stop, nearest=BRANDS_SHOWN))

    def reports(self, conn: Connection, as_of: dt.datetime | None) -> list[PartitionReport]:
        """A report per day, then per month, with the pace at `as_of` of the brands whose current
        day (month) it is."""
        paces = _current_paces(conn, as_of, [self.day_uses, self.month_uses])
        day_paces = _paces_of(paces, self.day_uses, monthly=False)
        month_paces = _paces_of(paces, self.month_uses, monthly=True)
        days = [
            PartitionReport(
                DAILY_SPEND,
                day_key(day),
                totals,
                self.day_uses.get(day, PeriodUse()),
                [within_budget(self.day_uses.get(day, PeriodUse()), monthly=False), reconcile(day, self.raw, totals)],
                day_paces.get(day, {}),
            )
            for day, totals in self.days.items()
        ]
        months = [
            PartitionReport(
                MONTHLY_SPEND,
                month_key(month),
                totals,
                self.month_uses.get(month, PeriodUse()),
                [within_budget(self.month_uses.get(month, PeriodUse()), monthly=True)],
                month_paces.get(month, {}),
            )
            for month, totals in self.months.items()
        ]
        return days + months


def build_daily(
    engine: Engine, first: dt.date, stop: dt.date, as_of: dt.datetime | None = None
) -> list[PartitionReport]:
    """Rebuild daily_spend for days [first, stop), and monthly_spend for the months they fall in,
    in one transaction; a report per day (with the pace at `as_of` of the brands whose today it
    is). The months are rebuilt with their days: a day's rebuild clears its dirty marks, so were
    its month rebuilt later in a transaction of its own, an enforcement in between would read
    the month's aggregate without the late spend it no longer adds from the records.

    A month is summed from all its days: a day of it that still holds a campaign under a brand
    the campaign has since left (a day marked by the move, not yet refreshed) is rebuilt too, and
    reported, or the month would hold two rows of that campaign."""
    built = _Built()
    months = (month_start(first), next_month_start(stop - dt.timedelta(days=1)))
    with writing(engine) as conn:
        built.add_days(conn, rebuild_daily(conn, first, stop), first, stop)
        for day in days_of_moved_campaigns(conn, *months):
            after = day + dt.timedelta(days=1)
            built.add_days(conn, rebuild_daily(conn, day, after), day, after)
        # Reported too: a backfill's day clears the marks that would have had a refresh rebuild
        # (and report) its month, so the month's materialization and checks would stay stale.
        built.add_months(conn, rebuild_monthly(conn, *months))
        return built.reports(conn, as_of)


def build_days_and_months(engine: Engine, days: Sequence[dt.date], as_of: dt.datetime) -> list[PartitionReport]:
    """The refresh: rebuild each of `days`, and bring the months they fall in up to date, in one
    transaction (as `build_daily` does, for the same reason); a report per day and per month.
    A month is not summed again from all its days: each day's rebuild carries what it changed
    into it, and a month that then does not agree with its days is summed again."""
    built = _Built()
    with writing(engine) as conn:
        for day in days:
            stop = day + dt.timedelta(days=1)
            built.add_days(conn, rebuild_daily(conn, day, stop, carry=True), day, stop)
        built.add_months(conn, months_from_days(conn, sorted({month_start(day) for day in days})))
        return built.reports(conn, as_of)


def build_monthly(
    engine: Engine, first: dt.date, stop: dt.date, as_of: dt.datetime | None = None
) -> list[PartitionReport]:
    """Rebuild monthly_spend for months starting in [first, stop) from daily_spend; a report per
    month (with the pace at `as_of` of the brands whose current month it is)."""
    built = _Built()
    with writing(engine) as conn:
        built.add_months(conn, rebuild_monthly(conn, first, stop))
        return built.reports(conn, as_of)


def partition_events(
    reports: Sequence[PartitionReport], instance: DagsterInstance, on_outside: Any = None
) -> Iterator[AssetMaterialization | AssetCheckEvaluation]:
    """Each report's materialization, then its check results, all of that one partition; each
    result names the materialization it checked, which the caller has stored by the time the
    result is asked for (a step stores each event it yields or logs before it goes on). A period
    outside the partitions (spend before BUDGET_START_DATE) has nothing to report on;
    `on_outside(report)` is told of it."""
    for report in reports:
        partitions: PartitionsDefinition = daily_partitions if report.asset == DAILY_SPEND else monthly_partitions
        if not partitions.has_partition_key(report.key):
            if on_outside is not None:
                on_outside(report)
            continue
        yield AssetMaterialization(
            report.asset, partition=report.key, description=report.description(), metadata=report.metadata()
        )
        target = latest_materialization(instance, report.asset, report.key)
        for outcome in report.checks:
            yield outcome.evaluation(report.key, target)
