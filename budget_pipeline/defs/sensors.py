"""Sensors: the landing folder."""

import hashlib
import json

from dagster import (
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from budget_pipeline.defs.jobs import ingest_spend_job
from budget_pipeline.defs.ops import IngestConfig
from budget_pipeline.defs.resources import LandingFolder
from budget_pipeline.ingest.pipeline import file_key, pending_files

LANDING_INTERVAL_SECONDS = 5


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
