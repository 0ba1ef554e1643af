"""Ops of the control jobs. Each reads through a resource, calls `control`/`store`, and reports
to Dagster through `reporting` (spend partitions) and `status_report` (campaign_status)."""

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
    Out,
    Output,
    op,
)

from budget_pipeline import control
from budget_pipeline.control import Outcome
from budget_pipeline.defs.checks import CAMPAIGN_STATUS, budgets_today
from budget_pipeline.defs.dagster_compat import latest_materialization
from budget_pipeline.defs.reporting import PartitionReport, build_days_and_months, partition_events
from budget_pipeline.defs.resources import BudgetDatabase, Clock, LandingFolder, WebhookResource, store_failures
from budget_pipeline.defs.status_report import (
    ROWS_SHOWN,
    alerts_table,
    brand_uses,
    campaign_status_report,
    notifications_outcome,
    run_tags,
)
from budget_pipeline.delivery import deliver_due
from budget_pipeline.ingest.landing import LandingFolderError, ingest_landing
from budget_pipeline.ingest.names import one_line
from budget_pipeline.store.alerts import alerts as recorded_alerts
from budget_pipeline.store.raw import ingest_totals
from budget_pipeline.store.reads import BrandSpend, brand_spend, brands
from budget_pipeline.store.upkeep import days_to_refresh

STATUS_POOL = "campaign_status"
# On a delivery run that stopped at its time limit (delivery.RUN_SECONDS) with notifications left.
OUT_OF_TIME_TAG = "budget_pipeline/out_of_time"
# Delivery has a pool of its own: one delivery run at a time (keeps the order per campaign), and
# never in the way of the status writers, whatever the receiver does.
DELIVERY_POOL = "notifications"


class IngestConfig(Config):
    """Which landing files to ingest: the named ones, or every pending file when empty."""

    files: list[str] = []


@op(
    description="Ingest the settled spend files of the landing folder; move each to processed/ or failed/.",
    out=Out(list[str], description="What became of each file, a line each (`budget-pipeline tick` prints them)."),
)
@store_failures
def ingest_landing_files(
    context: OpExecutionContext, config: IngestConfig, database: BudgetDatabase, landing: LandingFolder, clock: Clock
) -> Iterator[Any]:
    # The run's instant is resolved here, at its start; a record may be dated up to a day after
    # the moment of ingestion, or after the run's instant when that is later (a simulated day).
    as_of = clock.resolve(context)
    if (problem := landing.problem()) is not None:
        # Said, and the run goes on: its refresh and enforcement do not need the folder.
        context.log.error(problem)
        yield Output([problem], metadata={"files_processed": 0, "files_failed": 0, "landing_folder": problem})
        return
    try:
        result = ingest_landing(
            database.engine,
            landing.root,
            names=config.files or None,
            on_file=lambda r: context.log.info(r.summary()),
            now=max(as_of, dt.datetime.now(dt.UTC)),
            settle_seconds=landing.settle,
        )
    except LandingFolderError as exc:
        # As for a landing folder that cannot be read: said, and the run goes on to enforce.
        context.log.error(str(exc))
        yield Output([str(exc)], metadata={"files_processed": 0, "files_failed": 0, "landing_folder": str(exc)})
        return
    for name in result.left:
        context.log.info(one_line(f"{name}: left for the next look (still being written, or taken by another run)"))
    for failed in result.failed:
        context.log.warning(failed.summary())
    missing = [
        one_line(f"{name}: no such spend file in {landing.root} (taken already, or not there)")
        for name in result.missing
    ]
    for said in missing:
        context.log.warning(said)
    if result.processed or result.failed:
        with database.engine.connect() as conn:
            totals = ingest_totals(conn)
        yield AssetMaterialization(
            "raw_spend_records",
            description=f"{len(result.processed)} file(s) ingested, {len(result.failed)} failed; "
            f"{totals.records} records stored in all",
            metadata={
                "accepted": result.accepted,
                "duplicate": result.duplicate,
                "rejected": result.rejected,
                "files_ingested": len(result.processed),
                "files_failed": len(result.failed),
                "records_stored": totals.records,
                "rows_quarantined": totals.quarantined,
                "files": MetadataValue.md(
                    "\n".join(f"- {r.summary()}" for r in (*result.processed, *result.failed)) or "none"
                ),
            },
        )
    yield Output(
        [r.summary() for r in (*result.processed, *result.failed)]
        + [one_line(f"{name}: left for the next look") for name in result.left]
        + missing,
        metadata={"files_processed": len(result.processed), "files_failed": len(result.failed)},
    )


