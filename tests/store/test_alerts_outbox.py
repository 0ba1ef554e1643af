"""Alerts and the notification outbox, written by the control cycle on both databases: each
alert once per brand, period, period start and percent, and a notification for every status
change and alert in the change's own transaction."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from budget_pipeline import control
from budget_pipeline.defs.reporting import build_daily, build_monthly
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.notifications import change_summary, change_type
from budget_pipeline.store.alerts import alerts
from budget_pipeline.store.notifications import outbox
from budget_pipeline.store.schema import campaigns_table, notifications_table, status_log_table
from budget_pipeline.store.status import lock_status
from tests.conftest import ACME, apply_yaml, write_csv

NOON = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)  # 12:00 in New York, 02:00 on the 26th in Tokyo


def _spend(engine: Engine, tmp_path: Path, name: str, rows: list[str], now: dt.datetime = NOON) -> None:
    ingest_file(engine, write_csv(tmp_path / name, rows), now=now)


def _keys(engine: Engine) -> list[tuple[str, str, str, int]]:
    with engine.connect() as conn:
        return sorted((a.brand, a.period, a.period_start.isoformat(), a.percent) for a in alerts(conn))


def test_alerts_fire_once_per_period_and_percent_across_repeated_enforcement(acme: Engine, tmp_path: Path) -> None:
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,79.99,2026-11-25T15:00:00Z"])
    control.enforce_budgets(acme, NOON, "run-1")
    assert _keys(acme) == []
    _spend(acme, tmp_path, "b.csv", ["r2,acme-search,0.01,2026-11-25T15:05:00Z"])
    for run in ("run-2", "run-3", "run-4"):
        control.enforce_budgets(acme, NOON + dt.timedelta(minutes=5), run)
    assert _keys(acme) == [("Acme", "daily", "2026-11-25", 80)]
    _spend(acme, tmp_path, "c.csv", ["r3,acme-social,1550,2026-11-25T15:10:00Z"])
    control.enforce_budgets(acme, NOON + dt.timedelta(minutes=10), "run-5")
    control.enforce_budgets(acme, NOON + dt.timedelta(minutes=11), "run-6", full=True)
    assert _keys(acme) == [
        ("Acme", "daily", "2026-11-25", 80),
        ("Acme", "daily", "2026-11-25", 100),
        ("Acme", "monthly", "2026-11-01", 80),
    ]
    with acme.connect() as conn:
        monthly = next(a for a in alerts(conn) if a.period == "monthly")
    assert (monthly.spend, monthly.budget, monthly.currency, monthly.run_id) == (1630, 2000, "USD", "run-5")


def test_a_new_day_has_its_own_thresholds_and_late_spend_its_alert(acme: Engine, tmp_path: Path) -> None:
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,85,2026-11-25T15:00:00Z"])
    control.enforce_budgets(acme, NOON, "day-1")
    next_day = NOON + dt.timedelta(days=1)
    _spend(acme, tmp_path, "b.csv", ["r2,acme-search,90,2026-11-26T15:00:00Z"], now=next_day)
    control.enforce_budgets(acme, next_day, "day-2")
    # Late records for the 25th arrive on the 26th: the 25th reaches 100%, and its alert is recorded.
    _spend(acme, tmp_path, "c.csv", ["r3,acme-social,20,2026-11-25T16:00:00Z"], now=next_day)
    control.enforce_budgets(acme, next_day + dt.timedelta(minutes=1), "late")
    control.enforce_budgets(acme, next_day + dt.timedelta(minutes=2), "again", full=True)
    assert _keys(acme) == [
        ("Acme", "daily", "2026-11-25", 80),
        ("Acme", "daily", "2026-11-25", 100),
        ("Acme", "daily", "2026-11-26", 80),
    ]
    with acme.connect() as conn:
        late = [a for a in alerts(conn) if a.run_id == "late"]
    assert [(a.period_start, a.spend) for a in late] == [(dt.date(2026, 11, 25), 105)]


SMALL = """
brands:
  - name: Small
    daily_budget: "1000.00"
    monthly_budget: "100.00"
    alerts: [50]
    campaigns: [{id: s1, name: S1}]
