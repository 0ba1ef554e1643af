"""Incremental enforcement: it looks only at the brands whose inputs changed, and decides exactly
what a full pass decides (hypothesis over random files, ticks, resets, refreshes and budget
changes); marks made while an enforcement runs survive it."""

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

import pytest
import yaml
from dagster import DagsterInstance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from budget_pipeline import control
from budget_pipeline.definitions import defs
from budget_pipeline.defs.reporting import build_daily, build_monthly
from budget_pipeline.defs.schedules import clock_config, spend_refresh_schedule
from budget_pipeline.ingest.catalog import parse_catalog
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.calendar import month_start, next_month_start
from budget_pipeline.store import reads
from budget_pipeline.store.catalog import apply_catalog
from budget_pipeline.store.db import make_engine, upgrade
from budget_pipeline.store.history import history
from budget_pipeline.store.marks import clear_marks, read_marks
from budget_pipeline.store.schema import brands_to_enforce_table
from budget_pipeline.store.status import campaign_states
from budget_pipeline.store.upkeep import days_to_refresh
from tests.conftest import BACKENDS, apply_yaml, empty_database, write_csv
from tests.defs.conftest import SEED

CATALOG = """
brands:
  - name: New York
    timezone: America/New_York
    daily_budget: "{ny}"
    monthly_budget: "40.00"
    campaigns: [{{id: n1, name: N1, daily_budget: "4.00"}}, {{id: n2, name: N2}}]
  - name: Tokyo
    timezone: Asia/Tokyo
    daily_budget: "10.00"
    monthly_budget: "30.00"
    pause_ahead: 90m
    campaigns: [{{id: t1, name: T1}}, {{id: t2, name: T2, monthly_budget: "12.00"}}]
  - name: Kathmandu
    timezone: Asia/Kathmandu
    daily_budget: "8.00"
    monthly_budget: "25.00"
    campaigns: [{{id: k1, name: K1}}]
  - name: London
    timezone: Europe/London
    daily_budget: "6.00"
    monthly_budget: "20.00"
    campaigns: [{{id: l1, name: L1}}, {{id: l2, name: L2, enabled: false}}]
"""
CAMPAIGNS = ["n1", "n2", "t1", "t2", "k1", "l1", "l2"]
START = dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.UTC)  # the month's last days in every zone

files = st.lists(
    st.tuples(st.sampled_from(CAMPAIGNS), st.integers(1, 600), st.integers(-48 * 60, 4 * 60)), min_size=1, max_size=6
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("file"), files),
        st.tuples(st.just("tick"), st.integers(0, 30 * 60)),
        st.tuples(st.just("back"), st.integers(1, 36 * 60)),
        st.tuples(st.just("reset"), st.booleans()),
        st.tuples(st.just("refresh"), st.none()),
        st.tuples(st.just("budget"), st.sampled_from(["5.00", "10.00", "25.00"])),
    ),
    min_size=1,
    max_size=14,
)


class World:
    """One database driven through the steps; `full` enforces every brand on every tick."""

    def __init__(self, folder: Path, url: str, *, full: bool) -> None:
        self.folder, self.full = folder, full
        self.engine = make_engine(url)
        upgrade(self.engine)
        apply_catalog(self.engine, parse_catalog(yaml.safe_load(CATALOG.format(ny="10.00"))))
        self.runs = 0

    def run_id(self) -> str:
        self.runs += 1
        return f"run-{self.runs}"

    def step(self, kind: str, arg: object, as_of: dt.datetime, path: Path | None) -> control.Outcome | None:
        if kind == "file" and path is not None:
            ingest_file(self.engine, path, now=as_of)
        elif kind == "tick":
            return control.enforce_budgets(self.engine, as_of, self.run_id(), full=self.full)
        elif kind == "reset":
            control.reset_budgets(self.engine, as_of, self.run_id(), monthly=bool(arg))
        elif kind == "refresh":
            with self.engine.connect() as conn:
                days = days_to_refresh(conn, as_of)
            for day in days:
                build_daily(self.engine, day, day + dt.timedelta(days=1))
            for month in sorted({month_start(day) for day in days}):
                build_monthly(self.engine, month, next_month_start(month))
        elif kind == "budget":
            apply_catalog(self.engine, parse_catalog(yaml.safe_load(CATALOG.format(ny=arg))))
        return None

    def states(self) -> dict[str, tuple[bool, frozenset[str]]]:
        with self.engine.connect() as conn:
            return {cid: (enabled, reasons) for cid, (_, enabled, reasons) in campaign_states(conn).items()}

    def log(self) -> list[tuple[str, bool, tuple[str, ...], tuple[str, ...], bool]]:
        return [
            (
                e.campaign_id,
                e.active_before,
                e.active_after,
                tuple(e.reasons_before),
                tuple(e.reasons_after),
                e.predicted,
            )
            for e in self._history()
        ]

    def _history(self) -> list:  # type: ignore[type-arg]
        with self.engine.connect() as conn:
            return history(conn)


