"""Sensors: new spend files, and spend materializations that still need enforcement."""

import hashlib
import json

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.event_api import EventLogCursor

from budget_pipeline.defs.jobs import ENFORCES_TAG, enforce_budgets_job, ingest_spend_job
from budget_pipeline.defs.ops import IngestConfig
from budget_pipeline.defs.resources import LandingFolder
from budget_pipeline.ingest.pipeline import file_key, pending_files

LANDING_INTERVAL_SECONDS = 2


@sensor(
    job=ingest_spend_job,
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests one ingest_spend_job run for the spend files that landed since the last tick.",
)
def spend_landing_sensor(context: SensorEvaluationContext, landing: LandingFolder) -> SensorResult | SkipReason:
    # The cursor holds the keys of files already requested that are still waiting in the folder.
    requested: set[str] = set(json.loads(context.cursor)) if context.cursor else set()
    pending = {file_key(path): path.name for path in pending_files(landing.root)}
    new = {key: name for key, name in pending.items() if key not in requested}
    still_waiting = sorted(requested & pending.keys())
    if not new:
        return SensorResult(
            skip_reason=SkipReason(f"no new spend files in {landing.root}"), cursor=json.dumps(still_waiting)
        )
    run_key = "ingest-" + hashlib.sha256("\n".join(sorted(new)).encode()).hexdigest()[:16]
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=run_key,
                run_config=RunConfig(ops={"ingest_landing_files": IngestConfig(files=sorted(new.values()))}),
                tags={"budget_pipeline/files": str(len(new))},
            )
        ],
        cursor=json.dumps(sorted(set(still_waiting) | new.keys())),
    )


FOLLOWED_ASSETS = ("daily_spend", "monthly_spend")
MATERIALIZATIONS_PER_TICK = 1000


@sensor(
    job=enforce_budgets_job,
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="After daily_spend or monthly_spend partitions are materialized by a run that did not enforce "
    "budgets itself (a backfill, a UI materialization), requests one enforce_budgets_job run per batch.",
)
def enforce_on_spend_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    # Reads the event log with a storage-id cursor per asset: asset_sensor can miss partitions
    # that materialize close together (dagster#32853).
    cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    run_ids: set[str] = set()
    newest = dict(cursor)
    for name in FOLLOWED_ASSETS:
        records = context.instance.fetch_materializations(
            AssetKey(name),
            limit=MATERIALIZATIONS_PER_TICK,
            cursor=_event_cursor(cursor.get(name)),
            ascending=True,
        ).records
        for record in records:
            run_ids.add(record.run_id)
            newest[name] = max(newest.get(name, 0), record.storage_id)
    if not run_ids:
        return SensorResult(skip_reason=SkipReason("no new spend materializations"), cursor=json.dumps(newest))
    runs = context.instance.get_runs(filters=RunsFilter(run_ids=sorted(run_ids)))
    unenforced = sorted(run.run_id for run in runs if run.tags.get(ENFORCES_TAG) != "true")
    if not unenforced:
        return SensorResult(
            skip_reason=SkipReason("new materializations came from runs that already enforced budgets"),
            cursor=json.dumps(newest),
        )
    batch = "-".join(str(newest[name]) for name in FOLLOWED_ASSETS if name in newest)
    return SensorResult(
        run_requests=[
            RunRequest(run_key=f"enforce-after-{batch}", tags={"budget_pipeline/after_runs": str(len(unenforced))})
        ],
        cursor=json.dumps(newest),
    )


def _event_cursor(storage_id: int | None) -> str | None:
    if storage_id is None:
        return None
    return EventLogCursor.from_storage_id(storage_id).to_string()
