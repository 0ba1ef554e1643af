"""The budget_pipeline code location: assembles what `defs/` defines."""

from dagster import Definitions

from budget_pipeline.defs.assets import daily_spend, monthly_spend, raw_spend_records
from budget_pipeline.defs.jobs import daily_spend_job, ingest_spend_job, monthly_spend_job
from budget_pipeline.defs.resources import BudgetDatabase, Clock, LandingFolder
from budget_pipeline.defs.sensors import spend_landing_sensor

defs = Definitions(
    assets=[raw_spend_records, daily_spend, monthly_spend],
    jobs=[ingest_spend_job, daily_spend_job, monthly_spend_job],
    sensors=[spend_landing_sensor],
    resources={"database": BudgetDatabase(), "clock": Clock(), "landing": LandingFolder()},
)