"""


def test_late_spend_in_a_past_month_reaches_that_months_alert(engine: Engine, tmp_path: Path) -> None:
    apply_yaml(engine, SMALL)
    december = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    _spend(engine, tmp_path, "a.csv", ["r1,s1,10,2026-12-02T10:00:00Z"], now=december)
    control.enforce_budgets(engine, december, "december")
    _spend(engine, tmp_path, "b.csv", ["r2,s1,60,2026-11-30T10:00:00Z"], now=december)
    control.enforce_budgets(engine, december, "late")
    assert _keys(engine) == [("Small", "monthly", "2026-11-01", 50)]


def test_late_spend_in_a_past_month_counts_its_refreshed_days_too(engine: Engine, tmp_path: Path) -> None:
    """The month's days already in the aggregate (refreshed) and the late day not yet refreshed
    (read from its records) are summed together."""
    apply_yaml(engine, SMALL)
    november = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    _spend(engine, tmp_path, "a.csv", ["r1,s1,40,2026-11-28T10:00:00Z"], now=november)
    build_daily(engine, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    build_monthly(engine, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    control.enforce_budgets(engine, november, "november")
    december = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    _spend(engine, tmp_path, "b.csv", ["r2,s1,15,2026-11-29T10:00:00Z"], now=december)
    control.enforce_budgets(engine, december, "late")
    with engine.connect() as conn:
        found = [(a.period, a.period_start, a.percent, a.spend, a.run_id) for a in alerts(conn)]
    assert found == [("monthly", dt.date(2026, 11, 1), 50, 55, "late")]


def test_custom_percents_and_none(engine: Engine, tmp_path: Path) -> None:
    apply_yaml(
        engine,
        """
brands:
  - name: Custom
    daily_budget: "100.00"
    monthly_budget: "10000.00"
    alerts: [25, 50, 150]
    campaigns: [{id: c1, name: C1}]
  - name: Quiet
    daily_budget: "100.00"
    monthly_budget: "10000.00"
    alerts: []
    campaigns: [{id: q1, name: Q1}]
""",
    )
    _spend(engine, tmp_path, "a.csv", ["r1,c1,160,2026-11-25T10:00:00Z", "r2,q1,500,2026-11-25T10:00:00Z"])
    control.enforce_budgets(engine, NOON, "run")
    assert _keys(engine) == [("Custom", "daily", "2026-11-25", p) for p in (25, 50, 150)]


def test_dst_day_alerts_belong_to_the_local_day(engine: Engine, tmp_path: Path) -> None:
    # 2026-11-01 in New York is 25 hours long: 04:00Z to 05:00Z the next day.
    apply_yaml(
        engine,
        """
brands:
  - name: East
    timezone: America/New_York
    daily_budget: "100.00"
    monthly_budget: "100000.00"
    campaigns: [{id: e1, name: E1}]
