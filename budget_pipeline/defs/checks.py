"""Asset checks: overspend of each spend partition (WARN), reconciliation of each day with its
raw records (ERROR), and today's overspend across all brands on campaign_status (WARN).

Each result belongs to one partition (or, for today's check, to the run's instant) and is
worded so that a list of results shows who is over and by how much without a click.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue, PreviewWarning

from budget_pipeline.defs.dagster_compat import TargetMaterialization
from budget_pipeline.defs.markdown import md_table
from budget_pipeline.defs.partitions import daily_partitions, monthly_partitions
from budget_pipeline.rules.money import at_least, money_text, spend_text
from budget_pipeline.rules.reasons import budget_reached
from budget_pipeline.store.aggregates import BrandUse, DayTotals, PeriodTotals, PeriodUse, overspend_first

DAILY_SPEND = "daily_spend"
MONTHLY_SPEND = "monthly_spend"
CAMPAIGN_STATUS = "campaign_status"
DAILY_WITHIN_BUDGET = "daily_spend_within_budget"
MONTHLY_WITHIN_BUDGET = "monthly_spend_within_budget"
DAILY_RECONCILES = "daily_spend_reconciles"
BUDGETS_TODAY = "brands_within_budget_today"
NOTIFICATIONS_DELIVERED = "notifications_delivered"
LISTED_IN_DESCRIPTION = 5


def _partitioned(spec: Callable[[], list[AssetCheckSpec]]) -> list[AssetCheckSpec]:
    """Check specs with partitions of their own, so each partition keeps its own latest result.
    Dagster 1.13.27 marks partitioned check specs as a preview and warns on every import; the
    warning is silenced here, for these specs alone (tests/defs/test_definitions.py checks that
    the specs still carry their partitions)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return spec()


daily_check_specs = _partitioned(
    lambda: [
        AssetCheckSpec(
            DAILY_WITHIN_BUDGET,
            asset=DAILY_SPEND,
            partitions_def=daily_partitions,
            description="Per day: warns when a brand's spend on that local day reached its daily budget (the "
            "comparison that pauses it), naming each such brand with its spend, budget and overspend.",
        ),
        AssetCheckSpec(
            DAILY_RECONCILES,
            asset=DAILY_SPEND,
            partitions_def=daily_partitions,
            description="Per day: fails when the day's aggregate (records and spend) differs from a fresh read of the "
            "raw spend records of that local day.",
        ),
    ]
)
monthly_check_specs = _partitioned(
    lambda: [
        AssetCheckSpec(
            MONTHLY_WITHIN_BUDGET,
            asset=MONTHLY_SPEND,
            partitions_def=monthly_partitions,
            description="Per month: warns when a brand's spend in that local month reached its monthly budget, naming "
            "each such brand with its spend, budget and overspend.",
        ),
    ]
)
budgets_today_spec = AssetCheckSpec(
    BUDGETS_TODAY,
    asset=CAMPAIGN_STATUS,
    description="As of each enforcement: warns when any brand's spend today (its own local day) or this month "
    "(to date) has reached its budget, naming them with figures. The one check to read for 'who is over "
    "budget right now'; the daily_spend and monthly_spend checks keep each partition's history.",
)


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result, ready to be reported for one partition (or none)."""

    asset: str
    name: str
    passed: bool
    severity: AssetCheckSeverity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def evaluation(self, partition: str | None, target: TargetMaterialization | None = None) -> AssetCheckEvaluation:
        """This outcome as the result of `partition` (or of the unpartitioned check), naming the
        materialization it checked (`dagster_compat.latest_materialization`)."""
        return AssetCheckEvaluation(
            asset_key=AssetKey(self.asset),
            check_name=self.name,
            passed=self.passed,
            severity=self.severity,
            description=self.description,
            metadata=self.metadata,
            partition=partition,
            target_materialization_data=target,
        )


def overspend_line(use: BrandUse) -> str:
    """ "Brand B 152.34 / 75.00 USD, +77.34": what a list of results shows without a click."""
    over = at_least(money_text(use.over), use.spend)
    return f"{use.brand} {spend_text(use.spend)} / {money_text(use.budget)} {use.currency}, +{over}"


def overspend_table(uses: Sequence[BrandUse]) -> str:
    table = [
        [
            u.brand,
            f"{money_text(u.budget)} {u.currency}",
            f"{spend_text(u.spend)} {u.currency}",
            f"{at_least(money_text(u.over), u.spend)} {u.currency}",
            f"{u.share:.0%}",
        ]
        for u in uses
    ]
    return md_table(["brand", "budget", "spend", "overspend", "used"], table)


def _reached_description(reached: Sequence[BrandUse], what: str) -> str:
    if not reached:
        return f"every brand under its {what} budget"
    shown = "; ".join(overspend_line(u) for u in reached[:LISTED_IN_DESCRIPTION])
    more = f"; and {len(reached) - LISTED_IN_DESCRIPTION} more" if len(reached) > LISTED_IN_DESCRIPTION else ""
    return f"{len(reached)} brand(s) at or over the {what} budget: {shown}{more}"


def by_overspend(uses: Iterable[BrandUse]) -> list[BrandUse]:
    """The brands of `uses` that reached their budget, biggest overspend first."""
    return sorted((u for u in uses if budget_reached(u.spend, u.budget)), key=overspend_first)


def within_budget(use: PeriodUse, *, monthly: bool) -> CheckOutcome:
    """WARN, naming each brand of one partition whose spend reached its budget (the comparison
    that pauses), biggest overspend first."""
    reached = use.reached
    # Text, not numbers: the UI plots a check's numbers over time, across partitions, which is noise.
    metadata: dict[str, Any] = {
        "brands_at_or_over_budget": MetadataValue.text(str(len(reached))),
        "brands_with_spend": MetadataValue.text(str(use.brands_with_spend)),
    }
    if reached:
        metadata["overspend"] = MetadataValue.md(overspend_table(reached))
    return CheckOutcome(
        MONTHLY_SPEND if monthly else DAILY_SPEND,
        MONTHLY_WITHIN_BUDGET if monthly else DAILY_WITHIN_BUDGET,
        passed=not reached,
        severity=AssetCheckSeverity.WARN,
        description=_reached_description(reached, "monthly" if monthly else "daily"),
        metadata=metadata,
    )


def reconcile(day: dt.date, raw: DayTotals, built: PeriodTotals) -> CheckOutcome:
    """One day's records and spend in daily_spend (`built`) against its raw records (`raw`)."""
    raw_records, raw_spend = raw.get(day, (0, Decimal(0)))
    same = (raw_records, raw_spend) == (built.records, built.spend)
    metadata: dict[str, Any] = {
        "raw_records": MetadataValue.text(str(raw_records)),
        "aggregate_records": MetadataValue.text(str(built.records)),
        "raw_spend": MetadataValue.text(spend_text(raw_spend)),
        "aggregate_spend": MetadataValue.text(spend_text(built.spend)),
    }
    description = (
        "matches its raw records"
        if same
        else f"differs from its raw records: {raw_records} records, {money_text(raw_spend)} spent in raw; "
        f"{built.records} records, {money_text(built.spend)} in the aggregate"
    )
    return CheckOutcome(
        DAILY_SPEND,
        DAILY_RECONCILES,
        passed=same,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )


def budgets_today(daily: Sequence[BrandUse], monthly: Sequence[BrandUse], as_of: dt.datetime) -> CheckOutcome:
    """WARN naming every brand whose spend today or this month to date reached its budget."""
    reached_day, reached_month = by_overspend(daily), by_overspend(monthly)
    parts = []
    if reached_day:
        parts.append(_reached_description(reached_day, "daily"))
    if reached_month:
        parts.append(_reached_description(reached_month, "monthly"))
    metadata: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "brands_at_or_over_daily_budget": len(reached_day),
        "brands_at_or_over_monthly_budget": len(reached_month),
    }
    if reached_day:
        metadata["daily_overspend"] = MetadataValue.md(overspend_table(reached_day))
    if reached_month:
        metadata["monthly_overspend"] = MetadataValue.md(overspend_table(reached_month))
    return CheckOutcome(
        CAMPAIGN_STATUS,
        BUDGETS_TODAY,
        passed=not parts,
        severity=AssetCheckSeverity.WARN,
        description=" | ".join(parts) if parts else "every brand under its daily and monthly budgets",
        metadata=metadata,
    )


def notifications_delivered(
    failed: Sequence[tuple[str, str, str, str]], total_failed: int, *, pending: int, delivered: int
) -> CheckOutcome:
    """WARN while some notification has failed for good (retried for 24 hours): `failed` lists
    the newest as (id, type, text, last error). Passing, it says how many wait and how many went."""
    metadata: dict[str, Any] = {
        "notifications_failed": total_failed,
        "notifications_pending": pending,
        "notifications_delivered": delivered,
    }
    if failed:
        table = [[nid, kind, text, error] for nid, kind, text, error in failed]
        metadata["failed"] = MetadataValue.md(
            md_table(["id", "type", "notification", "last error"], table, total=total_failed, more="failed")
        )
    outbox = f"{pending} pending, {delivered} delivered (`budget-pipeline notifications` lists them)"
    return CheckOutcome(
        CAMPAIGN_STATUS,
        NOTIFICATIONS_DELIVERED,
        passed=total_failed == 0,
        severity=AssetCheckSeverity.WARN,
        description=f"{total_failed} notification(s) failed for good: the webhook did not take them in 24 hours of "
        f"retries; {outbox}"
        if total_failed
        else f"no notification has failed for good; {outbox}",
        metadata=metadata,
    )
