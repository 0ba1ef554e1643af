"""What every command shares: one-line errors and exit statuses, the database a command
uses, `--as-of`, and progress shown only on a terminal."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from budget_pipeline.ingest.names import utf8_name
from budget_pipeline.rules.calendar import parse_instant
from budget_pipeline.settings import SettingError
from budget_pipeline.store.db import (
    StoreError,
    current_revision,
    driver_message,
    head_revision,
    make_engine,
    missing_sqlite_file,
    unusable_message,
)

EXIT_FAILURE = 1


EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn database failures into one line: an unreachable server is not a traceback; nor is a
    bad setting read on the way (BUDGET_START_DATE, when a file is read), exit status 2."""
    try:
        yield
    except SettingError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except StoreError as exc:
        fail(str(exc))
    except OperationalError as exc:
        fail(unusable_message(exc))
    except DBAPIError as exc:
        fail(f"budget database error: {driver_message(exc)}")


def ready_engine() -> Engine:
    """An engine on a database whose schema is current, or a one-line error saying what to do."""
    engine = make_engine()
    revision = current_revision(engine)
    if revision is None and (missing := missing_sqlite_file(engine)) is not None:
        fail(f"no budget database at {missing}: run `budget-pipeline init-db` first (a mistyped path?)")
    if revision != head_revision():
        fail(f"the budget database schema is at {revision or 'nothing'}: run `budget-pipeline init-db` first")
    return engine


def on_terminal() -> bool:
    """Whether progress may be shown: stderr is a terminal a person is watching."""
    return sys.stderr.isatty()


def table_width() -> int | None:
    """The terminal's width for a table on stdout, or None through a pipe (nothing is cut)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def utf8_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option's text that is looked up in the database: one line, exit status 2, when it is
    not UTF-8 (bytes the shell passed that the OS hands over as surrogates), not a traceback."""
    if value is not None and not utf8_name(value):
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # the bytes given
        fail(f"{param.opts[0]}: {shown} is not UTF-8 text", EXIT_BAD_INPUT)
    return value


def fail_unknown_brand(name: str) -> NoReturn:
    """`--brand NAME` names no brand: one line, exit status 2."""
    fail(f"--brand: no brand named {name!r} in the catalog", EXIT_BAD_INPUT)


def count_lines(path: Path) -> int:
    """The rows of a spend file below its header, counted fast (for a progress bar's length)."""
    lines = 0
    try:
        if not path.is_file():  # a FIFO is never opened here (it would wait for a writer)
            return 0
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
    except OSError:
        return 0
    return max(lines - 1, 0)


PROGRESS_STEPS = 1000


ProgressUpdate = Callable[[int, int, str | None], None]


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


MOST_ENTRIES = 1_000_000_000  # a --limit above it is a typo (and past what SQLite's LIMIT takes)


class Limit(click.ParamType):
    """`--limit N`: a whole number of entries from 1 to MOST_ENTRIES, or one line and exit status 2
    (a click usage error is three, and an int too large for SQLite was a traceback)."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MOST_ENTRIES:
            fail(f"--limit: {text!r} is not a whole number from 1 to {MOST_ENTRIES:,}", EXIT_BAD_INPUT)
        return int(text)


LIMIT = Limit()


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
