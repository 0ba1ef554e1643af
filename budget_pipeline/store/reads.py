"""Spend as the rules, `status` and the checks read it, as of an instant: each brand's (and each
capped campaign's) spend on its local date and in its month up to and including that date, from
the aggregates, with the spend of days not yet refreshed read from the raw records."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    CTE,
    Connection,
    Date,
    Join,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)

from budget_pipeline.rules.calendar import local_date, month_start, next_month_start
from budget_pipeline.rules.money import MONEY_CEILING, held, month_to_date
from budget_pipeline.rules.pacing import RATE_WINDOW
from budget_pipeline.rules.reasons import Reasons, cap_reasons, parse_reasons
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    daily_brand_table,
    daily_table,
    dirty_days_table,
    monthly_brand_table,
    monthly_table,
    raw_table,
)
from budget_pipeline.store.types import money_sum

b, c, d, m = brands_table, campaigns_table, daily_table, monthly_table
bd, bm = daily_brand_table, monthly_brand_table


ZERO = Decimal(0)


class BrandRow(NamedTuple):
    """A brand as the rules read it (a tuple: every brand is read in a full pass)."""

    id: int
    timezone: str
    daily_budget: Decimal
    monthly_budget: Decimal
    last_daily_reset: dt.date | None
    last_monthly_reset: dt.date | None
    name: str
    currency: str
    pause_ahead_minutes: int | None = None
    # The percents of a budget at which an alert fires, sorted.
    alerts: tuple[int, ...] = ()


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


def brands(conn: Connection, ids: Iterable[int] | None = None) -> dict[int, BrandRow]:
    """Every brand, or those of `ids` (a few: they are bound one by one)."""
    query = select(
        b.c.id,
        b.c.timezone,
        b.c.daily_budget,
        b.c.monthly_budget,
        b.c.last_daily_reset,
        b.c.last_monthly_reset,
        b.c.name,
        b.c.currency,
        b.c.pause_ahead_minutes,
        b.c.alerts,
    )
    if ids is not None:
        query = query.where(b.c.id.in_(sorted(set(ids))))
    return {row[0]: BrandRow._make((*row[:-1], _percents(row[-1]))) for row in conn.execute(query).all()}


@functools.cache
def _percents(text: str) -> tuple[int, ...]:
    """A brand's stored alert percents ("80,100"; "" for none), sorted."""
    return tuple(sorted(int(percent) for percent in text.split(",") if percent))


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


Correction = dict[object, dict[dt.date, Decimal]]


def _unrefreshed_spend(conn: Connection, days: list[dt.date], *, per: str) -> Correction:
    """For each brand or campaign, and each of its dirty days: raw spend minus the spend its
    partition holds, so that a sum over the aggregates plus this is exact before the next
    refresh too. A campaign's own rows are read under its brand, as the reads they correct
    join them: a campaign that moved brand has its rows under the brand it left until its
    (dirty) days are rebuilt, and its spend is then its raw records'."""
    if not days:
        return {}
    if per == "brand":
        owner, built = c.c.brand_id, select(bd.c.brand_id, bd.c.day, bd.c.spend).where(bd.c.day.in_(days))
    else:
        owner = raw_table.c.campaign_id
        built = (
            select(d.c.campaign_id, d.c.day, d.c.spend)
            .select_from(d.join(c, and_(c.c.id == d.c.campaign_id, c.c.brand_id == d.c.brand_id)))
            .where(d.c.day.in_(days))
        )
    correction: Correction = {}
    raw = (
        select(owner, raw_table.c.local_date, money_sum(raw_table.c.amount))
        .select_from(raw_table.join(c, c.c.id == raw_table.c.campaign_id))
        .where(raw_table.c.local_date.in_(days))
        .group_by(owner, raw_table.c.local_date)
    )
    for key, day, spend in conn.execute(raw):
        correction.setdefault(key, {})[day] = spend
    for key, day, spend in conn.execute(built):
        of_key = correction.setdefault(key, {})
        of_key[day] = of_key.get(day, ZERO) - spend
    return correction


