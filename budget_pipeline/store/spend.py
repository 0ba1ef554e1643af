"""Spend in the store: writing raw records, rebuilding the daily and monthly aggregates of a
window of partitions, and reading budget use. Every statement is set-based and bound."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, bindparam, delete, func, insert, literal, select, text

from budget_pipeline.rules.calendar import local_date, month_start, next_month_start
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    daily_table,
    dirty_days_table,
    monthly_table,
    raw_table,
)

raw_t = raw_table
daily_t = daily_table
monthly_t = monthly_table
dirty_t = dirty_days_table
brands_t = brands_table
campaigns_t = campaigns_table

_STAGING_COLUMNS = "line_no, record_id, campaign_id, amount, occurred_at, local_date, first_in_chunk"


@dataclass(frozen=True)
class InsertResult:
    accepted: int
    duplicate: int
    conflicts: list[tuple[int, str]]  # (line_no, record_id) of conflicting duplicates


def _ensure_staging(conn: Connection) -> None:
    amount_type = "BIGINT" if conn.dialect.name == "sqlite" else "NUMERIC(20, 6)"
    instant_type = "TEXT" if conn.dialect.name == "sqlite" else "TIMESTAMPTZ"
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS spend_staging ("
        "line_no INTEGER NOT NULL, record_id VARCHAR(128) NOT NULL, campaign_id VARCHAR(64) NOT NULL, "
        f"amount {amount_type} NOT NULL, occurred_at {instant_type} NOT NULL, local_date DATE NOT NULL, "
        "first_in_chunk BOOLEAN NOT NULL)"
    )
    conn.exec_driver_sql("DELETE FROM spend_staging")


def _stage(conn: Connection, valid: pd.DataFrame) -> None:
    _ensure_staging(conn)
    days = valid["local_date"].dt.strftime("%Y-%m-%d")
    # Only the first row of a record_id repeated within the chunk competes for the insert.
    first = ~valid["record_id"].duplicated(keep="first")
    if conn.dialect.name == "sqlite":
        # The text layout SQLAlchemy's SQLite DATETIME reads and compares.
        instants = valid["occurred_at"].dt.tz_localize(None).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
        rows = zip(
            valid["line_no"].tolist(),
            valid["record_id"].tolist(),
            valid["campaign_id"].tolist(),
            valid["amount_micros"].tolist(),
            instants.tolist(),
            days.tolist(),
            first.astype(int).tolist(),
            strict=True,
        )
        conn.exec_driver_sql(f"INSERT INTO spend_staging ({_STAGING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", list(rows))
        return
    micros = valid["amount_micros"]
    amounts = (micros // 1_000_000).astype(str) + "." + (micros % 1_000_000).astype(str).str.zfill(6)
    frame = pd.DataFrame(
        {
            "line_no": valid["line_no"],
            "record_id": valid["record_id"],
            "campaign_id": valid["campaign_id"],
            "amount": amounts,
            "occurred_at": valid["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S.%f+00"),
            "local_date": days,
            "first_in_chunk": first.map({True: "t", False: "f"}),
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_MINIMAL)
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY spend_staging ({_STAGING_COLUMNS}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


def insert_records(conn: Connection, file_id: int, valid: pd.DataFrame) -> InsertResult:
    """Add the validated rows of one chunk. A record_id already stored (by an earlier file or an
    earlier line) with the same content is a duplicate and changes nothing; with other content it
    is a conflicting duplicate, left out and returned.
    The brand-local days that gained records are marked dirty for the next refresh."""
    if valid.empty:
        return InsertResult(0, 0, [])
    _stage(conn, valid)
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
    if accepted < len(valid):
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
    if accepted:
        # Marks every day the chunk names; a day with only duplicates is rebuilt needlessly, never missed.
        conn.execute(
            text(
                "INSERT INTO dirty_spend_days (day, file_id) "
                "SELECT DISTINCT local_date, :file_id FROM spend_staging WHERE true "
                "ON CONFLICT (day) DO UPDATE SET file_id = excluded.file_id"
            ),
            {"file_id": file_id},
        )
    return InsertResult(accepted, len(valid) - accepted - len(conflicts), [(int(n), str(r)) for n, r in conflicts])


@dataclass(frozen=True)
class WindowTotals:
    rows: int
    records: int
    spend: Decimal


def rebuild_daily(conn: Connection, first: dt.date, stop: dt.date) -> WindowTotals:
    """Replace the daily_spend rows of days [first, stop) with sums of their raw records, and
    clear the dirty marks this rebuild covered."""
    marks = conn.execute(
        select(func.max(dirty_t.c.file_id)).where(dirty_t.c.day >= first, dirty_t.c.day < stop)
    ).scalar()
    conn.execute(delete(daily_t).where(daily_t.c.day >= first, daily_t.c.day < stop))
    conn.execute(
        insert(daily_t).from_select(
            ["day", "campaign_id", "brand_id", "spend", "records"],
            # Grouped by the index's own columns so the rows stream in order; a campaign has
            # one brand, so min() just carries it.
            select(
                raw_t.c.local_date,
                raw_t.c.campaign_id,
                func.min(campaigns_t.c.brand_id),
                func.sum(raw_t.c.amount),
                func.count(),
            )
            .join(campaigns_t, campaigns_t.c.id == raw_t.c.campaign_id)
            .where(raw_t.c.local_date >= first, raw_t.c.local_date < stop)
            .group_by(raw_t.c.local_date, raw_t.c.campaign_id),
        )
    )
    if marks is not None:
        # A file that lands during the rebuild carries a higher id and stays marked.
        conn.execute(delete(dirty_t).where(dirty_t.c.day >= first, dirty_t.c.day < stop, dirty_t.c.file_id <= marks))
    return _totals(conn, daily_t, first, stop)


def rebuild_monthly(conn: Connection, first: dt.date, stop: dt.date) -> WindowTotals:
    """Replace the monthly_spend rows of months starting in [first, stop) from daily_spend."""
    conn.execute(delete(monthly_t).where(monthly_t.c.month >= first, monthly_t.c.month < stop))
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
    return _totals(conn, monthly_t, first, stop)


def _totals(conn: Connection, table: Table, first: dt.date, stop: dt.date) -> WindowTotals:
    key = table.c.day if table is daily_t else table.c.month
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(table.c.records), 0), func.sum(table.c.spend)).where(
            key >= first, key < stop
        )
    ).one()
    return WindowTotals(int(row[0]), int(row[1]), row[2] if row[2] is not None else Decimal("0"))


def raw_totals_by_day(conn: Connection, first: dt.date, stop: dt.date) -> dict[dt.date, tuple[int, Decimal]]:
    """(records, spend) of the raw records of each local day in [first, stop)."""
    rows = conn.execute(
        select(raw_t.c.local_date, func.count(), func.sum(raw_t.c.amount))
        .where(raw_t.c.local_date >= first, raw_t.c.local_date < stop)
        .group_by(raw_t.c.local_date)
    )
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def daily_totals_by_day(conn: Connection, first: dt.date, stop: dt.date) -> dict[dt.date, tuple[int, Decimal]]:
    rows = conn.execute(
        select(daily_t.c.day, func.sum(daily_t.c.records), func.sum(daily_t.c.spend))
        .where(daily_t.c.day >= first, daily_t.c.day < stop)
        .group_by(daily_t.c.day)
    )
    return {row[0]: (int(row[1]), row[2]) for row in rows}


@dataclass(frozen=True)
class BrandUse:
    brand: str
    period: dt.date
    budget: Decimal
    spend: Decimal

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
        (monthly_t, monthly_t.c.month, brands_t.c.monthly_budget)
        if monthly
        else (daily_t, daily_t.c.day, brands_t.c.daily_budget)
    )
    spend = func.sum(table.c.spend)
    rows = conn.execute(
        select(brands_t.c.name, key, budget, spend)
        .join(brands_t, brands_t.c.id == table.c.brand_id)
        .where(key >= first, key < stop)
        .group_by(brands_t.c.name, key, budget)
    )
    return [BrandUse(r[0], r[1], r[2], r[3]) for r in rows]


def dirty_days(conn: Connection) -> list[dt.date]:
    return list(conn.execute(select(dirty_t.c.day).order_by(dirty_t.c.day)).scalars())


def relocalize_campaigns(conn: Connection, campaign_ids: Sequence[str]) -> int:
    """Re-date the raw records of campaigns whose brand time zone changed; the old and new
    days are marked dirty so the next refresh rebuilds them."""
    zones = dict(
        conn.execute(
            select(campaigns_t.c.id, brands_t.c.timezone)
            .join(brands_t, brands_t.c.id == campaigns_t.c.brand_id)
            .where(campaigns_t.c.id.in_(campaign_ids))
        ).all()
    )
    rows = conn.execute(
        select(raw_t.c.record_id, raw_t.c.campaign_id, raw_t.c.occurred_at, raw_t.c.local_date).where(
            raw_t.c.campaign_id.in_(campaign_ids)
        )
    ).all()
    changes = []
    touched: set[dt.date] = set()
    for record_id, campaign_id, occurred_at, old_day in rows:
        new_day = local_date(occurred_at, zones[campaign_id])
        if new_day != old_day:
            changes.append({"rid": record_id, "new_day": new_day})
            touched.update((old_day, new_day))
    if changes:
        conn.execute(
            raw_t.update().where(raw_t.c.record_id == bindparam("rid")).values(local_date=bindparam("new_day")),
            changes,
        )
    _mark_days_dirty(conn, touched)
    return len(changes)


@dataclass(frozen=True)
class BrandSpend:
    brand_id: int
    local_date: dt.date
    daily: Decimal
    monthly: Decimal


def brand_spend_as_of(conn: Connection, as_of: dt.datetime) -> dict[int, BrandSpend]:
    """Each brand's spend on its own local date of `as_of` and in that local month, summed
    straight from the raw records (so it is right even before the next refresh)."""
    brands = conn.execute(select(brands_t.c.id, brands_t.c.timezone)).all()
    today = {bid: local_date(as_of, zone) for bid, zone in brands}
    if not today:
        return {}
    first = min(month_start(d) for d in today.values())
    stop = max(today.values()) + dt.timedelta(days=1)
    rows = conn.execute(
        select(campaigns_t.c.brand_id, raw_t.c.local_date, func.sum(raw_t.c.amount))
        .join(campaigns_t, campaigns_t.c.id == raw_t.c.campaign_id)
        .where(raw_t.c.local_date >= first, raw_t.c.local_date < stop)
        .group_by(campaigns_t.c.brand_id, raw_t.c.local_date)
    )
    daily: dict[int, Decimal] = {}
    monthly: dict[int, Decimal] = {}
    for brand_id, day, spend in rows:
        mine = today[brand_id]
        if day == mine:
            daily[brand_id] = daily.get(brand_id, Decimal(0)) + spend
        if month_start(day) == month_start(mine) and day <= mine:
            monthly[brand_id] = monthly.get(brand_id, Decimal(0)) + spend
    zero = Decimal("0.000000")
    return {bid: BrandSpend(bid, today[bid], daily.get(bid, zero), monthly.get(bid, zero)) for bid in today}


def mark_campaign_days_dirty(conn: Connection, campaign_ids: Sequence[str]) -> None:
    """Mark every local day with spend of these campaigns for the next refresh."""
    days = conn.execute(select(raw_t.c.local_date).where(raw_t.c.campaign_id.in_(list(campaign_ids))).distinct())
    _mark_days_dirty(conn, set(days.scalars()))


def _mark_days_dirty(conn: Connection, days: set[dt.date]) -> None:
    if not days:
        return
    mark = conn.execute(select(func.coalesce(func.max(raw_t.c.file_id), 0))).scalar_one()
    conn.execute(delete(dirty_t).where(dirty_t.c.day.in_(sorted(days))))
    conn.execute(insert(dirty_t), [{"day": day, "file_id": mark} for day in sorted(days)])
