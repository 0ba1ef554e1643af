"""Campaign status in the store: the inputs each rule needs, read set-based under the status
lock, and the write of every change together with its status-log row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import pyarrow as pa
from sqlalchemy import (
    CTE,
    Boolean,
    Column,
    Connection,
    Date,
    MetaData,
    String,
    Table,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)

from budget_pipeline.rules.calendar import local_date, month_start, next_month_start
from budget_pipeline.rules.dayparting import Window, weekdays_from_mask
from budget_pipeline.rules.reasons import ALL_REASONS, Change, Reasons, format_reasons, parse_reasons
from budget_pipeline.store.bulk import empty_temp_table, insert_arrow
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    daily_brand_table,
    daily_table,
    dirty_days_table,
    monthly_brand_table,
    monthly_table,
    raw_table,
    status_log_table,
    windows_table,
)

STATUS_LOCK_KEY = 0x6275_6467_6574  # "budget": the advisory lock every status writer takes
ZERO = Decimal(0)

b, c, d, m, w = brands_table, campaigns_table, daily_table, monthly_table, windows_table
bd, bm = daily_brand_table, monthly_brand_table
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
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def _analyze(conn: Connection, temp_table: str) -> None:
    """Give PostgreSQL's planner the size of a freshly filled temp table (autovacuum never sees
    temp tables), so a join against it is planned for its real size."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {temp_table}")


def lock_status(conn: Connection) -> None:
    """Serialise status writers: on PostgreSQL an advisory lock held to the end of the
    transaction; on SQLite the transaction already began IMMEDIATE (store.db.writing)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STATUS_LOCK_KEY})")
        # No JIT for the rest of the transaction: status reads are many index lookups, which the
        # planner prices high enough to compile for tens of milliseconds, more than they take.
        conn.exec_driver_sql("SET LOCAL jit = off")


@dataclass(frozen=True)
class BrandRow:
    id: int
    timezone: str
    daily_budget: Decimal
    monthly_budget: Decimal
    last_daily_reset: dt.date | None
    last_monthly_reset: dt.date | None
    name: str
    currency: str


class CampaignRow(NamedTuple):
    """A campaign, its state, and (only when it has that cap) its own spend against its caps."""

    id: str
    brand_id: int
    enabled: bool
    reasons: Reasons
    daily_cap: Decimal | None
    monthly_cap: Decimal | None
    daily_spend: Decimal | None
    monthly_spend: Decimal | None


def brands(conn: Connection) -> dict[int, BrandRow]:
    rows = conn.execute(
        select(
            b.c.id,
            b.c.timezone,
            b.c.daily_budget,
            b.c.monthly_budget,
            b.c.last_daily_reset,
            b.c.last_monthly_reset,
            b.c.name,
            b.c.currency,
        )
    ).all()
    return {row.id: BrandRow(*row) for row in rows}


def _zone_today(zones: Iterable[str], as_of: dt.datetime) -> CTE | None:
    """A tiny inline table of (timezone, local day, its month, the next month) at `as_of`, one
    row per zone."""
    parts = [
        select(
            literal(zone, String()).label("timezone"),
            literal(day, Date()).label("day"),
            literal(month_start(day), Date()).label("month"),
            literal(next_month_start(day), Date()).label("next_month"),
        )
        for zone, day in ((zone, local_date(as_of, zone)) for zone in sorted(set(zones)))
    ]
    if not parts:
        return None
    return (union_all(*parts) if len(parts) > 1 else parts[0]).cte("zone_today")


def _later_days(as_of: dt.datetime, zones: Iterable[str]) -> tuple[dt.date, dt.date]:
    """Bounds (exclusive) of every day that is after some zone's local date of `as_of` and in
    its month: the days whose spend a month-to-date sum leaves out of the month's total."""
    days = [local_date(as_of, zone) for zone in set(zones)] or [as_of.date()]
    return min(days), max(next_month_start(day) for day in days)


def _unrefreshed_days(conn: Connection, as_of: dt.datetime, zones: Iterable[str]) -> list[dt.date]:
    """The dirty days (raw records changed since their partition was built) that some zone's
    month-to-date at `as_of` covers: usually none, right after a refresh."""
    days = [local_date(as_of, zone) for zone in set(zones)]
    if not days:
        return []
    query = select(dirty_days_table.c.day).where(
        dirty_days_table.c.day >= min(month_start(day) for day in days), dirty_days_table.c.day <= max(days)
    )
    return sorted(conn.execute(query).scalars())