def _corrected(
    correction: Correction, key: object, day: dt.date, daily: Decimal, monthly: Decimal
) -> tuple[Decimal, Decimal]:
    """`daily` and month-to-date `monthly` of `key` on local `day`, with unrefreshed spend added."""
    for dirty, delta in correction.get(key, {}).items():
        if month_start(day) <= dirty <= day:
            monthly += delta
            if dirty == day:
                daily += delta
    return held(daily), held(monthly)


def _to_date_of_days(conn: Connection, dates: dict[Any, dt.date], *, per: str) -> dict[Any, Decimal]:
    """Month-to-date of each brand or campaign of `dates` (its local date), summed from its day
    rows: for the few whose month row is held at MONEY_CEILING, of which the spend of later days
    cannot be taken off (a held month minus a held tomorrow is nothing, whatever was spent)."""
    if not dates:
        return {}
    first, last = min(month_start(day) for day in dates.values()), max(dates.values())
    if per == "brand":
        rows = select(bd.c.brand_id, bd.c.day, bd.c.spend).where(bd.c.brand_id.in_(list(dates)))
        rows = rows.where(bd.c.day.between(first, last))
    else:  # a campaign's rows under its brand, as its month's row
        rows = (
            select(d.c.campaign_id, d.c.day, d.c.spend)
            .select_from(d.join(c, and_(c.c.id == d.c.campaign_id, c.c.brand_id == d.c.brand_id)))
            .where(d.c.campaign_id.in_(list(dates)), d.c.day.between(first, last))
        )
    to_date: dict[Any, Decimal] = dict.fromkeys(dates, ZERO)
    for owner, day, spend in conn.execute(rows):
        if month_start(dates[owner]) <= day <= dates[owner]:
            to_date[owner] += spend
    return {owner: held(spend) for owner, spend in to_date.items()}


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
    including that date: the sums over all of its campaigns, from the per-brand aggregates (spend
    on days after the date in the same month, from a past `as_of` or records for the brand's
    tomorrow, taken off), with the spend of days not yet refreshed read from the raw records."""
    brand_rows = brands(conn) if brand_rows is None else brand_rows
    if len(brand_rows) <= few_brands(conn):
        return _few_brands_spend(conn, as_of, brand_rows)
    zones = [row.timezone for row in brand_rows.values()]
    zone_today = _zone_today(zones, as_of)
    if zone_today is None:
        return {}
    # Every brand: joined on the few local days (and months) in play, a hash of their rows.
    days = sorted({local_date(as_of, zone) for zone in set(zones)})
    months = sorted({month_start(day) for day in days})
    daily = and_(bd.c.day == zone_today.c.day, bd.c.brand_id == b.c.id, bd.c.day.in_(days))
    monthly = and_(bm.c.month == zone_today.c.month, bm.c.brand_id == b.c.id, bm.c.month.in_(months))
    query = select(b.c.id, zone_today.c.day, bd.c.spend, bm.c.spend).select_from(
        b.join(zone_today, zone_today.c.timezone == b.c.timezone).outerjoin(bd, daily).outerjoin(bm, monthly)
    )
    after, stop = _later_days(as_of, zones)
    # Each brand's own day first, as a table of its own (PostgreSQL would otherwise scan the later
    # days' rows once per zone): the later days' rows are then read once and hashed.
    brand_day = (
        select(b.c.id, zone_today.c.day, zone_today.c.next_month)
        .select_from(b.join(zone_today, zone_today.c.timezone == b.c.timezone))
        .cte("brand_day")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    later_query = (
        select(bd.c.brand_id, money_sum(bd.c.spend))
        .select_from(bd.join(brand_day, brand_day.c.id == bd.c.brand_id))
        .where(bd.c.day > after, bd.c.day < stop, bd.c.day > brand_day.c.day, bd.c.day < brand_day.c.next_month)
        .group_by(bd.c.brand_id)
    )
    later: dict[int, Decimal] = dict(conn.execute(later_query).all())
    correction = _unrefreshed_spend(conn, _unrefreshed_days(conn, as_of, zones), per="brand")
    found = {}
    for brand_id, day, day_spend, month_spend in conn.execute(query).all():
        if brand_id in brand_rows:
            found[brand_id] = (day, day_spend or ZERO, month_spend or ZERO)
    return _brand_spend_of(conn, found, later, correction)


def _brand_spend_of(
    conn: Connection,
    found: dict[int, tuple[dt.date, Decimal, Decimal]],
    later: dict[int, Decimal],
    correction: Correction,
) -> dict[int, BrandSpend]:
    """BrandSpend of each brand `found` (its local date, that day's row and its month's row),
    its month-to-date its month less its `later` days' spend (summed from its days instead when
    the month is held), with the unrefreshed `correction`."""
    to_dates = {i: month_to_date(month, later.get(i, ZERO)) for i, (_, _, month) in found.items()}
    held_months = {i: found[i][0] for i, to_date in to_dates.items() if to_date is None}
    summed = _to_date_of_days(conn, held_months, per="brand")
    spend = {}
    for brand_id, (day, on_day, _) in found.items():
        to_date = to_dates[brand_id]
        if to_date is None:
            to_date = summed[brand_id]
        if correction:
            on_day, to_date = _corrected(correction, brand_id, day, on_day, to_date)
        spend[brand_id] = BrandSpend(day, on_day, to_date)
    return spend


def _brand_dates(as_of: dt.datetime, brand_rows: dict[int, BrandRow]) -> dict[int, dt.date]:
    """Each brand's local date of `as_of`, worked out once per zone."""
    date_in = {zone: local_date(as_of, zone) for zone in {row.timezone for row in brand_rows.values()}}
    return {brand_id: date_in[row.timezone] for brand_id, row in brand_rows.items()}


