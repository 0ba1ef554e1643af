"""Contract promises that had no test of their own, each through real Dagster runs on SQLite
and PostgreSQL (issue 10, "Contract parts without a test")."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import DagsterInstance, materialize
from sqlalchemy import Engine, event, func, select, text

from budget_pipeline.definitions import defs
from budget_pipeline.defs.assets import daily_spend, monthly_spend, raw_spend_records
from budget_pipeline.defs.resources import BudgetDatabase, Clock
from budget_pipeline.store.schema import StatusLog
from tests.conftest import apply_yaml
from tests.defs.conftest import SEED
from tests.defs.test_control_jobs import run, spend, states

NEW_YORK = ZoneInfo("America/New_York")


def test_the_monthly_reset_clears_monthly_reasons_at_the_local_month_start(env: Engine, tmp_path: Path) -> None:
    apply_yaml(env, SEED.replace('monthly_budget: "1000.00"', 'monthly_budget: "40.00"'))
    spend(env, tmp_path, ["x,a1,45,2026-11-30T15:00:00Z"])  # Brand A (New York): over its month, not its day
    run("monthly_reset_job", "2026-11-30T16:00:00Z")  # the first reset records the local month
    run("enforce_budgets_job", "2026-11-30T16:00:00Z")
    assert states(env)["a1"] == ["monthly_budget"] == states(env)["a2"]
    run("monthly_reset_job", "2026-12-01T04:45:00Z")  # 23:45 on Nov 30 in New York
    assert states(env)["a1"] == ["monthly_budget"]
    run("monthly_reset_job", "2026-12-01T05:00:00Z")  # midnight, Dec 1 in New York
    assert states(env)["a1"] == [] == states(env)["a2"]


def test_the_monthly_check_lists_each_brand_at_or_over_with_figures(env: Engine, db_url: str, tmp_path: Path) -> None:
    apply_yaml(env, SEED.replace('monthly_budget: "1500.00"', 'monthly_budget: "70.00"'))
    spend(env, tmp_path, ["b,b1,40,2026-11-02T12:00:00Z", "b2,b2,35.5,2026-11-20T12:00:00Z"])
    # Daily and monthly have partitions of their own: the days first, then their month.
    for asset, keys in ((daily_spend, ["2026-11-02", "2026-11-20"]), (monthly_spend, ["2026-11-01"])):
        for key in keys:
            done = materialize(
                [raw_spend_records, daily_spend, monthly_spend],
                selection=[asset],
                partition_key=key,
                resources={"database": BudgetDatabase(url=db_url), "clock": Clock()},
                instance=DagsterInstance.ephemeral(),
            )
    [check] = [e for e in done.get_asset_check_evaluations() if e.check_name == "monthly_spend_within_budget"]
    assert (check.passed, check.severity.value) == (False, "WARN")
    assert check.metadata["brands_at_or_over_budget"].value == "1"
    assert check.description == "1 brand(s) at or over the monthly budget: Brand B 75.50 / 70.00 USD, +5.50"
    assert "| Brand B | 70.00 USD | 75.50 USD | 5.50 USD | 108% |" in check.metadata["overspend"].value


def test_a_status_write_that_dies_half_way_leaves_every_campaign_as_it_was(env: Engine, tmp_path: Path) -> None:
    spend(env, tmp_path, ["x,a1,50,2026-11-25T15:00:00Z", "y,b1,80,2026-11-25T11:00:00Z"])

    def die_before_the_log(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO CAMPAIGN_STATUS_LOG"):
            raise RuntimeError("the process died here")

    # On every engine of this process, so on the one the run's resource makes too.
    event.listen(Engine, "before_cursor_execute", die_before_the_log)
    try:
        result = defs.resolve_job_def("enforce_budgets_job").execute_in_process(
            run_config={"resources": {"clock": {"config": {"as_of": "2026-11-25T16:00:00Z"}}}},
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    finally:
        event.remove(Engine, "before_cursor_execute", die_before_the_log)
    assert not result.success
    assert all(reasons == [] for reasons in states(env).values()), "the campaigns' update was rolled back with it"
    with env.connect() as conn:
        assert conn.execute(select(func.count()).select_from(StatusLog)).scalar_one() == 0
    run("enforce_budgets_job", "2026-11-25T16:00:00Z")  # the next run does all of it
    assert states(env)["a1"] == ["daily_budget"] == states(env)["b1"]


def test_a_backfill_of_past_days_never_pauses_a_campaign_today(env: Engine, db_url: str, tmp_path: Path) -> None:
    spend(env, tmp_path, ["past,a1,500,2026-11-10T15:00:00Z", "today,a2,10,2026-11-25T15:00:00Z"])
    with DagsterInstance.ephemeral() as instance:
        backfill = materialize(
            [raw_spend_records, daily_spend, monthly_spend],
            selection=[daily_spend],
            partition_key="2026-11-10",
            resources={"database": BudgetDatabase(url=db_url), "clock": Clock()},
            instance=instance,
        )
        [check] = [e for e in backfill.get_asset_check_evaluations() if e.check_name == "daily_spend_within_budget"]
        assert not check.passed, "the past overspend is still reported"
        run("enforce_budgets_job", "2026-11-25T16:00:00Z")
    assert states(env)["a1"] == [] == states(env)["a2"], "today Brand A has spent 10 of 50"


def test_budget_start_date_is_the_first_partition(tmp_path: Path) -> None:
    probe = (
        "from budget_pipeline.defs.partitions import daily_partitions, monthly_partitions;"
        "print(daily_partitions.get_first_partition_key(), monthly_partitions.get_first_partition_key())"
    )
    env = {**os.environ, "BUDGET_START_DATE": "2026-11-05", "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2026-11-05", "2026-11-01"]


def test_a_window_without_days_applies_every_day(env: Engine) -> None:
    apply_yaml(
        env, SEED.replace("{id: c1, name: C1}", '{id: c1, name: C1, dayparting: [{start: "09:00", end: "10:00"}]}')
    )
    for day in range(23, 30):  # Monday 2026-11-23 .. Sunday 2026-11-29, 09:30 in Tokyo
        run("dayparting_job", f"2026-11-{day:02d}T00:30:00Z")
        assert states(env)["c1"] == [], day
        run("dayparting_job", f"2026-11-{day:02d}T01:30:00Z")  # 10:30 in Tokyo
        assert states(env)["c1"] == ["dayparting"], day


def test_the_clock_defaults_to_now(env: Engine) -> None:
    before = dt.datetime.now(dt.UTC)
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("dayparting_job").execute_in_process(instance=instance)
        recorded = dt.datetime.fromisoformat(instance.get_run_by_id(result.run_id).tags["budget_pipeline/as_of"])
    assert before <= recorded <= dt.datetime.now(dt.UTC)


def test_dst_days_are_23_and_25_hours_long_through_ingestion_and_aggregation(
    env: Engine, db_url: str, tmp_path: Path
) -> None:
    # New York: 2026-03-08 has 23 hours (02:00 -> 03:00), 2026-11-01 has 25 (02:00 -> 01:00).
    rows = []
    for day, hours in (("2026-03-08", 23), ("2026-11-01", 25)):
        first = dt.datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=NEW_YORK).astimezone(dt.UTC)
        rows += [f"{day}-{h},a1,1,{(first + dt.timedelta(hours=h)).isoformat()}" for h in range(hours + 1)]
    spend(env, tmp_path, rows)  # the last row of each day is the next local midnight
    for key in ("2026-03-08", "2026-03-09", "2026-11-01", "2026-11-02"):
        assert materialize(
            [raw_spend_records, daily_spend, monthly_spend],
            selection=[daily_spend],
            partition_key=key,
            resources={"database": BudgetDatabase(url=db_url), "clock": Clock()},
            instance=DagsterInstance.ephemeral(),
        ).success
    with env.connect() as conn:
        records = dict(conn.execute(text("SELECT day, records FROM daily_spend WHERE campaign_id = 'a1'")).all())
    assert {str(day): n for day, n in records.items()} == {
        "2026-03-08": 23,
        "2026-03-09": 1,
        "2026-11-01": 25,
        "2026-11-02": 1,
    }
