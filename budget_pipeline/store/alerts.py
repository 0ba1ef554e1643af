"""Budget alerts in the store: each (brand, period, period start, percent) recorded once, with
its notification, in the enforcement's transaction; and the alerts as people read them.

Today's and this month's alerts are decided here, from the spend the rules read, against the
alerts those periods have already, and written set-based from one stage. An enforcement right
after a month of spend was ingested at once also records every earlier day's alerts of that
month: hundreds of thousands at 10k brands. Those are decided and written in the database, set
by set: for a brand whose new spend reaches back to an earlier day, each day from that one and
each whole month before this one are staged, summed from the per-brand aggregate with the spend
not yet refreshed added, then one INSERT … SELECT records every percent reached that is not
recorded yet. One more statement writes the notifications of all of a write's alerts."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import pyarrow as pa
from sqlalchemy import (
    Column,
    Connection,
    Date,
    Integer,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from budget_pipeline.rules.alerts import DAILY, MONTHLY, new_percents, reaches, threshold
from budget_pipeline.rules.calendar import month_start
from budget_pipeline.rules.money import MONEY_CEILING
from budget_pipeline.rules.notifications import BUDGET_ALERT
from budget_pipeline.store.bulk import analyze_temp, empty_temp_table, insert_arrow, temp_table
from budget_pipeline.store.notifications import write_prefix
from budget_pipeline.store.reads import (
    FEW_BRANDS_POSTGRESQL,
    IN_LIST_LIMIT,
    BrandRow,
    BrandSpend,
    unrefreshed_brand_days,
)
from budget_pipeline.store.schema import alerts_table, brands_table, daily_brand_table, notifications_table
from budget_pipeline.store.types import Money, money_sum, to_micros

a, b, bd, n = alerts_table, brands_table, daily_brand_table, notifications_table


# The alert percents of the brands with late spend, and the spend that reaches each of the daily
# and the monthly budget (none when no spend the database can hold reaches it).
_percents = temp_table(
    "alert_percents",
    Column("brand_id", Integer, nullable=False),
    Column("percent", Integer, nullable=False),
    Column("daily_threshold", Money),
    Column("monthly_threshold", Money),
)
# A period's spend of a brand: the earlier days and months that late spend reopened.
_periods = temp_table(
    "alert_periods",
    Column("brand_id", Integer, nullable=False),
    Column("period", String(8), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("spend", Money, nullable=False),
)
# Today's and this month's new alerts, decided in Python: staged to be written set-based.
_new = temp_table(
    "alert_new",
    Column("brand_id", Integer, nullable=False),
    Column("period", String(8), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("percent", Integer, nullable=False),
    Column("spend", Money, nullable=False),
    Column("budget", Money, nullable=False),
    Column("currency", String(3), nullable=False),
)
# The brands whose new spend reaches back before their local today: from which day, in which
# month, and their today and this month.
_late = temp_table(
    "alert_late_brands",
    Column("brand_id", Integer, primary_key=True),
    Column("first_day", Date, nullable=False),
    Column("first_month", Date, nullable=False),
    Column("today", Date, nullable=False),
    Column("this_month", Date, nullable=False),
)
# Spend of late brands' days not yet refreshed into the aggregate: raw minus built, per day.
_unrefreshed = temp_table(
    "alert_unrefreshed",
    Column("brand_id", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("spend", Money, nullable=False),
)


class _month_of(FunctionElement[dt.date]):
    """The first day of a date's month, in the database."""

    type = Date()
    inherit_cache = True


@compiles(_month_of, "postgresql")
def _month_of_postgresql(element: _month_of, compiler: Any, **kw: Any) -> str:
    return f"CAST(date_trunc('month', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(_month_of, "sqlite")
def _month_of_sqlite(element: _month_of, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, 'start of month')"


def _money(conn: Connection, amounts: list[Decimal] | list[Decimal | None]) -> pa.Array:
    """Amounts as a staged Money column takes them, bypassing column types: decimal text for
    PostgreSQL's COPY, micro-units for SQLite; None as NULL."""
    if conn.dialect.name == "postgresql":
        return pa.array([None if amount is None else str(amount) for amount in amounts], pa.string())
    return pa.array([None if amount is None else to_micros(amount) for amount in amounts], pa.int64())


@functools.lru_cache(maxsize=4096)  # few distinct budgets as a rule; each brand has several percents
def _stored_threshold(budget: Decimal, percent: int) -> Decimal | None:
    """rules.alerts.threshold as a Money column holds it; None when it is over MONEY_CEILING (a
    budget of up to 10^12 times a percent up to 1000 goes past it), which no summed spend passes."""
    amount = threshold(budget, percent)
    return amount if amount <= MONEY_CEILING else None


def _dates(days: list[dt.date]) -> pa.Array:
    return pa.array([day.isoformat() for day in days], pa.string())