@contextmanager
def worlds(backend: str) -> Iterator[tuple[World, World, Path]]:
    """Two fresh databases of `backend` (SQLite files, or schemas on the PostgreSQL server)."""
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        root = Path(folder)
        urls = [stack.enter_context(empty_database(backend, root / f"{name}.db")) for name in ("incremental", "full")]
        incremental, full = World(root, urls[0], full=False), World(root, urls[1], full=True)
        try:
            yield incremental, full, root
        finally:
            incremental.engine.dispose()
            full.engine.dispose()


# PostgreSQL's few-brand reads differ from SQLite's (ids named on the day, month and brand tables).
# With `many`, every read that takes a few brands by id reads every brand's rows instead, as for
# more brands than few_brands (the full pass's capped campaigns of the brands whose groups change).
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, many=st.booleans())
def test_incremental_enforcement_decides_what_a_full_pass_decides(
    backend: str, steps: list[tuple[str, object]], many: bool
) -> None:
    with ExitStack() as reads_many:
        if many:
            for module in (control, reads):
                reads_many.enter_context(mock.patch.object(module, "few_brands", lambda conn: 0))
        _decide_both_ways(backend, steps)


def _decide_both_ways(backend: str, steps: list[tuple[str, object]]) -> None:
    with worlds(backend) as (incremental, full, root):
        as_of = START
        for n, (kind, arg) in enumerate(steps):
            if kind == "tick":
                as_of += dt.timedelta(minutes=int(arg))  # type: ignore[call-overload]
            elif kind == "back":
                as_of -= dt.timedelta(minutes=int(arg))  # type: ignore[call-overload]
                kind = "tick"
            path = None
            if kind == "file":
                rows = [
                    f"f{n}-{i},{cid},{cents / 100:.2f},{(as_of + dt.timedelta(minutes=at)).isoformat()}"
                    for i, (cid, cents, at) in enumerate(arg)  # type: ignore[arg-type]
                ]
                path = write_csv(root / f"s{n}.csv", rows)
            fast = incremental.step(kind, arg, as_of, path)
            slow = full.step(kind, arg, as_of, path)
            assert incremental.states() == full.states(), (n, kind, as_of)
            if fast is not None and slow is not None:
                assert [(c.campaign_id, c.before, c.after) for c in fast.changes] == [
                    (c.campaign_id, c.before, c.after) for c in slow.changes
                ]
        assert incremental.log() == full.log()


def test_an_enforcement_looks_only_at_the_brands_a_file_touched(env: Engine, tmp_path: Path) -> None:
    as_of = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)
    first = control.enforce_budgets(env, as_of, "r1")
    assert (first.incremental, first.brands) == (False, 3), "nothing enforced yet: a full pass"
    ingest_file(env, write_csv(tmp_path / "s.csv", ["x,a1,60,2026-11-25T16:00:00Z"]), now=as_of)
    touched = control.enforce_budgets(env, as_of, "r2")
    assert (touched.incremental, touched.brands) == (True, 1)
    assert {c.campaign_id for c in touched.paused} == {"a1", "a2"}  # Brand A's 60 of 50
    quiet = control.enforce_budgets(env, as_of + dt.timedelta(minutes=5), "r3")
    assert (quiet.incremental, quiet.brands, quiet.evaluated) == (True, 0, 0), "marks are taken once"
    # Tokyo's day turns at 15:00 UTC: its brand is looked at again; so is every brand after a catalog change.
    turned = control.enforce_budgets(env, dt.datetime(2026, 11, 25, 15, 30, tzinfo=dt.UTC) + dt.timedelta(days=1), "r4")
    assert turned.incremental and turned.brands >= 1
    apply_yaml(env, SEED.replace('daily_budget: "50.00"', 'daily_budget: "70.00"'))
    after_catalog = control.enforce_budgets(env, as_of + dt.timedelta(days=1, hours=1), "r5")
    assert (after_catalog.incremental, after_catalog.brands) == (False, 3)
    assert control.enforce_budgets(env, as_of, "r6", full=True).brands == 3


