"""Asset checks of the spend aggregates: overspend (WARN) and reconciliation with raw (ERROR).

Each check is evaluated in the same transaction that rebuilt the window, both by the assets
(as AssetCheckResult) and by the ingest job's refresh op (as AssetCheckEvaluation per partition).
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetCheckEvaluation, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from budget_pipeline.rules.reasons import budget_reached
from budget_pipeline.store.spend import BrandUse, DayTotals

DAILY_SPEND = "daily_spend"
MONTHLY_SPEND = "monthly_spend"
DAILY_WITHIN_BUDGET = "daily_spend_within_budget"
MONTHLY_WITHIN_BUDGET = "monthly_spend_within_budget"
DAILY_RECONCILES = "daily_spend_reconciles"

daily_check_specs = [
    AssetCheckSpec(
        DAILY_WITHIN_BUDGET,
        asset=DAILY_SPEND,
        description="Warns, listing budget, spend and overspend, for each brand whose spend on a day reached "
        "its daily budget (the comparison that pauses it).",
    ),
    AssetCheckSpec(
        DAILY_RECONCILES,
        asset=DAILY_SPEND,
        description="Fails when a day's aggregate (records and spend) differs from the raw spend records it covers.",
    ),
]
monthly_check_specs = [
    AssetCheckSpec(
        MONTHLY_WITHIN_BUDGET,
        asset=MONTHLY_SPEND,
        description="Warns, listing budget, spend and overspend, for each brand whose spend in a month reached "
        "its monthly budget (the comparison that pauses it).",
    ),
]


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    name: str
    passed: bool
    severity: AssetCheckSeverity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_result(self) -> AssetCheckResult:
        return AssetCheckResult(
            asset_key=self.asset,
            check_name=self.name,
            passed=self.passed,
            severity=self.severity,
            description=self.description,
            metadata=self.metadata,
        )

    def as_evaluation(self, partition: str | None = None) -> AssetCheckEvaluation:
        return AssetCheckEvaluation(
            asset_key=AssetKey(self.asset),
            check_name=self.name,
            passed=self.passed,
            severity=self.severity,
            description=self.description,
            metadata=self.metadata,
            partition=partition,
        )


def overspend_table(rows: list[BrandUse]) -> str:
    lines = ["| brand | period | budget | spend | overspend |", "|---|---|---|---|---|"]
    lines += [f"| {u.brand} | {u.period} | {u.budget} | {u.spend} | {u.over} |" for u in rows]
    return "\n".join(lines)


def within_budget(uses: list[BrandUse], *, monthly: bool) -> CheckOutcome:
    """WARN listing each brand-period whose spend reached its budget (the comparison that
    pauses), from `brand_use` rows."""
    over = sorted((u for u in uses if budget_reached(u.spend, u.budget)), key=lambda u: (u.period, -u.over, u.brand))
    period = "monthly" if monthly else "daily"
    description = (
        f"{len(over)} brand-{'month' if monthly else 'day'}(s) at or over the {period} budget"
        if over
        else f"every brand under its {period} budget"
    )
    metadata: dict[str, Any] = {"brands_over_budget": len(over)}
    if over:
        metadata["overspend"] = MetadataValue.md(overspend_table(over))
    return CheckOutcome(
        MONTHLY_SPEND if monthly else DAILY_SPEND,
        MONTHLY_WITHIN_BUDGET if monthly else DAILY_WITHIN_BUDGET,
        passed=not over,
        severity=AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


def reconcile(raw: DayTotals, built: DayTotals, first: dt.date, stop: dt.date) -> CheckOutcome:
    """Each day's records and spend in daily_spend (`built`) against its raw records (`raw`)."""
    differing = sorted(day for day in raw.keys() | built.keys() if raw.get(day) != built.get(day))
    metadata: dict[str, Any] = {"days_checked": (stop - first).days, "days_differing": len(differing)}
    if differing:
        lines = ["| day | raw records | raw spend | aggregate records | aggregate spend |", "|---|---|---|---|---|"]
        for day in differing[:50]:
            r, b = raw.get(day, (0, 0)), built.get(day, (0, 0))
            lines.append(f"| {day} | {r[0]} | {r[1]} | {b[0]} | {b[1]} |")
        metadata["differences"] = MetadataValue.md("\n".join(lines))
    return CheckOutcome(
        DAILY_SPEND,
        DAILY_RECONCILES,
        passed=not differing,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(differing)} day(s) differ from raw records" if differing else "matches raw records",
        metadata=metadata,
    )
