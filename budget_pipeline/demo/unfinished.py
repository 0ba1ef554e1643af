"""`python -m budget_pipeline.demo.unfinished`: before `scripts/dev demo` starts `dagster dev`,
fail the runs a previous `dagster dev` on the same DAGSTER_HOME left unfinished.

`dagster dev` killed while a run is under way leaves that run "started" with no worker. It would
hold the one status-writing slot until run monitoring fails it at its job's dagster/max_runtime
(15 to 30 minutes): a restarted demo would enforce nothing meanwhile. scripts/dev holds a lock on
the home while `dagster dev` runs and calls this only with that lock taken, so no demo is
running. A run whose process is still alive is left alone all the same: a `budget-pipeline
tick`'s (a process of its own), or one that a code server which outlived `dagster dev` still
executes. Each run names its process in an engine event (every job runs its steps in process).
"""

from __future__ import annotations

import os

from dagster import DagsterEventType, DagsterInstance, RunsFilter

from budget_pipeline.defs.sensors import UNFINISHED

WHY = "left unfinished when the last `dagster dev` on this instance stopped; failed by scripts/dev demo"


def fail_unfinished_runs(instance: DagsterInstance) -> list[str]:
    """Mark every unfinished run of `instance` whose process is gone failed (queued ones too:
    their sensor or schedule asks again, at a current instant); their ids."""
    runs = [
        run
        for run in instance.get_runs(filters=RunsFilter(statuses=UNFINISHED))
        if not _process_alive(instance, run.run_id)
    ]
    for run in runs:
        instance.report_run_failed(run, WHY)
    return [run.run_id for run in runs]


def _process_alive(instance: DagsterInstance, run_id: str) -> bool:
    """Whether a process the run named as its own (the pid of an engine event) still exists."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event is not None else None
        if pid is None:
            continue
        try:
            os.kill(int(str(pid.value)), 0)
        except ProcessLookupError:
            continue
        except PermissionError:  # someone else's process: alive
            pass
        return True
    return False


def main() -> None:
    with DagsterInstance.get() as instance:
        failed = fail_unfinished_runs(instance)
    if failed:
        print(f"{len(failed)} run(s) left unfinished by the last `dagster dev` marked failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