def test_a_mark_made_while_an_enforcement_runs_outlives_it(env: Engine, tmp_path: Path) -> None:
    """An enforcement deletes the marks it read, and no other: a spend file committed after it read
    them leaves its mark for the next enforcement (on PostgreSQL the two really overlap; SQLite
    lets the file commit only before or after the enforcement's transaction)."""
    as_of = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)
    control.enforce_budgets(env, as_of, "r1")
    ingest_file(env, write_csv(tmp_path / "a.csv", ["a,a1,1,2026-11-25T16:00:00Z"]), now=as_of)
    with env.connect() as conn:
        seen = read_marks(conn)
        conn.rollback()
    # The second file commits between the read and the delete.
    ingest_file(env, write_csv(tmp_path / "b.csv", ["b,b1,1,2026-11-25T16:00:00Z"]), now=as_of)
    with env.begin() as conn:
        clear_marks(conn, seen)
    with env.connect() as conn:
        left = conn.execute(select(brands_to_enforce_table.c.brand_id)).scalars().all()
    brand_b = {name: bid for bid, name in _brand_names(env).items()}["Brand B"]
    assert left == [brand_b]
    outcome = control.enforce_budgets(env, as_of, "r2")
    assert (outcome.incremental, outcome.brands) == (True, 1)


def _brand_names(engine: Engine) -> dict[int, str]:
    from budget_pipeline.store.reads import brands

    with engine.connect() as conn:
        return {bid: row.name for bid, row in brands(conn).items()}


def test_spend_files_enforce_incrementally_and_the_schedule_passes_every_brand(env: Engine, tmp_path: Path) -> None:
    as_of = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)
    job = defs.resolve_job_def("enforce_budgets_job")
    job.execute_in_process(run_config=clock_config(as_of), instance=DagsterInstance.ephemeral())
    ingest_file(env, write_csv(tmp_path / "s.csv", ["x,b1,80,2026-11-25T16:00:00Z"]), now=as_of)
    result = job.execute_in_process(run_config=clock_config(as_of), instance=DagsterInstance.ephemeral())
    metadata = result.output_for_node("enforce_budgets") and _output_metadata(result)
    assert (metadata["pass"], metadata["brands_evaluated"]) == ("incremental", 1)
    # The check and the page still cover every brand.
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "brands_within_budget_today"]
    assert not check.passed and "Brand B" in (check.description or "")

    from dagster import build_schedule_context

    request = spend_refresh_schedule(build_schedule_context(scheduled_execution_time=as_of))
    full = job.execute_in_process(run_config=request.run_config, instance=DagsterInstance.ephemeral())
    assert _output_metadata(full)["pass"] == "full"
    assert _output_metadata(full)["brands_evaluated"] == 3


def _output_metadata(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    [event] = [
        e
        for e in result.all_node_events
        if e.is_successful_output and e.node_handle.name == "enforce_budgets"  # the step's output
    ]
    return {key: value.value for key, value in event.event_specific_data.metadata.items()}


@pytest.mark.parametrize("by_id", [True, False], ids=["by-id", "every-brand"])
def test_a_full_pass_pauses_the_capped_campaign_of_a_brand_whose_group_changed(
    engine: Engine, tmp_path: Path, by_id: bool
) -> None:
    """A full pass decides campaigns with caps as groups first, then reads the campaigns of the
    brands whose groups change: by their brands' ids, or (more brands than few_brands) with every
    brand's, kept to those brands'. Either way New York's N1, over its own 4.00, is paused."""
    apply_yaml(engine, CATALOG.format(ny="25.00"))
    control.enforce_budgets(engine, START, "r1", full=True)
    spend = ["x,n1,4.50,2026-11-29T19:00:00Z", "y,k1,1.00,2026-11-29T19:00:00Z"]
    ingest_file(engine, write_csv(tmp_path / "s.csv", spend), now=START)
    with engine.connect() as conn:
        days = days_to_refresh(conn, START)
    build_daily(engine, min(days), max(days) + dt.timedelta(days=1))  # refreshed: decided as groups
    build_monthly(engine, month_start(min(days)), next_month_start(max(days)))
    with ExitStack() as reads_many:
        if not by_id:
            for module in (control, reads):
                reads_many.enter_context(mock.patch.object(module, "few_brands", lambda conn: 0))
        outcome = control.enforce_budgets(engine, START, "r2", full=True)
    assert [(c.campaign_id, sorted(c.after)) for c in outcome.changes] == [("n1", ["campaign_daily_budget"])]
