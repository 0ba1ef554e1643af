"""A full pass decides the campaigns with caps of their own as groups, their spend compared with
their caps in the database (store.reads.capped_campaign_groups); the campaigns of a group that
changes are then read one by one. Exactly at a cap, one micro-unit under it, and a monthly cap
with spend on days after a past as_of (which a month-to-date leaves out): both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import Engine, select

from budget_pipeline import control
from budget_pipeline.defs.reporting import build_daily, build_monthly
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.calendar import month_start, next_month_start
from budget_pipeline.rules.money import MONEY_CEILING
from budget_pipeline.rules.reasons import CAMPAIGN_DAILY_BUDGET, CAMPAIGN_MONTHLY_BUDGET, MONTHLY_BUDGET
from budget_pipeline.store import reads
from budget_pipeline.store.reads import brand_spend, brands, capped_campaign_groups
from budget_pipeline.store.schema import alerts_table
from budget_pipeline.store.status import campaign_states
from budget_pipeline.store.upkeep import days_to_refresh
from tests.conftest import apply_yaml, write_csv

CATALOG = """
brands:
  - name: Capped
    timezone: UTC
    daily_budget: "1000.00"
    monthly_budget: "10000.00"
    campaigns:
      - {id: day-at, name: Day at, daily_budget: "5.00"}
      - {id: day-under, name: Day under, daily_budget: "5.00"}
      - {id: month-at, name: Month at, monthly_budget: "20.00"}
      - {id: month-under, name: Month under, monthly_budget: "20.00"}
      - {id: plain, name: Plain}
"""
AS_OF = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
INGESTED = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
ROWS = [
    "a,day-at,5.00,2026-11-20T09:00:00Z",
    "b,day-under,4.999999,2026-11-20T09:00:00Z",
    "c,month-at,15.00,2026-11-03T09:00:00Z",
    "d,month-at,5.00,2026-11-20T09:00:00Z",
    "e,month-at,7.00,2026-11-22T09:00:00Z",  # after as_of: not in its month to date
    "f,month-under,19.999999,2026-11-10T09:00:00Z",
    "g,month-under,7.00,2026-11-22T09:00:00Z",
    "h,plain,900.00,2026-11-20T09:00:00Z",
]


def _refresh(engine: Engine) -> None:
    with engine.connect() as conn:
        days = days_to_refresh(conn, AS_OF)
    for day in days:
        build_daily(engine, day, day + dt.timedelta(days=1))
    for month in sorted({month_start(day) for day in days}):
        build_monthly(engine, month, next_month_start(month))


def test_a_full_pass_decides_caps_exactly_at_them(engine: Engine, tmp_path: Path) -> None:
    apply_yaml(engine, CATALOG)
    ingest_file(engine, write_csv(tmp_path / "spend.csv", ROWS), now=INGESTED)
    _refresh(engine)
    with engine.connect() as conn:
        groups = capped_campaign_groups(conn, AS_OF, brands(conn))
    assert groups is not None  # every day refreshed: the pass below decides them as groups
    assert sorted((sorted(group.caps), group.members) for group in groups) == [
        ([], 2),
        ([CAMPAIGN_DAILY_BUDGET], 1),
        ([CAMPAIGN_MONTHLY_BUDGET], 1),
    ]
    outcome = control.enforce_budgets(engine, AS_OF, "full", full=True)
    assert outcome.evaluated == 5
    with engine.connect() as conn:
        states = {cid: reasons for cid, (_, _, reasons) in campaign_states(conn).items()}
    assert states == {
        "day-at": {CAMPAIGN_DAILY_BUDGET},
        "day-under": set(),
        "month-at": {CAMPAIGN_MONTHLY_BUDGET},
        "month-under": set(),
        "plain": set(),
    }
    # Nothing changes on the next pass, decided on groups that now hold the reasons.
    assert control.enforce_budgets(engine, AS_OF, "again", full=True).changes == []


def test_a_day_not_refreshed_is_decided_campaign_by_campaign(engine: Engine, tmp_path: Path) -> None:
    apply_yaml(engine, CATALOG)
    ingest_file(engine, write_csv(tmp_path / "spend.csv", ROWS), now=INGESTED)
    _refresh(engine)
    ingest_file(engine, write_csv(tmp_path / "late.csv", ["i,day-under,0.000001,2026-11-20T10:00:00Z"]), now=INGESTED)
    with engine.connect() as conn:
        assert capped_campaign_groups(conn, AS_OF, brands(conn)) is None  # the day is dirty again
    control.enforce_budgets(engine, AS_OF, "full", full=True)
    with engine.connect() as conn:
        states = {cid: reasons for cid, (_, _, reasons) in campaign_states(conn).items()}
    assert states["day-under"] == {CAMPAIGN_DAILY_BUDGET}  # 5.00 with the unrefreshed record
    assert states["month-under"] == set()


MOVED_BEFORE = """
brands:
  - {name: A, timezone: UTC, daily_budget: "1000", monthly_budget: "10000",
     campaigns: [{id: x, name: X, daily_budget: "5.00", monthly_budget: "8.00"}, {id: z, name: Z}]}
  - {name: B, timezone: UTC, daily_budget: "1000", monthly_budget: "10000", campaigns: [{id: y, name: Y}]}
"""
MOVED_AFTER = """
brands:
  - {name: A, timezone: UTC, daily_budget: "1000", monthly_budget: "10000", campaigns: [{id: z, name: Z}]}
  - {name: B, timezone: UTC, daily_budget: "1000", monthly_budget: "10000",
     campaigns: [{id: y, name: Y}, {id: x, name: X, daily_budget: "5.00", monthly_budget: "8.00"}]}