def _few_brands_spend(conn: Connection, as_of: dt.datetime, brand_rows: dict[int, BrandRow]) -> dict[int, BrandSpend]:
    """brand_spend of a few brands (an incremental enforcement's), looked up by their ids: each
    one's day rows from the earliest local date in play to the end of the latest month, and its
    month's row; its own date and month-to-date are then picked out here. Two index range reads
    and no join with the zones' days: for 100 of 10k brands about 0.6 of the joined form's time
    (README, "Measured")."""
    if not brand_rows:
        return {}
    zones = {row.timezone for row in brand_rows.values()}
    today = _brand_dates(as_of, brand_rows)
    month_of = {day: (month_start(day), next_month_start(day)) for day in set(today.values())}
    ids = sorted(brand_rows)
    first, stop = min(month_of), max(end for _, end in month_of.values())
    days: dict[int, dict[dt.date, Decimal]] = {}
    day_rows = select(bd.c.brand_id, bd.c.day, bd.c.spend).where(
        bd.c.brand_id.in_(ids), bd.c.day >= first, bd.c.day < stop
    )
    for brand_id, day, spend in conn.execute(day_rows).all():
        days.setdefault(brand_id, {})[day] = spend
    months = sorted({month for month, _ in month_of.values()})
    month_rows = select(bm.c.brand_id, bm.c.month, bm.c.spend).where(bm.c.month.in_(months), bm.c.brand_id.in_(ids))
    monthly = {(brand_id, month): spend for brand_id, month, spend in conn.execute(month_rows).all()}
    correction = _unrefreshed_spend(conn, _unrefreshed_days(conn, as_of, zones), per="brand")
    found, later = {}, {}
    for brand_id, day in today.items():
        own, (month, end) = days.get(brand_id, {}), month_of[day]
        found[brand_id] = (day, own.get(day, ZERO), monthly.get((brand_id, month), ZERO))
        later[brand_id] = sum((spend for other, spend in own.items() if day < other < end), ZERO)
    return _brand_spend_of(conn, found, later, correction)


