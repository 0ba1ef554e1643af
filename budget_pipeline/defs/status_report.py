"""How campaign status is reported to Dagster: the `campaign_status` materialization every
status-writing run logs (counts per reason, the campaigns paused now and since when, the run's
changes with the figures behind each, the brands furthest ahead of their pace with projections),
its run tags, and today's overspend check.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from dagster import AssetMaterialization, MetadataValue
from sqlalchemy import Connection, Engine

from budget_pipeline.control import Outcome
from budget_pipeline.defs.checks import CAMPAIGN_STATUS, CheckOutcome, budgets_today, notifications_delivered
from budget_pipeline.defs.markdown import md_table
from budget_pipeline.pace import brand_paces
from budget_pipeline.rules.money import money_text, spend_text
from budget_pipeline.rules.notifications import DELIVERED, FAILED, PENDING
from budget_pipeline.rules.pacing import day_elapsed, month_elapsed, pace
from budget_pipeline.rules.reasons import (
    ALL_REASONS,
    CAMPAIGN_DAILY_BUDGET,
    CAMPAIGN_MONTHLY_BUDGET,
    DAILY_BUDGET,
    DAYPARTING,
    MANUAL,
    MONTHLY_BUDGET,
    Change,
    format_reasons,
)
from budget_pipeline.store.aggregates import BrandUse
from budget_pipeline.store.alerts import AlertEntry
from budget_pipeline.store.alerts import alerts as recorded_alerts
from budget_pipeline.store.history import campaign_brands, history, paused_campaigns, status_counts
from budget_pipeline.store.notifications import counts as notification_counts
from budget_pipeline.store.notifications import failed as failed_notifications
from budget_pipeline.store.reads import BrandRow, BrandSpend, brand_spend, brands, capped_campaigns_with_spend

ROWS_SHOWN = 50
STATUS_CHANGED_TAG = "budget_pipeline/status_changed"
PAUSED_TAG = "budget_pipeline/paused"
RESUMED_TAG = "budget_pipeline/resumed"
CHANGED_TAG = "budget_pipeline/changed"


def run_tags(outcome: Outcome) -> dict[str, str]:
    """Tags of a run that changed some campaign: `budget_pipeline/status_changed=true` to filter
    on, and how many it paused, resumed and changed. A run that changed nothing gets none."""
    if not outcome.changes:
        return {}
    return {
        STATUS_CHANGED_TAG: "true",
        PAUSED_TAG: str(len(outcome.paused)),
        RESUMED_TAG: str(len(outcome.resumed)),
        CHANGED_TAG: str(len(outcome.changes)),
    }


def brand_uses(rows: dict[int, BrandRow], spend: dict[int, BrandSpend]) -> tuple[list[BrandUse], list[BrandUse]]:
    """Each brand's spend today and this month to date against its budgets, as of one instant."""
    daily, monthly = [], []
    for brand_id, row in rows.items():
        used = spend.get(brand_id)
        if used is None:
            continue
        daily.append(BrandUse(row.name, used.local_date, row.daily_budget, used.daily, row.currency, brand_id))
        monthly.append(
            BrandUse(row.name, used.local_date.replace(day=1), row.monthly_budget, used.monthly, row.currency, brand_id)
        )
    return daily, monthly


def budgets_today_outcome(engine: Engine, as_of: dt.datetime) -> CheckOutcome:
    with engine.connect() as conn:
        rows = brands(conn)
        spend = brand_spend(conn, as_of, rows)
    return budgets_today(*brand_uses(rows, spend), as_of)


def _figure(change: Change, brand: BrandRow | None, spend: BrandSpend | None, caps: dict[str, Any]) -> str:
    """The spend and budget (or cap, or rule) behind one change, at the moment it was made."""
    parts = []
    for reason in (r for r in ALL_REASONS if r in change.changed):
        added = reason in change.after
        if reason in (DAILY_BUDGET, MONTHLY_BUDGET) and brand is not None and spend is not None:
            daily = reason == DAILY_BUDGET
            used, budget = (spend.daily, brand.daily_budget) if daily else (spend.monthly, brand.monthly_budget)
            period = f"day {spend.local_date}" if daily else f"month to {spend.local_date}"
            parts.append(f"{brand.name} {period}: {spend_text(used)} / {money_text(budget)} {brand.currency}")
        elif reason in (CAMPAIGN_DAILY_BUDGET, CAMPAIGN_MONTHLY_BUDGET) and change.campaign_id in caps:
            row = caps[change.campaign_id]
            daily = reason == CAMPAIGN_DAILY_BUDGET
            used, cap = (row.daily_spend, row.daily_cap) if daily else (row.monthly_spend, row.monthly_cap)
            currency = brand.currency if brand else ""
            if cap is not None:
                parts.append(f"own {'day' if daily else 'month'}: {spend_text(used)} / {money_text(cap)} {currency}")
        elif reason == DAYPARTING:
            parts.append("outside its hours" if added else "inside its hours")
        elif reason == MANUAL:
            parts.append("disabled in the catalog" if added else "enabled in the catalog")
        elif not added:
            parts.append(f"{reason} cleared")
    return "; ".join(parts)


