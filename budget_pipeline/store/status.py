"""Campaign status in the store: the inputs each rule needs, read under the status lock, and the
write of every change together with its status-log row, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import pyarrow as pa
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    func,
    insert,
    literal,
    select,
    update,
)

from budget_pipeline.rules.reasons import Change, Reasons, format_reasons, parse_reasons
from budget_pipeline.store.bulk import analyze_temp, empty_temp_table, insert_arrow
from budget_pipeline.store.notifications import write_change_notifications
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    status_log_table,
)

b, c = brands_table, campaigns_table


STATUS_LOCK_KEY = 0x6275_6467_6574  # "budget": the advisory lock every status writer takes


# The per-transaction staging table of write_changes: each change with the fields of its log row.
_changes = Table(
    "status_changes",
    MetaData(),
    Column("id", String(64), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("pause_reasons", String(200), nullable=False),
    Column("active_before", Boolean, nullable=False),
    Column("reasons_before", String(200), nullable=False),
    Column("changed_reason", String(200), nullable=False),
    Column("predicted", Boolean, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def lock_status(conn: Connection) -> None:
    """Serialise status writers: on PostgreSQL an advisory lock held to the end of the
    transaction; on SQLite the transaction already began IMMEDIATE (store.db.writing)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STATUS_LOCK_KEY})")
        # No JIT for the rest of the transaction: status reads are many index lookups, which the
        # planner prices high enough to compile for tens of milliseconds, more than they take.
        conn.exec_driver_sql("SET LOCAL jit = off")


