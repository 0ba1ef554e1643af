"""The jobs: ingestion (with refresh), spend refresh, and the spend-asset job for backfills."""

from dagster import define_asset_job, job

from budget_pipeline.defs.ops import ingest_landing_files, refresh_spend_partitions


@job(tags={"budget_pipeline/kind": "ingest"})
def ingest_spend_job() -> None:
    """Ingest pending landing files, then rebuild the spend partitions their records touched
    (and today's), with the asset checks of each rebuilt partition."""
    refresh_spend_partitions(ingest_landing_files())


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