""",
    )
    last_hour = dt.datetime(2026, 11, 2, 4, 30, tzinfo=dt.UTC)  # 23:30 EST on the 1st
    rows = ["r1,e1,50,2026-11-01T04:10:00Z", "r2,e1,40,2026-11-02T04:20:00Z"]
    _spend(engine, tmp_path, "a.csv", rows, now=last_hour)
    control.enforce_budgets(engine, last_hour, "dst")
    assert _keys(engine) == [("East", "daily", "2026-11-01", 80)]


def _counts(engine: Engine) -> tuple[int, int, int]:
    n, log = notifications_table, status_log_table
    with engine.connect() as conn:
        changes = conn.execute(select(func.count()).select_from(log)).scalar_one()
        notes = conn.execute(select(func.count()).select_from(n).where(n.c.log_id.is_not(None))).scalar_one()
        paused = conn.execute(select(func.count()).select_from(campaigns_table).where(~campaigns_table.c.active))
        return changes, notes, paused.scalar_one()


def test_every_status_change_and_alert_has_its_notification(acme: Engine, tmp_path: Path) -> None:
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"])
    outcome = control.enforce_budgets(acme, NOON, "pause")
    control.reset_budgets(acme, NOON + dt.timedelta(days=1), "reset", monthly=False)
    assert _counts(acme) == (4, 4, 0)
    with acme.connect() as conn:
        rows = outbox(conn)
    kinds = [(r.type, r.campaign_id) for r in reversed(rows)]
    assert kinds == [
        ("campaign.paused", "acme-search"),
        ("campaign.paused", "acme-social"),
        ("budget.alert", None),
        ("budget.alert", None),
        ("campaign.resumed", "acme-search"),
        ("campaign.resumed", "acme-social"),
    ]
    assert len({r.id for r in rows}) == len(rows)
    assert outcome.alerts == 2
    paused = rows[-1].payload()
    assert paused["brand"] == "Acme"
    assert paused["text"] == "Acme: campaign Acme Search (acme-search) paused (daily_budget)"
    assert paused["data"] == {
        "active_before": True,
        "active_after": False,
        "reasons_before": [],
        "reasons_after": ["daily_budget"],
        "changed_reason": "daily_budget",
        "predicted": False,
        "as_of": NOON.isoformat(),
        "run_id": "pause",
    }
    alert = next(r for r in rows if r.type == "budget.alert").payload()
    assert alert["data"]["currency"] == "USD" and alert["data"]["spend"] == "120.00"
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)


def test_a_failing_status_write_leaves_neither_change_nor_notification(
    acme: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"])

    def boom(*args: object) -> None:
        raise RuntimeError("dies after the writes")

    monkeypatch.setattr(control, "record_enforced_dates", boom)
    with pytest.raises(RuntimeError):
        control.enforce_budgets(acme, NOON, "dies")
    assert _counts(acme) == (0, 0, 0)
    with acme.connect() as conn:
        assert outbox(conn) == [] and alerts(conn) == []


KILLED_WRITER = """
import datetime as dt, sys, time
from pathlib import Path
from budget_pipeline import control
from budget_pipeline.store.db import make_engine

def stall(*args):
    Path(sys.argv[2]).write_text("written")
    time.sleep(60)

control.record_enforced_dates = stall
control.enforce_budgets(make_engine(sys.argv[1]), dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC), "killed")
"""


def test_kill_9_during_a_status_write_leaves_outbox_and_log_in_step(acme: Engine, db_url: str, tmp_path: Path) -> None:
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"])
    flag = tmp_path / "flag"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, db_url, str(flag)])
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never reached its stall"
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
    assert _counts(acme) == (0, 0, 0)
    control.enforce_budgets(acme, NOON, "after")
    assert _counts(acme) == (2, 2, 2)
    with acme.connect() as conn:
        assert len([r for r in outbox(conn) if r.type == "budget.alert"]) == 2


def test_a_percent_is_reached_at_or_over_it_to_the_micro_unit(acme: Engine, tmp_path: Path) -> None:
    """The comparison that pauses (spend at or over), made in the database on exact amounts."""
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,79.999999,2026-11-25T15:00:00Z"])
    control.enforce_budgets(acme, NOON, "under")
    assert _keys(acme) == []
    _spend(acme, tmp_path, "b.csv", ["r2,acme-search,0.000001,2026-11-25T15:01:00Z"])
    control.enforce_budgets(acme, NOON, "at")
    assert _keys(acme) == [("Acme", "daily", "2026-11-25", 80)]
    with acme.connect() as conn:
        assert [(a.spend, a.budget) for a in alerts(conn)] == [(80, 100)]


def test_a_campaign_with_the_longest_id_gets_its_notification(engine: Engine, tmp_path: Path) -> None:
    """Campaign ids may be 64 characters long: its change's notification id (a prefix and the
    campaign id) must fit, or the whole status write fails (PostgreSQL checks lengths)."""
    long_id = "a" + "-long-campaign-id" * 3 + "x" * 12
    assert len(long_id) == 64
    apply_yaml(
        engine,
        f"""
brands:
  - name: Long
    timezone: UTC
    daily_budget: "10.00"
    monthly_budget: "100.00"
    campaigns: [{{id: {long_id}, name: Long}}]
