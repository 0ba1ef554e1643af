"""The one place this package reaches into Dagster's internals, with why.

A check result that names the materialization it checked is "current" for that partition, and
only current results show in the UI's per-partition check status (the check's Partitions tab);
without it every partition reads "Missing". Dagster builds that pointer itself for checks it
runs in the asset's step, but `AssetCheckEvaluation`, which reports a result for a partition of
our choosing, takes it as `target_materialization_data`, whose type Dagster does not export.
Checked with Dagster 1.13.27; tests/defs/test_dagster_compat.py fails if it changes.
"""

from __future__ import annotations

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as TargetMaterialization,
)

__all__ = ["TargetMaterialization", "latest_materialization"]


def latest_materialization(
    instance: DagsterInstance, asset: str, partition: str | None
) -> TargetMaterialization | None:
    """The latest stored materialization of `asset` (of its `partition`, if given), as the pointer
    a check result names; None if there is none."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition] if partition else None), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    return TargetMaterialization(storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
