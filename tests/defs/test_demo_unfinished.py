"""`python -m budget_pipeline.demo.unfinished` (scripts/dev demo, before `dagster dev`): the
runs a killed `dagster dev` left unfinished are failed; finished ones, and one whose process is
still alive (a `budget-pipeline tick`'s), are left as they are."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.events import EngineEventData

REPO = Path(__file__).resolve().parents[2]


def test_runs_left_unfinished_are_failed_and_finished_ones_kept(tmp_path: Path) -> None:
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", tmp_path / "dagster.yaml")
    statuses = {
        "started": DagsterRunStatus.STARTED,
        "starting": DagsterRunStatus.STARTING,
        "canceling": DagsterRunStatus.CANCELING,
        "done": DagsterRunStatus.SUCCESS,
        "failed": DagsterRunStatus.FAILURE,
    }
    ids = {}
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        for name, status in statuses.items():
            run = instance.add_run(DagsterRun(job_name="enforce_budgets_job", status=status))
            ids[name] = run.run_id
        # A run whose process is alive (a `budget-pipeline tick` beside the demo: here this
        # test's own process), and one whose process has ended: each names it in an engine event.
        ended = subprocess.Popen(["true"])
        ended.wait()
        for name, pid in (("alive", os.getpid()), ("gone", ended.pid)):
            run = instance.add_run(DagsterRun(job_name="enforce_budgets_job", status=DagsterRunStatus.STARTED))
            instance.report_engine_event("Executing steps in process", run, EngineEventData.in_process(pid))
            ids[name] = run.run_id
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "budget_pipeline.demo.unfinished"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("4 run(s) left unfinished by the last `dagster dev` marked failed")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        after = {name: instance.get_run_by_id(run_id).status for name, run_id in ids.items()}  # type: ignore[union-attr]
        messages = [record.message for record in instance.all_logs(ids["started"])]
    assert after == {
        "started": DagsterRunStatus.FAILURE,
        "starting": DagsterRunStatus.FAILURE,
        "canceling": DagsterRunStatus.FAILURE,
        "done": DagsterRunStatus.SUCCESS,
        "failed": DagsterRunStatus.FAILURE,
        "alive": DagsterRunStatus.STARTED,
        "gone": DagsterRunStatus.FAILURE,
    }
    assert any("left unfinished when the last `dagster dev`" in message for message in messages)
    again = subprocess.run(
        [sys.executable, "-m", "budget_pipeline.demo.unfinished"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and again.stdout == ""  # nothing left to fail: nothing said