"""


def test_a_capped_campaign_moved_to_another_brand_keeps_its_own_spend_before_the_refresh(
    engine: Engine, tmp_path: Path
) -> None:
    """Its day and month rows are still under the brand it left until the refresh rebuilds its
    (dirty) days: its own spend is read from the raw records meanwhile, not as nothing (it was
    resumed over its caps, then paused again by the refresh, two notifications)."""
    apply_yaml(engine, MOVED_BEFORE)
    rows = ["r1,x,6.00,2026-11-20T09:00:00Z", "r2,x,3.00,2026-11-02T09:00:00Z", "r3,x,4.00,2026-11-22T09:00:00Z"]
    ingest_file(engine, write_csv(tmp_path / "spend.csv", rows), now=INGESTED)
    _refresh(engine)
    control.enforce_budgets(engine, AS_OF, "before", full=True)
    paused = {CAMPAIGN_DAILY_BUDGET, CAMPAIGN_MONTHLY_BUDGET}  # 6.00 today; 9.00 to date (4.00 later)
    with engine.connect() as conn:
        assert campaign_states(conn)["x"][2] == paused
    apply_yaml(engine, MOVED_AFTER)
    assert control.enforce_budgets(engine, AS_OF, "moved", full=True).changes == []
    _refresh(engine)
    assert control.enforce_budgets(engine, AS_OF, "refreshed", full=True).changes == []
    with engine.connect() as conn:
        assert campaign_states(conn)["x"][2] == paused


HELD = """
brands:
  - name: Held
    timezone: UTC
    daily_budget: "1000.00"
    monthly_budget: "2000.00"
    campaigns:
      - {id: early, name: Early}
      - {id: capped, name: Capped, monthly_budget: "900.00"}
      - {id: under, name: Under, monthly_budget: "900.00"}
"""


@pytest.mark.parametrize("refreshed", [True, False], ids=["refreshed", "not refreshed"])
@pytest.mark.parametrize("full", [True, False], ids=["full pass", "incremental"])
def test_a_month_held_at_the_ceiling_counts_its_days_to_date(
    engine: Engine, tmp_path: Path, refreshed: bool, full: bool
) -> None:
    """Spend past the ceiling on days after as_of (records for the brand's tomorrow, a past
    as_of) holds the month's rows at MONEY_CEILING: its month-to-date is then summed from its
    days up to as_of, not the held month less the held later days (which came to nothing, or
    to minus the ceiling, and left a brand over its budget running)."""
    apply_yaml(engine, HELD)
    rows = ["a,early,1500.00,2026-11-03T09:00:00Z", "b,capped,1000.00,2026-11-05T09:00:00Z"]
    rows += ["c,under,100.00,2026-11-05T09:00:00Z"]
    # 10,000 records of the largest amount (10^13) on a later day of each campaign: their days,
    # their months and the brand's are held.
    top = "999999999.999999"
    for cid, day in (("early", 22), ("capped", 22), ("under", 23)):
        rows += [f"{cid}-{i},{cid},{top},2026-11-{day}T09:00:00Z" for i in range(10_000)]
    ingest_file(engine, write_csv(tmp_path / "spend.csv", rows), now=INGESTED)
    if refreshed:
        build_daily(engine, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
        build_monthly(engine, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    with engine.connect() as conn:
        brand_rows = brands(conn)
        [spend] = brand_spend(conn, AS_OF, brand_rows).values()
        with mock.patch.object(reads, "few_brands", lambda conn: 0):  # every brand's read
            assert list(brand_spend(conn, AS_OF, brand_rows).values()) == [spend]
    assert (spend.daily, spend.monthly) == (Decimal(0), Decimal("2600.00"))
    control.enforce_budgets(engine, AS_OF, "run", full=full)  # without `full`: the brands the file touched
    with engine.connect() as conn:
        states = {cid: reasons for cid, (_, _, reasons) in campaign_states(conn).items()}
    assert states == {
        "early": {MONTHLY_BUDGET},
        "capped": {MONTHLY_BUDGET, CAMPAIGN_MONTHLY_BUDGET},
        "under": {MONTHLY_BUDGET},
    }


@pytest.mark.parametrize("full", [True, False], ids=["full pass", "incremental"])
def test_days_not_refreshed_past_the_ceiling_are_held_too(engine: Engine, tmp_path: Path, full: bool) -> None:
    """Two days before as_of, not refreshed yet, each past the ceiling: their raw spend is added
    to the month, which is held (it came to twice the ceiling, and staging it for the alerts
    overflowed SQLite's integers and failed the run)."""
    apply_yaml(engine, HELD)
    top = "999999999.999999"
    rows = [f"{day}-{i},early,{top},2026-11-{day}T09:00:00Z" for day in (18, 19) for i in range(10_000)]
    ingest_file(engine, write_csv(tmp_path / "spend.csv", rows), now=INGESTED)
    outcome = control.enforce_budgets(engine, AS_OF, "run", full=full)
    [spend] = outcome.spend.values()
    assert (spend.daily, spend.monthly) == (Decimal(0), MONEY_CEILING)
    with engine.connect() as conn:
        states = {cid: reasons for cid, (_, _, reasons) in campaign_states(conn).items()}
        a = alerts_table.c
        alerts = conn.execute(select(a.period, a.period_start, a.percent, a.spend)).all()
    assert set(states.values()) == {frozenset({MONTHLY_BUDGET})}
    periods = [("daily", dt.date(2026, 11, 18)), ("daily", dt.date(2026, 11, 19)), ("monthly", dt.date(2026, 11, 1))]
    assert sorted(alerts) == [(*period, percent, MONEY_CEILING) for period in periods for percent in (80, 100)]
