"""What the CLI shows: `status` (brands, budgets, spend and each campaign's state) and the
quarantine's rejected rows, as JSON-ready data and as text tables for a terminal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine

from budget_pipeline.pace import brand_paces
from budget_pipeline.rules.calendar import month_start
from budget_pipeline.rules.money import CENTS, at_least, money_text
from budget_pipeline.store.history import campaigns_by_brand
from budget_pipeline.store.quarantine import QuarantinedRow
from budget_pipeline.store.reads import brand_spend, brands
from budget_pipeline.store.upkeep import dirty_days


class UnknownBrand(LookupError):
    """`status --brand` named a brand the catalog does not have."""


def status_report(
    engine: Engine, as_of: dt.datetime, brand_name: str | None = None, paused: bool = False
) -> dict[str, Any]:
    """Brands with budgets, spend and campaigns as of `as_of`: all of them, or the one named
    `brand_name` (UnknownBrand if there is none); with `paused`, only paused campaigns, and
    (unless a brand is named) only the brands that have some."""
    with engine.connect() as conn:
        rows = brands(conn)
        listed = sorted((row for row in rows.values() if brand_name in (None, row.name)), key=lambda row: row.name)
        if brand_name is not None and not listed:
            raise UnknownBrand(brand_name)
        by_brand = campaigns_by_brand(conn, brand_name, paused)
        if paused and brand_name is None:
            listed = [row for row in listed if row.id in by_brand]
        shown = {row.id: row for row in listed}
        spend = brand_spend(conn, as_of, shown)
        paces = brand_paces(conn, as_of, shown, spend)
    return {
        "as_of": as_of.astimezone(dt.UTC).isoformat(),
        "brands": [
            {
                "name": brand.name,
                "timezone": brand.timezone,
                "local_date": spend[brand.id].local_date.isoformat(),
                "currency": brand.currency,
                "daily_budget": money_text(brand.daily_budget),
                "daily_spend": money_text(spend[brand.id].daily),
                "monthly_budget": money_text(brand.monthly_budget),
                "monthly_spend": money_text(spend[brand.id].monthly),
                **paces[brand.id].fields(),
                "campaigns": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "enabled": c.enabled,
                        "active": c.active,
                        "pause_reasons": c.reasons,
                    }
                    for c in by_brand.get(brand.id, [])
                ],
            }
            for brand in listed
        ],
    }


def unrefreshed_note(engine: Engine, report: dict[str, Any]) -> str | None:
    """A line for `status` when some days of the periods it shows (each brand's month up to its
    local date) have new records not yet in the spend partitions: the totals shown count them,
    read from the raw records; the assets and their checks do not yet."""
    shown = [dt.date.fromisoformat(brand["local_date"]) for brand in report["brands"]]
    with engine.connect() as conn:
        days = [day for day in dirty_days(conn) if any(month_start(today) <= day <= today for today in shown)]
    if not days:
        return None
    return (
        f"note: spend recorded for {len(days)} day(s) ({days[0]}{' ..' if len(days) > 1 else ''}) is counted "
        "here from the raw records; the spend partitions in Dagster have it after the next refresh (a tick, "
        "or the spend sensor's run)"
    )


def shown_money(amount: str, currency: str) -> str:
    """An amount for people: two decimals (half up), thousands grouped, then the currency."""
    value = Decimal(amount)
    return at_least(f"{value.quantize(CENTS, ROUND_HALF_UP):,.2f} {currency}", value)


def status_text(report: dict[str, Any]) -> str:
    lines = [f"as of {report['as_of']}"]
    for brand in report["brands"]:
        currency = brand["currency"]
        lines.append(
            f"{brand['name']} ({brand['timezone']}, {brand['local_date']}): "
            f"day {shown_money(brand['daily_spend'], currency)} / {shown_money(brand['daily_budget'], currency)}, "
            f"month {shown_money(brand['monthly_spend'], currency)} / {shown_money(brand['monthly_budget'], currency)}"
        )
        lines.append(
            f"  pace: day {brand['daily_pace'] or '-'}, month {brand['monthly_pace'] or '-'}; "
            f"projected: day {shown_money(brand['projected_daily_spend'], currency)}, "
            f"month {shown_money(brand['projected_monthly_spend'], currency)}"
        )
        for c in brand["campaigns"]:
            state = "active" if c["active"] else "paused: " + ", ".join(c["pause_reasons"])
            lines.append(f"  {c['id']:<24} {state}")
    return "\n".join(lines)


ELLIPSIS = "…"
MIN_SHRUNK_WIDTH = 12


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def table_text(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None, shrink: Sequence[int]) -> str:
    """Rows under their headers in aligned columns. With a `width` (a terminal's), the columns
    `shrink` names, last first, give up characters (down to MIN_SHRUNK_WIDTH) until a line fits,
    their cells cut short with an ellipsis; without one, nothing is cut."""
    rows = [[" ".join(cell.splitlines()) for cell in row] for row in rows]  # any line break: one line
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    if width is not None:
        over = sum(widths) + 2 * (len(widths) - 1) - width
        for index in reversed(shrink):
            if over <= 0:
                break
            give = min(over, max(widths[index] - MIN_SHRUNK_WIDTH, 0))
            widths[index] -= give
            over -= give
    last = len(widths) - 1
    lines = []
    for row in [list(headers), *rows]:
        cells = [_cut(cell, widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cell if i == last else cell.ljust(widths[i]) for i, cell in enumerate(cells)))
    return "\n".join(lines)


def quarantine_text(rows: Sequence[QuarantinedRow], width: int | None) -> str:
    """The rejected rows as a table: when (UTC), file, line, reason, the row as it was."""
    return table_text(
        ("quarantined at (UTC)", "file", "line", "reason", "row"),
        [(r.at.strftime("%Y-%m-%d %H:%M:%S"), r.file_name, str(r.line), r.reason, r.row) for r in rows],
        width,
        shrink=(1, 3, 4),
    )
