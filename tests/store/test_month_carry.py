"""The refresh writes only the day rows that changed and carries the changes into their months
instead of summing the month again (store.aggregates.rebuild_daily with carry,
months_from_days): under any sequence of spend files, refreshes of any days, backfills and
campaigns moving brand, on both databases, every day rebuilt holds exactly its raw records
summed, per campaign and per brand, and every month its days summed, as a month summed from its
days holds them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text, update

from budget_pipeline.defs.reporting import build_daily, build_days_and_months
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.calendar import month_start
from budget_pipeline.store import aggregates, upkeep
from budget_pipeline.store import raw as raw_store
from budget_pipeline.store.aggregates import rebuild_daily
from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    daily_brand_table,
    daily_table,
    dirty_campaigns_table,
    dirty_days_table,
    monthly_brand_table,
    monthly_table,
    months_checked_table,
    raw_table,
)
from budget_pipeline.store.upkeep import days_to_refresh, dirty_days, mark_days_dirty
from tests.conftest import apply_yaml, write_csv

CATALOG = """
brands:
  - name: New York
    timezone: America/New_York
    daily_budget: "10.00"
    monthly_budget: "40.00"
    campaigns: [{id: n1, name: N1}, {id: n2, name: N2}]
  - name: Tokyo
    timezone: Asia/Tokyo
    daily_budget: "8.00"
    monthly_budget: "25.00"
    campaigns: [{id: t1, name: T1}]
