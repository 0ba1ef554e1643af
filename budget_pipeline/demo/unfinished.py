"""`python -m budget_pipeline.demo.unfinished`: before `scripts/dev demo` starts `dagster dev`,
fail the runs a previous `dagster dev` on the same DAGSTER_HOME left unfinished.

`dagster dev` killed while a run is under way leaves that run "started" with no worker. It would
hold the one status-writing slot until run monitoring fails it at its job's dagster/max_runtime
(15 to 30 minutes): a restarted demo would enforce nothing meanwhile. scripts/dev holds a lock on
the home while `dagster dev` runs and calls this only with that lock taken, so no run of the
demo can be under way: every unfinished one is dead. A `budget-pipeline tick` run (in its own
process, which the lock does not cover) is left alone.
"""

from __future__ import annotations

from dagster import DagsterInstance, RunsFilter

from budget_pipeline.defs.jobs import CLI_TICK, SOURCE_TAG
from budget_pipeline.defs.sensors import UNFINISHED

WHY = "left unfinished when the last `dagster dev` on this instance stopped; failed by scripts/dev demo"


def fail_unfinished_runs(instance: DagsterInstance) -> list[str]:
    """Mark every unfinished run of `instance` failed (queued ones too: their sensor or schedule
    asks again, at a current instant); their ids."""
    runs = [
        run
        for run in instance.get_runs(filters=RunsFilter(statuses=UNFINISHED))
        if run.tags.get(SOURCE_TAG) != CLI_TICK
    ]
    for run in runs:
        instance.report_run_failed(run, WHY)
    return [run.run_id for run in runs]


def main() -> None:
    with DagsterInstance.get() as instance:
        failed = fail_unfinished_runs(instance)
    if failed:
        print(f"{len(failed)} run(s) left unfinished by the last `dagster dev` marked failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
