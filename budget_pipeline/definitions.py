"""The budget_pipeline code location: assembles what `defs/` defines."""

from dagster import Definitions, in_process_executor

from budget_pipeline.defs import resources
from budget_pipeline.defs.assets import (
    brands_within_budget_today,
    campaign_status,
    daily_spend,
    monthly_spend,
    notifications_delivered_check,
    raw_spend_records,
)
from budget_pipeline.defs.jobs import (
    daily_reset_job,
    daily_spend_job,
    dayparting_job,
    deliver_notifications_job,
    enforce_budgets_job,
    ingest_spend_job,
    monthly_reset_job,
    monthly_spend_job,
)
from budget_pipeline.defs.schedules import (
    daily_reset_schedule,
    dayparting_schedule,
    monthly_reset_schedule,
    spend_refresh_schedule,
)
from budget_pipeline.defs.sensors import enforce_on_spend_sensor, notifications_sensor, spend_landing_sensor

defs = Definitions(
    assets=[raw_spend_records, daily_spend, monthly_spend, campaign_status],
    asset_checks=[brands_within_budget_today, notifications_delivered_check],
    jobs=[
        ingest_spend_job,
        enforce_budgets_job,
        daily_reset_job,
        monthly_reset_job,
        dayparting_job,
        deliver_notifications_job,
        daily_spend_job,
        monthly_spend_job,
    ],
    schedules=[spend_refresh_schedule, daily_reset_schedule, monthly_reset_schedule, dayparting_schedule],
    sensors=[spend_landing_sensor, enforce_on_spend_sensor, notifications_sensor],
    resources=resources.from_settings(),
    # Every job is a short chain of database steps: run them in the run worker. The default
    # executor starts a Python process per step, seconds each on the path from a spend file
    # to a paused campaign (bench/latency.py), for no parallelism the chain could use.
    executor=in_process_executor,
)