"""
CAMPAIGNS = ("n1", "n2", "t1")
real_agree = aggregates.months_agree
# New York's Nov 29 to Dec 2 and Tokyo's Nov 30 to Dec 3: days on both sides of a month's end.
AS_OF = dt.datetime(2026, 12, 2, 17, tzinfo=dt.UTC)
DAYS = [dt.date(2026, 11, 28) + dt.timedelta(days=n) for n in range(7)]
DATA = (
    "raw_spend_records",
    "spend_files",
    "quarantined_rows",
    "dirty_spend_days",
    "brands_to_enforce",
    "daily_spend",
    "daily_brand_spend",
    "monthly_spend",
    "monthly_brand_spend",
    "months_checked",
    "dirty_spend_campaigns",
)

records = st.lists(
    st.tuples(st.sampled_from(CAMPAIGNS), st.integers(0, 900), st.integers(-4 * 24, 0)), min_size=1, max_size=6
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("file"), records),
        # The refresh: the current and changed days, and any others.
        st.tuples(st.just("refresh"), st.sets(st.sampled_from(DAYS), max_size=3)),
        # A daily partition materialized alone (its month summed again).
        st.tuples(st.just("backfill"), st.sampled_from(DAYS)),
        # A campaign moves to the other brand (its days are marked for the refresh).
        st.tuples(st.just("move"), st.sampled_from(CAMPAIGNS)),
    ),
    min_size=1,
    max_size=10,
)


def _moved(brand_of: dict[str, str]) -> str:
    brands = {"New York": ("America/New_York", "10.00", "40.00"), "Tokyo": ("Asia/Tokyo", "8.00", "25.00")}
    lines = ["brands:"]
    for name, (zone, daily, monthly) in brands.items():
        campaigns = ", ".join(f"{{id: {c}, name: {c.upper()}}}" for c in CAMPAIGNS if brand_of[c] == name)
        lines += [
            f"  - name: {name}",
            f"    timezone: {zone}",
            f'    daily_budget: "{daily}"',
            f'    monthly_budget: "{monthly}"',
            f"    campaigns: [{campaigns}]",
        ]
    return "\n".join(lines) + "\n"


def _months_as_summed(engine: Engine) -> tuple[dict, dict, dict, dict]:
    """(month, campaign) -> (brand, spend, records) and (month, brand) -> (spend, records), as
    stored and as the days sum them."""
    d, m, mb = daily_table.c, monthly_table.c, monthly_brand_table.c
    with engine.connect() as conn:
        days = conn.execute(select(d.day, d.campaign_id, d.brand_id, d.spend, d.records)).all()
        months = conn.execute(select(m.month, m.campaign_id, m.brand_id, m.spend, m.records)).all()
        brand_months = conn.execute(select(mb.month, mb.brand_id, mb.spend, mb.records)).all()
    summed: dict = defaultdict(lambda: [None, Decimal(0), 0])
    brand_summed: dict = defaultdict(lambda: [Decimal(0), 0])
    for day, campaign, brand, spend, count in days:
        row = summed[(month_start(day), campaign)]
        row[0], row[1], row[2] = brand, row[1] + spend, row[2] + count
        brand_row = brand_summed[(month_start(day), brand)]
        brand_row[0], brand_row[1] = brand_row[0] + spend, brand_row[1] + count
    stored = {(month, c): (brand, spend, n) for month, c, brand, spend, n in months}
    stored_brands = {(month, brand): (spend, n) for month, brand, spend, n in brand_months}
    return (
        stored,
        {key: tuple(value) for key, value in summed.items()},
        stored_brands,
        {key: tuple(value) for key, value in brand_summed.items()},
    )


def _days_as_summed(engine: Engine, days: set[dt.date]) -> tuple[dict, dict, dict, dict]:
    """(day, campaign) -> (brand, spend, records) and (day, brand) -> (spend, records) of `days`,
    as stored and as the raw records and the catalog's brands sum them."""
    d, db, r, c = daily_table.c, daily_brand_table.c, raw_table.c, campaigns_table.c
    with engine.connect() as conn:
        stored = {
            (day, cid): (brand, spend, n)
            for day, cid, brand, spend, n in conn.execute(select(d.day, d.campaign_id, d.brand_id, d.spend, d.records))
            if day in days
        }
        stored_brands = {
            (day, brand): (spend, n)
            for day, brand, spend, n in conn.execute(select(db.day, db.brand_id, db.spend, db.records))
            if day in days
        }
        brand_of = dict(conn.execute(select(c.id, c.brand_id)).all())
        raw = conn.execute(select(r.local_date, r.campaign_id, r.amount)).all()
    summed: dict = defaultdict(lambda: [None, Decimal(0), 0])
    brand_summed: dict = defaultdict(lambda: [Decimal(0), 0])
    for day, cid, amount in raw:
        if day in days and cid in brand_of:
            row = summed[(day, cid)]
            row[0], row[1], row[2] = brand_of[cid], row[1] + amount, row[2] + 1
            brand_row = brand_summed[(day, brand_of[cid])]
            brand_row[0], brand_row[1] = brand_row[0] + amount, brand_row[1] + 1
    return (
        stored,
        {key: tuple(value) for key, value in summed.items()},
        stored_brands,
        {key: tuple(value) for key, value in brand_summed.items()},
    )


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in DATA:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608
    apply_yaml(engine, CATALOG)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=steps)