def _unrefreshed_spend(conn: Connection, days: list[dt.date], *, per: str) -> dict[tuple[object, dt.date], Decimal]:
    """For each (brand or campaign, dirty day): raw spend minus the spend its partition holds,
    so that a sum over the aggregates plus this is exact before the next refresh too."""
    if not days:
        return {}
    owner, built, built_owner = (
        (c.c.brand_id, bd, bd.c.brand_id) if per == "brand" else (raw_table.c.campaign_id, d, d.c.campaign_id)
    )
    correction: dict[tuple[object, dt.date], Decimal] = {}
    raw = (
        select(owner, raw_table.c.local_date, func.sum(raw_table.c.amount))
        .select_from(raw_table.join(c, c.c.id == raw_table.c.campaign_id))
        .where(raw_table.c.local_date.in_(days))
        .group_by(owner, raw_table.c.local_date)
    )
    for key, day, spend in conn.execute(raw):
        correction[(key, day)] = spend
    for key, day, spend in conn.execute(select(built_owner, built.c.day, built.c.spend).where(built.c.day.in_(days))):
        correction[(key, day)] = correction.get((key, day), ZERO) - spend
    return correction


def _corrected(
    correction: dict[tuple[object, dt.date], Decimal], key: object, day: dt.date, daily: Decimal, monthly: Decimal
) -> tuple[Decimal, Decimal]:
    """`daily` and month-to-date `monthly` of `key` on local `day`, with unrefreshed spend added."""
    for (owner, dirty), delta in correction.items():
        if owner == key and month_start(day) <= dirty <= day:
            monthly += delta
            if dirty == day:
                daily += delta
    return daily, monthly


@dataclass(frozen=True)
class BrandSpend:
    """A brand's spend as of an instant: on its local date, and in its local month up to and
    including that date (the one definition status, rules, checks and alerts share)."""

    local_date: dt.date
    daily: Decimal
    monthly: Decimal


def brand_spend(
    conn: Connection, as_of: dt.datetime, brand_rows: dict[int, BrandRow] | None = None
) -> dict[int, BrandSpend]:
    """Each brand's spend on its local date of `as_of`, and in that local month up to and
    including that date: the sums over all of its campaigns. The day and the month are looked up
    by primary key in the per-brand aggregates; spend on days after the date in the same month
    (a past `as_of`, or records for the brand's tomorrow) is read in one pass and taken off, and
    spend of days not yet refreshed is read from the raw records."""
    brand_rows = brands(conn) if brand_rows is None else brand_rows
    zones = [row.timezone for row in brand_rows.values()]
    zone_today = _zone_today(zones, as_of)
    if zone_today is None:
        return {}
    daily = select(bd.c.spend).where(bd.c.day == zone_today.c.day, bd.c.brand_id == b.c.id).scalar_subquery()
    monthly = select(bm.c.spend).where(bm.c.month == zone_today.c.month, bm.c.brand_id == b.c.id).scalar_subquery()
    query = select(b.c.id, zone_today.c.day, daily, monthly).select_from(
        b.join(zone_today, zone_today.c.timezone == b.c.timezone)
    )
    after, stop = _later_days(as_of, zones)
    later = dict(
        conn.execute(
            select(bd.c.brand_id, func.sum(bd.c.spend))
            .select_from(bd.join(b, b.c.id == bd.c.brand_id).join(zone_today, zone_today.c.timezone == b.c.timezone))
            .where(bd.c.day > after, bd.c.day < stop, bd.c.day > zone_today.c.day, bd.c.day < zone_today.c.next_month)
            .group_by(bd.c.brand_id)
        ).all()
    )
    correction = _unrefreshed_spend(conn, _unrefreshed_days(conn, as_of, zones), per="brand")
    spend = {}
    for brand_id, day, day_spend, month_spend in conn.execute(query).all():
        if brand_id not in brand_rows:
            continue
        on_day = day_spend if day_spend is not None else ZERO
        to_date = (month_spend if month_spend is not None else ZERO) - later.get(brand_id, ZERO)
        if correction:
            on_day, to_date = _corrected(correction, brand_id, day, on_day, to_date)
        spend[brand_id] = BrandSpend(day, on_day, to_date)
    return spend


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


