"""Predictive pause and pace through real runs and the CLI on SQLite and PostgreSQL."""

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult
from sqlalchemy import Engine

from budget_pipeline.definitions import defs
from budget_pipeline.defs.schedules import clock_config
from tests.conftest import apply_yaml
from tests.defs.conftest import SEED
from tests.defs.test_control_jobs import run, spend, states

CLI = str(Path(sys.executable).with_name("budget-pipeline"))


def cli_json(db_url: str, *args: str) -> object:
    env = {**os.environ, "BUDGET_DATABASE_URL": db_url}
    done = subprocess.run([CLI, *args, "--json"], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_a_brand_that_will_reach_its_budget_within_pause_ahead_is_paused_and_the_log_says_predicted(
    env: Engine, db_url: str, tmp_path: Path
) -> None:
    # Brand A (New York, 50.00 a day) may pause 30 minutes ahead; Brand B (London, 75.00) may not.
    apply_yaml(env, SEED.replace('monthly_budget: "1000.00"', 'monthly_budget: "1000.00"\n    pause_ahead: 30m'))
    spend(
        env,
        tmp_path,
        [
            "a-morning,a1,30,2026-11-25T14:00:00Z",  # 09:00 in New York
            "a-recent,a2,15,2026-11-25T16:20:00Z",  # in the hour before 17:00Z: 0.25 a minute
            "b-morning,b1,55,2026-11-25T09:00:00Z",
            "b-recent,b2,15,2026-11-25T16:20:00Z",
        ],
    )
    run("enforce_budgets_job", "2026-11-25T17:00:00Z")
    # A: 45 spent + 0.25 x 30 = 52.50 >= 50: paused ahead. B: 70 + 0.25 x 30 would pass 75, but B waits.
    assert states(env)["a1"] == ["daily_budget"] == states(env)["a2"]
    assert states(env)["b1"] == [] == states(env)["b2"]
    [entry] = [e for e in cli_json(db_url, "history", "--campaign", "a1")]  # type: ignore[attr-defined]
    assert (entry["changed_reason"], entry["predicted"]) == ("daily_budget", True)
    # Reached for real later: a new pause reason is not added, and the day's reset clears it.
    run("daily_reset_job", "2026-11-25T17:00:00Z")  # records today as A's last reset
    run("daily_reset_job", "2026-11-26T05:00:00Z")  # New York's next day
    assert states(env)["a1"] == []


def test_status_shows_pace_and_projections(env: Engine, db_url: str, tmp_path: Path) -> None:
    spend(env, tmp_path, ["a,a1,20,2026-11-25T14:00:00Z", "b,a1,6,2026-11-25T16:30:00Z"])
    run("enforce_budgets_job", "2026-11-25T17:00:00Z")  # 12:00 in New York: half the day gone
    report = cli_json(db_url, "status", "--brand", "Brand A", "--as-of", "2026-11-25T17:00:00Z")
    [brand] = report["brands"]  # type: ignore[index]
    assert brand["daily_pace"] == "1.04"  # 26 / (50 x 0.5)
    # The last hour spent 6: 0.1 a minute for the 720 minutes left, 26 + 72.
    assert brand["projected_daily_spend"] == "98.00"
    # The month: those 98, and the days to come spend what November's 24 completed days spent
    # on their weekdays: nothing (a day without spend counts, at zero).
    assert brand["projected_monthly_spend"] == "98.00"
    assert set(brand) >= {"daily_pace", "monthly_pace", "projected_daily_spend", "projected_monthly_spend"}
    at_midnight = cli_json(db_url, "status", "--brand", "Brand A", "--as-of", "2026-11-25T05:00:00Z")
    assert at_midnight["brands"][0]["daily_pace"] is None  # type: ignore[index]


def test_a_projection_is_never_below_the_spend_so_far_however_small(env: Engine, db_url: str, tmp_path: Path) -> None:
    # Fractions of a cent, hours before as_of: no recent rate, and nothing to round below.
    spend(env, tmp_path, ["a,a1,0.004,2026-11-25T14:00:00Z", "b,a2,12.34,2026-11-25T14:10:00Z"])
    report = cli_json(db_url, "status", "--brand", "Brand A", "--as-of", "2026-11-25T17:00:00Z")
    [brand] = report["brands"]  # type: ignore[index]
    spent = Decimal(brand["daily_spend"])
    assert spent == Decimal("12.344")  # 12.34 in cents, below it
    assert brand["monthly_spend"] == brand["daily_spend"]
    assert brand["projected_daily_spend"] == "12.35" == brand["projected_monthly_spend"]


def enforce(as_of: str) -> ExecuteInProcessResult:
    result = defs.resolve_job_def("enforce_budgets_job").execute_in_process(
        run_config=clock_config(dt.datetime.fromisoformat(as_of)), instance=DagsterInstance.ephemeral()
    )
    assert result.success
    return result


def test_pace_is_on_the_campaign_status_page_and_on_the_current_spend_partitions(env: Engine, tmp_path: Path) -> None:
    # Brand A: 26 today by noon in New York, 6 of it in the last hour; 40 yesterday (a day gone by).
    spend(
        env,
        tmp_path,
        ["a,a1,20,2026-11-25T14:00:00Z", "b,a1,6,2026-11-25T16:30:00Z", "y,a2,40,2026-11-24T15:00:00Z"],
    )
    result = enforce("2026-11-25T17:00:00Z")
    [status] = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["campaign_status"]]
    metadata = status.materialization.metadata
    assert metadata["brands_ahead_of_daily_pace"].value == 1  # 1.04: A; B and C spent nothing today
    # A's month: 66 by noon on the 25th, about 0.82 of November gone: pace 66 / 817 = 0.08. The
    # rest of today at the last hour's rate adds 72; the five days to come (Thursday to Monday)
    # each spend what November's completed days on their weekday spent: nothing (only Tuesday the
    # 24th spent): 66 + 72.
    [row] = [line for line in metadata["pace"].value.splitlines() if line.startswith("| Brand A |")]
    assert row == "| Brand A | 26.00 / 50.00 USD | 1.04 | 98.00 USD | 66.00 / 1000.00 USD | 0.08 | 138.00 USD |"

    days = {
        m.materialization.partition: m.materialization.metadata["brands_by_budget_use"].value
        for m in result.get_asset_materialization_events()
        if m.asset_key.path == ["daily_spend"]
    }
    assert "| Brand A | 50.00 USD | 26.00 USD | 52% | 1.04 | 98.00 USD |" in days["2026-11-25"]
    assert "| Brand A | 50.00 USD | 40.00 USD | 80% | - | - |" in days["2026-11-24"], "a day gone by has no pace"