def _stage(conn: Connection, table: Table, columns: dict[str, pa.Array], *, analyze: bool = True) -> None:
    empty_temp_table(conn, table)
    rows = pa.table(columns)
    if rows.num_rows:
        insert_arrow(conn, table.name, rows)
    if analyze:
        analyze_temp(conn, table.name)


def record_alerts(
    conn: Connection,
    brand_rows: Mapping[int, BrandRow],
    spend: Mapping[int, BrandSpend],
    first_days: Mapping[int, dt.date],
    as_of: dt.datetime,
    run_id: str,
) -> int:
    """Record, with its notification, each alert percent reached and not recorded before, in
    the caller's transaction (under the status lock, so no other writer records alerts
    meanwhile): of today's and this month's `spend` of each of `brand_rows`, and for a brand
    whose new spend reaches back to an earlier local day (`first_days`), of each day from that
    one and each whole month before this one from that day's month. How many were recorded."""
    watched = [brand for brand in brand_rows.values() if brand.alerts and brand.id in spend]
    late = {
        brand.id: (first, spend[brand.id].local_date)
        for brand in watched
        if (first := first_days.get(brand.id)) is not None and first < spend[brand.id].local_date
    }
    # Only the current periods at or over their brand's lowest percent can have a new alert; most
    # brands, most passes, have none.
    current = []
    for brand in watched:
        used, lowest = spend[brand.id], brand.alerts[0]  # the percents are sorted
        if reaches(used.daily, brand.daily_budget, lowest):
            current.append((brand.id, DAILY, used.local_date, used.daily))
        if reaches(used.monthly, brand.monthly_budget, lowest):
            current.append((brand.id, MONTHLY, month_start(used.local_date), used.monthly))
    new = _new_current_alerts(conn, current, brand_rows)
    if not new and not late:
        return 0
    before = conn.execute(select(func.coalesce(func.max(a.c.id), 0))).scalar_one()
    if late:  # late spend's alerts are numbered first (by brand, period start), then today's and this month's
        _insert_late_alerts(conn, late, brand_rows, as_of, run_id)
    if new:
        _insert_alerts(conn, new, as_of, run_id)
    return _write_notifications(conn, before)


class _NewAlert(NamedTuple):
    brand_id: int
    period: str
    period_start: dt.date
    percent: int
    spend: Decimal
    budget: Decimal
    currency: str


# Today's and this month's periods of an incremental enforcement's brands (up to 1,000) are each
# looked up on PostgreSQL, which binds an array as one value; more (only in a full pass) read every
# alert of their starts. Reading those of the starts (every brand's) for 300 brands' periods, and
# making them a dict, took 20 ms of a 100 ms pass; looking the periods up, 5 ms.
FEW_PERIODS = 2 * FEW_BRANDS_POSTGRESQL


def _few_periods(conn: Connection) -> int:
    """Up to how many periods are looked up one by one (on SQLite, as many as it is given to bind)."""
    return FEW_PERIODS if conn.dialect.name == "postgresql" else IN_LIST_LIMIT


def _new_current_alerts(
    conn: Connection, periods: list[tuple[int, str, dt.date, Decimal]], brand_rows: Mapping[int, BrandRow]
) -> list[_NewAlert]:
    """The alerts of `periods` (brand, period, start, spend: today's and this month's) that their
    spend reaches and that are not recorded yet (rules.alerts.new_percents, on exact amounts),
    against the alerts already recorded for those periods, read once. A brand that
    reached a percent is, as a rule, still over it at the next pass: the recorded alerts say
    there is nothing to write."""
    if not periods:
        return []
    query = select(a.c.brand_id, a.c.period, a.c.period_start, a.c.percent)
    keys = sorted({(start, period, brand_id) for brand_id, period, start, _ in periods})
    if len(periods) > _few_periods(conn):
        # Many brands' (only in a full pass): every alert of their periods' starts, read in one go
        # (of the daily starts as days and the monthly as months: the month's first day is also a
        # day, whose daily alerts are no current period's).
        query = query.where(
            or_(
                *(
                    and_(a.c.period == period, a.c.period_start.in_(sorted({s for s, p, _ in keys if p == period})))
                    for period in sorted({period for _, period, _ in keys})
                )
            )
        )
    elif conn.dialect.name == "postgresql":
        # The brands' own periods, one index lookup each, named as three arrays unnested: bound
        # and planned in a third of the time of as many (start, period, brand) tuples.
        wanted = (
            func.unnest(
                literal([start for start, _, _ in keys], ARRAY(Date)),
                literal([period for _, period, _ in keys], ARRAY(String)),
                literal([brand_id for _, _, brand_id in keys], ARRAY(Integer)),
            )
            .table_valued("period_start", "period", "brand_id")
            .render_derived("wanted")
        )
        w = wanted.c
        query = query.join_from(
            a, wanted, and_(a.c.period_start == w.period_start, a.c.period == w.period, a.c.brand_id == w.brand_id)
        )
    else:
        # (Naming the starts and the brands apart, the database read every alert of the starts.)
        query = query.where(tuple_(a.c.period_start, a.c.period, a.c.brand_id).in_(keys))
    recorded: dict[tuple[int, str, dt.date], set[int]] = {}
    for brand_id, period, start, percent in conn.execute(query):
        recorded.setdefault((brand_id, period, start), set()).add(percent)
    new: list[_NewAlert] = []
    for brand_id, period, start, amount in periods:
        brand = brand_rows[brand_id]
        budget = brand.daily_budget if period == DAILY else brand.monthly_budget
        new.extend(
            _NewAlert(brand_id, period, start, percent, amount, budget, brand.currency)
            for percent in new_percents(amount, budget, brand.alerts, recorded.get((brand_id, period, start), ()))
        )
    return sorted(new, key=lambda alert: (alert.brand_id, alert.period_start, alert.period, alert.percent))


