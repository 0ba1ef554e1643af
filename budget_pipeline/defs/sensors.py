"""Sensors: new spend files, spend materializations that still need enforcement, and
notifications due for delivery."""

import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path

from dagster import (
    AssetKey,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from budget_pipeline.defs.jobs import ENFORCES_TAG, deliver_notifications_job, enforce_budgets_job, ingest_spend_job
from budget_pipeline.defs.ops import OUT_OF_TIME_TAG, IngestConfig
from budget_pipeline.defs.resources import BudgetDatabase, LandingFolder, WebhookResource
from budget_pipeline.ingest.landing import scan_landing
from budget_pipeline.ingest.names import utf8_name
from budget_pipeline.ingest.pipeline import file_key
from budget_pipeline.store.marks import newest_catalog_change
from budget_pipeline.store.notifications import due

LANDING_INTERVAL_SECONDS = 2
# A request whose run cannot be found this long after (the daemon never launched it) is made again.
UNSEEN_RUN_SECONDS = 60.0
RUN_KEY_TAG = "dagster/run_key"
UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


@sensor(
    job=ingest_spend_job,
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests one ingest_spend_job run for the spend files that settled in the landing folder since "
    "the last tick, and again for files whose run ended without taking them (say, the database was down).",
)
def spend_landing_sensor(context: SensorEvaluationContext, landing: LandingFolder) -> SensorResult:
    requested = _requests(context.cursor)
    now = time.time()
    if (problem := landing.problem()) is not None:
        return SensorResult(skip_reason=SkipReason(problem), cursor=context.cursor)
    root = landing.root
    scan = scan_landing(root, now, landing.settle)
    waiting = _keyed([*scan.ready, *(path for path, _ in scan.refused)])
    ended = _ended_requests(context, {requested[key][0] for key in waiting if key in requested}, requested, now)
    due = {key: name for key, name in waiting.items() if key not in requested or requested[key][0] in ended}
    kept = {key: requested[key] for key in waiting if key in requested and key not in due}
    if not due:
        why = f"no new spend files in {root}"
        if kept:
            why = f"{len(kept)} file(s) waiting for their ingest run"
        elif scan.settling:
            why = f"{len(scan.settling)} file(s) still being written (or changed within the settle time)"
        return SensorResult(skip_reason=SkipReason(why), cursor=json.dumps(kept))
    # Derived from the files and their earlier requests: the same tick evaluated twice asks for one run.
    earlier = "\n".join(f"{key}|{requested[key][0] if key in requested else ''}" for key in sorted(due))
    run_key = "ingest-" + hashlib.sha256(earlier.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    names = sorted(set(due.values()))
    if not all(utf8_name(name) for name in names):
        # A name that is not UTF-8 cannot travel in run config: the run looks at every file then
        # (and refuses that one, to failed/).
        names = []
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=run_key,
                run_config=RunConfig(ops={"ingest_landing_files": IngestConfig(files=names)}),
                tags={"budget_pipeline/files": str(len(due))},
            )
        ],
        cursor=json.dumps({**kept, **{key: [run_key, now] for key in due}}),
    )


Requests = dict[str, tuple[str, float]]


def _requests(cursor: str | None) -> Requests:
    """The cursor: each requested file still waiting, by file key, with [run key, request time].
    (A cursor of an older form, a list of keys, starts afresh: at worst a file is asked for twice.)"""
    loaded = json.loads(cursor) if cursor else {}
    if not isinstance(loaded, dict):
        return {}
    return {key: (str(entry[0]), float(entry[1])) for key, entry in loaded.items()}


def _keyed(paths: list[Path]) -> dict[str, str]:
    """The file key (name, size, modification time) of each path still there, with its name."""
    keyed = {}
    for path in paths:
        try:
            keyed[file_key(path.name, os.lstat(path))] = path.name
        except FileNotFoundError:
            continue
    return keyed


def _ended_requests(
    context: SensorEvaluationContext,
    run_keys: set[str],
    requested: Requests,
    now: float,
) -> set[str]:
    """The run keys among `run_keys` whose newest run has finished (it failed, or it succeeded
    without taking the file), or whose run never appeared."""
    if not run_keys:
        return set()
    newest: dict[str, DagsterRun] = {}
    for run in context.instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: sorted(run_keys)})):
        key = run.tags.get(RUN_KEY_TAG, "")
        if key not in newest:  # newest first
            newest[key] = run
    asked_at = dict(requested.values())
    unseen = {key for key in run_keys if key not in newest and now - asked_at[key] > UNSEEN_RUN_SECONDS}
    return {key for key, run in newest.items() if run.is_finished} | unseen


FOLLOWED_ASSETS = ("daily_spend", "monthly_spend")
MATERIALIZATIONS_PER_TICK = 1000