def _changes_table(conn: Connection, as_of: dt.datetime, changes: Sequence[Change], rows: dict[int, BrandRow]) -> str:
    if not changes:
        return "no campaign changed"
    shown = list(changes[:ROWS_SHOWN])
    brand_of = campaign_brands(conn, [ch.campaign_id for ch in shown])
    involved = {brand_of[ch.campaign_id] for ch in shown if ch.campaign_id in brand_of}
    spend = brand_spend(conn, as_of, {bid: rows[bid] for bid in involved if bid in rows})
    caps = {row.id: row for row in capped_campaigns_with_spend(conn, as_of, rows, involved)} if involved else {}
    table = []
    for ch in shown:
        brand = rows.get(brand_of.get(ch.campaign_id, -1))
        figures = _figure(ch, brand, spend.get(brand.id) if brand else None, caps)
        before, after = format_reasons(ch.before) or "active", format_reasons(ch.after) or "active"
        table.append([ch.campaign_id, brand.name if brand else "", before, after, format_reasons(ch.changed), figures])
    headers = ["campaign", "brand", "before", "after", "changed", "figures"]
    return md_table(headers, table, total=len(changes), more="changes (`budget-pipeline history`)")


def _recent_changes_table(conn: Connection, rows: dict[int, BrandRow]) -> str:
    """The latest status changes of any run, newest first: when and why a campaign was paused
    or resumed, also after runs that changed nothing (most runs, after most spend files)."""
    entries = history(conn, limit=ROWS_SHOWN)
    if not entries:
        return "no campaign has changed yet"
    brand_of = campaign_brands(conn, [e.campaign_id for e in entries])
    table = []
    for e in entries:
        brand = rows.get(brand_of.get(e.campaign_id, -1))
        changed = e.changed_reason + (" (predicted)" if e.predicted else "")
        before, after = ", ".join(e.reasons_before) or "active", ", ".join(e.reasons_after) or "active"
        table.append(
            [e.campaign_id, brand.name if brand else "", e.at.isoformat(), before, after, changed, e.run_id[:8]]
        )
    headers = ["campaign", "brand", "at", "before", "after", "changed", "run"]
    return md_table(headers, table)


def _paused_table(conn: Connection, paused: int) -> str:
    if not paused:
        return "every campaign is active"
    listed = paused_campaigns(conn, ROWS_SHOWN)
    table = [[p.id, p.brand, ", ".join(p.reasons), p.since.isoformat() if p.since else ""] for p in listed]
    headers = ["campaign", "brand", "reasons", "paused since"]
    return md_table(headers, table, total=paused, more="(`budget-pipeline status --paused`)")


def _pace_table(
    conn: Connection, as_of: dt.datetime, rows: dict[int, BrandRow], spend: dict[int, BrandSpend]
) -> tuple[str, int, int]:
    """(the brands furthest ahead of their daily pace, with projections; how many are ahead of
    their daily pace; how many of their monthly pace)."""
    elapsed = functools.cache(lambda zone: (day_elapsed(as_of, zone), month_elapsed(as_of, zone)))
    daily: dict[int, Decimal] = {}
    ahead_month = 0
    for bid, used in spend.items():
        row = rows.get(bid)
        if row is None:
            continue
        day, month = elapsed(row.timezone)
        if (day_pace := pace(used.daily, row.daily_budget, *day)) is not None and used.daily:
            daily[bid] = day_pace
        month_pace = pace(used.monthly, row.monthly_budget, *month)
        ahead_month += month_pace is not None and month_pace > 1
    ahead_day = sum(1 for p in daily.values() if p > 1)
    if not daily:
        return "no brand has spent today", ahead_day, ahead_month
    shown = sorted(daily, key=lambda bid: (-daily[bid], rows[bid].name))[:ROWS_SHOWN]
    paces = brand_paces(conn, as_of, {bid: rows[bid] for bid in shown}, spend)
    table = []
    for bid in shown:
        row, now, used = rows[bid], paces[bid], spend[bid]
        currency = row.currency
        table.append(
            [
                row.name,
                f"{spend_text(used.daily)} / {money_text(row.daily_budget)} {currency}",
                str(now.daily_pace),
                f"{money_text(now.projected_daily)} {currency}",
                f"{spend_text(used.monthly)} / {money_text(row.monthly_budget)} {currency}",
                "-" if now.monthly_pace is None else str(now.monthly_pace),
                f"{money_text(now.projected_monthly)} {currency}",
            ]
        )
    headers = ["brand", "today", "daily pace", "projected day", "month", "monthly pace", "projected month"]
    return md_table(headers, table, total=len(daily), more="brands that spent today, slower"), ahead_day, ahead_month


