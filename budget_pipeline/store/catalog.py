"""Making the database match a catalog file: brands, campaigns and their dayparting windows.

Apply is set-based end to end: the file's rows are staged in temporary tables (COPY on
PostgreSQL, multi-row INSERTs on SQLite), one statement compares them with what is stored and
writes a plan of what differs, and one statement per table writes the differences. Nothing
per row runs in Python, and a file that matches the database writes nothing.

It takes the catalog as any object shaped like the file (`CatalogEntries`: the ingest layer's
validated model is one), so the store depends on no layer above it. One module over 300 lines
on purpose: staging, plan and writes are the steps of one transaction, read in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    union,
    update,
)

from budget_pipeline.collector import collector_paused
from budget_pipeline.rules.dayparting import WEEKDAYS, parse_clock, weekday_mask, window_key
from budget_pipeline.store.bulk import empty_temp_table, insert_arrow
from budget_pipeline.store.db import writing
from budget_pipeline.store.marks import mark_every_brand
from budget_pipeline.store.notifications import keep_names
from budget_pipeline.store.schema import brands_table, campaigns_table, windows_table
from budget_pipeline.store.status import lock_status
from budget_pipeline.store.types import Money, to_micros
from budget_pipeline.store.upkeep import mark_campaign_days_dirty, relocalize_campaigns

brands_t = brands_table
campaigns_t = campaigns_table
windows_t = windows_table


class WindowEntry(Protocol):
    @property
    def days(self) -> Sequence[str]: ...
    @property
    def start(self) -> str: ...
    @property
    def end(self) -> str: ...


class CampaignEntry(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def daily_budget(self) -> Decimal | None: ...
    @property
    def monthly_budget(self) -> Decimal | None: ...
    @property
    def dayparting(self) -> Sequence[WindowEntry]: ...


class BrandEntry(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def daily_budget(self) -> Decimal: ...
    @property
    def monthly_budget(self) -> Decimal: ...
    @property
    def alerts(self) -> tuple[int, ...]: ...
    @property
    def pause_ahead(self) -> int | None: ...
    @property
    def campaigns(self) -> Sequence[CampaignEntry]: ...


class CatalogEntries(Protocol):
    """A catalog as the file gives it, validated."""

    @property
    def brands(self) -> Sequence[BrandEntry]: ...


# Progress of an apply: (what is being done, steps done, steps in all).
ApplyProgress = Callable[[str, int, int], None]


def alerts_text(percents: tuple[int, ...]) -> str:
    """The stored form of a brand's alert percents: sorted, comma-separated ("" for none)."""
    return ",".join(str(percent) for percent in sorted(percents))


def parse_alerts(text: str) -> tuple[int, ...]:
    return tuple(int(percent) for percent in text.split(",") if percent)


@dataclass(frozen=True)
class ApplySummary:
    brands_created: int
    brands_updated: int
    campaigns_created: int
    campaigns_updated: int
    records_relocalized: int

    @property
    def changed(self) -> bool:
        return any((self.brands_created, self.brands_updated, self.campaigns_created, self.campaigns_updated))

    def __str__(self) -> str:
        text = (
            f"brands: {self.brands_created} created, {self.brands_updated} updated; "
            f"campaigns: {self.campaigns_created} created, {self.campaigns_updated} updated"
        )
        if self.records_relocalized:
            text += f"; {self.records_relocalized} spend records re-dated to their new time zone"
        return text


_meta = MetaData()


