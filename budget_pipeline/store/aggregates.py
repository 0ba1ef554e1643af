"""The spend aggregates: rebuilding the daily and monthly partitions of a window (per campaign
and per brand), their totals, and each brand's use of its budget per partition. One rebuild at
a time; every statement set-based and bound."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Float,
    Integer,
    MetaData,
    Numeric,
    Select,
    String,
    Table,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    union,
    update,
)

from budget_pipeline.rules.calendar import month_start, next_month_start
from budget_pipeline.store.bulk import analyze_temp, dialect_insert, empty_temp_table, ensure_temp_table, temp_table
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    daily_brand_table,
    daily_table,
    dirty_days_table,
    monthly_brand_table,
    monthly_table,
    months_checked_table,
    raw_table,
)
from budget_pipeline.store.types import Money, money_add, money_sum
from budget_pipeline.store.upkeep import claim_dirty_days, clear_dirty_days, marked_campaigns

raw_t = raw_table
daily_t = daily_table
monthly_t = monthly_table
daily_brand_t = daily_brand_table
monthly_brand_t = monthly_brand_table
checked_t = months_checked_table
brands_t = brands_table
campaigns_t = campaigns_table


@dataclass(frozen=True)
class PeriodTotals:
    """One partition as built: its campaign rows, the records they sum, and their spend."""

    rows: int = 0
    records: int = 0
    spend: Decimal = Decimal(0)


AGGREGATION_WORK_MEM = "256MB"


def _aggregation_settings(conn: Connection) -> None:
    """On PostgreSQL, for this transaction: let the per-day campaign hash aggregates stay in
    memory (a day of 10M records a month holds ~100k groups, ~50 MB, and the 4 MB default spills
    them to disk), and no JIT, whose compiling cost a day's sum ~0.15 s of ~0.6 s and saved nothing
    on a week's."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'")
        conn.exec_driver_sql("SET LOCAL jit = off")


DayTotals = dict[dt.date, tuple[int, Decimal]]  # (records, spend) per day


