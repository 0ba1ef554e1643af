"""The assets: raw spend records (reported by ingestion), the daily and monthly spend
aggregates, and every campaign's status (reported by every run that writes it).

A spend materialization replaces exactly its window of partitions in one transaction; a range
backfill is one run, and reports each partition it built on its own (`reporting`).
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Failure,
    FreshnessPolicy,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset_check,
    multi_asset,
)

from budget_pipeline.defs.checks import (
    BUDGETS_TODAY,
    CAMPAIGN_STATUS,
    DAILY_SPEND,
    MONTHLY_SPEND,
    NOTIFICATIONS_DELIVERED,
    daily_check_specs,
    monthly_check_specs,
)
from budget_pipeline.defs.partitions import daily_partitions, monthly_partitions
from budget_pipeline.defs.reporting import build_daily, build_monthly, partition_events
from budget_pipeline.defs.resources import BudgetDatabase, Clock, store_failures
from budget_pipeline.defs.status_report import budgets_today_outcome, notifications_outcome
from budget_pipeline.rules.calendar import next_month_start

SPEND_GROUP = "spend"
STATUS_GROUP = "status"
OWNERS = ["team:ad-ops"]
TAGS = {"domain": "budgets"}

_spend_columns = [
    TableColumn("campaign_id", "string", description="the campaign (catalog id)"),
    TableColumn("brand_id", "integer", description="its brand when the partition was built"),
    TableColumn("spend", "decimal(20,6)", description="exact spend: NUMERIC on PostgreSQL, micro-units on SQLite"),
    TableColumn("records", "integer", description="raw spend records summed"),
]

raw_spend_records = AssetSpec(
    "raw_spend_records",
    description="Spend records as ingested from spend files, one row per record_id, with each record's "
    "brand-local date. Fed by spend_landing_sensor -> ingest_spend_job (files dropped into "
    "BUDGET_LANDING_DIR) and by `budget-pipeline ingest`. Each materialization counts that run's files and "
    "rows and the running totals: records stored, rows quarantined.",
    group_name=SPEND_GROUP,
    kinds={"csv", "sql"},
    owners=OWNERS,
    tags={**TAGS, "layer": "raw"},
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("record_id", "string", description="the source's id: the idempotency key"),
                TableColumn("campaign_id", "string"),
                TableColumn("amount", "decimal(20,6)"),
                TableColumn("occurred_at", "timestamp with time zone"),
                TableColumn("local_date", "date", description="occurred_at's date in the brand's zone"),
                TableColumn("file_id", "integer", description="the spend_files row of the ingestion"),
                TableColumn("line_no", "integer", description="the file line on which the record starts"),
            ]
        ),
    },
)


def _window(context: AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The first and last partition of the run, in order: a range given the wrong way round (the
    CLI's --partition-range, or range tags) fails in one line; it built nothing but a month."""
    keys = context.partition_key_range
    first, last = dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
    if first > last:
        raise Failure(
            f"partition range {keys.start}...{keys.end} ends before it starts; write {keys.end}...{keys.start}"
        )
    return first, last


def _report(context: AssetExecutionContext, reports: list[Any]) -> None:
    def outside(report: Any) -> None:
        context.log.warning(f"{report.asset} {report.key} rebuilt, but it is outside the partitions")

    for event in partition_events(reports, context.instance, outside):
        context.log_event(event)


@multi_asset(
    specs=[
        AssetSpec(
            DAILY_SPEND,
            deps=[raw_spend_records],
            description="Spend per campaign and per brand on each brand-local calendar day; the partition key is "
            "that local date, today included. Rebuilt from raw_spend_records, replacing the window. Refreshed "
            "by every enforcement (today's partitions and days with new records) and by backfills.",
            group_name=SPEND_GROUP,
            kinds={"sql"},
            owners=OWNERS,
            tags={**TAGS, "layer": "aggregate"},
            metadata={"dagster/column_schema": TableSchema(columns=[TableColumn("day", "date"), *_spend_columns])},
            # spend_refresh_schedule rebuilds today's partitions every 15 minutes.
            freshness_policy=FreshnessPolicy.time_window(
                fail_window=dt.timedelta(hours=1), warn_window=dt.timedelta(minutes=30)
            ),
            skippable=True,
        )
    ],
    check_specs=daily_check_specs,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    can_subset=True,
)
@store_failures
def daily_spend(context: AssetExecutionContext, database: BudgetDatabase, clock: Clock) -> Iterator[Any]:
    """Rebuild the window's days and report each day's materialization and checks on its own."""
    first, last = _window(context)
    as_of = clock.resolve(context.op_execution_context)
    _report(context, build_daily(database.engine, first, last + dt.timedelta(days=1), as_of))
    yield from ()  # every event is logged per partition above; no output spans the window


