"""`budget-pipeline ingest` and `quarantine`: spend files in, and the rows they had rejected."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy import Engine

from budget_pipeline.cli.common import (
    EXIT_BAD_INPUT,
    count_lines,
    database_errors,
    on_terminal,
    progress_bar,
    ready_engine,
    table_width,
)
from budget_pipeline.ingest.pipeline import FileInFlight, FileResult, campaign_zones, ingest_file
from budget_pipeline.ingest.spendfile import SpendFileError
from budget_pipeline.report import quarantine_text


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


@click.command()
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


@click.command()
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
    click.echo(quarantine_text(rows, table_width()))