def capped_campaigns_with_spend(
    conn: Connection, as_of: dt.datetime, brand_rows: dict[int, BrandRow], brand_ids: Iterable[int] | None = None
) -> list[CampaignRow]:
    """Every campaign with a cap of its own, with its state and its own spend on its brand's
    local date of `as_of` and in that local month up to and including that date (as
    `brand_spend` counts a brand's): one query, whatever the count, and one for later days."""
    zones = {row.timezone for row in brand_rows.values()}
    zone_today = _zone_today(zones, as_of)
    if zone_today is None:
        return []
    days = sorted({local_date(as_of, zone) for zone in zones})
    months = sorted({month_start(day) for day in days})
    # Joined, not looked up per campaign: the spend rows of the few local days (and months) in
    # play are read in one pass of the aggregates' brand index and hashed, then matched.
    daily = and_(d.c.day == zone_today.c.day, d.c.brand_id == c.c.brand_id, d.c.campaign_id == c.c.id)
    monthly = and_(m.c.month == zone_today.c.month, m.c.brand_id == c.c.brand_id, m.c.campaign_id == c.c.id)
    query = (
        select(
            c.c.id, c.c.brand_id, c.c.enabled, c.c.pause_reasons, c.c.daily_cap, c.c.monthly_cap, d.c.spend, m.c.spend
        )
        .select_from(
            c.join(b, b.c.id == c.c.brand_id)
            .join(zone_today, zone_today.c.timezone == b.c.timezone)
            .outerjoin(d, and_(daily, d.c.day.in_(days)))
            .outerjoin(m, and_(monthly, m.c.month.in_(months)))
        )
        .where(or_(c.c.daily_cap.is_not(None), c.c.monthly_cap.is_not(None)))
    )
    if brand_ids is not None:
        query = query.where(c.c.brand_id.in_(list(brand_ids)))
    after, stop = _later_days(as_of, zones)
    later = dict(
        conn.execute(
            select(d.c.campaign_id, func.sum(d.c.spend))
            .select_from(
                d.join(c, c.c.id == d.c.campaign_id)
                .join(b, b.c.id == c.c.brand_id)
                .join(zone_today, zone_today.c.timezone == b.c.timezone)
            )
            .where(d.c.day > after, d.c.day < stop, d.c.day > zone_today.c.day, d.c.day < zone_today.c.next_month)
            .where(c.c.monthly_cap.is_not(None))
            .group_by(d.c.campaign_id)
        ).all()
    )
    correction = _unrefreshed_spend(conn, _unrefreshed_days(conn, as_of, zones), per="campaign")
    today = {row.id: local_date(as_of, row.timezone) for row in brand_rows.values()}
    rows = []
    for cid, brand_id, enabled, reasons, dcap, mcap, dspend, mspend in conn.execute(query).all():
        own_daily, own_monthly = dspend or ZERO, (mspend or ZERO) - later.get(cid, ZERO)
        if correction:
            own_daily, own_monthly = _corrected(correction, cid, today[brand_id], own_daily, own_monthly)
        rows.append(CampaignRow(cid, brand_id, enabled, parse_reasons(reasons), dcap, mcap, own_daily, own_monthly))
    return rows


def campaign_states(conn: Connection) -> dict[str, tuple[int, bool, Reasons]]:
    """Each campaign's brand, `enabled` and current reasons."""
    rows = conn.execute(select(c.c.id, c.c.brand_id, c.c.enabled, c.c.pause_reasons)).all()
    return {cid: (brand_id, enabled, parse_reasons(reasons)) for cid, brand_id, enabled, reasons in rows}


def windows(conn: Connection) -> dict[str, tuple[Window, ...]]:
    out: dict[str, list[Window]] = {}
    query = select(w.c.campaign_id, w.c.weekdays, w.c.start_minute, w.c.end_minute).order_by(
        w.c.campaign_id, w.c.position
    )
    for campaign_id, mask, start, end in conn.execute(query).all():
        out.setdefault(campaign_id, []).append(Window(weekdays_from_mask(mask), start, end))
    return {cid: tuple(ws) for cid, ws in out.items()}


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
    }
    insert_arrow(conn, "status_changes", pa.table(staged))


