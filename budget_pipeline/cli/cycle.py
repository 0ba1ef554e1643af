"""`budget-pipeline tick` and the demo: control cycles as Dagster runs on $DAGSTER_HOME, one line
per run (and per spend file)."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import logging.handlers
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import click

from budget_pipeline import settings
from budget_pipeline.cli.common import (
    as_of_option,
    database_errors,
    fail,
    ready_engine,
    resolve_as_of,
)

DELIVERY_JOB = "deliver_notifications_job"
# The runs of one control cycle, in order, the op of each that reports what it did, and how
# its output reads: campaigns changed, then the notifications of those changes sent.
TICK_JOBS = {
    "ingest_spend_job": ("enforce_budgets", "changed"),
    "daily_reset_job": ("reset_daily_budgets", "changed"),
    "monthly_reset_job": ("reset_monthly_budgets", "changed"),
    "dayparting_job": ("apply_dayparting", "changed"),
    DELIVERY_JOB: ("deliver_notifications", "sent"),
}


@click.command()
@as_of_option
def tick(as_of: str | None) -> None:
    """One control cycle as Dagster runs on $DAGSTER_HOME: ingest landing files, refresh current
    and touched spend partitions, enforce budgets, resets and dayparting (at --as-of), then
    deliver the notifications that are due (now: retries wait real time)."""
    if not run_cycle(resolve_as_of(as_of)):
        fail("a control run failed; see it in the Dagster UI or `dagster run list`")


def run_cycle(instant: dt.datetime) -> bool:
    """One control cycle at `instant`, a Dagster run per job on $DAGSTER_HOME, a line per run;
    whether every run succeeded."""
    from dagster import BetaWarning, DagsterInstance

    from budget_pipeline.definitions import defs
    from budget_pipeline.defs.resources import AS_OF_TAG
    from budget_pipeline.defs.schedules import clock_config

    with database_errors():
        ready_engine()
    held: list[logging.LogRecord] = []
    try:
        # Two ticks on a new DAGSTER_HOME would both create its storage at once, and one would fail.
        with _home_lock(), _warnings_held(held):
            instance = DagsterInstance.get()
    except Exception as exc:  # noqa: BLE001 - Dagster's own loading: a bad dagster.yaml, storage it cannot reach
        last = f" (last: {_first_line(held[-1].getMessage())})" if held else ""
        fail(f"no Dagster instance in {settings.dagster_home()}: {_cause(exc)}{last}")
    succeeded = True
    # Dagster 1.13.27 warns, as it copies its own sensor definitions while it resolves a job,
    # that their `owners` parameter is a beta feature: not this product's, not for its terminal.
    with instance, warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        for name, (reporting_op, unit) in TICK_JOBS.items():
            # The run's full event log, stack traces included, is in the instance; the terminal
            # gets one line per run (and per spend file), written here.
            run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
            tags = {"budget_pipeline/source": "cli-tick"}
            # Delivery runs on the wall clock whatever the instant: a retry waits real time (at
            # an instant years off, notifications were held back for years, or given up at once).
            if name != DELIVERY_JOB:
                run_config |= clock_config(instant)
                tags[AS_OF_TAG] = instant.isoformat()
            result = defs.resolve_job_def(name).execute_in_process(
                run_config=run_config, instance=instance, tags=tags, raise_on_error=False
            )
            if not result.success:
                click.echo(f"{name}: FAILURE (run {result.run_id}): {first_error(result)}")
                succeeded = False
                continue
            click.echo(f"{name}: success (run {result.run_id}), {_reported(result, reporting_op, unit)}")
            if name == "ingest_spend_job":
                for line in result.output_for_node("ingest_landing_files"):
                    click.echo(f"  {line}")
    return succeeded


def _reported(result: Any, op: str, unit: str) -> str:
    """What a run's reporting op did: its output's `summary` where it gives one (delivery's
    sent, to retry, failed and waiting, or why nothing was sent), else its count and unit."""
    for event in result.events_for_node(op):
        if event.is_successful_output and (summary := event.step_output_data.metadata.get("summary")) is not None:
            return str(summary.value)
    return f"{result.output_for_node(op)} {unit}"


@contextmanager
def _warnings_held(records: list[logging.LogRecord]) -> Iterator[None]:
    """The warnings Python's root logger gets while the block runs, held back in `records`, then
    given to its handlers if the block ends well: dagster-postgres says there each time it
    retries a connection (18 lines, for instance storage it cannot reach, before its error)."""
    root = logging.getLogger()
    holder = logging.handlers.BufferingHandler(capacity=1000)
    holder.setLevel(logging.WARNING)
    holder.buffer = records
    saved, root.handlers = root.handlers, [holder]
    try:
        yield
    finally:
        root.handlers = saved
    for record in records:
        root.handle(record)


@contextmanager
def _home_lock() -> Iterator[None]:
    """An exclusive lock on a file in DAGSTER_HOME, where it exists, held while the block runs."""
    home = settings.dagster_home()
    if not home.is_dir():
        yield
        return
    with (home / ".budget-pipeline.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def first_error(result: Any) -> str:
    """The first line of the innermost error of a failed run's first failure (a step's, or its
    resources' start): the cause (say, "OperationalError: ... readonly database"), not Dagster's
    wrapping of it; the product's own `Failure` (a store problem) as its message alone."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            while error.cause is not None:
                error = error.cause
            message = _first_line(error.message) or error.cls_name or "error"
            if error.cls_name == "Failure":  # the product's own one line (a store problem): as it is
                return message.partition(": ")[2] or message
            return _short_class(message) if ": " in message else message
    return "no error reported; see the run in the Dagster UI"


