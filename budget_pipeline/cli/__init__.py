"""The `budget-pipeline` command: a thin front on the same functions the Dagster jobs use, one
module per family of commands.

A command's module is imported only when that command runs (or `--help` lists them all): `status`
never loads the ingestion's pandas, nor Alembic, nor Dagster. A person waits for every start, and
so does each test that runs the command."""

from __future__ import annotations

import importlib

import click

# Command name -> the module that defines it (`--help` lists them sorted, as click does).
COMMANDS = {
    "init-db": "catalog",
    "catalog": "catalog",
    "ingest": "spend",
    "quarantine": "reports",
    "tick": "cycle",
    "status": "reports",
    "history": "reports",
    "alerts": "outbox",
    "notifications": "outbox",
    "demo": "cycle",
    "demo-simulator": "cycle",
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name when asked for (click's documented pattern
    for lazily loaded subcommands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(importlib.import_module(f"budget_pipeline.cli.{module}"), cmd_name.replace("-", "_"))
        assert isinstance(command, click.Command) and command.name == cmd_name
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            # click (8.4 on) suggests close names from the commands it holds: none here until one
            # is loaded, so the suggestion is made again from every name.
            name = getattr(exc, "command_name", None)
            if name is None:
                raise
            raise type(exc)(name, possibilities=COMMANDS, ctx=ctx) from None  # type: ignore[call-arg]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Keep ad campaigns inside their brands' budgets and allowed hours."""
