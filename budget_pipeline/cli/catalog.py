"""`budget-pipeline init-db` and `catalog apply | export`: the schema, and the brands, campaigns
and dayparting windows."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from budget_pipeline.cli.common import (
    EXIT_BAD_INPUT,
    database_errors,
    fail,
    progress_bar,
    ready_engine,
)
from budget_pipeline.ingest.catalog import CatalogError, CatalogFileError, catalog_yaml, load_catalog
from budget_pipeline.store.catalog import apply_catalog
from budget_pipeline.store.catalog_export import export_catalog
from budget_pipeline.store.db import (
    current_revision,
    make_engine,
    upgrade,
)


@click.command("init-db")
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


@click.group()
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
        text = catalog_yaml(export_catalog(ready_engine()))
    if file is None:
        click.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: cannot write the file: {exc.strerror or exc}", EXIT_BAD_INPUT)
    click.echo(f"wrote the catalog to {file}", err=True)
