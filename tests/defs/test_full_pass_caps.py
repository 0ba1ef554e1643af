"""A full pass decides the campaigns with caps of their own as groups, their spend compared with
their caps in the database (store.reads.capped_campaign_groups); the campaigns of a group that
changes are then read one by one. Exactly at a cap, one micro-unit under it, and a monthly cap
with spend on days after a past as_of (which a month-to-date leaves out): both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from budget_pipeline import control
from budget_pipeline.defs.reporting import build_daily, build_monthly
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.calendar import month_start, next_month_start
from budget_pipeline.rules.reasons import CAMPAIGN_DAILY_BUDGET, CAMPAIGN_MONTHLY_BUDGET
from budget_pipeline.store.reads import brands, capped_campaign_groups
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
