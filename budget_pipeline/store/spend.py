"""Spend in the store: writing raw records, rebuilding the daily and monthly aggregates of a
window of partitions, and reading budget use. Every statement is set-based and bound."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from budget_pipeline.ingest.spendfile import CampaignZones
from budget_pipeline.rules.calendar import current_days, local_date, month_start, next_month_start
from budget_pipeline.store.bulk import arrow_csv, copy_csv, empty_temp_table, insert_arrow
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    daily_brand_table,
    daily_table,
    dirty_days_table,
    monthly_brand_table,
    monthly_table,
    quarantine_table,
    raw_table,
    spend_files_table,
)
from budget_pipeline.store.types import Money, UTCDateTime

raw_t = raw_table
daily_t = daily_table
monthly_t = monthly_table
daily_brand_t = daily_brand_table
monthly_brand_t = monthly_brand_table
dirty_t = dirty_days_table
brands_t = brands_table
campaigns_t = campaigns_table

_COLUMNS = ("line_no", "record_id", "campaign_id", "amount", "occurred_at", "local_date")
CATALOG_CHANGE = 0  # the file_id of a dirty mark made by a catalog change, not by a spend file


@dataclass(frozen=True)
class InsertResult:
    accepted: int
    duplicate: int
    conflicts: list[tuple[int, str]]  # (line_no, record_id) of conflicting duplicates


class PreparedRecords:
    """One chunk of validated rows turned into what one database's bulk insert takes, so that
    this work (in Arrow, outside the GIL) is done before the write transaction, beside the
    writes of the chunks before it. On SQLite the values are integer micro-units and the text
    layout SQLAlchemy's DATETIME reads and compares; on PostgreSQL the amount as written (NUMERIC
    parses it exactly) and the instant with an explicit UTC offset."""

    def __init__(self, dialect: str, file_id: int, valid: pa.Table) -> None:
        self.dialect = dialect
        self.file_id = file_id
        self.num_rows = valid.num_rows
        # Stored in local_date order: a day's records then sit together on disk, whatever order
        # the file has, so a rebuild reads a few runs of pages instead of rows from every page.
        # (Sorting by campaign within the day as well took 5% off ingestion for 10% off SQLite's
        # month rebuild.) Which line of a repeated record_id came first: `_first_lines`.
        valid = valid.take(pc.sort_indices(valid, [("local_date", "ascending")]))
        # Sorted: writers that mark the same days lock their rows in one order, never deadlocking.
        self.days: list[dt.date] = sorted(pc.unique(valid["local_date"]).to_pylist())
        naive = pc.cast(valid["occurred_at"], pa.timestamp("us")).cast(pa.string())
        if dialect == "sqlite":
            amount, instant = valid["amount_micros"], naive
        else:
            amount, instant = valid["amount"], pc.binary_join_element_wise(naive, "+00", "")
        self.values = pa.table(
            [
                valid["line_no"],
                valid["record_id"],
                valid["campaign_id"],
                amount,
                instant,
                valid["local_date"].cast(pa.string()),
            ],
            names=list(_COLUMNS),
        )
        # On SQLite the values become Python objects in the writing thread, as they are bound
        # (bulk.insert_arrow): built here, beside the writes, they slowed both threads down.
        self.csv = b""
        if dialect == "postgresql":
            file_ids = pa.repeat(pa.scalar(file_id, pa.int32()), valid.num_rows)
            self.csv = arrow_csv(self.values.append_column("file_id", file_ids))


def _insert_new(conn: Connection, records: PreparedRecords) -> None:
    """Plain bulk insert of rows whose record_ids are all new: COPY on PostgreSQL, multi-row
    INSERTs on SQLite. A record_id already stored raises the driver's IntegrityError."""
    if records.dialect == "postgresql":
        copy_csv(conn, "raw_spend_records", [*_COLUMNS, "file_id"], records.csv)
        return
    insert_arrow(conn, "raw_spend_records", records.values, {"file_id": records.file_id})