def _temp(name: str, *columns: Column[Any]) -> Table:
    return Table(name, _meta, *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS")


# The file's rows, as the store holds them (brands by name; alerts as text; windows as masks).
_brands_in = _temp(
    "catalog_brands",
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("daily_budget", Money, nullable=False),
    Column("monthly_budget", Money, nullable=False),
    Column("alerts", String(4000), nullable=False),
    Column("pause_ahead_minutes", Integer),
)
_campaigns_in = _temp(
    "catalog_campaigns",
    Column("id", String(64), nullable=False),
    Column("brand_name", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("daily_cap", Money),
    Column("monthly_cap", Money),
    Column("window_key", Text, nullable=False),
)
_windows_in = _temp(
    "catalog_windows",
    Column("campaign_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("weekdays", Integer, nullable=False),
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
)
# What differs, per campaign of the file that is new or changed in any way.
_plan = _temp(
    "catalog_plan",
    Column("id", String(64), nullable=False),
    Column("is_new", Boolean, nullable=False),
    Column("fields_changed", Boolean, nullable=False),
    Column("windows_changed", Boolean, nullable=False),
    Column("rezoned", Boolean, nullable=False),
    Column("rebranded", Boolean, nullable=False),
    Column("renamed", Boolean, nullable=False),
)
# Campaigns of the file whose windows differ from the stored ones.
_window_changes = _temp("catalog_window_changes", Column("campaign_id", String(64), nullable=False))
BRAND_FIELDS = ("timezone", "currency", "daily_budget", "monthly_budget", "alerts", "pause_ahead_minutes")
CAMPAIGN_FIELDS = ("name", "enabled", "daily_cap", "monthly_cap", "window_key")
APPLY_STEPS = 8
APPLY_WORK_MEM = "64MB"


def apply_catalog(engine: Engine, catalog: CatalogEntries, progress: ApplyProgress | None = None) -> ApplySummary:
    """Create or update every brand and campaign in `catalog` in one transaction; campaigns
    missing from the file are left alone, and what already matches is not written. Spend of a
    campaign whose time zone changed (its brand's zone changed, or it moved brand) is re-dated
    to its new local days. `progress` hears each step."""
    with collector_paused(), writing(engine) as conn:
        return _apply(conn, catalog, progress or (lambda _what, _done, _total: None))


def _apply(conn: Connection, catalog: CatalogEntries, progress: ApplyProgress) -> ApplySummary:
    # Status writers wait for the apply (and it for them), first thing, before it holds any row:
    # a campaign's new notification then either exists before the apply keeps its names or is
    # written after the rename, with the new names.
    lock_status(conn)
    if conn.dialect.name == "postgresql":
        # A few statements over every row of the file: JIT would compile each for longer than it
        # runs, and the 4 MB default work_mem sorts 100k campaigns on disk.
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{APPLY_WORK_MEM}'")
    campaigns = sum(len(b.campaigns) for b in catalog.brands)
    progress(f"staging {len(catalog.brands):,} brands and {campaigns:,} campaigns", 0, APPLY_STEPS)
    _stage(conn, catalog)
    progress("comparing with the database", 1, APPLY_STEPS)
    _write_plan(conn)
    progress("writing brands", 2, APPLY_STEPS)
    brands_created, brands_updated = _write_brands(conn)
    progress("writing campaigns", 3, APPLY_STEPS)
    # What the notifications of a renamed or moved campaign say stays as it was written.
    keep_names(conn, select(_plan.c.id).where(or_(_plan.c.renamed, _plan.c.rebranded)))
    _write_campaigns(conn)
    progress("writing dayparting windows", 4, APPLY_STEPS)
    _write_windows(conn)
    plan = _plan.c
    created, updated, rezoned, rebranded = conn.execute(
        select(
            func.count().filter(plan.is_new),
            func.count().filter(not_(plan.is_new), or_(plan.fields_changed, plan.windows_changed)),
            func.count().filter(plan.rezoned),
            func.count().filter(plan.rebranded),
        )
    ).one()
    # Both steps read every raw record (no index leads from a campaign to its records): only
    # when some campaign's zone or brand changed.
    relocalized = 0
    if rezoned:
        progress("re-dating spend of campaigns in a new time zone", 5, APPLY_STEPS)
        relocalized = relocalize_campaigns(conn, select(plan.id).where(plan.rezoned))
    if rebranded:
        # The aggregates carry each campaign's brand: a campaign that moved brand dirties its days.
        progress("marking the spend days of campaigns that moved brand", 6, APPLY_STEPS)
        mark_campaign_days_dirty(conn, select(plan.id).where(plan.rebranded))
    summary = ApplySummary(brands_created, brands_updated, int(created), int(updated), relocalized)
    if summary.changed:
        mark_every_brand(conn)  # budgets, caps, brands or campaigns changed: the next enforcement is full
    progress("done", APPLY_STEPS, APPLY_STEPS)
    return summary


def _money(values: list[Decimal | None], dialect: str) -> pa.Array:
    """Money as the bulk insert writes it: micro-units on SQLite, decimal text on PostgreSQL."""
    if dialect == "sqlite":
        return pa.array([None if v is None else to_micros(v) for v in values], pa.int64())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _brand_row(brand: BrandEntry) -> tuple[Any, ...]:
    return (
        brand.name,
        brand.timezone,
        brand.currency,
        brand.daily_budget,
        brand.monthly_budget,
        alerts_text(brand.alerts),
        brand.pause_ahead,
    )


@lru_cache(maxsize=4096)
def _window_columns(days: tuple[str, ...], start: str, end: str) -> tuple[int, int, int]:
    """(weekday mask, start minute, end minute) of a window as written; catalogs repeat a few."""
    mask = weekday_mask(WEEKDAYS.index(day) for day in days)
    return mask, parse_clock(start, allow_24=False), parse_clock(end, allow_24=True)


def _stage(conn: Connection, catalog: CatalogEntries) -> None:
    dialect = conn.dialect.name
    for table in (_brands_in, _campaigns_in, _windows_in, _window_changes, _plan):
        empty_temp_table(conn, table)
    brands = list(zip(*(_brand_row(b) for b in catalog.brands), strict=True)) or [()] * 7
    insert_arrow(
        conn,
        _brands_in.name,
        pa.table(
            [
                pa.array(brands[0], pa.string()),
                pa.array(brands[1], pa.string()),
                pa.array(brands[2], pa.string()),
                _money(list(brands[3]), dialect),
                _money(list(brands[4]), dialect),
                pa.array(brands[5], pa.string()),
                pa.array(brands[6], pa.int64()),
            ],
            names=[c.name for c in _brands_in.columns],
        ),
    )
    pairs = [(brand.name, campaign) for brand in catalog.brands for campaign in brand.campaigns]
    ids = [campaign.id for _, campaign in pairs]
    brand_names = [name for name, _ in pairs]
    names = [campaign.name for _, campaign in pairs]
    enabled = [campaign.enabled for _, campaign in pairs]
    daily = [campaign.daily_budget for _, campaign in pairs]
    monthly = [campaign.monthly_budget for _, campaign in pairs]
    campaign_windows = [
        [_window_columns(tuple(spec.days), spec.start, spec.end) for spec in campaign.dayparting]
        for _, campaign in pairs
    ]
    keys = [window_key(windows) for windows in campaign_windows]
    window_rows = [
        (campaign_id, position, *columns)
        for campaign_id, windows in zip(ids, campaign_windows, strict=True)
        for position, columns in enumerate(windows)
    ]
    insert_arrow(
        conn,
        _campaigns_in.name,
        pa.table(
            [
                pa.array(ids, pa.string()),
                pa.array(brand_names, pa.string()),
                pa.array(names, pa.string()),
                pa.array(enabled, pa.bool_()),
                _money(daily, dialect),
                _money(monthly, dialect),
                pa.array(keys, pa.string()),
            ],
            names=[c.name for c in _campaigns_in.columns],
        ),
    )
    window_columns = list(zip(*window_rows, strict=True)) or [()] * 5
    insert_arrow(
        conn,
        _windows_in.name,
        pa.table(
            [
                pa.array(window_columns[0], pa.string()),
                *(pa.array(column, pa.int64()) for column in window_columns[1:]),
            ],
            names=[c.name for c in _windows_in.columns],
        ),
    )


def _differs(stored: Any, wanted: Any) -> Any:
    return stored.is_distinct_from(wanted)


def _write_plan(conn: Connection) -> None:
    """One row per campaign of the file that is new, or whose fields, windows, zone or brand
    differ from the database's (before anything is written)."""
    s, c, w, t, wc = _campaigns_in.c, campaigns_t.c, windows_t.c, _windows_in.c, _window_changes.c
    old_brand, new_brand = brands_t.alias("old_brand"), _brands_in.alias("new_brand")
    same_window = and_(
        t.campaign_id == w.campaign_id,
        t.position == w.position,
        t.weekdays == w.weekdays,
        t.start_minute == w.start_minute,
        t.end_minute == w.end_minute,
    )
    # Two anti-joins, so both databases hash or merge them: stored windows of the file's
    # campaigns that the file lacks, and the file's windows that are not stored.
    stored_gone = (
        select(w.campaign_id)
        .join(_campaigns_in, s.id == w.campaign_id)
        .outerjoin(_windows_in, same_window)
        .where(t.campaign_id.is_(None))
    )
    staged_new = select(t.campaign_id).outerjoin(windows_t, same_window).where(w.campaign_id.is_(None))
    conn.execute(insert(_window_changes).from_select(["campaign_id"], union(stored_gone, staged_new)))
    is_new = c.id.is_(None)
    rebranded = and_(not_(is_new), old_brand.c.name != s.brand_name)
    fields_changed = and_(not_(is_new), or_(rebranded, *(_differs(c[f], s[f]) for f in CAMPAIGN_FIELDS)))
    windows_changed = wc.campaign_id.is_not(None)
    rezoned = and_(not_(is_new), old_brand.c.timezone != new_brand.c.timezone)
    renamed = and_(not_(is_new), c.name != s.name)
    compared = (
        select(
            s.id.label("id"),
            is_new.label("is_new"),
            fields_changed.label("fields_changed"),
            windows_changed.label("windows_changed"),
            rezoned.label("rezoned"),
            rebranded.label("rebranded"),
            renamed.label("renamed"),
        )
        .select_from(
            _campaigns_in.join(new_brand, new_brand.c.name == s.brand_name)
            .outerjoin(campaigns_t, c.id == s.id)
            .outerjoin(old_brand, old_brand.c.id == c.brand_id)
            .outerjoin(_window_changes, wc.campaign_id == s.id)
        )
        .subquery()
    )
    k = compared.c
    columns = [col.name for col in _plan.columns]
    conn.execute(
        insert(_plan).from_select(
            columns, select(*k).where(or_(k.is_new, k.fields_changed, k.windows_changed, k.rezoned, k.rebranded))
        )
    )
    # A campaign the file leaves out still follows its brand into a new zone.
    no = literal(False)
    conn.execute(
        insert(_plan).from_select(
            columns,
            select(c.id, no, no, no, literal(True), no, no)
            .join(old_brand, old_brand.c.id == c.brand_id)
            .join(new_brand, new_brand.c.name == old_brand.c.name)
            .where(old_brand.c.timezone != new_brand.c.timezone, ~exists().where(s.id == c.id)),
        )
    )


def _write_brands(conn: Connection) -> tuple[int, int]:
    """Insert the new brands and update those that differ; (created, updated)."""
    b, s = brands_t.c, _brands_in.c
    updated = conn.execute(
        update(brands_t)
        .values({f: s[f] for f in BRAND_FIELDS})
        .where(b.name == s.name, or_(*(_differs(b[f], s[f]) for f in BRAND_FIELDS)))
    ).rowcount
    created = conn.execute(
        insert(brands_t).from_select(
            ["name", *BRAND_FIELDS],
            select(s.name, *(s[f] for f in BRAND_FIELDS)).where(~exists().where(b.name == s.name)).order_by(s.name),
        )
    ).rowcount
    return created, updated


def _write_campaigns(conn: Connection) -> None:
    c, s, b, p = campaigns_t.c, _campaigns_in.c, brands_t.c, _plan.c
    conn.execute(
        update(campaigns_t)
        .values(brand_id=b.id, **{f: s[f] for f in CAMPAIGN_FIELDS})
        .where(c.id == s.id, s.id == p.id, p.fields_changed, b.name == s.brand_name)
    )
    conn.execute(
        insert(campaigns_t).from_select(
            ["id", "brand_id", *CAMPAIGN_FIELDS, "active", "pause_reasons"],
            select(s.id, b.id, *(s[f] for f in CAMPAIGN_FIELDS), literal(True), literal(""))
            .join(_plan, p.id == s.id)
            .join(brands_t, b.name == s.brand_name)
            .where(p.is_new)
            .order_by(s.id),
        )
    )


def _write_windows(conn: Connection) -> None:
    """Replace the windows of campaigns whose windows differ (and add those of new ones)."""
    w, t, p = windows_t.c, _windows_in.c, _plan.c
    conn.execute(delete(windows_t).where(w.campaign_id.in_(select(p.id).where(p.windows_changed, not_(p.is_new)))))
    columns = ["campaign_id", "position", "weekdays", "start_minute", "end_minute"]
    conn.execute(
        insert(windows_t).from_select(
            columns,
            select(*(t[name] for name in columns))
            .join(_plan, p.id == t.campaign_id)
            .where(p.windows_changed)
            .order_by(t.campaign_id, t.position),
        )
    )