class CappedGroup(NamedTuple):
    """Campaigns with caps of their own, of one brand, that share `enabled`, reasons and the cap
    reasons their own spend makes present: every budget decision about them is the same."""

    brand_id: int
    enabled: bool
    reasons: Reasons
    caps: Reasons
    members: int


def capped_campaign_groups(
    conn: Connection, as_of: dt.datetime, brand_rows: dict[int, BrandRow]
) -> list[CappedGroup] | None:
    """Every campaign with a cap of its own, grouped as CappedGroup: each one's spend compared with
    its caps in the database (as capped_campaigns_with_spend counts it and `_caps` compares it),
    so a full pass brings groups into Python, not 200k campaigns. None when a day in play is
    not refreshed yet, or a campaign's month row is held at MONEY_CEILING: its spend is then
    read campaign by campaign, there."""
    zones = {row.timezone for row in brand_rows.values()}
    zone_today = _zone_today(zones, as_of)
    if zone_today is None:
        return []
    if _unrefreshed_days(conn, as_of, zones):
        return None
    later = _capped_later_spend(zone_today, as_of, zones).subquery("later")
    own_monthly = func.coalesce(m.c.spend, 0) - func.coalesce(later.c.spend, 0)
    daily_capped = case((and_(c.c.daily_cap.is_not(None), func.coalesce(d.c.spend, 0) >= c.c.daily_cap), 1), else_=0)
    monthly_capped = case((and_(c.c.monthly_cap.is_not(None), own_monthly >= c.c.monthly_cap), 1), else_=0)
    month_held = case((m.c.spend >= MONEY_CEILING, 1), else_=0)  # its month-to-date is not month - later
    keys = (c.c.brand_id, c.c.enabled, c.c.pause_reasons, daily_capped, monthly_capped, month_held)
    query = (
        select(*keys, func.count())
        .select_from(_capped_with_spend(zone_today, as_of, zones).outerjoin(later, later.c.campaign_id == c.c.id))
        .where(or_(c.c.daily_cap.is_not(None), c.c.monthly_cap.is_not(None)))
        .group_by(*keys)
    )
    rows = conn.execute(query).all()
    if any(month_held for *_, month_held, _ in rows):
        return None  # decided campaign by campaign, which sums such a month-to-date from its days
    return [
        CappedGroup(brand_id, enabled, parse_reasons(reasons), cap_reasons(bool(day), bool(month)), n)
        for brand_id, enabled, reasons, day, month, _, n in rows
    ]


def _capped_with_spend(zone_today: CTE, as_of: dt.datetime, zones: set[str]) -> Join:
    """Campaigns, their brand's local day and month at `as_of`, and their own rows of that day
    and month (outer). Joined, not looked up per campaign: the spend rows of the few local days
    (and months) in play are read in one pass of the aggregates' brand index and hashed."""
    days = sorted({local_date(as_of, zone) for zone in zones})
    months = sorted({month_start(day) for day in days})
    daily = and_(d.c.day == zone_today.c.day, d.c.brand_id == c.c.brand_id, d.c.campaign_id == c.c.id)
    monthly = and_(m.c.month == zone_today.c.month, m.c.brand_id == c.c.brand_id, m.c.campaign_id == c.c.id)
    return (
        c.join(b, b.c.id == c.c.brand_id)
        .join(zone_today, zone_today.c.timezone == b.c.timezone)
        .outerjoin(d, and_(daily, d.c.day.in_(days)))
        .outerjoin(m, and_(monthly, m.c.month.in_(months)))
    )