def test_a_carried_month_is_its_days_summed(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[str, object]]
) -> None:
    """The carry alone keeps each month right: no month ever needs summing again here."""
    _reset(engine)
    agreed: list[bool] = []
    monkeypatch.setattr(aggregates, "months_agree", lambda *args: agreed.append(real_agree(*args)) or agreed[-1])
    # A file's day of more than one record is marked whole, of one for its campaign; chunks of
    # two rows, so that a file's chunks add up their days.
    monkeypatch.setattr(raw_store, "MARKED_RECORDS_PER_DAY", 1)
    brand_of = {"n1": "New York", "n2": "New York", "t1": "Tokyo"}
    for n, (kind, arg) in enumerate(steps):
        if kind == "file":
            rows = [
                f"f{n}-{i},{cid},{Decimal(cents) / 100},{(AS_OF + dt.timedelta(hours=hours)).isoformat()}"
                for i, (cid, cents, hours) in enumerate(arg)  # type: ignore[attr-defined]
            ]
            ingest_file(engine, write_csv(tmp_path / f"s{n}.csv", rows), chunk_rows=2, now=AS_OF)
        elif kind == "refresh":
            with engine.connect() as conn:
                days = set(days_to_refresh(conn, AS_OF))
            days |= arg  # type: ignore[arg-type]
            build_days_and_months(engine, sorted(days), AS_OF)
        elif kind == "backfill":
            days = {arg}  # type: ignore[arg-type]
            build_daily(engine, arg, arg + dt.timedelta(days=1), AS_OF)  # type: ignore[operator]
        else:
            brand_of[arg] = "Tokyo" if brand_of[arg] == "New York" else "New York"  # type: ignore[index]
            apply_yaml(engine, _moved(brand_of))
            with engine.connect() as conn:  # the refresh that follows a move rebuilds its days
                days = set(days_to_refresh(conn, AS_OF))
            build_days_and_months(engine, sorted(days), AS_OF)
        if kind != "file":
            stored, summed, stored_brands, brands_summed = _days_as_summed(engine, days)
            assert stored == summed, f"after step {n} ({kind}): the days rebuilt"
            assert stored_brands == brands_summed, f"after step {n} ({kind}): the days rebuilt, per brand"
        stored, summed, stored_brands, brands_summed = _months_as_summed(engine)
        assert stored == summed, f"after step {n} ({kind})"
        assert stored_brands == brands_summed, f"after step {n} ({kind})"
        assert all(agreed), f"after step {n} ({kind}) a carried month had to be summed again"


def test_a_month_that_does_not_agree_with_its_days_is_summed_again(engine: Engine, tmp_path: Path) -> None:
    """Days built without their month (as a database of an older version may hold them): the
    refresh's carry would leave the month without them, so the month is summed again."""
    apply_yaml(engine, CATALOG)
    rows = ["r1,n1,5,2026-12-01T17:00:00Z", "r2,n2,7,2026-12-02T17:00:00Z", "r3,t1,3,2026-12-01T17:00:00Z"]
    ingest_file(engine, write_csv(tmp_path / "a.csv", rows), now=AS_OF)
    with writing(engine) as conn:
        rebuild_daily(conn, dt.date(2026, 12, 1), dt.date(2026, 12, 4))  # no month
    reports = build_days_and_months(engine, [dt.date(2026, 12, 2)], AS_OF)
    stored, summed, stored_brands, brands_summed = _months_as_summed(engine)
    assert stored == summed and stored_brands == brands_summed
    assert sum(n for _, _, n in stored.values()) == 3
    (month,) = [r for r in reports if r.asset == "monthly_spend"]
    assert (month.totals.records, month.totals.spend) == (3, Decimal(15))


def test_the_refresh_reports_each_month_as_it_holds_after_the_carry(engine: Engine, tmp_path: Path) -> None:
    """A refresh of one day late in the month: the month's report counts every day of it."""
    apply_yaml(engine, CATALOG)
    ingest_file(engine, write_csv(tmp_path / "a.csv", ["r1,n1,5,2026-12-01T17:00:00Z"]), now=AS_OF)
    build_days_and_months(engine, [dt.date(2026, 12, 1)], AS_OF)
    ingest_file(engine, write_csv(tmp_path / "b.csv", ["r2,n1,2.5,2026-12-02T17:00:00Z"]), now=AS_OF)
    reports = build_days_and_months(engine, [dt.date(2026, 12, 2)], AS_OF)
    (month,) = [r for r in reports if r.asset == "monthly_spend"]
    assert (month.key, month.totals.records, month.totals.spend) == ("2026-12-01", 2, Decimal("7.5"))
    with engine.connect() as conn:
        brand_month = conn.execute(
            select(daily_brand_table.c.spend).where(daily_brand_table.c.day == dt.date(2026, 12, 2))
        )
        assert brand_month.scalar_one() == Decimal("2.5")


