"""Alerts under any sequence of spend files and enforcement ticks (hypothesis): the alerts
recorded are exactly the thresholds that each brand's spend crossed in each of its local days
and months, with the spend summed here from the records themselves, each recorded once and each
with one `budget.alert` notification. Files may carry late spend for earlier days (also of the
month before); ticks may be incremental or full passes; refreshes rebuild the aggregate the
alerts of earlier days are read from."""

import datetime as dt
import tempfile
from collections import defaultdict
from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from budget_pipeline import control
from budget_pipeline.defs.reporting import build_daily, build_monthly
from budget_pipeline.ingest.catalog import parse_catalog
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.store import alerts
from budget_pipeline.store.catalog import apply_catalog
from budget_pipeline.store.db import make_engine, upgrade
from budget_pipeline.store.schema import Alert, Brand, Notification
from tests.conftest import BACKENDS, empty_database, write_csv

CATALOG = """
brands:
  - name: New York
    timezone: America/New_York
    daily_budget: "10.00"
    monthly_budget: "40.00"
    alerts: [50, 80, 100]
    campaigns: [{id: n1, name: N1}, {id: n2, name: N2, daily_budget: "3.00"}]
  - name: Kathmandu
    timezone: Asia/Kathmandu
    daily_budget: "8.00"
    monthly_budget: "25.00"
    alerts: [100, 150]
    campaigns: [{id: k1, name: K1}]
"""
BRAND_OF = {"n1": "New York", "n2": "New York", "k1": "Kathmandu"}
BUDGETS = {
    "New York": (Decimal("10.00"), Decimal("40.00"), (50, 80, 100)),
    "Kathmandu": (Decimal("8.00"), Decimal("25.00"), (100, 150)),
}
ZONES = {"New York": "America/New_York", "Kathmandu": "Asia/Kathmandu"}
START = dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.UTC)  # the month's last days in both zones

files = st.lists(
    st.tuples(st.sampled_from(sorted(BRAND_OF)), st.integers(1, 900), st.integers(-60 * 60, 0)), min_size=1, max_size=5
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("file"), files),
        st.tuples(st.just("tick"), st.integers(0, 30 * 60)),
        st.tuples(st.just("full"), st.integers(0, 30 * 60)),
        # Rebuild daily_spend from this many days back: the alerts then read the aggregate, with
        # the spend of days still unrefreshed (late records since) added.
        st.tuples(st.just("refresh"), st.integers(0, 40)),
    ),
    min_size=1,
    max_size=12,
)


def crossed(records: list[tuple[str, Decimal, dt.datetime]]) -> set[tuple[str, str, dt.date, int]]:
    """(brand, period, period start, percent) of every threshold the records' spend reached."""
    daily: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    monthly: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for campaign, amount, at in records:
        brand = BRAND_OF[campaign]
        day = at.astimezone(ZoneInfo(ZONES[brand])).date()
        daily[(brand, day)] += amount
        monthly[(brand, day.replace(day=1))] += amount
    out = set()
    for period, sums, budget_index in (("daily", daily, 0), ("monthly", monthly, 1)):
        for (brand, start), spend in sums.items():
            budget, percents = BUDGETS[brand][budget_index], BUDGETS[brand][2]
            out |= {(brand, period, start, p) for p in percents if spend * 100 >= budget * p}
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, by_period_start=st.booleans())
def test_the_alerts_recorded_are_the_thresholds_crossed_each_once(
    backend: str, steps: list[tuple[str, object]], by_period_start: bool
) -> None:
    # The alerts a pass has recorded are read by each brand's own periods (a few brands), or with
    # `by_period_start` every alert of the periods' starts (as for many brands).
    lookup = mock.patch.multiple(alerts, IN_LIST_LIMIT=0, FEW_PERIODS=0) if by_period_start else nullcontext()
    with lookup, tempfile.TemporaryDirectory() as folder, empty_database(backend, Path(folder) / "budget.db") as url:
        root = Path(folder)
        engine = make_engine(url)
        try:
            upgrade(engine)
            apply_catalog(engine, parse_catalog(yaml.safe_load(CATALOG)))
            as_of, records = START, []
            for n, (kind, arg) in enumerate(steps):
                if kind == "file":
                    batch = [
                        (cid, Decimal(cents) / 100, as_of + dt.timedelta(minutes=at))
                        for cid, cents, at in arg  # type: ignore[attr-defined]
                    ]
                    rows = [f"f{n}-{i},{cid},{amount},{at.isoformat()}" for i, (cid, amount, at) in enumerate(batch)]
                    result = ingest_file(engine, write_csv(root / f"s{n}.csv", rows), now=as_of)
                    assert result.accepted == len(batch)
                    records += batch
                elif kind == "refresh":  # as the refresh does: the days, then their months
                    first, stop = as_of.date() - dt.timedelta(days=int(arg)), as_of.date() + dt.timedelta(days=2)  # type: ignore[call-overload]
                    build_daily(engine, first, stop)
                    build_monthly(engine, first.replace(day=1), stop)
                else:
                    as_of += dt.timedelta(minutes=int(arg))  # type: ignore[call-overload]
                    control.enforce_budgets(engine, as_of, f"run-{n}", full=kind == "full")
            control.enforce_budgets(engine, as_of, "last")
            with engine.connect() as conn:
                rows = conn.execute(
                    select(Brand.name, Alert.period, Alert.period_start, Alert.percent).join(
                        Brand, Brand.id == Alert.brand_id
                    )
                ).all()
                notified = conn.execute(
                    select(func.count()).select_from(Notification).where(Notification.type == "budget.alert")
                ).scalar_one()
        finally:
            engine.dispose()
    recorded = [tuple(row) for row in rows]
    assert len(recorded) == len(set(recorded)), "an alert recorded twice"
    assert set(recorded) == crossed(records)
    assert notified == len(recorded)