def _cause(exc: BaseException) -> str:
    """ "ParserError: while parsing a flow sequence": an exception's class and first line, and of
    Dagster's config errors the first, up to its first full stop (what follows is the schema
    expected, or the value given, which may be a password)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0]
    if len(lines) > 1 and lines[1].startswith("Error 1: "):
        text += " " + lines[1].split(". ", 1)[0]
    return f"{type(exc).__name__}: {text}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _short_class(message: str) -> str:
    """ "sqlalchemy.exc.OperationalError: x" -> "OperationalError: x"."""
    cls, _, text = message.partition(": ")
    return f"{cls.rsplit('.', 1)[-1]}: {text}"


@click.command()
@as_of_option
def demo(as_of: str | None) -> None:
    """Load the demo catalog and three weeks of spend, then play the minutes before Night Owl's
    midnight and the moment after as two control cycles, so the UI opens on a story."""
    from budget_pipeline.demo import NIGHT_OWL, catalog, local_midnight, night_owl_zone, spend_csv
    from budget_pipeline.ingest.catalog import parse_catalog
    from budget_pipeline.ingest.pipeline import ingest_file
    from budget_pipeline.store.catalog import apply_catalog

    until = resolve_as_of(as_of)
    with database_errors():
        engine = ready_engine()
        click.echo(str(apply_catalog(engine, parse_catalog(catalog(until)))))
        path = settings.dagster_home() / "demo" / f"demo-spend-{until:%Y%m%dT%H%M}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        spend_csv(path, until)
        click.echo(ingest_file(engine, path, now=until).summary())
    zone = night_owl_zone(until)
    midnight = local_midnight(until, zone)
    click.echo(f"{NIGHT_OWL} ({zone}): local midnight at {midnight.isoformat()}; a cycle just before it, then now")
    replayed = run_cycle(midnight - dt.timedelta(minutes=2))
    if not (run_cycle(until) and replayed):
        fail("a demo control run failed; see it in the Dagster UI or `dagster run list`")


@click.command("demo-simulator", hidden=True)
@click.option("--every", type=float, default=60.0, show_default=True, help="Seconds between files.")
@click.option("--count", type=int, default=None, help="Stop after this many files.")
def demo_simulator(every: float, count: int | None) -> None:
    """Demo only: drop a small spend file into the landing folder every minute, spending on the
    campaigns that are active."""
    from budget_pipeline.demo import simulate
    from budget_pipeline.store.history import active_campaigns

    with database_errors():
        engine = ready_engine()

        def active() -> set[str]:
            with engine.connect() as conn:
                return active_campaigns(conn)

        with suppress(KeyboardInterrupt):
            simulate(settings.landing_dir(), active, every, count)
