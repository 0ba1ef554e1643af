"""`budget-pipeline status`, `history` and `quarantine`: budgets, spend, each campaign's state and
why, every change of it, and the spend rows files had rejected."""

from __future__ import annotations

import json

import click

from budget_pipeline.cli.common import (
    EXIT_BAD_INPUT,
    LIMIT,
    as_of_option,
    database_errors,
    fail,
    fail_unknown_brand,
    ready_engine,
    resolve_as_of,
    table_width,
    utf8_text,
)
from budget_pipeline.report import UnknownBrand, quarantine_text, status_report, status_text, unrefreshed_note


@click.command()
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
        except UnknownBrand as unknown:
            fail_unknown_brand(str(unknown))
        note = None if as_json else unrefreshed_note(engine, report)
    click.echo(json.dumps(report) if as_json else status_text(report))
    if note:
        click.echo(note, err=True)


@click.command()
@click.option("--campaign", "campaign_id", metavar="ID", callback=utf8_text, help="Only this campaign's changes.")
@click.option("--limit", type=LIMIT, default=None, help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def history(campaign_id: str | None, limit: int | None, as_json: bool) -> None:
    """The status log: every change of a campaign's state and why, newest first."""
    from budget_pipeline.store.history import campaign_brands
    from budget_pipeline.store.history import history as read_history

    with database_errors():
        engine = ready_engine()
        with engine.connect() as conn:
            entries = read_history(conn, campaign_id, limit)
            unknown = campaign_id is not None and not entries and not campaign_brands(conn, [campaign_id])
    if unknown:  # a campaign of the catalog without changes yet prints nothing, as ever
        fail(f"--campaign: no campaign with id {campaign_id!r} in the catalog", EXIT_BAD_INPUT)
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
                        "predicted": e.predicted,
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
            f"{e.at.isoformat()}  {e.campaign_id:<24} {before} -> {after}  "
            f"({e.changed_reason}{', predicted' if e.predicted else ''}; run {e.run_id[:8]})"
        )


@click.command()
@click.option(
    "--file", "file_name", metavar="NAME", callback=utf8_text, help="Only rows of spend files with this name."
)
@click.option("--limit", type=LIMIT, default=None, help="At most this many rows.")
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