def _insert_alerts(conn: Connection, new: list[_NewAlert], as_of: dt.datetime, run_id: str) -> None:
    """Record the `new` alerts, in their order: staged in bulk, then written set-based with this
    write's instant and run."""
    _stage(
        conn,
        _new,
        {
            "brand_id": pa.array([alert.brand_id for alert in new], pa.int64()),
            "period": pa.array([alert.period for alert in new], pa.string()),
            "period_start": _dates([alert.period_start for alert in new]),
            "percent": pa.array([alert.percent for alert in new], pa.int64()),
            "spend": _money(conn, [alert.spend for alert in new]),
            "budget": _money(conn, [alert.budget for alert in new]),
            "currency": pa.array([alert.currency for alert in new], pa.string()),
        },
        analyze=False,  # read in one scan, joined with nothing
    )
    s = _new.c
    conn.execute(
        insert(a).from_select(
            ["brand_id", "period", "period_start", "percent", "spend", "budget", "at", "run_id", "currency"],
            select(
                s.brand_id,
                s.period,
                s.period_start,
                s.percent,
                s.spend,
                s.budget,
                literal(as_of, a.c.at.type),
                literal(run_id, a.c.run_id.type),
                s.currency,
            ).order_by(s.brand_id, s.period_start, s.period, s.percent),
        )
    )


def _insert_late_alerts(
    conn: Connection,
    late: Mapping[int, tuple[dt.date, dt.date]],
    brand_rows: Mapping[int, BrandRow],
    as_of: dt.datetime,
    run_id: str,
) -> None:
    """Record the alerts of the earlier days and months that late spend reached: their periods
    summed in the database (a month ingested at once has hundreds of thousands), each compared
    there with its brand's percents."""
    percents = [
        (
            brand_id,
            percent,
            _stored_threshold(brand_rows[brand_id].daily_budget, percent),
            _stored_threshold(brand_rows[brand_id].monthly_budget, percent),
        )
        for brand_id in sorted(late)
        for percent in brand_rows[brand_id].alerts
    ]
    _stage(
        conn,
        _percents,
        {
            "brand_id": pa.array([row[0] for row in percents], pa.int64()),
            "percent": pa.array([row[1] for row in percents], pa.int64()),
            "daily_threshold": _money(conn, [row[2] for row in percents]),
            "monthly_threshold": _money(conn, [row[3] for row in percents]),
        },
    )
    _stage_late_periods(conn, late)
    _insert_new_alerts(conn, as_of, run_id)