""",
    )
    _spend(engine, tmp_path, "a.csv", [f"r1,{long_id},12,2026-11-25T15:00:00Z"])
    outcome = control.enforce_budgets(engine, NOON, "run-1")
    assert [ch.campaign_id for ch in outcome.paused] == [long_id]
    with engine.connect() as conn:
        changes = [row for row in outbox(conn) if row.campaign_id == long_id]
    assert len(changes) == 1 and changes[0].id.endswith(":" + long_id)


def test_each_brand_of_a_file_is_marked_from_its_own_earliest_day(acme: Engine, tmp_path: Path) -> None:
    """A file with late spend for one brand and today's spend for another: only the first is
    looked at back to its earlier day (for its late alerts); the other from its own today."""
    from budget_pipeline.store.marks import read_marks
    from budget_pipeline.store.reads import brands

    _spend(
        acme,
        tmp_path,
        "a.csv",
        [
            "r1,acme-search,1,2026-11-24T15:00:00Z",  # New York's 24th: a day late
            "r2,acme-social,1,2026-11-25T15:00:00Z",
            "r3,tokyo-display,1,2026-11-25T16:00:00Z",  # Tokyo's 26th, its today at noon UTC-5
        ],
    )
    with acme.connect() as conn:
        names = {row.id: row.name for row in brands(conn).values()}
        first_days = {names[bid]: day for bid, day in read_marks(conn).first_days.items()}
    assert first_days == {"Acme": dt.date(2026, 11, 24), "Tokyo Foods": dt.date(2026, 11, 26)}


MOVED = """
brands:
  - name: Acme
    timezone: America/New_York
    currency: EUR
    daily_budget: "100.00"
    monthly_budget: "2000.00"
    campaigns:
      - id: acme-search
        name: Renamed Search
  - name: Tokyo Foods
    timezone: Asia/Tokyo
    daily_budget: "50.00"
    monthly_budget: "1000.00"
    campaigns:
      - id: tokyo-display
        name: Tokyo Display
      - id: acme-social
        name: Acme Social
