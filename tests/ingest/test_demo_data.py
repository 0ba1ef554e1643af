"""The demo data is valid input and tells its story: its catalog passes validation, its files
ingest whole, Brand A starts near its budget, Night Owl overspent yesterday in the zone whose
day began last, and the simulator spends only on active campaigns (a late trickle aside)."""

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa

from budget_pipeline.demo import DAILY_SPEND, catalog, local_midnight, night_owl_zone, simulated_file, spend_csv
from budget_pipeline.ingest.catalog import parse_catalog
from budget_pipeline.ingest.spendfile import read_spend_file
from budget_pipeline.rules.dayparting import in_hours

NOW = dt.datetime(2026, 11, 25, 10, 30, tzinfo=dt.UTC)


def zones() -> dict[str, str]:
    parsed = parse_catalog(catalog(NOW))
    return {c.id: b.timezone for b in parsed.brands for c in b.campaigns}


def test_demo_catalog_has_windows_around_the_current_hour() -> None:
    parsed = parse_catalog(catalog(NOW))
    by_id = {c.id: (b.timezone, c) for b in parsed.brands for c in b.campaigns}
    zone, social = by_id["brand-a-social"]
    assert in_hours([w.window() for w in social.dayparting], NOW, zone)
    zone, display = by_id["brand-c-display"]
    assert not in_hours([w.window() for w in display.dayparting], NOW, zone)
    assert set(by_id) == set(DAILY_SPEND)


def test_night_owl_lives_where_the_day_began_last() -> None:
    # At 10:30 UTC it is 00:15 in Chatham (UTC+13:45 in its summer), 00:30 in Kiritimati (UTC+14).
    assert night_owl_zone(NOW) == "Pacific/Chatham"
    assert local_midnight(NOW, "Pacific/Chatham") == dt.datetime(2026, 11, 25, 10, 15, tzinfo=dt.UTC)
    # Less than five minutes after a midnight, that zone is passed over for those whose day began
    # before: at 10:17 UTC it is 00:17 in Kiritimati (UTC+14) and in Adak and Honolulu (UTC-10);
    # among equals the first name wins.
    assert night_owl_zone(dt.datetime(2026, 11, 25, 10, 17, tzinfo=dt.UTC)) == "America/Adak"


def test_history_starts_brand_a_near_its_budget_and_night_owl_over_yesterday(tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    count = spend_csv(history, NOW, days=2)
    chunks = list(read_spend_file(history, zones()))
    assert sum(len(c.valid) for c in chunks) == count and not any(c.rejections for c in chunks)
    valid = pa.concat_tables([c.valid for c in chunks]).to_pylist()
    by_day: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for row in valid:
        brand = row["campaign_id"].rsplit("-", 1)[0]
        by_day[(brand, row["local_date"])] += Decimal(row["amount"])
    a_today = NOW.astimezone(ZoneInfo("America/New_York")).date()
    assert abs(by_day[("brand-a", a_today)] - Decimal("46.00")) < Decimal("0.01")  # 92% of 50.00
    owl_today = NOW.astimezone(ZoneInfo("Pacific/Chatham")).date()
    assert by_day[("night-owl", owl_today)] == 0
    assert abs(by_day[("night-owl", owl_today - dt.timedelta(days=1))] - Decimal("22.00")) < Decimal("0.01")


def test_the_simulator_spends_on_active_campaigns_and_trickles_on_paused_ones(tmp_path: Path) -> None:
    active = {"brand-a-search", "brand-b-search", "brand-c-search"}
    rng = random.Random(7)
    seen_late = False
    for n in range(40):
        path = simulated_file(tmp_path / f"landing{n}", NOW, rng, active)
        assert path.name.startswith("sim-") and not list(path.parent.glob(".*"))
        chunks = list(read_spend_file(path, zones()))
        assert not any(c.rejections for c in chunks)
        for row in pa.concat_tables([c.valid for c in chunks]).to_pylist():
            if row["record_id"].endswith("-late"):
                seen_late = True
                assert row["campaign_id"] not in active
                assert Decimal(row["amount"]) == (DAILY_SPEND[row["campaign_id"]] / 100).quantize(Decimal("0.01"))
            else:
                assert row["campaign_id"] in active
    assert seen_late
