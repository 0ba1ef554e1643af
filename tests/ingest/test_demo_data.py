"""The demo data is valid input: its catalog passes validation, its simulated files ingest whole."""

import datetime as dt
import random
from pathlib import Path

from budget_pipeline.demo import DAILY_SPEND, catalog, simulated_file, spend_csv
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


def test_simulated_and_historical_spend_ingest_without_rejections(tmp_path: Path) -> None:
    path = simulated_file(tmp_path / "landing", NOW, random.Random(1))
    assert path.name.startswith("sim-") and not list((tmp_path / "landing").glob(".*"))
    chunks = list(read_spend_file(path, zones()))
    assert sum(len(c.valid) for c in chunks) == 4 and not any(c.rejections for c in chunks)

    history = tmp_path / "history.csv"
    count = spend_csv(history, NOW, days=2)
    chunks = list(read_spend_file(history, zones()))
    assert sum(len(c.valid) for c in chunks) == count and not any(c.rejections for c in chunks)