# One chunk's rows on the slow path of insert_records, sorting duplicates from conflicts.
_staging_t = Table(
    "spend_staging",
    MetaData(),
    Column("line_no", Integer, nullable=False),
    # The collation of raw_spend_records.record_id, which it is joined to.
    Column("record_id", raw_t.c.record_id.type, nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("amount", Money, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("local_date", Date, nullable=False),
    Column("first_in_chunk", Boolean, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def _first_lines(rows: pa.Table) -> pa.Array:
    """True at the earliest line of each record_id among `rows`, whatever their order."""
    order = pc.sort_indices(rows, [("record_id", "ascending"), ("line_no", "ascending")])
    ids = rows["record_id"].take(order)
    first_in_order = np.ones(rows.num_rows, dtype=bool)
    if rows.num_rows > 1:
        changed = pc.not_equal(ids.slice(1), ids.slice(0, rows.num_rows - 1))
        first_in_order[1:] = np.asarray(changed.to_numpy(zero_copy_only=False), dtype=bool)
    first = np.empty(rows.num_rows, dtype=bool)
    first[np.asarray(order)] = first_in_order
    return pa.array(first)


def _stage(conn: Connection, records: PreparedRecords) -> None:
    empty_temp_table(conn, _staging_t)
    insert_arrow(conn, "spend_staging", records.values.append_column("first_in_chunk", _first_lines(records.values)))


def insert_new_records(conn: Connection, records: PreparedRecords) -> InsertResult | None:
    """Add one chunk whose record_ids are all new with one plain bulk insert (COPY on
    PostgreSQL) inside a savepoint. None, with nothing written, when the chunk repeats a
    record_id or meets one already stored (the unique index says so): `insert_records` then
    sorts it out."""
    if records.num_rows == 0:
        return InsertResult(0, 0, [])
    try:
        with conn.begin_nested():
            _insert_new(conn, records)
    except (IntegrityError, conn.dialect.loaded_dbapi.IntegrityError):
        return None
    return InsertResult(records.num_rows, 0, [])


def insert_records(conn: Connection, records: PreparedRecords) -> InsertResult:
    """Add the validated rows of one chunk. A record_id already stored (by an earlier file or an
    earlier line) with the same content is a duplicate and changes nothing; with other content it
    is a conflicting duplicate, left out and returned. The caller marks the days that gained
    records dirty (`mark_days_dirty`), once per file.

    The usual chunk, all new record_ids, goes in with one plain bulk insert inside a savepoint;
    only when that meets a stored record_id (or the chunk repeats one) does it take the slower
    path through a staging table that sorts duplicates from conflicts.
    """
    if (inserted := insert_new_records(conn, records)) is not None:
        return inserted
    file_id = records.file_id
    _stage(conn, records)
    accepted = conn.execute(
        text(
            "INSERT INTO raw_spend_records "
            "(record_id, campaign_id, amount, occurred_at, local_date, file_id, line_no) "
            "SELECT record_id, campaign_id, amount, occurred_at, local_date, :file_id, line_no "
            "FROM spend_staging WHERE first_in_chunk "
            "ON CONFLICT (record_id) DO NOTHING"
        ),
        {"file_id": file_id},
    ).rowcount
    # Every staged row was inserted unless its record_id was already stored or repeated in the
    # chunk; only then can a row conflict.
    conflicts: Sequence[Any] = []
    if accepted < records.num_rows:
        conflicts = conn.execute(
            text(
                "SELECT s.line_no, s.record_id FROM spend_staging s "
                "JOIN raw_spend_records r ON r.record_id = s.record_id "
                "WHERE NOT (r.file_id = :file_id AND r.line_no = s.line_no) "
                "AND (r.campaign_id <> s.campaign_id OR r.amount <> s.amount OR r.occurred_at <> s.occurred_at) "
                "ORDER BY s.line_no"
            ),
            {"file_id": file_id},
        ).all()
    return InsertResult(
        accepted, records.num_rows - accepted - len(conflicts), [(int(n), str(r)) for n, r in conflicts]
    )


@dataclass(frozen=True)
class PeriodTotals:
    """One partition as built: its campaign rows, the records they sum, and their spend."""

    rows: int = 0
    records: int = 0
    spend: Decimal = Decimal(0)


AGGREGATION_WORK_MEM = "256MB"


def _aggregation_memory(conn: Connection) -> None:
    """Let this transaction's per-day campaign hash aggregates stay in memory on PostgreSQL: a
    day of 10M records a month holds ~100k groups (~50 MB), and the 4 MB default spills them
    to disk."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'")


DayTotals = dict[dt.date, tuple[int, Decimal]]  # (records, spend) per day


# The (day, campaign) sums of one day's raw records, which a rebuild joins to campaigns' brands.
_sums_t = Table(
    "daily_spend_sums",
    MetaData(),
    Column("day", Date, nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("spend", Money, nullable=False),
    Column("records", Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def _sum_raw_records(conn: Connection, day: dt.date) -> int:
    """Fill the sums table with the (campaign) sums of one day's raw records; how many."""
    empty_temp_table(conn, _sums_t)
    return conn.execute(
        insert(_sums_t).from_select(
            ["day", "campaign_id", "spend", "records"],
            select(literal(day, Date()), raw_t.c.campaign_id, func.sum(raw_t.c.amount), func.count())
            .where(raw_t.c.local_date == day)
            .group_by(raw_t.c.campaign_id),
        )
    ).rowcount


def _days(first: dt.date, stop: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((stop - first).days)]


SPEND_REBUILD_LOCK_KEY = 0x7370_656E_64  # "spend": held by every aggregate rebuild on PostgreSQL


def _lock_rebuilds(conn: Connection) -> None:
    """One rebuild at a time, to the end of its transaction. Two rebuilds of one window at once
    would each delete only the rows its own snapshot saw, and the second insert would then
    collide with the rows the first wrote. (SQLite's writers already take turns.)"""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SPEND_REBUILD_LOCK_KEY})")


def _claim_dirty_days(conn: Connection, first: dt.date, stop: dt.date) -> list[dt.date]:
    """The dirty days of [first, stop), locked until this rebuild commits (on PostgreSQL, in
    day order, as `mark_days_dirty` writes them). A file that marks one of them meanwhile
    waits and marks it again after the rebuild, whose sums may have missed its records; a day
    first marked meanwhile is not claimed. Either way the next refresh sees the day."""
    query = select(dirty_t.c.day).where(dirty_t.c.day >= first, dirty_t.c.day < stop).order_by(dirty_t.c.day)
    return list(conn.execute(query.with_for_update()).scalars())


def rebuild_daily(conn: Connection, first: dt.date, stop: dt.date) -> dict[dt.date, PeriodTotals]:
    """Replace the daily_spend rows of days [first, stop) with sums of their raw records, and
    clear the dirty marks this rebuild covered; what each day holds now (every day of the window,
    a day without spend as zeros)."""
    _lock_rebuilds(conn)
    claimed = _claim_dirty_days(conn, first, stop)
    for table in (daily_t, daily_brand_t):
        conn.execute(delete(table).where(table.c.day >= first, table.c.day < stop))
    _aggregation_memory(conn)
    # One day at a time: a day's campaign groups fit the CPU caches, where one hash table of a
    # month's 300k groups took twice as long on PostgreSQL. Sum first, then join each campaign's
    # sum, not each record, to its brand.
    for day in _days(first, stop):
        if not _sum_raw_records(conn, day):
            continue  # a day without spend has no rows to write
        conn.execute(
            insert(daily_t).from_select(
                ["day", "campaign_id", "brand_id", "spend", "records"],
                select(_sums_t.c.day, _sums_t.c.campaign_id, campaigns_t.c.brand_id, _sums_t.c.spend, _sums_t.c.records)
                .join(campaigns_t, campaigns_t.c.id == _sums_t.c.campaign_id)
                # In key order, the primary-key B-tree grows at its end instead of splitting
                # pages all over: on PostgreSQL this halves the time of a month's insert.
                .order_by(_sums_t.c.campaign_id),
            )
        )
        _sum_per_brand(conn, daily_t, daily_brand_t, "day", day)
    if claimed:
        conn.execute(delete(dirty_t).where(dirty_t.c.day.in_(claimed)))
    built = _period_totals(conn, daily_t.c.day, first, stop)
    return {day: built.get(day, PeriodTotals()) for day in _days(first, stop)}


def _sum_per_brand(conn: Connection, campaigns: Table, brands: Table, key: str, period: dt.date) -> None:
    """Write the per-brand sums of one period's campaign rows (daily_spend into
    daily_brand_spend, monthly_spend into monthly_brand_spend)."""
    source = campaigns.c
    conn.execute(
        insert(brands).from_select(
            [key, "brand_id", "spend", "records"],
            select(source[key], source.brand_id, func.sum(source.spend), func.sum(source.records))
            .where(source[key] == period)
            .group_by(source[key], source.brand_id),
        )
    )


def rebuild_monthly(conn: Connection, first: dt.date, stop: dt.date) -> dict[dt.date, PeriodTotals]:
    """Replace the monthly_spend rows of months starting in [first, stop) from daily_spend;
    what each month holds now."""
    _lock_rebuilds(conn)
    for table in (monthly_t, monthly_brand_t):
        conn.execute(delete(table).where(table.c.month >= first, table.c.month < stop))
    months = []
    start = month_start(first)
    while start < stop:
        months.append(start)
        start = next_month_start(start)
    for start in months:
        conn.execute(
            insert(monthly_t).from_select(
                ["month", "campaign_id", "brand_id", "spend", "records"],
                select(
                    literal(start, daily_t.c.day.type),
                    daily_t.c.campaign_id,
                    daily_t.c.brand_id,
                    func.sum(daily_t.c.spend),
                    func.sum(daily_t.c.records),
                )
                .where(daily_t.c.day >= start, daily_t.c.day < next_month_start(start))
                .group_by(daily_t.c.campaign_id, daily_t.c.brand_id),
            )
        )
        _sum_per_brand(conn, monthly_t, monthly_brand_t, "month", start)
    built = _period_totals(conn, monthly_t.c.month, first, stop)
    return {month: built.get(month, PeriodTotals()) for month in months}


def _period_totals(conn: Connection, key: Any, first: dt.date, stop: dt.date) -> dict[dt.date, PeriodTotals]:
    """Rows, records and spend of each period of a spend aggregate (`key`: its day or month)."""
    table = key.table
    rows = conn.execute(
        select(key, func.count(), func.sum(table.c.records), func.sum(table.c.spend))
        .where(key >= first, key < stop)
        .group_by(key)
    )
    return {period: PeriodTotals(int(n), int(records), spend) for period, n, records, spend in rows}


def _by_day(conn: Connection, day: Any, records: Any, spend: Any, *where: Any) -> DayTotals:
    rows = conn.execute(select(day, records, func.sum(spend)).where(*where).group_by(day))
    return {d: (int(n), amount) for d, n, amount in rows}


def raw_totals_by_day(conn: Connection, first: dt.date, stop: dt.date) -> DayTotals:
    """(records, spend) of the raw records of each local day in [first, stop)."""
    day = raw_t.c.local_date
    return _by_day(conn, day, func.count(), raw_t.c.amount, day >= first, day < stop)


@dataclass(frozen=True)
class BrandUse:
    """A brand's spend in one period (a day or a month) against its budget for that period."""

    brand: str
    period: dt.date
    budget: Decimal
    spend: Decimal
    currency: str

    @property
    def over(self) -> Decimal:
        return self.spend - self.budget

    @property
    def share(self) -> Decimal:
        return self.spend / self.budget


def brand_use(conn: Connection, *, monthly: bool, first: dt.date, stop: dt.date) -> list[BrandUse]:
    """Each brand's aggregated spend against its daily (or monthly) budget, per partition in
    [first, stop), for the brands that spent anything."""
    table, key, budget = (
        (monthly_brand_t, monthly_brand_t.c.month, brands_t.c.monthly_budget)
        if monthly
        else (daily_brand_t, daily_brand_t.c.day, brands_t.c.daily_budget)
    )
    rows = conn.execute(
        select(brands_t.c.name, key, budget, table.c.spend, brands_t.c.currency)
        .join(brands_t, brands_t.c.id == table.c.brand_id)
        .where(key >= first, key < stop)
    )
    return [BrandUse(*row) for row in rows]


def dirty_days(conn: Connection) -> list[dt.date]:
    return list(conn.execute(select(dirty_t.c.day).order_by(dirty_t.c.day)).scalars())


def days_to_refresh(conn: Connection, as_of: dt.datetime) -> list[dt.date]:
    """The days a refresh rebuilds: those whose raw records changed since they were built, and
    every brand's local date of `as_of` (one or two dates)."""
    zones = set(conn.execute(select(brands_t.c.timezone).distinct()).scalars())
    return sorted(set(dirty_days(conn)) | current_days(as_of, zones))


@dataclass(frozen=True)
class IngestTotals:
    records: int  # records stored, by every ingestion so far
    quarantined: int  # rows kept in quarantine
    files: int  # files ingested


def ingest_totals(conn: Connection) -> IngestTotals:
    """Running totals of ingestion, from its per-file counts (no scan of the records)."""
    f = spend_files_table.c
    records, files = conn.execute(
        select(func.coalesce(func.sum(f.accepted), 0), func.count()).where(
            f.error.is_(None), f.finished_at.is_not(None)
        )
    ).one()
    quarantined = conn.execute(select(func.count()).select_from(quarantine_table)).scalar_one()
    return IngestTotals(int(records), int(quarantined), int(files))


# Records of a re-zoned campaign whose local date changed, with the new date.
_redates_t = Table(
    "spend_redates",
    MetaData(),
    Column("record_id", raw_t.c.record_id.type, primary_key=True),
    Column("local_date", Date, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def relocalize_campaigns(conn: Connection, campaign_ids: Select[Any]) -> int:
    """Re-date the raw records of the campaigns `campaign_ids` selects to the local days of
    their brands' (new) time zones, computed as ingestion computes them; the old and new days
    are marked dirty so the next refresh rebuilds them. How many records changed day."""
    rows = conn.execute(
        select(raw_t.c.record_id, raw_t.c.campaign_id, raw_t.c.occurred_at, raw_t.c.local_date, brands_t.c.timezone)
        .join(campaigns_t, campaigns_t.c.id == raw_t.c.campaign_id)
        .join(brands_t, brands_t.c.id == campaigns_t.c.brand_id)
        .where(raw_t.c.campaign_id.in_(campaign_ids))
    ).all()
    if not rows:
        return 0
    record_ids, campaigns, occurred, old_days, zones = zip(*rows, strict=True)
    known = CampaignZones(dict(zip(campaigns, zones, strict=True)))
    positions = np.asarray(known.positions(pa.array(campaigns, pa.string())).to_numpy(zero_copy_only=False))
    instants = pa.array(occurred, pa.timestamp("us", tz="UTC"))
    new_days = pa.array(known.local_dates(positions, instants, np.ones(len(positions), dtype=bool)), pa.date32())
    changed = pc.not_equal(new_days, pa.array(old_days, pa.date32()))
    moved = pa.table(
        {
            "record_id": pa.array(record_ids, pa.string()).filter(changed),
            "local_date": new_days.filter(changed).cast(pa.string()),
        }
    )
    if moved.num_rows:
        empty_temp_table(conn, _redates_t)
        insert_arrow(conn, _redates_t.name, moved)
        conn.execute(
            update(raw_t).values(local_date=_redates_t.c.local_date).where(raw_t.c.record_id == _redates_t.c.record_id)
        )
        old = pa.array(old_days, pa.date32()).filter(changed)
        mark_days_dirty(conn, set(pc.unique(old).to_pylist()) | set(pc.unique(new_days.filter(changed)).to_pylist()))
    return moved.num_rows


BRANDS_FILTERED_IN_SQL = 500  # more would bind too many values for SQLite; fewer are filtered in Python


@dataclass(frozen=True)
class BrandSpend:
    brand_id: int
    local_date: dt.date
    daily: Decimal
    monthly: Decimal


def brand_spend_as_of(
    conn: Connection, as_of: dt.datetime, brand_ids: Collection[int] | None = None
) -> dict[int, BrandSpend]:
    """Each brand's (or each of `brand_ids`') spend on its own local date of `as_of` and in
    that local month, summed straight from the raw records (so it is right even before the
    next refresh)."""
    brands = conn.execute(select(brands_t.c.id, brands_t.c.timezone)).all()
    if brand_ids is not None:
        wanted = set(brand_ids)
        brands = [row for row in brands if row.id in wanted]
    today = {bid: local_date(as_of, zone) for bid, zone in brands}
    if not today:
        return {}
    first = min(month_start(d) for d in today.values())
    stop = max(today.values()) + dt.timedelta(days=1)
    rows = conn.execute(
        select(campaigns_t.c.brand_id, raw_t.c.local_date, func.sum(raw_t.c.amount))
        .join(campaigns_t, campaigns_t.c.id == raw_t.c.campaign_id)
        .where(raw_t.c.local_date >= first, raw_t.c.local_date < stop)
        .where(*([campaigns_t.c.brand_id.in_(list(today))] if len(today) <= BRANDS_FILTERED_IN_SQL else []))
        .group_by(campaigns_t.c.brand_id, raw_t.c.local_date)
    )
    daily: dict[int, Decimal] = {}
    monthly: dict[int, Decimal] = {}
    for brand_id, day, spend in rows:
        mine = today.get(brand_id)
        if mine is None:
            continue
        if day == mine:
            daily[brand_id] = daily.get(brand_id, Decimal(0)) + spend
        if month_start(day) == month_start(mine) and day <= mine:
            monthly[brand_id] = monthly.get(brand_id, Decimal(0)) + spend
    zero = Decimal("0.000000")
    return {bid: BrandSpend(bid, today[bid], daily.get(bid, zero), monthly.get(bid, zero)) for bid in today}


def mark_campaign_days_dirty(conn: Connection, campaign_ids: Select[Any]) -> None:
    """Mark every local day with spend of the campaigns `campaign_ids` selects for the next refresh."""
    days = conn.execute(select(raw_t.c.local_date).where(raw_t.c.campaign_id.in_(campaign_ids)).distinct())
    mark_days_dirty(conn, set(days.scalars()))


def mark_days_dirty(conn: Connection, days: Collection[dt.date], file_id: int = CATALOG_CHANGE) -> None:
    """Mark `days` for the next refresh, noting the spend file that touched them last.

    In day order, the order in which a rebuild locks them too (`_claim_dirty_days`): a mark
    waits for a rebuild that holds its day, then outlives it."""
    if not days:
        return
    upsert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(dirty_t)
    conn.execute(
        upsert.on_conflict_do_update(index_elements=["day"], set_={"file_id": upsert.excluded.file_id}),
        [{"day": day, "file_id": file_id} for day in sorted(days)],
    )
