"""The `budget-pipeline` command: a thin front on the same functions the Dagster jobs use."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from budget_pipeline import settings
from budget_pipeline.ingest.catalog import CatalogError, CatalogFileError, load_catalog
from budget_pipeline.ingest.pipeline import FileInFlight, FileResult, campaign_zones, ingest_file
from budget_pipeline.ingest.spendfile import SpendFileError
from budget_pipeline.report import UnknownBrand, quarantine_text, status_report, status_text, unrefreshed_note
from budget_pipeline.rules.calendar import parse_instant
from budget_pipeline.store.catalog import apply_catalog, export_catalog
from budget_pipeline.store.db import (
    StoreError,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
SHOWN_REJECTIONS = 10


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _db_message(exc: DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()
    return text[0] if text else type(exc.orig).__name__


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn database failures into one line: an unreachable server is not a traceback."""
    try:
        yield
    except StoreError as exc:
        fail(str(exc))
    except OperationalError as exc:
        fail(f"cannot use the budget database: {_db_message(exc)}")
    except DBAPIError as exc:
        fail(f"budget database error: {_db_message(exc)}")


def ready_engine() -> Engine:
    """An engine on a database whose schema is current, or a one-line error saying what to do."""
    engine = make_engine()
    revision = current_revision(engine)
    if revision != head_revision():
        fail(f"the budget database schema is at {revision or 'nothing'}: run `budget-pipeline init-db` first")
    return engine


def on_terminal() -> bool:
    """Whether progress may be shown: stderr is a terminal a person is watching."""
    return sys.stderr.isatty()


def count_lines(path: Path) -> int:
    """The rows of a spend file below its header, counted fast (for a progress bar's length)."""
    lines = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
    except OSError:
        return 0
    return max(lines - 1, 0)


ProgressUpdate = Callable[[int, int, str | None], None]
PROGRESS_STEPS = 1000


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressUpdate]:
    """click's progress bar on stderr when it is a terminal; elsewhere nothing at all. Yields
    `update(done, total, label)`: `done` of `total` (any unit), and a new label or None."""
    if not on_terminal():
        yield lambda _done, _total, _label: None
        return
    with click.progressbar(length=PROGRESS_STEPS, label=label, file=sys.stderr, width=30) as bar:

        def update(done: int, total: int, new_label: str | None) -> None:
            if new_label is not None:
                bar.label = new_label
            reached = PROGRESS_STEPS * min(done, total) // total if total else 0
            bar.update(max(0, reached - bar.pos))

        yield update


def as_of_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        metavar="TS",
        help="Evaluate at this ISO-8601 instant with an offset (default: now).",
    )(fn)