def refresh_reports(context: OpExecutionContext, database: BudgetDatabase, as_of: dt.datetime) -> list[PartitionReport]:
    """Rebuild the daily partitions that are current or whose records changed, then their months."""
    with database.engine.connect() as conn:
        days = days_to_refresh(conn, as_of)
    return build_days_and_months(database.engine, days, as_of)


@op(
    ins={"after": In(Nothing)},
    description="Rebuild the daily_spend partitions that are current or that new records touched, then their "
    "months; report each partition's materialization and checks on its own.",
    out=Out(list[str], description="The daily partitions rebuilt."),
)
@store_failures
def refresh_spend_partitions(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Iterator[Any]:
    as_of = clock.resolve(context)
    reports = refresh_reports(context, database, as_of)

    def outside(report: PartitionReport) -> None:
        context.log.warning(f"{report.asset} {report.key} rebuilt, but it is outside the partitions")

    yield from partition_events(reports, context.instance, outside)
    days = [r.key for r in reports if r.asset == "daily_spend"]
    context.log.info(f"refreshed {len(days)} day(s) as of {as_of.isoformat()}")
    yield Output(days, metadata={"days_refreshed": len(days), "as_of": as_of.isoformat()})


def _report_status(
    context: OpExecutionContext,
    database: BudgetDatabase,
    what: str,
    as_of: dt.datetime,
    outcome: Outcome,
    spend: dict[int, BrandSpend] | None = None,
) -> Iterator[Any]:
    """campaign_status after this step, tags saying what changed, and the step's output."""
    if tags := run_tags(outcome):
        context.instance.add_run_tags(context.run_id, tags)
    context.log.info(
        f"{what} as of {as_of.isoformat()}: {len(outcome.changes)} changed "
        f"({len(outcome.paused)} paused, {len(outcome.resumed)} resumed) of {outcome.evaluated}"
    )
    materialization, notifications = campaign_status_report(database.engine, what, as_of, outcome, spend)
    yield materialization
    # Reported with every campaign_status, so the UI never shows the check as not evaluated for
    # the latest one (delivery runs report it too, and without a webhook none runs).
    target = latest_materialization(context.instance, CAMPAIGN_STATUS, None)
    yield notifications.evaluation(None, target)
    reach = {}
    if outcome.brands:
        reach = {"pass": "incremental" if outcome.incremental else "full", "brands_evaluated": outcome.brands}
    yield Output(
        len(outcome.changes),
        metadata={
            "as_of": as_of.isoformat(),
            **reach,
            "campaigns_evaluated": outcome.evaluated,
            "campaigns_changed": len(outcome.changes),
            "paused": len(outcome.paused),
            "resumed": len(outcome.resumed),
            **_alerts_metadata(context, database, outcome),
        },
    )


def _alerts_metadata(context: OpExecutionContext, database: BudgetDatabase, outcome: Outcome) -> dict[str, Any]:
    """The alerts an enforcement recorded: how many, and which."""
    if not outcome.brands:  # not an enforcement: alerts are recorded only there
        return {}
    if not outcome.alerts:
        return {"alerts_recorded": 0}
    with database.engine.connect() as conn:
        entries = recorded_alerts(conn, run_id=context.run_id, limit=ROWS_SHOWN)
    return {
        "alerts_recorded": outcome.alerts,
        "alerts": MetadataValue.md(alerts_table(entries, total=outcome.alerts)),
    }


CHANGED = Out(int, description="How many campaigns this step changed.")


class EnforceConfig(Config):
    """How far an enforcement reaches."""

    full_pass: bool = False
    "Every brand, rather than only those whose spend, catalog or local date changed since the last enforcement."


@op(
    pool=STATUS_POOL,
    ins={"after": In(Nothing)},
    out=CHANGED,
    description="Apply the manual and budget rules to the campaigns of the brands whose spend, catalog or local "
    "date changed since the last enforcement (every brand with full_pass); log each change; report "
    "campaign_status and today's overspend check.",
)
@store_failures
def enforce_budgets(
    context: OpExecutionContext, config: EnforceConfig, database: BudgetDatabase, clock: Clock
) -> Iterator[Any]:
    as_of = clock.resolve(context)
    outcome = control.enforce_budgets(database.engine, as_of, context.run_id, full=config.full_pass)
    with database.engine.connect() as conn:
        rows = brands(conn)
        # What the UI reports covers every brand, also when only some were decided on.
        spend = brand_spend(conn, as_of, rows) if outcome.incremental else outcome.spend
    yield from _report_status(context, database, "budgets", as_of, outcome, spend)
    target = latest_materialization(context.instance, CAMPAIGN_STATUS, None)
    yield budgets_today(*brand_uses(rows, spend), as_of).evaluation(None, target)


@op(pool=STATUS_POOL, out=CHANGED, description="Clear daily budget reasons of brands whose local day has turned.")
@store_failures
def reset_daily_budgets(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Iterator[Any]:
    as_of = clock.resolve(context)
    outcome = control.reset_budgets(database.engine, as_of, context.run_id, monthly=False)
    yield from _report_status(context, database, "daily reset", as_of, outcome)


@op(pool=STATUS_POOL, out=CHANGED, description="Clear monthly budget reasons of brands whose local month has turned.")
@store_failures
def reset_monthly_budgets(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Iterator[Any]:
    as_of = clock.resolve(context)
    outcome = control.reset_budgets(database.engine, as_of, context.run_id, monthly=True)
    yield from _report_status(context, database, "monthly reset", as_of, outcome)


@op(
    pool=STATUS_POOL,
    out=CHANGED,
    description="Apply the dayparting (and manual) rule to every campaign; log each change.",
)
@store_failures
def apply_dayparting(context: OpExecutionContext, database: BudgetDatabase, clock: Clock) -> Iterator[Any]:
    as_of = clock.resolve(context)
    outcome = control.apply_dayparting(database.engine, as_of, context.run_id)
    yield from _report_status(context, database, "dayparting", as_of, outcome)


@op(
    pool=DELIVERY_POOL,
    out=Out(int, description="How many notifications this run delivered."),
    description="POST the notifications that are due to BUDGET_WEBHOOK_URL, in order per campaign, retrying "
    "failures with growing delays for 24 hours; report sent, retried and failed, and notifications_delivered.",
)
@store_failures
def deliver_notifications(
    context: OpExecutionContext, database: BudgetDatabase, webhook: WebhookResource, clock: Clock
) -> Iterator[Any]:
    # Never later than the wall clock: a retry scheduled after an instant years ahead held its
    # campaign's notifications back for years (an earlier instant only makes retries due sooner).
    now = min(clock.resolve(context), dt.datetime.now(dt.UTC))
    done = deliver_due(database.engine, webhook.webhook(), now)
    context.log.info(f"notifications as of {now.isoformat()}: {done.summary()}")
    if done.out_of_time:  # notifications_sensor asks for the next run at its next tick
        context.instance.add_run_tags(context.run_id, {OUT_OF_TIME_TAG: "true"})
    outcome = notifications_outcome(database.engine)
    target = latest_materialization(context.instance, CAMPAIGN_STATUS, None)
    yield outcome.evaluation(None, target)
    metadata: dict[str, Any] = {
        "as_of": now.isoformat(),
        "summary": done.summary(),
        "sent": done.sent,
        "retried": done.retried,
        "failed": done.failed,
        "waiting": done.waiting,
        "failed_for_good": outcome.metadata["notifications_failed"],
    }
    if done.not_sent:
        metadata["not_sent"] = done.not_sent
    if done.errors:
        metadata["errors"] = MetadataValue.md("\n".join(f"- {error}" for error in done.errors))
    yield Output(done.sent, metadata=metadata)
