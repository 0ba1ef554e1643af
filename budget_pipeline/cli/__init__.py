"""The `budget-pipeline` command: a thin front on the same functions the Dagster jobs use, one
module per family of commands."""

from __future__ import annotations

import click

from budget_pipeline.cli.catalog import catalog, init_db
from budget_pipeline.cli.cycle import demo, demo_simulator, tick
from budget_pipeline.cli.outbox import alerts, notifications
from budget_pipeline.cli.reports import history, status
from budget_pipeline.cli.spend import ingest, quarantine


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Keep ad campaigns inside their brands' budgets and allowed hours."""


for command in (
    init_db,
    catalog,
    ingest,
    quarantine,
    tick,
    status,
    history,
    alerts,
    notifications,
    demo,
    demo_simulator,
):
    main.add_command(command)