def resolve_as_of(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        return parse_instant(text)
    except ValueError as exc:
        fail(f"--as-of: {exc}", EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Keep ad campaigns inside their brands' budgets and allowed hours."""


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the budget database schema (safe to run again)."""
    with database_errors():
        engine = make_engine()
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    url = engine.url.render_as_string(hide_password=True)
    change = "unchanged" if before == after else f"upgraded from {before or 'empty'}"
    click.echo(f"schema at {after} ({change}) in {url}")


@main.group()
def catalog() -> None:
    """Brands, campaigns and dayparting."""


@catalog.command("apply")
@click.argument("file", type=click.Path(path_type=Path))
def catalog_apply(file: Path) -> None:
    """Make the database match FILE's brands and campaigns (all or nothing)."""
    try:
        with progress_bar(f"reading {file.name}") as reading:
            parsed = load_catalog(file, lambda what, done, total: reading(done, total, f"{what} {file.name}"))
    except CatalogFileError as exc:
        fail(exc.errors[0], EXIT_BAD_INPUT)
    except CatalogError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        click.echo(f"error: {file}: {len(exc.errors)} problem(s); nothing was written", err=True)
        sys.exit(EXIT_BAD_INPUT)
    with database_errors():
        engine = ready_engine()
        with progress_bar("applying") as applying:
            summary = apply_catalog(engine, parsed, lambda what, done, total: applying(done, total, what))
    click.echo(str(summary))


@catalog.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def catalog_export(file: Path | None) -> None:
    """The catalog as it stands, as catalog YAML, to FILE (default: stdout). Applying it
    changes nothing."""
    with database_errors():
        text = export_catalog(ready_engine())
    if file is None:
        click.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: cannot write the file: {exc.strerror or exc}", EXIT_BAD_INPUT)
    click.echo(f"wrote the catalog to {file}", err=True)


def ingest_with_progress(engine: Engine, path: Path, zones: dict[str, str]) -> FileResult:
    """`ingest_file`, with a progress bar of the rows stored when stderr is a terminal."""
    with progress_bar(f"ingesting {path.name}") as ingesting:
        lines = count_lines(path) if on_terminal() else 0
        stored = 0

        def on_rows(rows: int) -> None:
            nonlocal stored
            stored += rows
            ingesting(stored, lines, None)

        return ingest_file(engine, path, zones, follow_links=True, on_rows=on_rows)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def ingest(files: tuple[Path, ...]) -> None:
    """Ingest spend CSV FILES; prints accepted, duplicate and rejected counts."""
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    failed = 0
    with database_errors():
        engine = ready_engine()
        zones = campaign_zones(engine)
        for path in files:
            try:
                result = ingest_with_progress(engine, path, zones)
            except (SpendFileError, FileInFlight) as exc:
                click.echo(f"error: {exc}", err=True)
                failed += 1
                continue
            except FileNotFoundError:
                click.echo(f"error: {path}: no such file", err=True)
                failed += 1
                continue
            click.echo(result.summary())
            for key in totals:
                totals[key] += getattr(result, key)
    click.echo(f"accepted {totals['accepted']}, duplicate {totals['duplicate']}, rejected {totals['rejected']}")
    if totals["rejected"]:
        click.echo("rejected rows, with file, line and reason: budget-pipeline quarantine", err=True)
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@main.command()
@as_of_option
@click.option("--brand", "brand_name", metavar="NAME", help="Only this brand.")
@click.option("--paused", is_flag=True, help="Only paused campaigns (and their brands).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(as_of: str | None, brand_name: str | None, paused: bool, as_json: bool) -> None:
    """Brands with budgets and spend, and each campaign's state and pause reasons."""
    instant = resolve_as_of(as_of)
    with database_errors():
        engine = ready_engine()
        try:
            report = status_report(engine, instant, brand_name, paused)
        except UnknownBrand:
            fail(f"--brand: no brand named {brand_name!r} in the catalog", EXIT_BAD_INPUT)
        note = None if as_json else unrefreshed_note(engine)
    click.echo(json.dumps(report) if as_json else status_text(report))
    if note:
        click.echo(note, err=True)


@main.command()
@click.option("--file", "file_name", metavar="NAME", help="Only rows of spend files with this name.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def quarantine(file_name: str | None, limit: int | None, as_json: bool) -> None:
    """The rejected rows of spend files, newest first: file, line, reason and the row as it was."""
    from budget_pipeline.store.quarantine import quarantined_rows

    with database_errors(), ready_engine().connect() as conn:
        rows = quarantined_rows(conn, file_name, limit)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"file_name": r.file_name, "line": r.line, "reason": r.reason, "row": r.row, "at": r.at.isoformat()}
                    for r in rows
                ]
            )
        )
        return
    if not rows:
        click.echo("no rejected rows" + (f" of {file_name}" if file_name is not None else ""))
        return
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    click.echo(quarantine_text(rows, width))


# The runs of one control cycle, in order, and the op of each that reports campaign changes.
TICK_JOBS = {
    "ingest_spend_job": "enforce_budgets",
    "daily_reset_job": "reset_daily_budgets",
    "monthly_reset_job": "reset_monthly_budgets",
    "dayparting_job": "apply_dayparting",
}