def few_rows_ahead(conn: Connection) -> None:
    """Tell PostgreSQL the rest of this transaction reads few rows (an incremental enforcement's
    brands), each by its key: no parallel workers, whose start costs more than such reads take;
    and a page read by key priced about as one read in order (1.1 instead of the default 4), as
    it is when the tables sit in memory, as they do at 100k campaigns. At the default price the
    planner scans every campaign to update a few hundred of them, or to find the campaigns with
    caps of 300 brands: 5-10 times the lookups' cost."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL random_page_cost = 1.1")


class CampaignGroup(NamedTuple):
    """Campaigns of one brand without caps of their own that share `enabled` and reasons: every
    budget decision about them is the same, so it is made once."""

    brand_id: int
    enabled: bool
    reasons: Reasons
    members: int


def uncapped_campaign_groups(conn: Connection, brand_ids: Iterable[int] | None = None) -> list[CampaignGroup]:
    query = (
        select(c.c.brand_id, c.c.enabled, c.c.pause_reasons, func.count())
        .where(c.c.daily_cap.is_(None), c.c.monthly_cap.is_(None))
        .group_by(c.c.brand_id, c.c.enabled, c.c.pause_reasons)
    )
    if brand_ids is not None:
        query = query.where(c.c.brand_id.in_(list(brand_ids)))
    return [
        CampaignGroup(bid, enabled, parse_reasons(reasons), n) for bid, enabled, reasons, n in conn.execute(query).all()
    ]


GROUP_BRANDS_IN_QUERY = 1000


def group_members(conn: Connection, groups: Sequence[CampaignGroup]) -> dict[tuple[int, bool, str], list[str]]:
    """The campaign ids of each of `groups`, keyed by (brand_id, enabled, reasons text), read
    under the status lock so they are current. One query: the uncapped campaigns of the groups'
    brands (of every brand when many changed at once, as at a month's first enforcement)."""
    if not groups:
        return {}
    keys = {(g.brand_id, g.enabled, format_reasons(g.reasons)) for g in groups}
    brand_ids = sorted({g.brand_id for g in groups})
    query = select(c.c.id, c.c.brand_id, c.c.enabled, c.c.pause_reasons).where(
        c.c.daily_cap.is_(None), c.c.monthly_cap.is_(None)
    )
    if len(brand_ids) <= GROUP_BRANDS_IN_QUERY:
        query = query.where(c.c.brand_id.in_(brand_ids))
    members: dict[tuple[int, bool, str], list[str]] = {}
    for cid, brand_id, enabled, reasons in conn.execute(query).all():
        if (key := (brand_id, enabled, reasons)) in keys:
            members.setdefault(key, []).append(cid)
    return members


def campaign_states(conn: Connection) -> dict[str, tuple[int, bool, Reasons]]:
    """Each campaign's brand, `enabled` and current reasons."""
    rows = conn.execute(select(c.c.id, c.c.brand_id, c.c.enabled, c.c.pause_reasons)).all()
    return {cid: (brand_id, enabled, parse_reasons(reasons)) for cid, brand_id, enabled, reasons in rows}


class DaypartingGroup(NamedTuple):
    """Campaigns in one time zone with the same windows (`window_key`), `enabled` and reasons:
    every dayparting decision about them is the same, so it is made once."""

    timezone: str
    window_key: str
    enabled: bool
    reasons: Reasons
    members: int

    @property
    def key(self) -> tuple[str, str, bool, str]:
        return self.timezone, self.window_key, self.enabled, format_reasons(self.reasons)


def dayparting_groups(conn: Connection) -> list[DaypartingGroup]:
    query = (
        select(b.c.timezone, c.c.window_key, c.c.enabled, c.c.pause_reasons, func.count())
        .select_from(c.join(b, b.c.id == c.c.brand_id))
        .group_by(b.c.timezone, c.c.window_key, c.c.enabled, c.c.pause_reasons)
    )
    return [
        DaypartingGroup(zone, key, enabled, parse_reasons(reasons), n)
        for zone, key, enabled, reasons, n in conn.execute(query).all()
    ]


def dayparting_members(
    conn: Connection, groups: Sequence[DaypartingGroup]
) -> dict[tuple[str, str, bool, str], list[str]]:
    """The campaign ids of each of `groups`, keyed by `DaypartingGroup.key`, read under the status
    lock. One query over the campaigns of the groups' zones and window keys."""
    if not groups:
        return {}
    keys = {group.key for group in groups}
    zones = sorted({group.timezone for group in groups})
    window_keys = sorted({group.window_key for group in groups})
    query = (
        select(c.c.id, b.c.timezone, c.c.window_key, c.c.enabled, c.c.pause_reasons)
        .select_from(c.join(b, b.c.id == c.c.brand_id))
        .where(b.c.timezone.in_(zones))
    )
    if len(window_keys) <= GROUP_BRANDS_IN_QUERY:
        query = query.where(c.c.window_key.in_(window_keys))
    members: dict[tuple[str, str, bool, str], list[str]] = {}
    for cid, zone, window_key, enabled, reasons in conn.execute(query).all():
        if (key := (zone, window_key, enabled, reasons)) in keys:
            members.setdefault(key, []).append(cid)
    return members


def mark_reset(conn: Connection, brand_days: dict[int, dt.date], *, monthly: bool) -> None:
    column = b.c.last_monthly_reset if monthly else b.c.last_daily_reset
    by_day: dict[dt.date, list[int]] = {}
    for brand_id, day in brand_days.items():
        by_day.setdefault(day, []).append(brand_id)
    for day, ids in by_day.items():
        conn.execute(update(b).where(b.c.id.in_(ids)).values({column: day}))


def _stage_changes(conn: Connection, changes: Sequence[Change]) -> None:
    """Put `changes`, with the fields of their log rows, in the status_changes temp table."""
    empty_temp_table(conn, _changes)
    staged = {
        "id": [ch.campaign_id for ch in changes],
        "active": [ch.active_after for ch in changes],
        "pause_reasons": [format_reasons(ch.after) for ch in changes],
        "active_before": [ch.active_before for ch in changes],
        "reasons_before": [format_reasons(ch.before) for ch in changes],
        "changed_reason": [format_reasons(ch.changed) for ch in changes],
        "predicted": [ch.predicted for ch in changes],
    }
    insert_arrow(conn, "status_changes", pa.table(staged))


def write_changes(conn: Connection, changes: Sequence[Change], as_of: dt.datetime, run_id: str) -> None:
    """Apply `changes` and add one status-log row and one notification each, inside the caller's
    transaction (so neither exists without the change): the changes are staged in bulk, then
    campaigns, the log and the outbox are written from the stage, set-based (a mass change, such
    as the day's first enforcement, binds no value per campaign)."""
    if not changes:
        return
    _stage_changes(conn, changes)
    analyze_temp(conn, "status_changes")
    s = _changes.c
    conn.execute(
        update(c).where(c.c.id == s.id).values(active=s.active, pause_reasons=s.pause_reasons, status_changed_at=as_of)
    )
    log = status_log_table
    logged_before = conn.execute(select(func.coalesce(func.max(log.c.id), 0))).scalar_one()
    conn.execute(
        insert(log).from_select(
            [
                "campaign_id",
                "at",
                "active_before",
                "active_after",
                "reasons_before",
                "reasons_after",
                "changed_reason",
                "run_id",
                "predicted",
            ],
            # In campaign order, so a run's log rows are numbered the same way on every database.
            select(
                s.id,
                literal(as_of, log.c.at.type),
                s.active_before,
                s.active,
                s.reasons_before,
                s.pause_reasons,
                s.changed_reason,
                literal(run_id, log.c.run_id.type),
                s.predicted,
            ).order_by(s.id),
        )
    )
    write_change_notifications(conn, logged_before)
