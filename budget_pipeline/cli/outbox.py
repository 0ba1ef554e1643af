"""`budget-pipeline alerts` and `notifications`: the budget alerts recorded, and the notification
outbox with what became of each notification."""

from __future__ import annotations

import datetime as dt
import json

import click

from budget_pipeline.cli.common import LIMIT, database_errors, fail_unknown_brand, ready_engine, table_width
from budget_pipeline.report import shown_money, table_text
from budget_pipeline.rules.money import money_text


def _instant(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@click.command()
@click.option("--brand", "brand_name", metavar="NAME", help="Only this brand's alerts.")
@click.option("--limit", type=LIMIT, default=None, help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def alerts(brand_name: str | None, limit: int | None, as_json: bool) -> None:
    """The budget alerts recorded, newest first: a brand's spend reaching a percent of its daily
    or monthly budget, once per day (month) and percent."""
    from budget_pipeline.store.alerts import alerts as recorded
    from budget_pipeline.store.reads import brands

    with database_errors():
        engine = ready_engine()
        with engine.connect() as conn:
            if brand_name is not None and brand_name not in {row.name for row in brands(conn).values()}:
                fail_unknown_brand(brand_name)
            entries = recorded(conn, brand_name, limit)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "brand": e.brand,
                        "period": e.period,
                        "period_start": e.period_start.isoformat(),
                        "percent": e.percent,
                        "spend": money_text(e.spend),
                        "budget": money_text(e.budget),
                        "currency": e.currency,
                        "at": e.at.isoformat(),
                        "run_id": e.run_id,
                    }
                    for e in entries
                ]
            )
        )
        return
    rows = [
        (
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.brand,
            f"{e.period} {e.period_start.isoformat()}",
            f"{e.percent}%",
            f"{shown_money(str(e.spend), e.currency)} / {shown_money(str(e.budget), e.currency)}",
        )
        for e in entries
    ]
    header = ("at (UTC)", "brand", "period", "reached", "spend / budget")
    click.echo(table_text(header, rows, table_width(), shrink=(1,)))


@click.command()
@click.option("--pending", "only_pending", is_flag=True, help="Only notifications not yet delivered.")
@click.option("--limit", type=LIMIT, default=None, help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def notifications(only_pending: bool, limit: int | None, as_json: bool) -> None:
    """The notification outbox, newest first: each status change and alert, whether it was
    delivered to BUDGET_WEBHOOK_URL, and if not, why and when it is tried again."""
    from budget_pipeline.store.notifications import outbox

    with database_errors():
        engine = ready_engine()
        with engine.connect() as conn:
            rows = outbox(conn, only_pending, limit)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "type": r.type,
                        "created_at": r.created_at.isoformat(),
                        "status": r.status,
                        "attempts": r.attempts,
                        "next_attempt_at": _instant(r.next_attempt_at),
                        "last_error": r.last_error,
                    }
                    for r in rows
                ]
            )
        )
        return
    table = [
        (
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            str(r.attempts),
            r.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if r.next_attempt_at else "-",
            r.last_error or "-",
            r.text,
        )
        for r in rows
    ]
    headers = ("created (UTC)", "status", "attempts", "next attempt", "last error", "notification")
    click.echo(table_text(headers, table, table_width(), shrink=(4, 5)))