"""


def test_a_notification_reads_the_same_after_the_catalog_changes(acme: Engine, tmp_path: Path) -> None:
    """What a pending notification says (its brand, names, currency, amounts) is what was true
    when it was written: a retry after a rename, a move to another brand or a new currency
    sends the same body. Notifications written after say what is true then."""
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"])
    control.enforce_budgets(acme, NOON, "pause")
    with acme.begin() as conn:  # one sent, one failed for good, the rest pending
        n = notifications_table.c
        conn.execute(update(notifications_table).where(n.campaign_id == "acme-search").values(status="delivered"))
        conn.execute(update(notifications_table).where(n.campaign_id == "acme-social").values(status="failed"))
    with acme.connect() as conn:
        before = {row.id: (row.payload(), row.status) for row in outbox(conn)}
    assert {p["type"] for p, _ in before.values()} == {"campaign.paused", "budget.alert"}
    apply_yaml(acme, MOVED)
    with acme.connect() as conn:
        after = {row.id: (row.payload(), row.status) for row in outbox(conn)}
        assert {a.currency for a in alerts(conn)} == {"USD"}  # as recorded
    assert after == before
    assert {p["text"] for p, _ in after.values() if p["campaign_id"]} == {
        "Acme: campaign Acme Search (acme-search) paused (daily_budget)",
        "Acme: campaign Acme Social (acme-social) paused (daily_budget)",
    }
    assert all(p["data"].get("currency", "USD") == "USD" for p, _ in after.values())
    control.reset_budgets(acme, NOON + dt.timedelta(days=1), "resumed", monthly=False)
    with acme.connect() as conn:
        resumed = {row.payload()["text"] for row in outbox(conn) if row.id not in before}
    assert resumed == {
        "Acme: campaign Renamed Search (acme-search) resumed",
        "Tokyo Foods: campaign Acme Social (acme-social) resumed",
    }


def test_a_catalog_apply_waits_for_the_status_writer(acme: Engine) -> None:
    """On PostgreSQL a catalog apply takes the status lock before anything else: no status write
    can add a notification between its keeping of names and its rename (SQLite's writers
    already take turns)."""
    if acme.dialect.name != "postgresql":
        pytest.skip("SQLite's writers already take turns")
    applied = threading.Event()

    def apply() -> None:
        apply_yaml(acme, MOVED)
        applied.set()

    with acme.connect() as writer:
        writer.begin()
        lock_status(writer)
        thread = threading.Thread(target=apply)
        thread.start()
        assert not applied.wait(1.5), "the apply went ahead of the status writer"
        writer.commit()
    thread.join(60)
    assert applied.is_set()


def test_a_change_that_renames_or_moves_nothing_keeps_no_names(acme: Engine, tmp_path: Path) -> None:
    """Only a rename or a move writes names into notifications: a new cap leaves them rendered."""
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"])
    control.enforce_budgets(acme, NOON, "pause")
    apply_yaml(
        acme, ACME.replace("        name: Acme Search\n", '        name: Acme Search\n        daily_budget: "5.00"\n')
    )
    with acme.connect() as conn:
        n = notifications_table.c
        assert conn.execute(select(func.count()).where(n.text.is_not(None) | n.brand.is_not(None))).scalar_one() == 0


def test_each_change_line_is_the_rules_line(acme: Engine, tmp_path: Path) -> None:
    """The type and human line written for a status change (in SQL) are
    rules.notifications.change_type and change_summary of its reasons, for every kind."""
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"])
    control.enforce_budgets(acme, NOON, "paused")
    apply_yaml(acme, ACME.replace("        name: Acme Social\n", "        name: Acme Social\n        enabled: false\n"))
    control.enforce_budgets(acme, NOON, "reasons changed")
    control.reset_budgets(acme, NOON + dt.timedelta(days=1), "resumed", monthly=False)
    names = {"acme-search": "Acme Search", "acme-social": "Acme Social"}
    with acme.connect() as conn:
        changes = [row.payload() for row in outbox(conn) if row.campaign_id]
    assert {p["type"] for p in changes} == {"campaign.paused", "campaign.reasons_changed", "campaign.resumed"}
    for p in changes:
        before, after = frozenset(p["data"]["reasons_before"]), frozenset(p["data"]["reasons_after"])
        assert p["type"] == change_type(before, after)
        summary = change_summary(before, after, p["data"]["reasons_after"])
        assert p["text"] == f"Acme: campaign {names[p['campaign_id']]} ({p['campaign_id']}) {summary}"


def test_the_largest_budgets_compare_exactly(engine: Engine, tmp_path: Path) -> None:
    """Budgets near the catalog's limit: one micro-unit under 100% is no alert, at it is (the
    products of such amounts would overflow SQLite's integers into floating point)."""
    apply_yaml(
        engine,
        """
brands:
  - name: Huge
    daily_budget: "100000000000.00"
    monthly_budget: "900000000000.00"
    alerts: [50, 100]
    campaigns: [{id: h1, name: H1}]
""",
    )
    rows = [f"r{i},h1,999999999.999999,2026-11-25T15:00:00Z" for i in range(100)] + [
        "u,h1,0.000099,2026-11-25T15:00:00Z"
    ]
    _spend(engine, tmp_path, "a.csv", rows)
    control.enforce_budgets(engine, NOON, "under")
    assert _keys(engine) == [("Huge", "daily", "2026-11-25", 50)]
    _spend(engine, tmp_path, "b.csv", ["at,h1,0.000001,2026-11-25T15:00:00Z"])
    control.enforce_budgets(engine, NOON, "at")
    assert _keys(engine) == [("Huge", "daily", "2026-11-25", 50), ("Huge", "daily", "2026-11-25", 100)]