def campaign_status_report(
    engine: Engine, what: str, as_of: dt.datetime, outcome: Outcome, spend: dict[int, BrandSpend] | None = None
) -> tuple[AssetMaterialization, CheckOutcome]:
    """campaign_status as it stands after a status-writing step, with that step's changes (and
    every brand's `spend`, read here unless given), and the notifications_delivered check of the
    same read of the outbox."""
    with engine.connect() as conn:
        counts = status_counts(conn)
        rows = brands(conn)
        changes = _changes_table(conn, as_of, outcome.changes, rows)
        recent_changes = _recent_changes_table(conn, rows)
        paused_now = _paused_table(conn, counts["paused"])
        if spend is None:
            spend = outcome.spend if outcome.spend.keys() >= rows.keys() else brand_spend(conn, as_of, rows)
        paces, ahead_day, ahead_month = _pace_table(conn, as_of, rows, spend)
        recent_alerts = alerts_table(recorded_alerts(conn, limit=ROWS_SHOWN), total=None)
        outbox = notification_counts(conn)
        notifications = _notifications_outcome(conn, outbox)
    metadata: dict[str, Any] = {
        "as_of": MetadataValue.text(as_of.isoformat()),
        "step": MetadataValue.text(what),
        "campaigns": MetadataValue.int(counts["campaigns"]),
        "active": MetadataValue.int(counts["active"]),
        "paused": MetadataValue.int(counts["paused"]),
        **{f"paused_{reason}": MetadataValue.int(counts[reason]) for reason in ALL_REASONS},
        "changed_in_this_run": MetadataValue.int(len(outcome.changes)),
        "paused_in_this_run": MetadataValue.int(len(outcome.paused)),
        "resumed_in_this_run": MetadataValue.int(len(outcome.resumed)),
        "brands_ahead_of_daily_pace": MetadataValue.int(ahead_day),
        "brands_ahead_of_monthly_pace": MetadataValue.int(ahead_month),
        "paused_now": MetadataValue.md(paused_now),
        "changes": MetadataValue.md(changes),
        "recent_changes": MetadataValue.md(recent_changes),
        "pace": MetadataValue.md(paces),
        "alerts_in_this_run": MetadataValue.int(outcome.alerts),
        "recent_alerts": MetadataValue.md(recent_alerts),
        "notifications_pending": MetadataValue.int(outbox[PENDING]),
        "notifications_delivered": MetadataValue.int(outbox[DELIVERED]),
        "notifications_failed": MetadataValue.int(outbox[FAILED]),
    }
    description = (
        f"{counts['paused']} of {counts['campaigns']} campaigns paused as of {as_of.isoformat()}; "
        f"{what}: {len(outcome.paused)} paused, {len(outcome.resumed)} resumed, {len(outcome.changes)} changed"
    )
    return AssetMaterialization(CAMPAIGN_STATUS, description=description, metadata=metadata), notifications


def alerts_table(entries: Sequence[AlertEntry], total: int | None) -> str:
    """Alerts as the UI lists them: brand, period, percent, spend / budget, when."""
    if not entries:
        return "no alerts recorded"
    table = [
        [
            e.brand,
            f"{e.period} {e.period_start.isoformat()}",
            f"{e.percent}%",
            f"{spend_text(e.spend)} / {money_text(e.budget)} {e.currency}",
            e.at.isoformat(),
        ]
        for e in entries
    ]
    return md_table(["brand", "period", "reached", "spend / budget", "at"], table, total=total, more="alerts")


def notifications_outcome(engine: Engine) -> CheckOutcome:
    """The notifications_delivered check as the outbox stands: every status step, every
    delivery run and a run by hand report it through here."""
    with engine.connect() as conn:
        return _notifications_outcome(conn, notification_counts(conn))


def _notifications_outcome(conn: Connection, outbox: dict[str, int]) -> CheckOutcome:
    """The notifications_delivered check of the outbox's counts (`store.notifications.counts`)."""
    newest = failed_notifications(conn, limit=ROWS_SHOWN) if outbox[FAILED] else []
    failed = [(r.id, r.type, r.text, r.last_error or "") for r in newest]
    return notifications_delivered(failed, outbox[FAILED], pending=outbox[PENDING], delivered=outbox[DELIVERED])