def test_the_refresh_sums_only_marked_days_and_its_reconciliation_sees_the_rest(engine: Engine, tmp_path: Path) -> None:
    """Today without a dirty mark is reported as it is, not summed again: a day row that somehow
    differs from its records stays, and the day's reconciliation check says so; marked, the day
    is summed again and reconciles."""
    apply_yaml(engine, CATALOG)
    ingest_file(engine, write_csv(tmp_path / "a.csv", ["r1,n1,5,2026-12-02T16:00:00Z"]), now=AS_OF)
    today = dt.date(2026, 12, 2)  # New York's local date at AS_OF

    def refresh() -> tuple[Decimal, bool]:
        with engine.connect() as conn:
            days = days_to_refresh(conn, AS_OF)
        assert today in days
        reports = build_days_and_months(engine, days, AS_OF)
        (day,) = [r for r in reports if r.key == "2026-12-02" and r.asset == "daily_spend"]
        (reconciles,) = [c for c in day.checks if c.name == "daily_spend_reconciles"]
        return day.totals.spend, reconciles.passed

    assert refresh() == (Decimal(5), True)
    with engine.begin() as conn:
        conn.execute(update(daily_table).values(spend=Decimal(6)))
    assert refresh() == (Decimal(6), False)
    with writing(engine) as conn:
        mark_days_dirty(conn, [today])
    assert refresh() == (Decimal(5), True)


def _both_brands_spent_and_built(engine: Engine, tmp_path: Path) -> dt.date:
    """The catalog, 5 spent by New York's n1 and 3 by Tokyo's t1 on their Dec 2, refreshed."""
    apply_yaml(engine, CATALOG)
    rows = ["r1,n1,5,2026-12-02T16:00:00Z", "r2,t1,3,2026-12-02T03:00:00Z"]  # both local Dec 2
    ingest_file(engine, write_csv(tmp_path / "a.csv", rows), now=AS_OF)
    day = dt.date(2026, 12, 2)
    build_days_and_months(engine, [day], AS_OF)
    return day


def test_a_refresh_of_a_day_marked_whole_mends_all_its_brand_sums(engine: Engine, tmp_path: Path) -> None:
    """A day marked whole (as a catalog change marks it) has its brand sums made its campaign
    rows summed, whatever they held before (a brand row that drifted is mended, though no
    campaign of that brand changed)."""
    day = _both_brands_spent_and_built(engine, tmp_path)
    with engine.begin() as conn:
        conn.execute(update(daily_brand_table).values(spend=Decimal(99)))
    with writing(engine) as conn:
        mark_days_dirty(conn, [day])
    build_days_and_months(engine, [day], AS_OF)
    stored, summed, stored_brands, brands_summed = _days_as_summed(engine, {day})
    assert stored == summed and stored_brands == brands_summed
    assert sorted(spend for spend, _ in stored_brands.values()) == [Decimal(3), Decimal(5)]