@multi_asset(
    specs=[
        AssetSpec(
            MONTHLY_SPEND,
            deps=[DAILY_SPEND],
            description="Spend per campaign and per brand in each brand-local calendar month (key YYYY-MM-01, "
            "this month included), summed from daily_spend.",
            group_name=SPEND_GROUP,
            kinds={"sql"},
            owners=OWNERS,
            tags={**TAGS, "layer": "aggregate"},
            metadata={"dagster/column_schema": TableSchema(columns=[TableColumn("month", "date"), *_spend_columns])},
            skippable=True,
        )
    ],
    check_specs=monthly_check_specs,
    partitions_def=monthly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    can_subset=True,
)
@store_failures
def monthly_spend(context: AssetExecutionContext, database: BudgetDatabase, clock: Clock) -> Iterator[Any]:
    """Rebuild the window's months from daily_spend and report each month on its own."""
    first, last = _window(context)
    as_of = clock.resolve(context.op_execution_context)
    _report(context, build_monthly(database.engine, first, next_month_start(last), as_of))
    yield from ()


campaign_status = AssetSpec(
    CAMPAIGN_STATUS,
    deps=[DAILY_SPEND, MONTHLY_SPEND],
    description="Every campaign's state: active, or paused with its reasons (manual, daily_budget, "
    "monthly_budget, campaign_daily_budget, campaign_monthly_budget, dayparting). Reported by every run that "
    "writes status (ingest_spend_job, enforce_budgets_job, the resets, dayparting_job): counts per reason, "
    "the campaigns paused now with their reasons and since when, and that run's changes with the spend and "
    "budget behind each.",
    group_name=STATUS_GROUP,
    kinds={"sql"},
    owners=OWNERS,
    tags={**TAGS, "layer": "decision"},
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("id", "string"),
                TableColumn("brand_id", "integer"),
                TableColumn("enabled", "boolean", description="false: paused by hand (manual)"),
                TableColumn("active", "boolean", description="true exactly when it has no pause reason"),
                TableColumn("pause_reasons", "string", description="comma-separated, in the contract's order"),
                TableColumn("status_changed_at", "timestamp with time zone"),
            ]
        ),
    },
)


@asset_check(
    asset=CAMPAIGN_STATUS,
    name=BUDGETS_TODAY,
    description="As of each enforcement (or now, when run by hand): warns when any brand's spend today (its own "
    "local day) or this month to date has reached its budget, naming them with figures.",
)
@store_failures
def brands_within_budget_today(
    context: AssetCheckExecutionContext, database: BudgetDatabase, clock: Clock
) -> AssetCheckResult:
    """The same check every enforcement reports, evaluated on demand."""
    as_of = clock.resolve(context.op_execution_context)
    outcome = budgets_today_outcome(database.engine, as_of)
    return AssetCheckResult(
        passed=outcome.passed,
        severity=outcome.severity,
        description=outcome.description,
        metadata={**outcome.metadata, "evaluated": MetadataValue.text("on demand")},
    )


@asset_check(
    asset=CAMPAIGN_STATUS,
    name=NOTIFICATIONS_DELIVERED,
    description="With every campaign_status and after each delivery run (or when run by hand): warns while any "
    "notification has failed for good (the webhook did not take it in 24 hours of retries), listing the newest with "
    "their last error; says how many are pending and delivered.",
)
@store_failures
def notifications_delivered_check(context: AssetCheckExecutionContext, database: BudgetDatabase) -> AssetCheckResult:
    """The same check every delivery run reports, evaluated on demand."""
    outcome = notifications_outcome(database.engine)
    return AssetCheckResult(
        passed=outcome.passed,
        severity=outcome.severity,
        description=outcome.description,
        metadata={**outcome.metadata, "evaluated": MetadataValue.text("on demand")},
    )
