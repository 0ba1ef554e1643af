import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus, Definitions

from budget_pipeline.definitions import defs

REPO = Path(__file__).resolve().parents[2]
CONTRACT_ASSETS = {"raw_spend_records", "daily_spend", "monthly_spend", "campaign_status"}


def test_definitions_load() -> None:
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == CONTRACT_ASSETS
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {
        "daily_spend_within_budget",
        "monthly_spend_within_budget",
        "daily_spend_reconciles",
        "brands_within_budget_today",
        "notifications_delivered",
    }
    # The spend checks keep a result per partition (a preview feature of Dagster 1.13.27).
    specs = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert specs["daily_spend_within_budget"].partitions_def is not None
    assert specs["monthly_spend_within_budget"].partitions_def is not None
    assert specs["brands_within_budget_today"].partitions_def is None
    # campaign_status is downstream of both spend assets in the lineage.
    parents = {key.to_user_string() for key in graph.get(AssetKey("campaign_status")).parent_keys}
    assert parents == {"daily_spend", "monthly_spend"}
    assert defs.resolve_job_def("ingest_spend_job") is not None
    for sensor in defs.sensors or []:
        assert sensor.default_status == DefaultSensorStatus.RUNNING
    for schedule in defs.schedules or []:
        assert schedule.default_status == DefaultScheduleStatus.RUNNING


def test_dagster_cli_validates_the_code_location(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate"],
        cwd=REPO,
        env={"PATH": str(dagster.parent), "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful for code location budget_pipeline" in done.stderr + done.stdout


def test_settings_the_environment_gives_are_env_vars_the_ui_can_show(tmp_path: Path) -> None:
    probe = (
        "from budget_pipeline.definitions import defs;"
        "r = defs.resources;"
        "url = r['database'].url;"
        "print(type(url).__name__, url.env_var_name, r['landing'].path, r['landing'].settle_seconds)"
    )
    env = {
        "PATH": str(Path(sys.executable).parent),
        "DAGSTER_HOME": str(tmp_path),
        "BUDGET_DATABASE_URL": "postgresql+psycopg2://budget:s3cret@db/budget",
        "BUDGET_LANDING_SETTLE_SECONDS": "7.5",
    }
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    # The resource holds the variable's name, not its value: the UI shows where it comes from.
    assert done.stdout.split() == ["EnvVar", "BUDGET_DATABASE_URL", "None", "7.5"]