def test_a_file_marks_its_campaigns_and_their_days_are_summed_for_them_alone(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spend file marks its days for its campaigns only: the refresh sums their records and
    mends their brands' sums, and leaves the day's other rows as built (a drifted row of another
    brand stays, for a whole-day mark or the reconciliation check to see). A file that touches
    more records of a day than MARKED_RECORDS_PER_DAY marks the day whole."""
    day = _both_brands_spent_and_built(engine, tmp_path)
    with engine.begin() as conn:
        conn.execute(update(daily_brand_table).values(spend=Decimal(99)))
        conn.execute(update(daily_table).where(daily_table.c.campaign_id == "t1").values(spend=Decimal(98)))
    ingest_file(engine, write_csv(tmp_path / "b.csv", ["r3,n1,1,2026-12-02T16:30:00Z"]), now=AS_OF)
    with engine.connect() as conn:
        marks = conn.execute(select(dirty_days_table.c.day, dirty_days_table.c.campaigns_only)).all()
        assert marks == [(day, True)]
        assert conn.execute(select(dirty_campaigns_table.c.campaign_id)).scalars().all() == ["n1"]
    build_days_and_months(engine, [day], AS_OF)

    def day_rows() -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        _, _, stored_brands, _ = _days_as_summed(engine, {day})
        with engine.connect() as conn:
            campaigns = dict(conn.execute(select(daily_table.c.campaign_id, daily_table.c.spend)).all())
            names = dict(conn.execute(select(brands_table.c.id, brands_table.c.name)).all())
        return campaigns, {names[brand]: spend for (_, brand), (spend, _) in stored_brands.items()}

    assert day_rows() == ({"n1": Decimal(6), "t1": Decimal(98)}, {"New York": Decimal(6), "Tokyo": Decimal(99)})
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dirty_campaigns_table)).scalar_one() == 0
    monkeypatch.setattr(raw_store, "MARKED_RECORDS_PER_DAY", 1)
    two = ["r4,n1,1,2026-12-02T16:40:00Z", "r5,n2,1,2026-12-02T16:40:00Z"]
    ingest_file(engine, write_csv(tmp_path / "c.csv", two), now=AS_OF)
    with engine.connect() as conn:
        assert conn.execute(select(dirty_days_table.c.day, dirty_days_table.c.campaigns_only)).all() == [(day, False)]
    build_days_and_months(engine, [day], AS_OF)
    assert day_rows() == (
        {"n1": Decimal(7), "n2": Decimal(1), "t1": Decimal(3)},
        {"New York": Decimal(8), "Tokyo": Decimal(3)},
    )


def test_a_checked_month_is_checked_where_the_carry_touched_it(engine: Engine, tmp_path: Path) -> None:
    """Once a month is checked whole (or summed), a refresh checks it for the brands its carry
    touched only: a wrong month row of an untouched brand stays (the carry never writes one),
    one of a touched brand is caught and the month summed again from its days."""
    day = _both_brands_spent_and_built(engine, tmp_path)
    month = month_start(day)
    with engine.connect() as conn:
        assert list(conn.execute(select(months_checked_table.c.month)).scalars()) == [month]

    def spoil(brand: str) -> None:
        """A month row off by one, for the campaigns and the brand alike (as a faulty carry would
        leave it: the brand's row its campaigns' summed)."""
        with engine.begin() as conn:
            brand_id = conn.execute(select(brands_table.c.id).where(brands_table.c.name == brand)).scalar_one()
            for table in (monthly_table, monthly_brand_table):
                conn.execute(update(table).where(table.c.brand_id == brand_id).values(spend=table.c.spend + Decimal(1)))

    def month_spend() -> dict[str, Decimal]:
        with engine.connect() as conn:
            rows = conn.execute(
                select(brands_table.c.name, monthly_brand_table.c.spend)
                .join(brands_table, brands_table.c.id == monthly_brand_table.c.brand_id)
                .where(monthly_brand_table.c.month == month)
            )
            return dict(rows.all())

    spoil("Tokyo")
    ingest_file(engine, write_csv(tmp_path / "b.csv", ["r3,n1,1,2026-12-02T16:30:00Z"]), now=AS_OF)
    build_days_and_months(engine, [day], AS_OF)
    assert month_spend() == {"New York": Decimal(6), "Tokyo": Decimal(4)}
    spoil("New York")
    ingest_file(engine, write_csv(tmp_path / "c.csv", ["r4,n1,1,2026-12-02T16:40:00Z"]), now=AS_OF)
    build_days_and_months(engine, [day], AS_OF)
    assert month_spend() == {"New York": Decimal(7), "Tokyo": Decimal(3)}


def test_a_day_marked_whole_stays_whole_and_many_files_marks_add_up_to_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marks of several files before a refresh: a day a file marked whole stays whole when a
    later file marks it for a campaign (else the first file's other campaigns would not be
    summed); a day marked for more campaigns in all than MARKED_CAMPAIGNS_PER_DAY becomes whole;
    a file names at most MARKED_CAMPAIGNS_PER_FILE campaigns, the days of fewest first."""
    day = _both_brands_spent_and_built(engine, tmp_path)
    monkeypatch.setattr(raw_store, "MARKED_RECORDS_PER_DAY", 1)

    def ingest(name: str, rows: list[str]) -> list[tuple[str, bool, list[str]]]:
        ingest_file(engine, write_csv(tmp_path / name, rows), now=AS_OF)
        with engine.connect() as conn:
            marks = conn.execute(select(dirty_days_table.c.day, dirty_days_table.c.campaigns_only)).all()
            named = conn.execute(select(dirty_campaigns_table.c.day, dirty_campaigns_table.c.campaign_id)).all()
        return [(str(d), bool(only), sorted(c for n, c in named if n == d)) for d, only in sorted(marks)]

    whole = ["w1,n1,1,2026-12-02T16:10:00Z", "w2,n2,2,2026-12-02T16:20:00Z"]  # two records: whole
    assert ingest("w.csv", whole) == [("2026-12-02", False, [])]
    assert ingest("x.csv", ["x1,t1,4,2026-12-02T04:00:00Z"]) == [("2026-12-02", False, [])]
    build_days_and_months(engine, [day], AS_OF)
    stored, summed, stored_brands, brands_summed = _days_as_summed(engine, {day})
    assert stored == summed and stored_brands == brands_summed

    monkeypatch.setattr(upkeep, "MARKED_CAMPAIGNS_PER_DAY", 1)
    assert ingest("y.csv", ["y1,n1,1,2026-12-02T16:30:00Z"]) == [("2026-12-02", True, ["n1"])]
    assert ingest("z.csv", ["z1,n2,1,2026-12-02T16:40:00Z"]) == [("2026-12-02", False, ["n1", "n2"])]
    build_days_and_months(engine, [day], AS_OF)
    stored, summed, stored_brands, brands_summed = _days_as_summed(engine, {day})
    assert stored == summed and stored_brands == brands_summed

    monkeypatch.setattr(raw_store, "MARKED_CAMPAIGNS_PER_FILE", 1)
    two_days = ["a1,n1,1,2026-12-01T16:00:00Z", "a2,n2,1,2026-12-02T16:50:00Z"]  # New York's Dec 1 and 2
    assert ingest("a.csv", two_days) == [("2026-12-01", True, ["n1"]), ("2026-12-02", False, [])]


def test_a_backfilled_day_after_a_move_brings_its_months_other_marked_days_along(
    engine: Engine, tmp_path: Path
) -> None:
    """A campaign moves to the other brand (every day of it marked), then one daily partition is
    backfilled before any refresh: the month, summed from its days, would hold the campaign under
    both brands (its primary key refuses that), so the backfill also rebuilds, and reports, the
    month's days that still hold it under the brand it left."""
    apply_yaml(engine, CATALOG)
    # 14:00Z is the same date in New York (09:00) and Tokyo (23:00): the move leaves n1's days.
    rows = ["r1,n1,5,2026-11-29T14:00:00Z", "r2,n1,7,2026-11-30T14:00:00Z", "r3,t1,3,2026-11-30T03:00:00Z"]
    ingest_file(engine, write_csv(tmp_path / "a.csv", rows), now=AS_OF)
    build_daily(engine, dt.date(2026, 11, 28), dt.date(2026, 12, 2), AS_OF)
    apply_yaml(engine, _moved({"n1": "Tokyo", "n2": "New York", "t1": "Tokyo"}))
    with engine.connect() as conn:
        marked = set(dirty_days(conn))
    assert marked == {dt.date(2026, 11, 29), dt.date(2026, 11, 30)}
    first = min(marked)
    reports = build_daily(engine, first, first + dt.timedelta(days=1), AS_OF)
    assert {r.key for r in reports if r.asset == "daily_spend"} == {day.isoformat() for day in marked}
    assert {r.key for r in reports if r.asset == "monthly_spend"} == {month_start(first).isoformat()}
    stored, summed, stored_brands, brands_summed = _months_as_summed(engine)
    assert stored == summed and stored_brands == brands_summed
    everything = {dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(40)}
    stored, summed, stored_brands, brands_summed = _days_as_summed(engine, everything)
    assert stored == summed and stored_brands == brands_summed
