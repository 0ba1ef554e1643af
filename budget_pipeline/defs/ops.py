"""Ops of the control jobs. Each reads through a resource, calls `rules`/`store`, reports metadata."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetMaterialization,
    Config,
    In,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Output,
    PartitionsDefinition,
    op,
)
from sqlalchemy import select

from budget_pipeline import control
from budget_pipeline.control import Outcome
from budget_pipeline.defs.assets import WindowReport, build_daily, build_monthly
from budget_pipeline.defs.checks import DAILY_SPEND, MONTHLY_SPEND
from budget_pipeline.defs.partitions import daily_partitions, day_key, month_key, monthly_partitions
from budget_pipeline.defs.resources import BudgetDatabase, Clock, LandingFolder
from budget_pipeline.ingest.pipeline import ingest_landing
from budget_pipeline.rules.calendar import current_days, month_start, next_month_start
from budget_pipeline.rules.reasons import format_reasons
from budget_pipeline.store.schema import Brand
from budget_pipeline.store.spend import dirty_days


def _report_partition(
    context: OpExecutionContext, asset: str, partitions: PartitionsDefinition, key: str, report: WindowReport
) -> Iterator[Any]:
    """The materialization of one rebuilt partition; a day outside the partitions (spend before
    BUDGET_START_DATE) is rebuilt but has no partition to report on."""
    if not partitions.has_partition_key(key):
        context.log.warning(f"{asset} {key} rebuilt, but it is outside the partitions (BUDGET_START_DATE?)")
        return
    yield AssetMaterialization(asset, partition=key, metadata=report.metadata())


class IngestConfig(Config):
    """Which landing files to ingest: the named ones, or every pending file when empty."""

    files: list[str] = []


@op(description="Ingest spend files waiting in the landing folder; move each to processed/ or failed/.")
def ingest_landing_files(
    context: OpExecutionContext, config: IngestConfig, database: BudgetDatabase, landing: LandingFolder, clock: Clock
) -> Iterator[Any]:
    # The run's instant is resolved here, at its start; a record may be dated up to a day after
    # the moment of ingestion, or after the run's instant when that is later (a simulated day).
    as_of = clock.resolve(context)
    result = ingest_landing(
        database.engine,
        landing.root,
        names=config.files or None,
        on_file=lambda r: context.log.info(r.summary()),
        now=max(as_of, dt.datetime.now(dt.UTC)),
        settle_seconds=landing.settle,
    )
    for name in result.left:
        context.log.info(f"{name}: left for the next look (still being written, or taken by another run)")
    for failed in result.failed:
        context.log.warning(failed.summary())
    if result.processed:
        yield AssetMaterialization(
            "raw_spend_records",
            description=f"ingested {len(result.processed)} file(s)",
            metadata={
                "accepted": result.accepted,
                "duplicate": result.duplicate,
                "rejected": result.rejected,
                "files": MetadataValue.md("\n".join(f"- {r.summary()}" for r in result.processed)),
            },
        )
    # What became of each file, a line each: `budget-pipeline tick` prints them.
    yield Output(
        [r.summary() for r in (*result.processed, *result.failed)]
        + [f"{name}: left for the next look" for name in result.left],
        metadata={"files_processed": len(result.processed), "files_failed": len(result.failed)},
    )


@op(
    ins={"after": In(Nothing)},
    description="Rebuild the daily_spend partitions that are current or that new records touched, then their months.",
)
def refresh_spend_partitions(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Iterator[Any]:
    as_of = clock.resolve(context)
    engine = database.engine
    with engine.connect() as conn:
        zones = set(conn.execute(select(Brand.timezone).distinct()).scalars())
        days = sorted(set(dirty_days(conn)) | current_days(as_of, zones))
    evaluations = []
    for day in days:
        report = build_daily(engine, day, day + dt.timedelta(days=1))
        yield from _report_partition(context, DAILY_SPEND, daily_partitions, day_key(day), report)
        if daily_partitions.has_partition_key(day_key(day)):
            evaluations += [outcome.as_evaluation(day_key(day)) for outcome in report.checks]
    for month in sorted({month_start(day) for day in days}):
        report = build_monthly(engine, month, next_month_start(month))
        yield from _report_partition(context, MONTHLY_SPEND, monthly_partitions, month_key(month), report)
        if monthly_partitions.has_partition_key(month_key(month)):
            evaluations += [outcome.as_evaluation(month_key(month)) for outcome in report.checks]
    # Passing results first: a check's latest result in the UI is then a warning whenever any
    # partition this run rebuilt is over budget, not the pass of whichever day came last.
    yield from sorted(evaluations, key=lambda evaluation: evaluation.passed, reverse=True)
    context.log.info(f"refreshed {len(days)} day(s) as of {as_of.isoformat()}")
    yield Output([day_key(day) for day in days], metadata={"days_refreshed": len(days), "as_of": as_of.isoformat()})


STATUS_POOL = "campaign_status"


def _change_table(outcome: Outcome, limit: int = 50) -> str:
    if not outcome.changes:
        return "no campaign changed"
    lines = ["| campaign | before | after | changed |", "|---|---|---|---|"]
    for ch in outcome.changes[:limit]:
        before = format_reasons(ch.before) or "active"
        after = format_reasons(ch.after) or "active"
        lines.append(f"| {ch.campaign_id} | {before} | {after} | {format_reasons(ch.changed)} |")
    if len(outcome.changes) > limit:
        lines.append(f"| … {len(outcome.changes) - limit} more | | | |")
    return "\n".join(lines)


def _report(context: OpExecutionContext, what: str, as_of: dt.datetime, outcome: Outcome) -> Output[int]:
    context.log.info(
        f"{what} as of {as_of.isoformat()}: {len(outcome.changes)} changed "
        f"({len(outcome.paused)} paused, {len(outcome.resumed)} resumed) of {outcome.evaluated}"
    )
    return Output(
        len(outcome.changes),
        metadata={
            "as_of": as_of.isoformat(),
            "campaigns_evaluated": outcome.evaluated,
            "campaigns_changed": len(outcome.changes),
            "paused": len(outcome.paused),
            "resumed": len(outcome.resumed),
            "changes": MetadataValue.md(_change_table(outcome)),
        },
    )


@op(pool=STATUS_POOL, description="Apply the manual and budget rules to every campaign; log each change.")
def enforce_budgets(
    context: OpExecutionContext, database: BudgetDatabase, clock: Clock, refreshed_days: list[str]
) -> Output[int]:
    as_of = clock.resolve(context)
    return _report(context, "budgets", as_of, control.enforce_budgets(database.engine, as_of, context.run_id))


@op(pool=STATUS_POOL, description="Clear daily budget reasons of brands whose local day has turned.")
def reset_daily_budgets(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Output[int]:
    as_of = clock.resolve(context)
    outcome = control.reset_budgets(database.engine, as_of, context.run_id, monthly=False)
    return _report(context, "daily reset", as_of, outcome)


@op(pool=STATUS_POOL, description="Clear monthly budget reasons of brands whose local month has turned.")
def reset_monthly_budgets(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Output[int]:
    as_of = clock.resolve(context)
    outcome = control.reset_budgets(database.engine, as_of, context.run_id, monthly=True)
    return _report(context, "monthly reset", as_of, outcome)


@op(pool=STATUS_POOL, description="Apply the dayparting (and manual) rule to every campaign; log each change.")
def apply_dayparting(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Output[int]:
    as_of = clock.resolve(context)
    return _report(context, "dayparting", as_of, control.apply_dayparting(database.engine, as_of, context.run_id))
