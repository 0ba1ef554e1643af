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