@sensor(
    job=enforce_budgets_job,
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests one enforce_budgets_job run after daily_spend or monthly_spend partitions are "
    "materialized by a run that did not enforce budgets itself (a backfill, a UI materialization), and after a "
    "`catalog apply` that no enforcement has seen yet (a campaign set enabled: false is paused then).",
)
def enforce_on_spend_sensor(context: SensorEvaluationContext, database: BudgetDatabase) -> SensorResult | SkipReason:
    # Reads the event log with a cursor per asset (the one Dagster hands back with each batch of
    # records): asset_sensor can miss partitions that materialize close together (dagster#32853).
    cursors = _event_cursors(context)
    run_ids: set[str] = set()
    newest: dict[str, int] = {}
    for name in FOLLOWED_ASSETS:
        batch = context.instance.fetch_materializations(
            AssetKey(name), limit=MATERIALIZATIONS_PER_TICK, cursor=cursors.get(name), ascending=True
        )
        for record in batch.records:
            run_ids.add(record.run_id)
            newest[name] = max(newest.get(name, 0), record.storage_id)
        if batch.records:
            cursors[name] = batch.cursor
    cursor = json.dumps(cursors)
    runs = context.instance.get_runs(filters=RunsFilter(run_ids=sorted(run_ids))) if run_ids else []
    unenforced = sorted(run.run_id for run in runs if run.tags.get(ENFORCES_TAG) != "true")
    keys, tags = [], {}
    if unenforced:
        keys.append("-".join(str(newest[name]) for name in FOLLOWED_ASSETS if name in newest))
        tags["budget_pipeline/after_runs"] = str(len(unenforced))
    if (catalog_key := _catalog_change_key(context, database)) is not None:
        keys.append(catalog_key)
        tags["budget_pipeline/after_catalog_change"] = "true"
    if not keys:
        if run_ids:
            why = "new materializations came from runs that already enforced budgets"
        else:
            why = "no new spend materializations"
        return SensorResult(
            skip_reason=SkipReason(f"{why}, and no catalog change waits for an enforcement"), cursor=cursor
        )
    return SensorResult(run_requests=[RunRequest(run_key=f"enforce-after-{'-'.join(keys)}", tags=tags)], cursor=cursor)


def _catalog_change_key(context: SensorEvaluationContext, database: BudgetDatabase) -> str | None:
    """The run key part that asks for an enforcement after a catalog change, or None: none is
    waiting (a change leaves a mark until an enforcement has read it), or a run that enforces is
    queued or under way (it takes the change; asking again would run twice). The key names the
    mark and the hour, as notifications_sensor's does: a run that failed is asked for again the
    next hour (the spend refresh schedule's full pass, every 15 minutes, takes the change before
    that), not at every tick, and a database made anew (its marks numbered from 1 again) is not
    taken for one asked about in an earlier hour."""
    with database.engine.connect() as conn:
        mark = newest_catalog_change(conn)
    if mark is None:
        return None
    enforcing = context.instance.get_runs(filters=RunsFilter(tags={ENFORCES_TAG: "true"}, statuses=UNFINISHED), limit=1)
    if enforcing:
        return None
    return f"catalog-{mark}-{dt.datetime.now(dt.UTC):%Y%m%d%H}"


def _event_cursors(context: SensorEvaluationContext) -> dict[str, str]:
    """The sensor's cursor: Dagster's event-log cursor string per followed asset. A cursor of an
    older form (storage ids) restarts from the newest materialization, so history is not replayed."""
    loaded = json.loads(context.cursor) if context.cursor else {}
    cursors = {name: value for name, value in loaded.items() if isinstance(value, str)}
    for name, value in loaded.items():
        if not isinstance(value, str):
            latest = context.instance.fetch_materializations(AssetKey(name), limit=1, ascending=False)
            if latest.records:
                cursors[name] = latest.cursor
    return cursors


NOTIFICATIONS_INTERVAL_SECONDS = 10


@sensor(
    job=deliver_notifications_job,
    minimum_interval_seconds=NOTIFICATIONS_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests a deliver_notifications_job run when notifications are due (new ones, or failed ones "
    "whose retry time has come) and no delivery run is under way; skips while BUDGET_WEBHOOK_URL is unset.",
)
def notifications_sensor(
    context: SensorEvaluationContext, database: BudgetDatabase, webhook: WebhookResource
) -> SensorResult | SkipReason:
    now = dt.datetime.now(dt.UTC)
    with database.engine.connect() as conn:
        waiting = due(conn, now)
    if not waiting.count:
        return SkipReason("no notifications due")
    if not webhook.url:
        return SkipReason(f"{waiting.count} notification(s) kept: BUDGET_WEBHOOK_URL is not set")
    running = context.instance.get_runs(
        filters=RunsFilter(job_name=deliver_notifications_job.name, statuses=UNFINISHED), limit=1
    )
    if running:
        return SkipReason(f"{waiting.count} notification(s) due; a delivery run is under way")
    # The same outbox state asks for one run; the hour in the key asks again if that run died, and
    # a run that stopped at its time limit asks for the next at once. (A run that stopped after
    # failures in a row leaves the key as it was: nothing is asked of a dead receiver until a
    # retry is due or the hour turns.)
    run_key = f"deliver-{waiting.newest}-{waiting.attempts}-{now:%Y%m%d%H}"
    last = context.instance.get_runs(filters=RunsFilter(job_name=deliver_notifications_job.name), limit=1)
    if last and last[0].tags.get(OUT_OF_TIME_TAG) == "true":
        run_key += f"-after-{last[0].run_id}"
    return SensorResult(
        run_requests=[RunRequest(run_key=run_key, tags={"budget_pipeline/due": str(waiting.count)})],
    )
