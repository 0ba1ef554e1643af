"""Spend as the rules read it, on both databases: for a few brands (an incremental enforcement,
looked up by id) and for many (scanned) the same figures, each brand's own local day and its
month to that day, with spend of later days (its tomorrow) left out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import Engine

from budget_pipeline.defs.reporting import build_daily, build_monthly
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.pace import brand_paces
from budget_pipeline.store import reads
from tests.conftest import apply_yaml, write_csv

AS_OF = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)  # 12:00 on the 25th in New York, 02:00 on the 26th in Tokyo


@pytest.mark.parametrize("refreshed", [True, False], ids=["from the aggregates", "from the records"])
def test_a_few_brands_read_as_every_brand_is(acme: Engine, tmp_path: Path, refreshed: bool) -> None:
    rows = [
        "r1,acme-search,10.00,2026-11-25T15:00:00Z",  # New York's today
        "r2,acme-social,7.00,2026-11-26T15:00:00Z",  # New York's tomorrow: not yet, at as_of
        "r3,tokyo-display,20.00,2026-11-25T03:00:00Z",  # Tokyo's yesterday (the 25th)
        "r4,tokyo-display,5.00,2026-11-25T16:00:00Z",  # Tokyo's today (the 26th, 01:00)
    ]
    _ingest(acme, tmp_path, rows, refreshed=refreshed)
    by_name = _read_both_ways(acme, AS_OF)
    assert by_name == {
        "Acme": ("2026-11-25", Decimal("10"), Decimal("10")),
        "Tokyo Foods": ("2026-11-26", Decimal("5"), Decimal("25")),
    }


def test_a_day_rebuilt_alone_keeps_its_month_in_step(acme: Engine, tmp_path: Path) -> None:
    """A daily_spend partition materialized alone (the day's rebuild clears its dirty mark):
    the month's spend enforcement reads still counts the day's late records."""
    later = AS_OF + dt.timedelta(days=1)
    ingest_file(acme, write_csv(tmp_path / "a.csv", ["r1,acme-search,10.00,2026-11-20T15:00:00Z"]), now=later)
    build_daily(acme, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    build_monthly(acme, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    ingest_file(acme, write_csv(tmp_path / "b.csv", ["r2,acme-social,5.00,2026-11-20T16:00:00Z"]), now=later)

    def acme_month() -> Decimal:
        with acme.connect() as conn:
            rows = reads.brands(conn)
            (acme_id,) = [bid for bid, row in rows.items() if row.name == "Acme"]
            return reads.brand_spend(conn, AS_OF, rows)[acme_id].monthly

    assert acme_month() == Decimal("15")  # the late record, read from the records
    build_daily(acme, dt.date(2026, 11, 20), dt.date(2026, 11, 21))
    assert acme_month() == Decimal("15")  # now from the aggregates, the month's too


@pytest.mark.parametrize("refreshed", [True, False], ids=["from the aggregates", "from the records"])
def test_at_a_months_end_each_brand_reads_its_own_month(acme: Engine, tmp_path: Path, refreshed: bool) -> None:
    """At 20:00 UTC on 30 November it is still November in New York and already 1 December in
    Tokyo: each brand's day and month-to-date are its own month's, for a few brands (looked up)
    as for every brand (scanned)."""
    as_of = dt.datetime(2026, 11, 30, 20, tzinfo=dt.UTC)
    rows = [
        "r1,acme-search,10.00,2026-11-03T15:00:00Z",  # New York: earlier in its month
        "r2,acme-search,4.00,2026-11-30T15:00:00Z",  # New York's today
        "r3,acme-social,2.00,2026-12-01T15:00:00Z",  # New York's tomorrow, in its next month
        "r4,tokyo-display,20.00,2026-11-29T03:00:00Z",  # Tokyo's last month
        "r5,tokyo-display,5.00,2026-11-30T16:00:00Z",  # Tokyo's today (1 December, 01:00)
        "r6,tokyo-display,9.00,2026-12-03T03:00:00Z",  # Tokyo's later day, in its month
    ]
    _ingest(acme, tmp_path, rows, refreshed=refreshed)
    by_name = _read_both_ways(acme, as_of)
    assert by_name == {
        "Acme": ("2026-11-30", Decimal("4"), Decimal("14")),
        "Tokyo Foods": ("2026-12-01", Decimal("5"), Decimal("5")),
    }


def _ingest(engine: Engine, tmp_path: Path, rows: list[str], *, refreshed: bool) -> None:
    """`rows` ingested, and with `refreshed` November's and December's aggregates built."""
    ingest_file(engine, write_csv(tmp_path / "s.csv", rows), now=dt.datetime(2026, 12, 10, tzinfo=dt.UTC))
    if refreshed:
        build_daily(engine, dt.date(2026, 11, 1), dt.date(2027, 1, 1))
        build_monthly(engine, dt.date(2026, 11, 1), dt.date(2027, 1, 1))


def _read_both_ways(engine: Engine, as_of: dt.datetime) -> dict[str, tuple[str, Decimal, Decimal]]:
    """Each brand's (local date, daily, monthly) spend by name, read as a few brands are (looked
    up by id) after asserting that every brand's read (the scan) gives the same."""
    with engine.connect() as conn:
        brand_rows = reads.brands(conn)
        few = reads.brand_spend(conn, as_of, brand_rows)
        with mock.patch.object(reads, "few_brands", lambda conn: 0):  # as for many brands: the scan
            many = reads.brand_spend(conn, as_of, brand_rows)
    assert many == few
    names = {row.id: row.name for row in brand_rows.values()}
    return {names[bid]: (s.local_date.isoformat(), s.daily, s.monthly) for bid, s in few.items()}


