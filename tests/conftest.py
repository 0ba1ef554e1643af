"""Shared fixtures: every database test runs on real SQLite and on real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text

from budget_pipeline.ingest.catalog import parse_catalog
from budget_pipeline.store.catalog import apply_catalog
from budget_pipeline.store.db import make_engine, upgrade

PG_URL = os.environ.get("BUDGET_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/budget_test")
BACKENDS = ["sqlite", "postgresql"]

# No per-example deadline: it is a timing assertion, and this machine's speed varies threefold
# from day to day (bench/reference.py); a cold first example (zoneinfo, imports) failed it.
# Speed is measured under bench/, never in a test.
settings.register_profile("budget", deadline=None)
settings.load_profile("budget")


def pg_schema_url(schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@contextmanager
def empty_database(backend: str, sqlite_file: Path) -> Iterator[str]:
    """A URL to an empty database: the SQLite file `sqlite_file`, or a fresh schema on the
    PostgreSQL server, dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield pg_schema_url(schema)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh schema on the PostgreSQL server."""
    with empty_database(request.param, tmp_path / "budget.db") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


ACME = """
brands:
  - name: Acme
    timezone: America/New_York
    daily_budget: "100.00"
    monthly_budget: "2000.00"
    campaigns:
      - id: acme-search
        name: Acme Search
      - id: acme-social
        name: Acme Social
  - name: Tokyo Foods
    timezone: Asia/Tokyo
    daily_budget: "50.00"
    monthly_budget: "1000.00"
    campaigns:
      - id: tokyo-display
        name: Tokyo Display
"""


def apply_yaml(engine: Engine, text_: str) -> None:
    apply_catalog(engine, parse_catalog(yaml.safe_load(text_)))


@pytest.fixture
def acme(engine: Engine) -> Engine:
    """The engine with two brands (New York, Tokyo) and three campaigns."""
    apply_yaml(engine, ACME)
    return engine


HEADER = "record_id,campaign_id,amount,occurred_at"


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


# The run tags of a run over a range of partitions, as a single-run backfill launches it (the
# UI's and Dagster's own; there is no public constant for them in Dagster 1.13).
PARTITION_RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def partition_range(first: str, last: str) -> dict[str, str]:
    return dict(zip(PARTITION_RANGE, (first, last), strict=True))