def _stage_late_periods(conn: Connection, late: Mapping[int, tuple[dt.date, dt.date]]) -> None:
    """Stage as the periods each late brand's days from its first to yesterday, and its whole
    months before this one from its first day's month, summed from the aggregate per brand and
    day with the spend not yet refreshed added."""
    empty_temp_table(conn, _periods)
    ids = sorted(late)
    _stage(
        conn,
        _late,
        {
            "brand_id": pa.array(ids, pa.int64()),
            "first_day": _dates([late[bid][0] for bid in ids]),
            "first_month": _dates([month_start(late[bid][0]) for bid in ids]),
            "today": _dates([late[bid][1] for bid in ids]),
            "this_month": _dates([month_start(late[bid][1]) for bid in ids]),
        },
    )
    first = min(month_start(first) for first, _ in late.values())
    stop = max(today for _, today in late.values())
    # Each late brand's own days only: the dirty days read reach back to the earliest of them.
    corrections = [
        (bid, day, delta)
        for bid, deltas in unrefreshed_brand_days(conn, first, stop).items()
        if bid in late
        for day, delta in deltas.items()
        if month_start(late[bid][0]) <= day < late[bid][1]
    ]
    lb = _late.c
    aggregated = (
        select(bd.c.brand_id, bd.c.day, bd.c.spend)
        .select_from(bd.join(_late, lb.brand_id == bd.c.brand_id))
        .where(bd.c.day >= lb.first_month, bd.c.day < lb.today)
    )
    if corrections:
        _stage(
            conn,
            _unrefreshed,
            {
                "brand_id": pa.array([row[0] for row in corrections], pa.int64()),
                "day": _dates([row[1] for row in corrections]),
                "spend": _money(conn, [row[2] for row in corrections]),
            },
        )
        u = _unrefreshed.c
        every = union_all(aggregated, select(u.brand_id, u.day, u.spend)).subquery()
        days = (
            select(every.c.brand_id, every.c.day, money_sum(every.c.spend).label("spend"))
            .group_by(every.c.brand_id, every.c.day)
            .cte("late_days")
        )
    else:
        days = aggregated.cte("late_days")
    in_month = _month_of(days.c.day)
    daily = (
        select(days.c.brand_id, literal(DAILY, String(8)), days.c.day, days.c.spend)
        .select_from(days.join(_late, lb.brand_id == days.c.brand_id))
        .where(days.c.day >= lb.first_day, days.c.day < lb.today)
    )
    monthly = (
        select(days.c.brand_id, literal(MONTHLY, String(8)), in_month, money_sum(days.c.spend))
        .select_from(days.join(_late, lb.brand_id == days.c.brand_id))
        .where(days.c.day < lb.this_month)
        .group_by(days.c.brand_id, in_month)
    )
    conn.execute(
        insert(_periods).from_select(["brand_id", "period", "period_start", "spend"], union_all(daily, monthly))
    )
    analyze_temp(conn, _periods.name)


def _insert_new_alerts(conn: Connection, as_of: dt.datetime, run_id: str) -> None:
    """One alert per staged period and percent its spend reached (spend >= budget × percent /
    100, the comparison that pauses, as spend >= the staged threshold), unless that one is
    recorded already."""
    p, pc = _periods.c, _percents.c
    budget = case((p.period == DAILY, b.c.daily_budget), else_=b.c.monthly_budget)
    reached = case((p.period == DAILY, pc.daily_threshold), else_=pc.monthly_threshold)
    recorded = exists().where(
        a.c.period_start == p.period_start,
        a.c.period == p.period,
        a.c.brand_id == p.brand_id,
        a.c.percent == pc.percent,
    )
    new = (
        select(
            p.brand_id,
            p.period,
            p.period_start,
            pc.percent,
            p.spend,
            budget,
            literal(as_of, a.c.at.type),
            literal(run_id, a.c.run_id.type),
            b.c.currency,
        )
        .select_from(_periods.join(_percents, pc.brand_id == p.brand_id).join(b, b.c.id == p.brand_id))
        .where(and_(p.spend >= reached, ~recorded))
        .order_by(p.brand_id, p.period_start, p.period, pc.percent)
    )
    conn.execute(
        insert(a).from_select(
            ["brand_id", "period", "period_start", "percent", "spend", "budget", "at", "run_id", "currency"], new
        )
    )


def _write_notifications(conn: Connection, after: int) -> int:
    """One budget.alert notification per alert recorded since the alert `after` (this write's),
    in order; its brand, line and data are rendered from the alert when it is read. How many."""
    prefix = write_prefix() + ":alert:"
    result = conn.execute(
        insert(n).from_select(
            ["id", "type", "occurred_at", "created_at", "alert_id"],
            select(literal(prefix) + cast(a.c.id, String), literal(BUDGET_ALERT), a.c.at, a.c.at, a.c.id)
            .where(a.c.id > after)
            .order_by(a.c.id),
        )
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class AlertEntry:
    brand: str
    period: str
    period_start: dt.date
    percent: int
    spend: Decimal
    budget: Decimal
    currency: str
    at: dt.datetime
    run_id: str


def alerts(
    conn: Connection, brand_name: str | None = None, limit: int | None = None, run_id: str | None = None
) -> list[AlertEntry]:
    """The alerts recorded, newest first (of one brand with `brand_name`, by one run with `run_id`)."""
    query = (
        select(
            b.c.name, a.c.period, a.c.period_start, a.c.percent, a.c.spend, a.c.budget, a.c.currency, a.c.at, a.c.run_id
        )
        .select_from(a.join(b, b.c.id == a.c.brand_id))
        .order_by(a.c.id.desc())
    )
    if brand_name is not None:
        query = query.where(b.c.name == brand_name)
    if run_id is not None:
        query = query.where(a.c.run_id == run_id)
    if limit is not None:
        query = query.limit(limit)
    return [AlertEntry(*row) for row in conn.execute(query).all()]