def test_a_percent_of_the_largest_budget_past_what_the_store_holds_never_fires(engine: Engine, tmp_path: Path) -> None:
    """The largest budget the catalog takes with a 1000% alert: its threshold is past what a
    Money column holds on SQLite (64-bit micro-units), so no spend reaches it; enforcement stages
    it as none instead of failing, and the 1% alert fires as ever."""
    apply_yaml(
        engine,
        """
brands:
  - name: Big
    daily_budget: "999999999999.99"
    monthly_budget: "999999999999.99"
    alerts: [1, 1000]
    campaigns: [{id: big1, name: Big 1}]
""",
    )
    _spend(engine, tmp_path, "a.csv", [f"r{i},big1,999999999,2026-11-25T15:00:00Z" for i in range(11)])
    control.enforce_budgets(engine, NOON, "big")
    assert _keys(engine) == [("Big", "daily", "2026-11-25", 1), ("Big", "monthly", "2026-11-01", 1)]


X_WITH_50 = """
brands:
  - name: X
    daily_budget: "10000.00"
    monthly_budget: "1000.00"
    alerts: [50, 100]
    campaigns: [{id: x1, name: X1}]
"""


def test_a_month_before_a_brands_own_late_spend_is_not_summed_from_its_corrections(
    engine: Engine, tmp_path: Path
) -> None:
    """Late spend of two brands reaching back to different months: each brand's months are
    summed from its own first late month only (the corrections staged reach back to the
    earliest); a month summed from an unrefreshed day alone would be recorded with a wrong spend."""
    apply_yaml(
        engine,
        """
brands:
  - name: X
    daily_budget: "10000.00"
    monthly_budget: "1000.00"
    alerts: [100]
    campaigns: [{id: x1, name: X1}]
  - name: Y
    daily_budget: "10000.00"
    monthly_budget: "1000.00"
    alerts: [100]
    campaigns: [{id: y1, name: Y1}]
""",
    )
    october = dt.datetime(2026, 10, 20, 12, tzinfo=dt.UTC)
    _spend(engine, tmp_path, "a.csv", ["r1,x1,400,2026-09-05T10:00:00Z"], now=october)
    build_daily(engine, dt.date(2026, 9, 1), dt.date(2026, 10, 1))
    _spend(engine, tmp_path, "b.csv", ["r2,x1,700,2026-09-10T10:00:00Z"], now=october)  # stays unrefreshed
    control.enforce_budgets(engine, october, "september")
    assert _keys(engine) == [("X", "monthly", "2026-09-01", 100)]
    apply_yaml(engine, X_WITH_50)
    _spend(
        engine,
        tmp_path,
        "c.csv",
        ["r3,x1,1,2026-10-10T10:00:00Z", "r4,y1,1,2026-08-10T10:00:00Z"],
        now=october,
    )
    control.enforce_budgets(engine, october, "later")
    # X's September is not X's late spend this time: its 50% is not recorded from the 700 alone.
    assert _keys(engine) == [("X", "monthly", "2026-09-01", 100)]


def test_a_full_pass_on_a_months_first_day_finds_each_periods_recorded_alerts(
    acme: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a month's first day its daily and monthly periods start on the same date: a full pass
    that reads the recorded alerts by period start (with more periods than it looks up one by
    one) must find each period's own, or it records them again."""
    from budget_pipeline.store import alerts as alert_store

    monkeypatch.setattr(alert_store, "FEW_PERIODS", 0)
    monkeypatch.setattr(alert_store, "IN_LIST_LIMIT", 0)
    first = dt.datetime(2026, 12, 1, 17, tzinfo=dt.UTC)  # noon on the 1st in New York
    _spend(acme, tmp_path, "a.csv", ["r1,acme-search,1700,2026-12-01T15:00:00Z"], now=first)
    control.enforce_budgets(acme, first, "first", full=True)
    expected = [("Acme", "daily", "2026-12-01", 80), ("Acme", "daily", "2026-12-01", 100)]
    expected.append(("Acme", "monthly", "2026-12-01", 80))
    assert _keys(acme) == expected
    _spend(acme, tmp_path, "b.csv", ["r2,acme-social,10,2026-12-01T16:00:00Z"], now=first)
    assert control.enforce_budgets(acme, first, "again", full=True).alerts == 0
    assert _keys(acme) == expected
