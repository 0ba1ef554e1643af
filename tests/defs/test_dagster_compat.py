"""The one call into Dagster's internals (`defs/dagster_compat.py`, checked with 1.13.27): each
partition's check result names the materialization it checked, so Dagster counts it as that
partition's current status (what the UI's per-partition check view shows) instead of "Missing".
This test reads Dagster's own record of that and fails if the mechanism changes."""

from pathlib import Path

from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize
from sqlalchemy import Engine

from budget_pipeline.defs.assets import daily_spend, monthly_spend, raw_spend_records
from budget_pipeline.defs.resources import BudgetDatabase, Clock
from budget_pipeline.ingest.pipeline import ingest_file
from tests.conftest import partition_range, write_csv


def test_each_partitions_check_result_is_current_for_that_partition(acme: Engine, db_url: str, tmp_path: Path) -> None:
    ingest_file(acme, write_csv(tmp_path / "s.csv", ["a,acme-search,150,2026-11-20T15:00:00Z"]))
    tags = partition_range("2026-11-20", "2026-11-22")
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [raw_spend_records, daily_spend, monthly_spend],
            selection=[daily_spend],
            resources={"database": BudgetDatabase(url=db_url), "clock": Clock()},
            instance=instance,
            tags=tags,
        ).success
        key = AssetCheckKey(AssetKey("daily_spend"), "daily_spend_within_budget")
        infos = instance.event_log_storage.get_asset_check_partition_info([key])
    by_partition = {info.partition_key: info for info in infos}
    assert sorted(by_partition) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert all(info.is_current for info in infos)
    assert by_partition["2026-11-20"].latest_execution_status.value == "FAILED"
    assert by_partition["2026-11-21"].latest_execution_status.value == "SUCCEEDED"