def _capped_later_spend(zone_today: CTE, as_of: dt.datetime, zones: set[str]) -> Select[Any]:
    """Each campaign with a monthly cap: its spend on the days after its brand's local date of
    `as_of` in that month (what a month-to-date leaves out of the month's row)."""
    after, stop = _later_days(as_of, zones)
    return (
        select(d.c.campaign_id.label("campaign_id"), money_sum(d.c.spend).label("spend"))
        .select_from(
            d.join(c, c.c.id == d.c.campaign_id)
            .join(b, b.c.id == c.c.brand_id)
            .join(zone_today, zone_today.c.timezone == b.c.timezone)
        )
        .where(d.c.day > after, d.c.day < stop, d.c.day > zone_today.c.day, d.c.day < zone_today.c.next_month)
        .where(c.c.monthly_cap.is_not(None), d.c.brand_id == c.c.brand_id)  # its rows under its brand, as the month's
        .group_by(d.c.campaign_id)
    )


def capped_campaigns_with_spend(
    conn: Connection, as_of: dt.datetime, brand_rows: dict[int, BrandRow], brand_ids: Iterable[int] | None = None
) -> list[CampaignRow]:
    """Every campaign with a cap of its own (of `brand_ids`, when given), with its state and its
    own spend on its brand's local date of `as_of` and in that local month up to and including
    that date (as `brand_spend` counts a brand's)."""
    zones = {row.timezone for row in brand_rows.values()}
    correction = _unrefreshed_spend(conn, _unrefreshed_days(conn, as_of, zones), per="campaign")
    today = _brand_dates(as_of, brand_rows)
    if brand_ids is not None:
        spent = _few_capped_campaigns(conn, today, sorted(set(brand_ids) & today.keys()))
    else:
        spent = _every_capped_campaign(conn, as_of, zones)
    spent = list(spent)
    to_dates = {row.id: month_to_date(month, later) for row, _, month, later in spent}
    held_months = {row.id: today[row.brand_id] for row, *_ in spent if to_dates[row.id] is None}
    summed = _to_date_of_days(conn, held_months, per="campaign")
    rows = []
    for row, own_daily, _, _ in spent:
        own_monthly = to_dates[row.id]
        if own_monthly is None:
            own_monthly = summed[row.id]
        if correction:
            own_daily, own_monthly = _corrected(correction, row.id, today[row.brand_id], own_daily, own_monthly)
        rows.append(row._replace(daily_spend=own_daily, monthly_spend=own_monthly))
    return rows


# A campaign, its own spend on its day, its month's row, and its spend on the later days of that month.
Spent = Iterable[tuple[CampaignRow, Decimal, Decimal, Decimal]]


def _every_capped_campaign(conn: Connection, as_of: dt.datetime, zones: set[str]) -> Spent:
    """Every campaign with a cap, its spend joined from the few local days and months in play:
    one query, whatever the count, and one for later days."""
    zone_today = _zone_today(zones, as_of)
    if zone_today is None:
        return []
    query = (
        select(*_CAMPAIGN_COLUMNS, d.c.spend, m.c.spend)
        .select_from(_capped_with_spend(zone_today, as_of, zones))
        .where(or_(c.c.daily_cap.is_not(None), c.c.monthly_cap.is_not(None)))
    )
    later: dict[str, Decimal] = {
        cid: spend for cid, spend in conn.execute(_capped_later_spend(zone_today, as_of, zones))
    }
    return [
        (_campaign_row(row), row[-2] or ZERO, row[-1] or ZERO, later.get(row[0], ZERO))
        for row in conn.execute(query).all()
    ]


