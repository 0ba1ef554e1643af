"""Schedules at and between their boundaries, and enforce_on_spend_sensor on a real instance."""

import datetime as dt
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_schedule_context, build_sensor_context, materialize
from sqlalchemy import select

from budget_pipeline import control
from budget_pipeline.definitions import defs
from budget_pipeline.defs.assets import daily_spend, monthly_spend, raw_spend_records
from budget_pipeline.defs.jobs import ENFORCES_TAG
from budget_pipeline.defs.resources import BudgetDatabase, Clock
from budget_pipeline.defs.schedules import (
    daily_reset_schedule,
    dayparting_schedule,
    monthly_reset_schedule,
    spend_refresh_schedule,
)
from budget_pipeline.defs.sensors import enforce_on_spend_sensor
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.reasons import parse_reasons
from budget_pipeline.store.schema import Campaign
from tests.conftest import apply_yaml, write_csv

CATALOG = """
brands:
  - name: Tokyo Foods
    timezone: Asia/Tokyo
    daily_budget: "50.00"
    monthly_budget: "1000.00"
    campaigns:
      - id: lunch
        name: Lunch
        dayparting: [{start: "11:00", end: "14:00"}]
  - name: Acme
    timezone: America/New_York
    daily_budget: "100.00"
    monthly_budget: "2000.00"
    campaigns: [{id: acme-search, name: Acme Search}]
"""


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture
def db(engine, db_url: str):  # type: ignore[no-untyped-def]
    apply_yaml(engine, CATALOG)
    return engine, BudgetDatabase(url=db_url)


def evaluate(schedule, when: str, database: BudgetDatabase):  # type: ignore[no-untyped-def]
    with build_schedule_context(scheduled_execution_time=at(when), resources={"database": database}) as context:
        return schedule.evaluate_tick(context)


