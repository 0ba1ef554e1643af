"""`budget-pipeline ingest`: spend files in (the rows they reject: `quarantine`, in reports)."""

from __future__ import annotations

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
)
from budget_pipeline.ingest.pipeline import FileInFlight, FileResult, campaign_zones, ingest_file
from budget_pipeline.ingest.spendfile import SpendFileError


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
    """Ingest spend CSV FILES; prints accepted, duplicate and rejected counts (of each file too,
    when there are several)."""
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    failed = ingested = 0
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
            if len(files) > 1:
                click.echo(result.summary())
            ingested += 1
            for key in totals:
                totals[key] += getattr(result, key)
    if ingested:  # a file that could not be read says so on stderr, and nothing was stored
        click.echo(f"accepted {totals['accepted']}, duplicate {totals['duplicate']}, rejected {totals['rejected']}")
    if totals["rejected"]:
        click.echo("rejected rows, with file, line and reason: budget-pipeline quarantine", err=True)
    if failed:
        sys.exit(EXIT_BAD_INPUT)