def _few_capped_campaigns(conn: Connection, today: dict[int, dt.date], ids: list[int]) -> Spent:
    """The campaigns with caps of a few brands, looked up by their brands' ids in one query: a
    part per local date of those brands (as a rule one or two), each campaign joined with its row
    of that date and of its month by their keys (each one index probe) under the campaign's own
    brand (a row left under another brand by a campaign that moved is not this brand's spend).
    The days after a campaign's date in its month (whose spend its month-to-date leaves out) are
    read only for the campaigns with a monthly cap. (With every date in play named for every
    campaign, its rows of each were looked up, and for 1,000 brands the planner hashed every row
    of the dates instead: 83 ms of a pass against 45 ms.)"""
    brands_on: dict[dt.date, list[int]] = {}
    for brand_id in ids:
        brands_on.setdefault(today[brand_id], []).append(brand_id)
    if not brands_on:
        return []
    on_each_date = []
    for day, brand_ids in sorted(brands_on.items()):
        own_day = and_(d.c.day == day, d.c.campaign_id == c.c.id, d.c.brand_id == c.c.brand_id)
        own_month = and_(m.c.month == month_start(day), m.c.campaign_id == c.c.id, m.c.brand_id == c.c.brand_id)
        on_each_date.append(
            select(*_CAMPAIGN_COLUMNS, d.c.spend, m.c.spend)
            .select_from(c.outerjoin(d, own_day).outerjoin(m, own_month))
            .where(c.c.brand_id.in_(brand_ids), or_(c.c.daily_cap.is_not(None), c.c.monthly_cap.is_not(None)))
        )
    query = on_each_date[0] if len(on_each_date) == 1 else union_all(*on_each_date)
    found = [(_campaign_row(row), row[-2] or ZERO, row[-1] or ZERO) for row in conn.execute(query).all()]
    later = _later_rows(conn, today, {row.brand_id for row, _, _ in found if row.monthly_cap is not None})
    spent = []
    for row, on_day, month_to_end in found:
        day = today[row.brand_id]
        end = next_month_start(day)
        after = sum((spend for other, spend in later.get(row.id, {}).items() if day < other < end), ZERO)
        spent.append((row, on_day, month_to_end, after))
    return spent


def _later_rows(conn: Connection, today: dict[int, dt.date], ids: set[int]) -> dict[str, dict[dt.date, Decimal]]:
    """The rows (under their brands) of the campaigns with a monthly cap of the brands `ids`, on
    the days after the earliest of those brands' dates up to the end of the latest one's month:
    each day named, so that each is a lookup of the day's key."""
    if not ids:
        return {}
    first = min(today[brand_id] for brand_id in ids)
    stop = max(next_month_start(today[brand_id]) for brand_id in ids)
    days = [first + dt.timedelta(days=n) for n in range(1, (stop - first).days)]
    query = (
        select(d.c.campaign_id, d.c.day, d.c.spend)
        .select_from(d.join(c, and_(c.c.id == d.c.campaign_id, c.c.brand_id == d.c.brand_id)))
        .where(c.c.brand_id.in_(sorted(ids)), c.c.monthly_cap.is_not(None), d.c.day.in_(days))
    )
    later: dict[str, dict[dt.date, Decimal]] = {}
    for cid, day, spend in conn.execute(query):
        later.setdefault(cid, {})[day] = spend
    return later


_CAMPAIGN_COLUMNS = (c.c.id, c.c.brand_id, c.c.enabled, c.c.pause_reasons, c.c.daily_cap, c.c.monthly_cap)


def _campaign_row(columns: Any) -> CampaignRow:
    """A CampaignRow of _CAMPAIGN_COLUMNS' values, its spend yet to be filled in."""
    cid, brand_id, enabled, reasons, daily_cap, monthly_cap = columns[:6]
    return CampaignRow(cid, brand_id, enabled, parse_reasons(reasons), daily_cap, monthly_cap, None, None)