def write_changes(conn: Connection, changes: Sequence[Change], as_of: dt.datetime, run_id: str) -> None:
    """Apply `changes` and add one status-log row each, inside the caller's transaction: the
    changes are staged in bulk, then campaigns and the log are written from the stage, set-based
    (a mass change, such as the day's first enforcement, binds no value per campaign)."""
    if not changes:
        return
    _stage_changes(conn, changes)
    _analyze(conn, "status_changes")
    s = _changes.c
    conn.execute(
        update(c).where(c.c.id == s.id).values(active=s.active, pause_reasons=s.pause_reasons, status_changed_at=as_of)
    )
    log = status_log_table
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
            ).order_by(s.id),
        )
    )


@dataclass(frozen=True)
class LogEntry:
    campaign_id: str
    at: dt.datetime
    active_before: bool
    active_after: bool
    reasons_before: list[str]
    reasons_after: list[str]
    changed_reason: str
    run_id: str


def history(conn: Connection, campaign_id: str | None = None, limit: int | None = None) -> list[LogEntry]:
    """The status log, newest first."""
    log = status_log_table
    query = select(
        log.c.campaign_id,
        log.c.at,
        log.c.active_before,
        log.c.active_after,
        log.c.reasons_before,
        log.c.reasons_after,
        log.c.changed_reason,
        log.c.run_id,
    ).order_by(log.c.id.desc())
    if campaign_id is not None:
        query = query.where(log.c.campaign_id == campaign_id)
    if limit is not None:
        query = query.limit(limit)
    return [
        LogEntry(
            r[0], r[1], r[2], r[3], [x for x in r[4].split(",") if x], [x for x in r[5].split(",") if x], r[6], r[7]
        )
        for r in conn.execute(query)
    ]


@dataclass(frozen=True)
class PausedCampaign:
    id: str
    brand: str
    reasons: list[str]
    since: dt.datetime | None  # when it last went from active to paused


def status_counts(conn: Connection) -> dict[str, int]:
    """How many campaigns there are, how many are active and paused, and how many carry each
    reason (a campaign with two reasons counts under both)."""
    counts = {"campaigns": 0, "active": 0, "paused": 0, **{reason: 0 for reason in ALL_REASONS}}
    query = select(c.c.pause_reasons, func.count()).group_by(c.c.pause_reasons)
    for text, n in conn.execute(query).all():
        counts["campaigns"] += n
        reasons = parse_reasons(text)
        counts["paused" if reasons else "active"] += n
        for reason in reasons:
            counts[reason] += n
    return counts


def paused_campaigns(conn: Connection, limit: int) -> list[PausedCampaign]:
    """Up to `limit` paused campaigns, the most recently changed first, with their brand, reasons
    and the moment each last went from active to paused."""
    rows = conn.execute(
        select(c.c.id, b.c.name, c.c.pause_reasons)
        .join(b, b.c.id == c.c.brand_id)
        .where(c.c.active.is_(False))
        .order_by(c.c.status_changed_at.desc(), c.c.id)
        .limit(limit)
    ).all()
    log = status_log_table
    since = dict(
        conn.execute(
            select(log.c.campaign_id, func.max(log.c.at))
            .where(log.c.campaign_id.in_([row.id for row in rows]), log.c.active_before.is_(True))
            .where(log.c.active_after.is_(False))
            .group_by(log.c.campaign_id)
        ).all()
    )
    return [
        PausedCampaign(cid, brand, [r for r in ALL_REASONS if r in parse_reasons(reasons)], since.get(cid))
        for cid, brand, reasons in rows
    ]


def campaign_brands(conn: Connection, campaign_ids: Sequence[str]) -> dict[str, int]:
    """The brand of each of `campaign_ids`."""
    if not campaign_ids:
        return {}
    return dict(conn.execute(select(c.c.id, c.c.brand_id).where(c.c.id.in_(list(campaign_ids)))).all())


def active_campaigns(conn: Connection) -> set[str]:
    """The ids of the campaigns that may spend now (no pause reason)."""
    return set(conn.execute(select(c.c.id).where(c.c.active.is_(True))).scalars())