@main.command()
@as_of_option
def tick(as_of: str | None) -> None:
    """One control cycle as Dagster runs on $DAGSTER_HOME: ingest landing files, refresh current
    and touched spend partitions, enforce budgets, resets and dayparting."""
    if not run_cycle(resolve_as_of(as_of)):
        fail("a control run failed; see it in the Dagster UI or `dagster run list`")


def run_cycle(instant: dt.datetime) -> bool:
    """One control cycle at `instant`, a Dagster run per job on $DAGSTER_HOME, a line per run;
    whether every run succeeded."""
    from dagster import DagsterError, DagsterInstance

    from budget_pipeline.definitions import defs
    from budget_pipeline.defs.resources import AS_OF_TAG
    from budget_pipeline.defs.schedules import clock_config

    with database_errors():
        ready_engine()
    try:
        # Two ticks on a new DAGSTER_HOME would both create its storage at once, and one would fail.
        with _home_lock():
            instance = DagsterInstance.get()
    except DagsterError as exc:
        fail(f"no Dagster instance: {str(exc).splitlines()[0]}")
    succeeded = True
    with instance:
        for name, reporting_op in TICK_JOBS.items():
            result = defs.resolve_job_def(name).execute_in_process(
                # The run's full event log, stack traces included, is in the instance; the
                # terminal gets one line per run (and per spend file), written here.
                run_config={**clock_config(instant), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                instance=instance,
                tags={AS_OF_TAG: instant.isoformat(), "budget_pipeline/source": "cli-tick"},
                raise_on_error=False,
            )
            if not result.success:
                click.echo(f"{name}: FAILURE (run {result.run_id}): {first_error(result)}")
                succeeded = False
                continue
            click.echo(f"{name}: success (run {result.run_id}), {result.output_for_node(reporting_op)} changed")
            if name == "ingest_spend_job":
                for line in result.output_for_node("ingest_landing_files"):
                    click.echo(f"  {line}")
    return succeeded


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
    wrapping of it."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            while error.cause is not None:
                error = error.cause
            message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name or "error"
            return _short_class(message) if ": " in message else message
    return "no error reported; see the run in the Dagster UI"


def _short_class(message: str) -> str:
    """ "sqlalchemy.exc.OperationalError: x" -> "OperationalError: x"."""
    cls, _, text = message.partition(": ")
    return f"{cls.rsplit('.', 1)[-1]}: {text}"


@main.command()
@click.option("--campaign", "campaign_id", metavar="ID", help="Only this campaign's changes.")
@click.option("--limit", type=int, default=None, help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def history(campaign_id: str | None, limit: int | None, as_json: bool) -> None:
    """The status log: every change of a campaign's state and why, newest first."""
    from budget_pipeline.store.history import history as read_history

    with database_errors():
        engine = ready_engine()
        with engine.connect() as conn:
            entries = read_history(conn, campaign_id, limit)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "campaign_id": e.campaign_id,
                        "at": e.at.isoformat(),
                        "active_before": e.active_before,
                        "active_after": e.active_after,
                        "reasons_before": e.reasons_before,
                        "reasons_after": e.reasons_after,
                        "changed_reason": e.changed_reason,
                        "run_id": e.run_id,
                    }
                    for e in entries
                ]
            )
        )
        return
    for e in entries:
        before = ",".join(e.reasons_before) or "active"
        after = ",".join(e.reasons_after) or "active"
        click.echo(
            f"{e.at.isoformat()}  {e.campaign_id:<24} {before} -> {after}  ({e.changed_reason}; run {e.run_id[:8]})"
        )


@main.command()
@as_of_option
def demo(as_of: str | None) -> None:
    """Load the demo catalog and three weeks of spend, then play the minutes before Night Owl's
    midnight and the moment after as two control cycles, so the UI opens on a story."""
    from budget_pipeline.demo import NIGHT_OWL, catalog, local_midnight, night_owl_zone, spend_csv
    from budget_pipeline.ingest.catalog import parse_catalog

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


@main.command("demo-simulator", hidden=True)
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
