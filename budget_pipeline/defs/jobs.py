"""The jobs. Every job that writes campaign status carries WRITES_STATUS_TAG, which the
instance's run coordinator limits to one run at a time (dagster.yaml). Every job that holds a
one-run slot (status writing, delivery) carries a dagster/max_runtime: past it the instance's
run monitoring ends the run (terminated if it still runs) and marks it failed, so a run whose
code server died under it frees its slot. A status-writing run is never retried: a retry would
decide again at the failed run's instant, later than the runs after it (a reset undone); the
schedules and sensors ask for the next run at their next tick."""

from dagster import define_asset_job, job

from budget_pipeline.defs.ops import (
    apply_dayparting,
    deliver_notifications,
    enforce_budgets,
    ingest_landing_files,
    refresh_spend_partitions,
    reset_daily_budgets,
    reset_monthly_budgets,
)

WRITES_STATUS_TAG = "budget_pipeline/writes_status"
ENFORCES_TAG = "budget_pipeline/enforces"
DELIVERS_TAG = "budget_pipeline/delivers"
MAX_RUNTIME_TAG = "dagster/max_runtime"
MAX_RETRIES_TAG = "dagster/max_retries"
# Seconds. A control run takes seconds (a month's first refresh and pass at 1M campaigns, under
# a minute); a delivery run stops itself after delivery.RUN_SECONDS (300); an ingestion run's
# file can be large (10M records in a minute or two): each limit is three times or more what
# it needs.
CONTROL_RUNTIME, INGEST_RUNTIME = "900", "1800"
STATUS_WRITER = {WRITES_STATUS_TAG: "true", MAX_RUNTIME_TAG: CONTROL_RUNTIME, MAX_RETRIES_TAG: "0"}


@job(tags={**STATUS_WRITER, ENFORCES_TAG: "true", MAX_RUNTIME_TAG: INGEST_RUNTIME})
def ingest_spend_job() -> None:
    """Ingest pending landing files, rebuild the spend partitions their records touched (and
    today's) with their asset checks, and apply the budget rules: one run from a new spend file
    to a paused campaign."""
    enforce_budgets(refresh_spend_partitions(ingest_landing_files()))


@job(tags={**STATUS_WRITER, ENFORCES_TAG: "true"})
def enforce_budgets_job() -> None:
    """Bring the current and newly touched spend partitions up to date, then apply the manual
    and budget rules to every campaign as of the clock's instant."""
    enforce_budgets(refresh_spend_partitions())


@job(tags=STATUS_WRITER)
def daily_reset_job() -> None:
    """Clear the daily budget reasons of brands whose local day has turned since their last reset."""
    reset_daily_budgets()


@job(tags=STATUS_WRITER)
def monthly_reset_job() -> None:
    """Clear the monthly budget reasons of brands whose local month has turned since their last reset."""
    reset_monthly_budgets()


@job(tags=STATUS_WRITER)
def dayparting_job() -> None:
    """Pause campaigns outside their allowed hours and resume those inside them; budget and
    manual pauses are left alone."""
    apply_dayparting()


@job(tags={DELIVERS_TAG: "true", MAX_RUNTIME_TAG: CONTROL_RUNTIME})
def deliver_notifications_job() -> None:
    """Send the notifications that are due (status changes and budget alerts) to BUDGET_WEBHOOK_URL, in
    order per campaign, retrying failures for 24 hours. Writes no status: a slow or dead receiver
    never holds up enforcement."""
    deliver_notifications()


daily_spend_job = define_asset_job(
    "daily_spend_job",
    selection=["daily_spend"],
    description="Materialize daily_spend partitions (one run per range, as a backfill does).",
)
monthly_spend_job = define_asset_job(
    "monthly_spend_job",
    selection=["monthly_spend"],
    description="Materialize monthly_spend partitions from daily_spend.",
)