def test_a_projected_month_counts_completed_days_not_yet_refreshed(acme: Engine, tmp_path: Path) -> None:
    """Acme spent 50 on each of 1-19 November: on the 20th its month projects 950 + 10 days x 50,
    read from the records before the refresh as from the aggregates after it (a completed day
    not refreshed counted as nothing spent)."""
    as_of = dt.datetime(2026, 11, 20, 17, tzinfo=dt.UTC)
    rows = [f"r{day},acme-search,50.00,2026-11-{day:02d}T15:00:00Z" for day in range(1, 20)]
    _ingest(acme, tmp_path, rows, refreshed=False)

    def projected() -> Decimal:
        with acme.connect() as conn:
            rows = {bid: row for bid, row in reads.brands(conn).items() if row.name == "Acme"}
            (pace,) = brand_paces(conn, as_of, rows).values()
        return pace.projected_monthly

    assert projected() == Decimal("1450.00")
    build_daily(acme, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    assert projected() == Decimal("1450.00")


def test_the_recent_rate_reads_the_hour_before_as_of_its_start_in_and_as_of_out(acme: Engine, tmp_path: Path) -> None:
    """The rate of predictive pause: records that occurred in [as_of - 1 h, as_of), across a
    local midnight (at 00:30 on Tokyo's 26th the hour reaches back into its 25th)."""
    as_of = dt.datetime(2026, 11, 25, 15, 30, tzinfo=dt.UTC)
    hour_ago = as_of - dt.timedelta(hours=1)

    def at(instant: dt.datetime) -> str:
        return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    rows = [
        f"in-first,acme-search,1.00,{at(hour_ago)}",  # the hour's first instant: in
        f"before,acme-search,2.00,{at(hour_ago - dt.timedelta(microseconds=1))}",  # just before it: out
        f"in-last,acme-social,4.00,{at(as_of - dt.timedelta(microseconds=1))}",  # its last instant: in
        f"at-as-of,acme-social,8.00,{at(as_of)}",  # as_of itself: out
        "tokyo-25th,tokyo-display,16.00,2026-11-25T14:45:00Z",  # 23:45 on the 25th in Tokyo: in
        "tokyo-26th,tokyo-display,32.00,2026-11-25T15:10:00Z",  # 00:10 on the 26th: in
        "tokyo-old,tokyo-display,64.00,2026-11-25T14:29:00Z",  # 23:29: out
    ]
    ingest_file(acme, write_csv(tmp_path / "r.csv", rows), now=as_of + dt.timedelta(hours=1))
    with acme.connect() as conn:
        brand_rows = reads.brands(conn)
        recent = reads.recent_spend(conn, as_of, brand_rows)
        tokyo = {bid: row for bid, row in brand_rows.items() if row.name == "Tokyo Foods"}
        tokyo_alone = reads.recent_spend(conn, as_of, tokyo)  # no brand of another zone's 25th beside it
    names = {row.id: row.name for row in brand_rows.values()}
    assert {names[brand_id]: spend for brand_id, spend in recent.items()} == {
        "Acme": Decimal("5.00"),
        "Tokyo Foods": Decimal("48.00"),
    }
    assert list(tokyo_alone.values()) == [Decimal("48.00")]


CAPPED = """
brands:
  - name: Acme
    timezone: America/New_York
    daily_budget: "100.00"
    monthly_budget: "2000.00"
    campaigns:
      - {id: acme-search, name: Acme Search, daily_budget: "30.00", monthly_budget: "300.00"}
      - {id: acme-social, name: Acme Social, monthly_budget: "50.00"}
      - {id: acme-video, name: Acme Video}
  - name: Tokyo Foods
    timezone: Asia/Tokyo
    daily_budget: "50.00"
    monthly_budget: "1000.00"
    campaigns:
      - {id: tokyo-display, name: Tokyo Display, daily_budget: "20.00"}
      - {id: tokyo-video, name: Tokyo Video, monthly_budget: "100.00"}
"""
MONTH_END = dt.datetime(2026, 11, 30, 20, tzinfo=dt.UTC)  # 30 November in New York, 1 December in Tokyo
CAPPED_ROWS = [
    "c1,acme-search,10.00,2026-11-03T15:00:00Z",  # New York, earlier in its month
    "c2,acme-search,4.00,2026-11-25T15:00:00Z",  # New York's 25th
    "c3,acme-search,2.00,2026-12-01T15:00:00Z",  # New York's 1 December
    "c4,acme-social,3.00,2026-11-27T15:00:00Z",  # New York's 27th: later than the 25th
    "c5,acme-video,8.00,2026-11-25T15:00:00Z",  # no cap: not read
    "c6,tokyo-display,6.00,2026-11-25T16:00:00Z",  # Tokyo's 26th
    "c7,tokyo-video,9.00,2026-11-28T03:00:00Z",  # Tokyo's 28th: later than the 26th
    "c8,tokyo-video,1.00,2026-11-30T16:00:00Z",  # Tokyo's 1 December
    "c9,tokyo-video,2.00,2026-11-30T03:00:00Z",  # Tokyo's 30th (New York's 29th)
]


@pytest.mark.parametrize("refreshed", [True, False], ids=["from the aggregates", "from the records"])
@pytest.mark.parametrize("as_of", [AS_OF, MONTH_END], ids=["25th", "month end"])
def test_a_few_brands_capped_campaigns_read_as_every_brands(
    engine: Engine, tmp_path: Path, refreshed: bool, as_of: dt.datetime
) -> None:
    """Each capped campaign's own spend on its brand's date and month to that date, looked up for
    a few brands by id as read for every brand: later days in the month left out, the next
    month's rows not counted, campaigns without a cap not read."""
    apply_yaml(engine, CAPPED)
    _ingest(engine, tmp_path, CAPPED_ROWS, refreshed=refreshed)
    expected = {
        AS_OF: {
            "acme-search": (Decimal("4"), Decimal("14")),
            "acme-social": (Decimal("0"), Decimal("0")),
            "tokyo-display": (Decimal("6"), Decimal("6")),
            "tokyo-video": (Decimal("0"), Decimal("0")),
        },
        MONTH_END: {
            "acme-search": (Decimal("0"), Decimal("14")),
            "acme-social": (Decimal("0"), Decimal("3")),
            "tokyo-display": (Decimal("0"), Decimal("0")),
            "tokyo-video": (Decimal("1"), Decimal("1")),
        },
    }[as_of]
    assert _capped_both_ways(engine, as_of) == expected


def test_a_capped_campaign_moved_to_another_brand_reads_alike_both_ways(engine: Engine, tmp_path: Path) -> None:
    """A capped campaign moved to another brand after its days were built: its rows are under the
    brand it left until they are rebuilt; a few brands' read counts its spend once, as every
    brand's does."""
    apply_yaml(engine, CAPPED)
    _ingest(engine, tmp_path, CAPPED_ROWS, refreshed=True)
    moved = CAPPED.replace('      - {id: tokyo-video, name: Tokyo Video, monthly_budget: "100.00"}\n', "")
    moved = moved.replace(
        "      - {id: acme-video, name: Acme Video}\n",
        "      - {id: acme-video, name: Acme Video}\n"
        '      - {id: tokyo-video, name: Tokyo Video, monthly_budget: "100.00"}\n',
    )
    assert moved != CAPPED
    apply_yaml(engine, moved)
    # New York's 30th: Tokyo Video's records are of New York's 27th, 29th and 30th (Tokyo's 28th,
    # 30th and 1 December), the rows under Tokyo of Tokyo's dates.
    assert _capped_both_ways(engine, MONTH_END)["tokyo-video"] == (Decimal("1"), Decimal("12"))
    assert _capped_both_ways(engine, AS_OF)["tokyo-video"] == (Decimal("0"), Decimal("0"))  # all after the 25th


def _capped_both_ways(engine: Engine, as_of: dt.datetime) -> dict[str, tuple[Decimal, Decimal]]:
    """Each capped campaign's (daily, monthly) own spend, read for a few brands (looked up by id)
    after asserting that the read of every brand (joined) gives the same."""
    with engine.connect() as conn:
        brand_rows = reads.brands(conn)
        few = reads.capped_campaigns_with_spend(conn, as_of, brand_rows, list(brand_rows))
        every = reads.capped_campaigns_with_spend(conn, as_of, brand_rows)
        for brand_id in brand_rows:  # each brand alone: its own campaigns, as read with every brand
            alone = reads.capped_campaigns_with_spend(conn, as_of, brand_rows, [brand_id])
            assert sorted(alone) == sorted(row for row in every if row.brand_id == brand_id)
        assert reads.capped_campaigns_with_spend(conn, as_of, brand_rows, []) == []
    assert sorted(few) == sorted(every)
    return {row.id: (row.daily_spend, row.monthly_spend) for row in few}