def recent_spend(conn: Connection, as_of: dt.datetime, brand_rows: dict[int, BrandRow]) -> dict[int, Decimal]:
    """Each of `brand_rows`' spend in the hour of records before `as_of` (occurred in
    [as_of - 1 h, as_of)), read from the raw records of the local days that hour touches."""
    if not brand_rows:
        return {}
    start = as_of - RATE_WINDOW
    zones = {row.timezone for row in brand_rows.values()}
    days = sorted({local_date(moment, zone) for zone in zones for moment in (start, as_of)})
    query = (
        select(c.c.brand_id, money_sum(raw_table.c.amount))
        .select_from(raw_table.join(c, c.c.id == raw_table.c.campaign_id))
        .where(raw_table.c.local_date.in_(days), raw_table.c.occurred_at >= start, raw_table.c.occurred_at < as_of)
        .group_by(c.c.brand_id)
    )
    if len(brand_rows) <= IN_LIST_LIMIT:
        query = query.where(c.c.brand_id.in_(sorted(brand_rows)))
    return {brand_id: spend for brand_id, spend in conn.execute(query).all() if brand_id in brand_rows}


IN_LIST_LIMIT = 500  # brands named in a query on SQLite (a conservative cap on the values it binds)
FEW_BRANDS_POSTGRESQL = 1_000  # an incremental enforcement's most brands (control.INCREMENTAL_BRANDS)


def few_brands(conn: Connection) -> int:
    """Up to how many brands are read by their ids rather than with every brand's rows: on
    SQLite, IN_LIST_LIMIT; on PostgreSQL, which renders the values into the query, an incremental
    enforcement's most (1,000 of 10k brands: their spend in 24 ms against 92 ms for every brand's)."""
    return FEW_BRANDS_POSTGRESQL if conn.dialect.name == "postgresql" else IN_LIST_LIMIT


def month_days(
    conn: Connection, as_of: dt.datetime, brand_rows: dict[int, BrandRow]
) -> dict[int, dict[dt.date, Decimal]]:
    """Each of `brand_rows`' spend on each completed local day of its month before its local date
    of `as_of` (days without spend left out), with the spend of days not yet refreshed read from
    the raw records, as `brand_spend` reads it (a projection counts a day left out as nothing
    spent)."""
    zone_today = _zone_today((row.timezone for row in brand_rows.values()), as_of)
    if zone_today is None:
        return {}
    first = min(local_date(as_of, row.timezone).replace(day=1) for row in brand_rows.values())
    last = max(local_date(as_of, row.timezone) for row in brand_rows.values())
    query = (
        select(bd.c.brand_id, bd.c.day, bd.c.spend)
        .select_from(bd.join(b, b.c.id == bd.c.brand_id).join(zone_today, zone_today.c.timezone == b.c.timezone))
        .where(bd.c.day >= first, bd.c.day < last, bd.c.day >= zone_today.c.month, bd.c.day < zone_today.c.day)
    )
    if len(brand_rows) <= IN_LIST_LIMIT:
        query = query.where(bd.c.brand_id.in_(sorted(brand_rows)))
    days: dict[int, dict[dt.date, Decimal]] = {}
    for brand_id, day, spend in conn.execute(query):
        if brand_id in brand_rows:
            days.setdefault(brand_id, {})[day] = spend
    for brand_id, deltas in unrefreshed_brand_days(conn, first, last).items():
        if (brand := brand_rows.get(brand_id)) is None:
            continue
        today = local_date(as_of, brand.timezone)
        for day, delta in deltas.items():
            if month_start(today) <= day < today:
                own = days.setdefault(brand_id, {})
                own[day] = own.get(day, ZERO) + delta
    return days


def unrefreshed_brand_days(conn: Connection, first: dt.date, stop: dt.date) -> dict[int, dict[dt.date, Decimal]]:
    """For each brand, and each of its dirty days in [first, stop): the spend its raw records
    hold beyond what the per-brand aggregate holds (usually nothing, right after a refresh)."""
    if first >= stop:
        return {}
    dirty = conn.execute(
        select(dirty_days_table.c.day).where(dirty_days_table.c.day >= first, dirty_days_table.c.day < stop)
    )
    return {
        brand_id: deltas
        for brand_id, deltas in _unrefreshed_spend(conn, sorted(dirty.scalars()), per="brand").items()
        if isinstance(brand_id, int)
    }
