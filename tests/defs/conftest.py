"""Fixtures of the Dagster layer's tests."""

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import apply_yaml

SEED = """
brands:
  - name: Brand A
    timezone: America/New_York
    daily_budget: "50.00"
    monthly_budget: "1000.00"
    campaigns: [{id: a1, name: A1}, {id: a2, name: A2}]
  - name: Brand B
    timezone: Europe/London
    daily_budget: "75.00"
    monthly_budget: "1500.00"
    campaigns: [{id: b1, name: B1}, {id: b2, name: B2}]
  - name: Brand C
    timezone: Asia/Tokyo
    daily_budget: "100.00"
    monthly_budget: "2000.00"
    campaigns: [{id: c1, name: C1}, {id: c2, name: C2}]
"""


@pytest.fixture
def env(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Engine:
    """The SEED catalog in a fresh database that the code location's resources point at."""
    monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
    monkeypatch.setenv("BUDGET_LANDING_DIR", str(tmp_path / "landing"))
    apply_yaml(engine, SEED)
    return engine