def test_daily_reset_runs_only_when_some_brand_turned(db, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:  # type: ignore[no-untyped-def]
    engine, database = db
    monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
    first = evaluate(daily_reset_schedule, "2026-11-25T12:00:00+00:00", database)
    [request] = first.run_requests
    assert request.run_config == {"resources": {"clock": {"config": {"as_of": "2026-11-25T12:00:00+00:00"}}}}
    assert defs.resolve_job_def("daily_reset_job").execute_in_process(run_config=request.run_config).success

    quiet = evaluate(daily_reset_schedule, "2026-11-25T12:15:00+00:00", database)
    assert not quiet.run_requests and "no brand" in quiet.skip_message
    # 15:00Z is midnight in Tokyo; New York turns at 05:00Z.
    tokyo = evaluate(daily_reset_schedule, "2026-11-25T15:00:00+00:00", database)
    assert [r.run_key for r in tokyo.run_requests] == ["daily-reset-20261125T1500"]


def test_a_run_ahead_of_time_does_not_stop_the_resets(db, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """A what-if run at an instant years ahead resets that day; the next midnight of now still
    resets every brand (they had been taken as reset until 9999)."""
    _, database = db
    monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
    for job, schedule in (("daily_reset_job", daily_reset_schedule), ("monthly_reset_job", monthly_reset_schedule)):
        ahead = {"resources": {"clock": {"config": {"as_of": "9999-11-29T23:59:59Z"}}}}
        assert defs.resolve_job_def(job).execute_in_process(run_config=ahead).success
        [request] = evaluate(schedule, "2026-12-01T15:00:00+00:00", database).run_requests
        assert defs.resolve_job_def(job).execute_in_process(run_config=request.run_config).success
        assert not evaluate(schedule, "2026-12-01T15:15:00+00:00", database).run_requests


def test_monthly_reset_waits_for_the_local_month(db, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:  # type: ignore[no-untyped-def]
    _, database = db
    monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
    [request] = evaluate(monthly_reset_schedule, "2026-11-25T12:00:00+00:00", database).run_requests
    assert defs.resolve_job_def("monthly_reset_job").execute_in_process(run_config=request.run_config).success
    assert not evaluate(monthly_reset_schedule, "2026-11-30T14:45:00+00:00", database).run_requests
    assert evaluate(monthly_reset_schedule, "2026-11-30T15:00:00+00:00", database).run_requests  # Dec 1st in Tokyo


def test_dayparting_schedule_is_quiet_between_window_edges(db, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:  # type: ignore[no-untyped-def]
    _, database = db
    monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
    # 01:00Z is 10:00 in Tokyo: the lunch window is closed and the campaign not yet paused.
    [request] = evaluate(dayparting_schedule, "2026-11-25T01:00:00+00:00", database).run_requests
    assert defs.resolve_job_def("dayparting_job").execute_in_process(run_config=request.run_config).success
    assert not evaluate(dayparting_schedule, "2026-11-25T01:59:00+00:00", database).run_requests
    opened = evaluate(dayparting_schedule, "2026-11-25T02:00:00+00:00", database)  # 11:00 in Tokyo
    assert [r.run_key for r in opened.run_requests] == ["dayparting-20261125T0200"]


def test_spend_refresh_schedule_passes_its_tick_time() -> None:
    context = build_schedule_context(scheduled_execution_time=at("2026-11-25T10:15:00+00:00"))
    [request] = spend_refresh_schedule.evaluate_tick(context).run_requests
    assert request.run_config["resources"]["clock"]["config"]["as_of"] == "2026-11-25T10:15:00+00:00"
    assert spend_refresh_schedule.job_name == "enforce_budgets_job"  # the request runs the schedule's job


def sense(instance: DagsterInstance, database: BudgetDatabase, cursor: str | None = None):  # type: ignore[no-untyped-def]
    """One evaluation of enforce_on_spend_sensor, as the daemon makes it."""
    with build_sensor_context(instance=instance, resources={"database": database}, cursor=cursor) as context:
        return enforce_on_spend_sensor(context)


def test_enforce_sensor_sees_every_partition_materialized_close_together(  # type: ignore[no-untyped-def]
    db, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, database = db
    control.enforce_budgets(engine, at("2026-11-25T16:00:00+00:00"), "after-the-catalog")  # its change seen
    rows = [f"r{d},acme-search,5,2026-11-{d:02d}T15:00:00Z" for d in range(20, 26)]
    ingest_file(engine, write_csv(tmp_path / "s.csv", rows))
    with DagsterInstance.ephemeral() as instance:
        quiet = sense(instance, database)
        assert isinstance(quiet.skip_reason, SkipReason)
        # Six partitions in six separate runs, well within one second of each other.
        for day in range(20, 26):
            assert materialize(
                [raw_spend_records, daily_spend, monthly_spend],
                selection=[daily_spend],
                partition_key=f"2026-11-{day:02d}",
                resources={"database": database, "clock": Clock()},
                instance=instance,
            ).success
        first = sense(instance, database)
        [request] = first.run_requests
        assert isinstance(request, RunRequest)
        assert request.tags["budget_pipeline/after_runs"] == "6"
        again = sense(instance, database, first.cursor)
        assert not again.run_requests

        # Materializations reported by a run that already enforced budgets need no new run.
        monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
        assert (
            defs.resolve_job_def("enforce_budgets_job")
            .execute_in_process(
                instance=instance, run_config={"resources": {"clock": {"config": {"as_of": "2026-11-25T16:00:00Z"}}}}
            )
            .success
        )
        after_enforcing = sense(instance, database, first.cursor)
        assert not after_enforcing.run_requests
        assert "already enforced" in after_enforcing.skip_reason.skip_message


def test_enforce_sensor_asks_for_a_run_after_a_catalog_change_which_pauses_a_disabled_campaign(  # type: ignore[no-untyped-def]
    db, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`catalog apply` sets a campaign enabled: false: the sensor asks for one enforcement run,
    whose full pass gives it the `manual` reason; then it asks for nothing until the next change."""
    engine, database = db
    monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
    job = defs.resolve_job_def("enforce_budgets_job")
    config = {"resources": {"clock": {"config": {"as_of": "2026-11-25T16:00:00Z"}}}}
    with DagsterInstance.ephemeral() as instance:

        def evaluate_sensor():  # type: ignore[no-untyped-def]
            return sense(instance, database)

        [first] = evaluate_sensor().run_requests  # the catalog's first apply, never enforced
        assert first.tags["budget_pipeline/after_catalog_change"] == "true"
        # While the run it asked for waits in the queue, the next ticks ask for nothing more.
        # (The daemon's runs carry their job's tags, as the ones made here.)
        queued = instance.create_run_for_job(job_def=job, run_config=config, tags={**job.run_tags, **first.tags})
        assert queued.tags[ENFORCES_TAG] == "true"
        assert "no catalog change" in evaluate_sensor().skip_reason.skip_message
        instance.delete_run(queued.run_id)
        assert job.execute_in_process(instance=instance, run_config=config, tags=first.tags).success
        assert "no catalog change" in evaluate_sensor().skip_reason.skip_message

        apply_yaml(
            engine,
            CATALOG.replace(
                "{id: acme-search, name: Acme Search}", "{id: acme-search, name: Acme Search, enabled: false}"
            ),
        )
        [request] = evaluate_sensor().run_requests
        assert request.run_key != first.run_key
        assert state(engine, "acme-search") == (True, [])  # not yet: no enforcement has run
        assert job.execute_in_process(instance=instance, run_config=config, tags=request.tags).success
        assert state(engine, "acme-search") == (False, ["manual"])
        assert not evaluate_sensor().run_requests


def state(engine, campaign_id: str) -> tuple[bool, list[str]]:  # type: ignore[no-untyped-def]
    """A campaign's `active` and its reasons."""
    with engine.connect() as conn:
        active, reasons = conn.execute(
            select(Campaign.active, Campaign.pause_reasons).where(Campaign.id == campaign_id)
        ).one()
    return active, sorted(parse_reasons(reasons))


def test_spend_and_a_catalog_change_in_one_tick_ask_for_one_run(  # type: ignore[no-untyped-def]
    db, db_url: str, tmp_path: Path
) -> None:
    """New spend partitions (from a run that did not enforce) and a catalog change seen at one
    tick: one request for both; the next tick, its run still queued, asks for nothing."""
    engine, database = db
    ingest_file(engine, write_csv(tmp_path / "s.csv", ["r1,acme-search,5,2026-11-25T15:00:00Z"]))
    job = defs.resolve_job_def("enforce_budgets_job")
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [raw_spend_records, daily_spend, monthly_spend],
            selection=[daily_spend],
            partition_key="2026-11-25",
            resources={"database": database, "clock": Clock()},
            instance=instance,
        ).success
        first = sense(instance, database)
        [request] = first.run_requests
        assert request.tags["budget_pipeline/after_runs"] == "1"
        assert request.tags["budget_pipeline/after_catalog_change"] == "true"
        instance.create_run_for_job(job_def=job, tags={**job.run_tags, **request.tags})  # queued, not yet run
        assert not sense(instance, database, first.cursor).run_requests