# The (day, campaign) sums of one day's raw records, with each campaign's brand: the day's rows.
_sums_t = Table(
    "daily_spend_sums",
    MetaData(),
    Column("day", Date, nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("brand_id", Integer, nullable=False),
    Column("spend", Money, nullable=False),
    Column("records", Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def _sum_raw_records(conn: Connection, day: dt.date, campaigns: Select[Any] | None = None) -> int:
    """Fill the sums table with the (campaign) sums of one day's raw records and their campaigns'
    brands (a campaign the catalog does not know has none), of the campaigns `campaigns` selects
    when given; how many. Summed first, then each campaign's sum, not each record, is joined to
    its brand."""
    empty_temp_table(conn, _sums_t)
    r, c = raw_t.c, campaigns_t.c
    of_day = (r.local_date == day,) if campaigns is None else (r.local_date == day, r.campaign_id.in_(campaigns))
    sums = (
        select(r.campaign_id, money_sum(r.amount).label("spend"), func.count().label("records"))
        .where(*of_day)
        .group_by(r.campaign_id)
        .subquery()
    )
    return conn.execute(
        insert(_sums_t).from_select(
            ["day", "campaign_id", "brand_id", "spend", "records"],
            select(literal(day, Date()), sums.c.campaign_id, c.brand_id, sums.c.spend, sums.c.records).join(
                campaigns_t, c.id == sums.c.campaign_id
            ),
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


def rebuild_daily(
    conn: Connection, first: dt.date, stop: dt.date, *, carry: bool = False
) -> dict[dt.date, PeriodTotals]:
    """Bring the daily_spend rows of days [first, stop) to the sums of their raw records, and
    clear the dirty marks this rebuild covered; what each day holds now (every day of the window,
    a day without spend as zeros). With `carry`, only the dirty days are summed, only the rows that
    differ are written, and what they changed is added to monthly_spend (see _carry_into_month)."""
    _lock_rebuilds(conn)
    claimed = claim_dirty_days(conn, first, stop)
    _aggregation_settings(conn)
    if carry:
        empty_temp_table(conn, _day_changes_t)
        # A day without a dirty mark already holds its records summed: every change to them, or
        # to their campaigns' brands and zones, marks their days (ingestion, catalog apply). A
        # day marked for some campaigns (a small spend file) has only theirs summed.
        for day, campaigns_only in claimed.items():
            campaigns = marked_campaigns(day) if campaigns_only else None
            _sum_raw_records(conn, day, campaigns)
            _rewrite_changed_rows(conn, day, campaigns)
    else:
        _rewrite_days(conn, first, stop)
    clear_dirty_days(conn, claimed)
    if carry:
        for month, (start, end) in _months_of(first, stop).items():
            _carry_into_month(conn, month, start, end)
    built = _period_totals(conn, daily_t.c.day, first, stop)
    return {day: built.get(day, PeriodTotals()) for day in _days(first, stop)}


def _rewrite_days(conn: Connection, first: dt.date, stop: dt.date) -> None:
    """Replace every row of days [first, stop): a backfill's way, where most rows are new."""
    for table in (daily_t, daily_brand_t):
        conn.execute(delete(table).where(table.c.day >= first, table.c.day < stop))
    # One day at a time: a day's campaign groups fit the CPU caches, where one hash table of a
    # month's 300k groups took twice as long on PostgreSQL.
    for day in _days(first, stop):
        if not _sum_raw_records(conn, day):
            continue  # a day without spend has no rows to write
        conn.execute(insert(daily_t).from_select(_DAILY_COLUMNS, _summed_rows()))
        _sum_per_brand(conn, daily_t, daily_brand_t, "day", day)


_DAILY_COLUMNS = ["day", "campaign_id", "brand_id", "spend", "records"]


def _summed_rows(*where: Any) -> Select[Any]:
    """The daily_spend rows of the day in the sums table, in key order: the primary-key B-tree
    then grows at its end instead of splitting pages all over, which on PostgreSQL halves the
    time of a month's insert."""
    s = _sums_t.c
    return select(s.day, s.campaign_id, s.brand_id, s.spend, s.records).where(*where).order_by(s.campaign_id)


def _differing_rows(day: dt.date, campaigns: Select[Any] | None = None) -> Select[Any]:
    """The rows of the sums table and of daily_spend's `day` (of `campaigns` only, when given:
    the sums hold theirs alone) that differ, one per campaign: its
    brand now and before (none on a side without its row), and spend and records now less before.
    A full join of the two sides (on PostgreSQL a hash full join, 2.5 times as fast as grouping
    them at 100k campaigns; `months_agree` already joins so on both databases)."""
    s, d = _sums_t.c, daily_t.c
    before = select(d.campaign_id, d.brand_id, d.spend, d.records).where(d.day == day)
    if campaigns is not None:
        before = before.where(d.campaign_id.in_(campaigns))
    previous = before.subquery()
    b = previous.c
    return (
        select(
            literal(day, Date()),
            func.coalesce(s.campaign_id, b.campaign_id),
            s.brand_id,
            b.brand_id,
            func.coalesce(s.spend, 0) - func.coalesce(b.spend, 0),
            func.coalesce(s.records, 0) - func.coalesce(b.records, 0),
        )
        .select_from(_sums_t.join(previous, s.campaign_id == b.campaign_id, full=True))
        .where(
            or_(
                s.campaign_id.is_(None),
                b.campaign_id.is_(None),
                s.brand_id != b.brand_id,
                s.spend != b.spend,
                s.records != b.records,
            )
        )
    )


def _rewrite_changed_rows(conn: Connection, day: dt.date, campaigns: Select[Any] | None = None) -> None:
    """Write the rows of `day` (of `campaigns`, when given) that differ from the sums table (new,
    changed, moved to another brand or gone), note each change in the day-changes table, and
    mend the day's brand sums: all of them, or with `campaigns` those of the changed rows' brands.
    A refresh after a file touching a few brands writes a few rows, not the whole day."""
    d = daily_t.c
    changed = conn.execute(
        insert(_day_changes_t).from_select(
            ["day", "campaign_id", "brand_id", "brand_before", "spend", "records"], _differing_rows(day, campaigns)
        )
    ).rowcount
    ch = _day_changes_t.c
    if changed:
        of_day = select(ch.campaign_id).where(ch.day == day)
        conn.execute(delete(daily_t).where(d.day == day, d.campaign_id.in_(of_day)))
        conn.execute(insert(daily_t).from_select(_DAILY_COLUMNS, _summed_rows(_sums_t.c.campaign_id.in_(of_day))))
    if campaigns is None:
        _mend_brand_sums(conn, day)
    elif changed:
        _mend_brand_sums(
            conn,
            day,
            union(
                select(ch.brand_id).where(ch.day == day, ch.brand_id.is_not(None)),
                select(ch.brand_before).where(ch.day == day, ch.brand_before.is_not(None)),
            ),
        )


def _mend_brand_sums(conn: Connection, day: dt.date, brand_ids: Any = None) -> None:
    """Write again the daily_brand_spend rows of `day` (of the brands `brand_ids` selects, when
    given) that differ from its campaign rows summed per brand: the brands a rewrite touched,
    and any row that drifted whatever it held before. Comparing is a read of the day's rows;
    writing every brand's row again cost 1.65 s at 100k brands."""
    d, db = daily_t.c, daily_brand_t.c
    campaign_rows = select(d.brand_id, money_sum(d.spend).label("spend"), func.sum(d.records).label("records")).where(
        d.day == day
    )
    brand_rows = select(db.brand_id, db.spend, db.records).where(db.day == day)
    if brand_ids is not None:
        campaign_rows = campaign_rows.where(d.brand_id.in_(brand_ids))
        brand_rows = brand_rows.where(db.brand_id.in_(brand_ids))
    summed, stored = campaign_rows.group_by(d.brand_id).subquery(), brand_rows.subquery()
    n, o = summed.c, stored.c
    differ = union(
        select(n.brand_id)
        .select_from(summed.outerjoin(stored, o.brand_id == n.brand_id))
        .where(or_(o.brand_id.is_(None), o.spend != n.spend, o.records != n.records)),
        select(o.brand_id).where(~exists().where(d.day == day, d.brand_id == o.brand_id)),
    )
    empty_temp_table(conn, _touched_t)
    if not conn.execute(insert(_touched_t).from_select(["brand_id"], differ)).rowcount:
        return
    brand_ids = select(_touched_t.c.brand_id)
    conn.execute(delete(daily_brand_t).where(db.day == day, db.brand_id.in_(brand_ids)))
    _sum_per_brand(conn, daily_t, daily_brand_t, "day", day, brand_ids)


def _sum_per_brand(
    conn: Connection, campaigns: Table, brands: Table, key: str, period: dt.date, brand_ids: Any = None
) -> None:
    """Write the per-brand sums of one period's campaign rows (daily_spend into
    daily_brand_spend, monthly_spend into monthly_brand_spend), of the brands `brand_ids`
    selects when given."""
    source = campaigns.c
    query = (
        select(source[key], source.brand_id, money_sum(source.spend), func.sum(source.records))
        .where(source[key] == period)
        .group_by(source[key], source.brand_id)
    )
    if brand_ids is not None:
        query = query.where(source.brand_id.in_(brand_ids))
    conn.execute(insert(brands).from_select([key, "brand_id", "spend", "records"], query))


# What a rebuild with `carry` changed, per day and campaign: spend and records added (negative
# when taken away), and its brand in the day now (none if it has no spend there now) and before.
_day_changes_t = temp_table(
    "daily_spend_changes",
    Column("day", Date, primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("brand_id", Integer),
    Column("brand_before", Integer),
    Column("spend", Money, nullable=False),
    Column("records", Integer, nullable=False),
)
# What a rebuild changed in one month, per campaign: the day changes summed, and its brand in the
# rebuilt days now (none if it has no spend there now).
_changes_t = temp_table(
    "monthly_spend_changes",
    Column("campaign_id", String(64), primary_key=True),
    Column("brand_id", Integer),
    Column("spend", Money, nullable=False),
    Column("records", Integer, nullable=False),
)

# The brands whose sums a rebuild's changes touch, in a day or in a month.
_touched_t = temp_table(
    "spend_touched_brands",
    Column("brand_id", Integer, primary_key=True),
)


# The brands whose month a refresh's carry touched, per month: in a month checked whole before,
# the only brands whose month can have come to differ from their days (months_from_days).
_month_touched_t = temp_table(
    "spend_month_touched_brands",
    Column("month", Date, primary_key=True),
    Column("brand_id", Integer, primary_key=True),
)


def _months_of(first: dt.date, stop: dt.date) -> dict[dt.date, tuple[dt.date, dt.date]]:
    """The months of days [first, stop), each with the part of the window in it."""
    months: dict[dt.date, tuple[dt.date, dt.date]] = {}
    start = first
    while start < stop:
        month = month_start(start)
        end = min(next_month_start(month), stop)
        months[month] = (start, end)
        start = end
    return months


def _carry_into_month(conn: Connection, month: dt.date, first: dt.date, stop: dt.date) -> None:
    """Bring the monthly_spend rows of `month` (and their per-brand sums) up to date with a
    rebuild of its days [first, stop): each campaign whose days changed gets the difference,
    instead of the month being summed again from all its days. Right when the month agreed with
    its days before the rebuild; months_agree tells."""
    dc = _day_changes_t.c
    in_window = (dc.day >= first, dc.day < stop)
    empty_temp_table(conn, _changes_t)
    conn.execute(
        insert(_changes_t).from_select(
            ["campaign_id", "brand_id", "spend", "records"],
            select(dc.campaign_id, func.max(dc.brand_id), money_sum(dc.spend), func.sum(dc.records))
            .where(*in_window)
            .group_by(dc.campaign_id),
        )
    )
    m, ch = monthly_t.c, _changes_t.c
    # The brands whose sums change: of the changed campaigns' days now and before, and of their
    # month rows as they are (a campaign that moved may hold its other brand there until its
    # other days are carried too).
    empty_temp_table(conn, _touched_t)
    conn.execute(
        insert(_touched_t).from_select(
            ["brand_id"],
            union(
                select(dc.brand_id).where(*in_window, dc.brand_id.is_not(None)),
                select(dc.brand_before).where(*in_window, dc.brand_before.is_not(None)),
                select(m.brand_id).where(m.month == month, m.campaign_id.in_(select(ch.campaign_id))),
            ),
        )
    )
    # Sized for the planner: the touched brands' month rows are then read by index, not scanned.
    analyze_temp(conn, _touched_t.name)
    conn.execute(
        update(monthly_t)
        .where(m.month == month, m.campaign_id == ch.campaign_id)
        .values(
            spend=money_add(m.spend, ch.spend),
            records=m.records + ch.records,
            brand_id=func.coalesce(ch.brand_id, m.brand_id),
        )
    )
    conn.execute(
        insert(monthly_t).from_select(
            ["month", "campaign_id", "brand_id", "spend", "records"],
            select(literal(month, Date()), ch.campaign_id, ch.brand_id, ch.spend, ch.records).where(
                ch.brand_id.is_not(None),
                ~exists().where(m.month == month, m.campaign_id == ch.campaign_id),
            ),
        )
    )
    # A campaign with no record left in the month has no row, as when the month is summed.
    conn.execute(delete(monthly_t).where(m.month == month, m.records == 0, m.campaign_id.in_(select(ch.campaign_id))))
    touched = select(_touched_t.c.brand_id)
    ensure_temp_table(conn, _month_touched_t)
    mt = _month_touched_t.c
    conn.execute(
        insert(_month_touched_t).from_select(
            ["month", "brand_id"],
            select(literal(month, Date()), _touched_t.c.brand_id).where(
                ~exists().where(mt.month == month, mt.brand_id == _touched_t.c.brand_id)
            ),
        )
    )
    mb = monthly_brand_t.c
    conn.execute(delete(monthly_brand_t).where(mb.month == month, mb.brand_id.in_(touched)))
    _sum_per_brand(conn, monthly_t, monthly_brand_t, "month", month, touched)


def months_agree(conn: Connection, month: dt.date, brand_ids: Any = None) -> bool:
    """Whether each brand's spend and records in monthly_brand_spend for `month` are those of
    its days in daily_brand_spend (the check a carried month passes, or is summed again); only
    of the brands `brand_ids` selects, when given."""
    db, mb = daily_brand_t.c, monthly_brand_t.c
    days = select(db.brand_id, money_sum(db.spend).label("spend"), func.sum(db.records).label("records")).where(
        db.day >= month, db.day < next_month_start(month)
    )
    kept = select(mb.brand_id, mb.spend, mb.records).where(mb.month == month)
    if brand_ids is not None:
        days, kept = days.where(db.brand_id.in_(brand_ids)), kept.where(mb.brand_id.in_(brand_ids))
    summed, stored = days.group_by(db.brand_id).subquery(), kept.subquery()
    differ = (
        select(func.count())
        .select_from(summed.join(stored, stored.c.brand_id == summed.c.brand_id, full=True))
        .where(
            or_(
                summed.c.brand_id.is_(None),
                stored.c.brand_id.is_(None),
                summed.c.spend != stored.c.spend,
                summed.c.records != stored.c.records,
            )
        )
    )
    return conn.execute(differ).scalar_one() == 0


def months_from_days(conn: Connection, months: list[dt.date]) -> dict[dt.date, PeriodTotals]:
    """The `months` whose days were rebuilt with `carry`: what each holds, each summed again from
    daily_spend where it does not agree with its days. A month checked whole before is checked
    for the brands the carry touched only (the carry writes no other brand's month); one never
    checked (an older version may have built its days without it) is checked whole."""
    ensure_temp_table(conn, _month_touched_t)
    analyze_temp(conn, _month_touched_t.name)
    checked = set(conn.execute(select(checked_t.c.month).where(checked_t.c.month.in_(months))).scalars())
    mt = _month_touched_t.c
    built: dict[dt.date, PeriodTotals] = {}
    for month in months:
        touched = select(mt.brand_id).where(mt.month == month) if month in checked else None
        if months_agree(conn, month, touched):
            totals = _period_totals(conn, monthly_t.c.month, month, next_month_start(month))
            built[month] = totals.get(month, PeriodTotals())
            _mark_checked(conn, [month])
        else:
            built.update(rebuild_monthly(conn, month, next_month_start(month)))
    empty_temp_table(conn, _month_touched_t)
    return built


def _mark_checked(conn: Connection, months: list[dt.date]) -> None:
    if months:
        upsert = dialect_insert(conn, checked_t)
        conn.execute(upsert.on_conflict_do_nothing(index_elements=["month"]), [{"month": m} for m in months])


def days_of_moved_campaigns(conn: Connection, first: dt.date, stop: dt.date) -> list[dt.date]:
    """The days in [first, stop) whose daily_spend rows hold a campaign under a brand it has left
    since: a month summed from its days would hold two rows of it. Usually none. Only a marked
    day can (the move marked all of the campaign's days; their rebuild writes its brand now), so
    only the marked days' rows are read."""
    d, c = daily_t.c, campaigns_t.c
    marked = select(dirty_days_table.c.day).where(dirty_days_table.c.day >= first, dirty_days_table.c.day < stop)
    query = (
        select(d.day)
        .join(campaigns_t, c.id == d.campaign_id)
        .where(d.day.in_(marked), d.brand_id != c.brand_id)
        .distinct()
        .order_by(d.day)
    )
    return list(conn.execute(query).scalars())


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
                    money_sum(daily_t.c.spend),
                    func.sum(daily_t.c.records),
                )
                .where(daily_t.c.day >= start, daily_t.c.day < next_month_start(start))
                .group_by(daily_t.c.campaign_id, daily_t.c.brand_id),
            )
        )
        _sum_per_brand(conn, monthly_t, monthly_brand_t, "month", start)
    _mark_checked(conn, months)
    built = _period_totals(conn, monthly_t.c.month, first, stop)
    return {month: built.get(month, PeriodTotals()) for month in months}


def _period_totals(conn: Connection, key: Any, first: dt.date, stop: dt.date) -> dict[dt.date, PeriodTotals]:
    """Rows, records and spend of each period of a spend aggregate (`key`: its day or month)."""
    table = key.table
    rows = conn.execute(
        select(key, func.count(), func.sum(table.c.records), money_sum(table.c.spend))
        .where(key >= first, key < stop)
        .group_by(key)
    )
    return {period: PeriodTotals(int(n), int(records), spend) for period, n, records, spend in rows}


def _by_day(conn: Connection, day: Any, records: Any, spend: Any, *where: Any) -> DayTotals:
    rows = conn.execute(select(day, records, money_sum(spend)).where(*where).group_by(day))
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
    brand_id: int

    @property
    def over(self) -> Decimal:
        return self.spend - self.budget

    @property
    def share(self) -> Decimal:
        return self.spend / self.budget


def share_first(use: BrandUse) -> tuple[Decimal, str]:
    """Sort key: the highest share of the budget first, then by name."""
    return (-use.share, use.brand)


def overspend_first(use: BrandUse) -> tuple[Decimal, str]:
    """Sort key: the biggest overspend first, then by name."""
    return (-use.over, use.brand)


@dataclass(frozen=True)
class PeriodUse:
    """The brands of one period against their budgets, as far as a report shows them: how many
    spent anything, the `nearest` to their budgets (highest share first), and every brand that
    reached its budget (biggest overspend first)."""

    brands_with_spend: int = 0
    nearest: tuple[BrandUse, ...] = ()
    reached: tuple[BrandUse, ...] = ()
    # The period's spend in each currency, by currency code: budgets and spend are in their
    # brand's currency, and amounts in different ones do not add up.
    spend_by_currency: tuple[tuple[str, Decimal], ...] = ()


SHARE_ROUNDING = "1e-12"  # relative; a division in floating point is off by ~1e-16 at most


def budget_use(
    conn: Connection, *, monthly: bool, first: dt.date, stop: dt.date, nearest: int
) -> dict[dt.date, PeriodUse]:
    """Each period's brands in [first, stop) against their daily (or monthly) budgets, read in
    SQL: the count, the `nearest` and the reached brands, never every brand's row (at 100k
    brands that was most of a refresh). The nearest are cut by exact shares, then names: the
    database's division finds the n-th share and every brand within SHARE_ROUNDING of it."""
    table, key, budget = (
        (monthly_brand_t, monthly_brand_t.c.month, brands_t.c.monthly_budget)
        if monthly
        else (daily_brand_t, daily_brand_t.c.day, brands_t.c.daily_budget)
    )
    in_range = (key >= first, key < stop)
    joined = table.join(brands_t, brands_t.c.id == table.c.brand_id)
    counts: dict[dt.date, int] = {}
    by_currency: dict[dt.date, list[tuple[str, Decimal]]] = {}
    currency = brands_t.c.currency
    per_currency = (
        select(key, currency, func.count(), money_sum(table.c.spend))
        .select_from(joined)
        .where(*in_range)
        .group_by(key, currency)
        .order_by(key, currency)
    )
    for period, code, brands, spend in conn.execute(per_currency):
        counts[period] = counts.get(period, 0) + brands
        by_currency.setdefault(period, []).append((code, spend))
    columns = (brands_t.c.name, key, budget, table.c.spend, brands_t.c.currency, brands_t.c.id)
    reached = [
        BrandUse(*row)
        for row in conn.execute(select(*columns).select_from(joined).where(*in_range, table.c.spend >= budget))
    ]
    # The share of the budget as the database divides (NUMERIC on PostgreSQL, floating point on
    # SQLite) only finds the candidates: every brand within a hair of the n-th share, which its
    # rounding may have misplaced, is read and the exact order (Decimal) decides.
    share: Any = (
        type_coerce(table.c.spend / budget, Numeric())
        if conn.dialect.name == "postgresql"
        else type_coerce(cast(table.c.spend, Float) / budget, Float())
    )
    by_share = {}
    for period in counts:
        of_period = select(*columns).select_from(joined).where(key == period)
        nth = conn.execute(
            select(share).select_from(joined).where(key == period).order_by(share.desc()).offset(nearest - 1).limit(1)
        ).scalar()
        if nth is not None:
            of_period = of_period.where(share >= nth - abs(nth) * type(nth)(SHARE_ROUNDING))
        by_share[period] = sorted((BrandUse(*row) for row in conn.execute(of_period)), key=share_first)[:nearest]
    by_overspend = _by_period(reached, key=overspend_first)
    return {
        period: PeriodUse(
            brands, tuple(by_share[period]), tuple(by_overspend.get(period, [])), tuple(by_currency[period])
        )
        for period, brands in counts.items()
    }


def _by_period(uses: list[BrandUse], key: Callable[[BrandUse], Any]) -> dict[dt.date, list[BrandUse]]:
    by_period: dict[dt.date, list[BrandUse]] = {}
    for use in sorted(uses, key=key):
        by_period.setdefault(use.period, []).append(use)
    return by_period
