"""Schedules. Each passes its tick time as the run's `as_of` and launches a run only when the
run would change something (except the spend refresh, which is the periodic safety net)."""

import datetime as dt
from typing import Any

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from budget_pipeline import control
from budget_pipeline.defs.jobs import daily_reset_job, dayparting_job, enforce_budgets_job, monthly_reset_job
from budget_pipeline.defs.resources import AS_OF_TAG, BudgetDatabase


def clock_config(as_of: dt.datetime) -> dict[str, Any]:
    return {"resources": {"clock": {"config": {"as_of": as_of.astimezone(dt.UTC).isoformat()}}}}


def full_pass_config() -> dict[str, Any]:
    """Run config that has enforce_budgets look at every brand, not only those that changed."""
    return {"ops": {"enforce_budgets": {"config": {"full_pass": True}}}}


def _request(prefix: str, as_of: dt.datetime, extra_config: dict[str, Any] | None = None) -> RunRequest:
    stamp = as_of.astimezone(dt.UTC)
    return RunRequest(
        run_key=f"{prefix}-{stamp:%Y%m%dT%H%M}",
        run_config={**clock_config(stamp), **(extra_config or {})},
        tags={AS_OF_TAG: stamp.isoformat()},
    )


def _tick(context: ScheduleEvaluationContext) -> dt.datetime:
    return context.scheduled_execution_time.astimezone(dt.UTC)


@schedule(
    job=enforce_budgets_job,
    cron_schedule="*/15 * * * *",  # every 15 minutes
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Refreshes the spend partitions that are current or that new records touched, then enforces "
    "budgets on every brand (a full pass: the safety net beneath the incremental enforcement of each spend "
    "file); spend files themselves are handled within seconds by spend_landing_sensor.",
)
def spend_refresh_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return _request("spend-refresh", _tick(context), full_pass_config())


def _reset(context: ScheduleEvaluationContext, database: BudgetDatabase, *, monthly: bool) -> RunRequest | SkipReason:
    as_of = _tick(context)
    due = control.brands_due_for_reset(database.engine, as_of, monthly=monthly)
    period = "month" if monthly else "day"
    if not due:
        return SkipReason(f"no brand's local {period} has turned since its last reset (as of {as_of.isoformat()})")
    return _request("monthly-reset" if monthly else "daily-reset", as_of)


@schedule(
    job=daily_reset_job,
    # every 15 minutes: every UTC offset in use (…, +05:45, +12:45) has its midnight on this grid
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Resets daily budget reasons brand by brand at each brand's own local midnight.",
)
def daily_reset_schedule(context: ScheduleEvaluationContext, database: BudgetDatabase) -> RunRequest | SkipReason:
    return _reset(context, database, monthly=False)


@schedule(
    job=monthly_reset_job,
    cron_schedule="*/15 * * * *",  # every 15 minutes, as daily_reset_schedule
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Resets monthly budget reasons brand by brand at each brand's own local month start.",
)
def monthly_reset_schedule(context: ScheduleEvaluationContext, database: BudgetDatabase) -> RunRequest | SkipReason:
    return _reset(context, database, monthly=True)


@schedule(
    job=dayparting_job,
    cron_schedule="* * * * *",  # every minute: windows have minute precision
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Applies dayparting, launching a run only when some campaign's window opened or closed.",
)
def dayparting_schedule(context: ScheduleEvaluationContext, database: BudgetDatabase) -> RunRequest | SkipReason:
    as_of = _tick(context)
    pending = control.pending_dayparting_changes(database.engine, as_of)
    if not pending:
        return SkipReason(f"no dayparting window opened or closed (as of {as_of.isoformat()})")
    return _request("dayparting", as_of)
