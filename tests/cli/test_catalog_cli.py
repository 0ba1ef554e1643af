"""`budget-pipeline catalog …` through a real subprocess on both databases: the catalog file at
its edges, the brand fields, export and apply round trips."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.cli.conftest import cli
from tests.conftest import ACME

AS_OF = "2026-11-25T10:00:00Z"


@pytest.fixture
def empty(db_url: str) -> str:
    """A database with the schema and nothing in it."""
    assert cli(db_url, "init-db").returncode == 0
    return db_url


def brands_in(db_url: str) -> list[dict]:
    done = cli(db_url, "status", "--json", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["brands"]


def apply(db_url: str, path: Path, text: str):  # type: ignore[no-untyped-def]
    path.write_text(text, encoding="utf-8")
    return cli(db_url, "catalog", "apply", str(path))


def test_repeated_keys_are_errors_with_their_paths_and_nothing_is_written(empty: str, tmp_path: Path) -> None:
    text = ACME.replace("        name: Acme Social\n", "        name: Acme Social\n        name: Acme Social 2\n")
    text = text.replace('    daily_budget: "50.00"\n', '    daily_budget: "50.00"\n    daily_budget: "55.00"\n')
    path = tmp_path / "catalog.yaml"
    done = apply(empty, path, text)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "brands[0].campaigns[1].name: key written twice in one mapping (lines 11 and 12)",
        "brands[1].daily_budget: key written twice in one mapping (lines 15 and 16)",
        f"error: {path}: 2 problem(s); nothing was written",
    ]
    assert brands_in(empty) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("brands:\n  - " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep (line 2)"),
        ("\x00\x01\x02 not yaml", "not valid YAML: unacceptable character #x0000"),
        ("brands: [\n  {name: A\n", "not valid YAML: "),
        ("just some words\n", "expected a mapping with a 'brands' list"),
    ],
)
def test_a_file_that_is_no_catalog_is_one_line_and_exit_2(empty: str, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "catalog.yaml"
    done = apply(empty, path, text)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: {path}: {message}")
    assert done.stdout == ""
    assert brands_in(empty) == []


def test_a_catalog_path_that_is_no_regular_file_is_one_line_and_exit_2(empty: str, tmp_path: Path) -> None:
    """/dev/zero took all the memory (22 GB, then the OOM killer); a FIFO waited for a writer."""
    fifo = tmp_path / "catalog.fifo"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo, tmp_path):
        done = cli(empty, "catalog", "apply", str(path))
        assert done.returncode == 2, path
        assert done.stderr.splitlines() == [f"error: {path}: not a regular file"]
    assert brands_in(empty) == []


def test_a_catalog_larger_than_the_limit_is_one_line_and_exit_2(
    empty: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from budget_pipeline.ingest import catalog

    monkeypatch.setattr(catalog, "CATALOG_BYTES", 100)
    path = tmp_path / "catalog.yaml"
    path.write_text(ACME, encoding="utf-8")
    size = len(ACME.encode())
    with pytest.raises(
        catalog.CatalogFileError, match=re.escape(f"{size:,} bytes, more than a catalog may hold (100)")
    ):
        catalog.load_catalog(path)
    monkeypatch.setattr(catalog, "CATALOG_BYTES", size)
    assert [brand.name for brand in catalog.load_catalog(path).brands] == ["Acme", "Tokyo Foods"]


def test_host_dependent_time_zones_are_refused(empty: str, tmp_path: Path) -> None:
    text = ACME.replace("America/New_York", "localtime").replace("Asia/Tokyo", "posix/Asia/Tokyo")
    done = apply(empty, tmp_path / "catalog.yaml", text)
    assert done.returncode == 2
    assert done.stderr.splitlines()[:2] == [
        "brands[0].timezone: 'localtime' depends on the host; use a region zone like 'Europe/London', or 'UTC'",
        "brands[1].timezone: 'posix/Asia/Tokyo' depends on the host; use a region zone like 'Europe/London', or 'UTC'",
    ]
    assert brands_in(empty) == []


def test_a_budget_beyond_a_trillion_is_a_validation_error_not_a_database_overflow(empty: str, tmp_path: Path) -> None:
    text = ACME.replace('"2000.00"', '"1000000000000.00"').replace(
        "        name: Acme Search\n", '        name: Acme Search\n        daily_budget: "99999999999999999999"\n'
    )
    path = tmp_path / "catalog.yaml"
    done = apply(empty, path, text)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "brands[0].monthly_budget: '1000000000000.00' is not below 1,000,000,000,000",
        "brands[0].campaigns[0].daily_budget: '99999999999999999999' is not below 1,000,000,000,000",
        f"error: {path}: 2 problem(s); nothing was written",
    ]
    assert brands_in(empty) == []

    largest = ACME.replace('"2000.00"', '"999999999999.99"')
    assert apply(empty, path, largest).returncode == 0
    [acme, _] = brands_in(empty)
    assert acme["monthly_budget"] == "999999999999.99"


def stored_brands(db_url: str) -> dict[str, tuple]:
    from sqlalchemy import create_engine, select

    from budget_pipeline.store.schema import Brand

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Brand.name, Brand.currency, Brand.alerts, Brand.pause_ahead_minutes)).all()
    engine.dispose()
    return {name: rest for name, *rest in rows}  # type: ignore[misc]


def test_currency_alerts_and_pause_ahead_are_stored_updated_and_shown(empty: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    text = ACME.replace(
        "    timezone: Asia/Tokyo\n",
        "    timezone: Asia/Tokyo\n    currency: JPY\n    alerts: [100, 50]\n    pause_ahead: 2h\n",
    )
    first = apply(empty, path, text)
    assert first.returncode == 0, first.stderr
    assert stored_brands(empty) == {"Acme": ["USD", "80,100", None], "Tokyo Foods": ["JPY", "50,100", 120]}

    [acme, tokyo] = brands_in(empty)
    assert list(acme)[:5] == ["name", "timezone", "local_date", "currency", "daily_budget"]
    assert (acme["currency"], tokyo["currency"]) == ("USD", "JPY")
    shown = cli(empty, "status", "--as-of", AS_OF).stdout
    assert "day 0.00 JPY / 50.00 JPY, month 0.00 JPY / 1,000.00 JPY" in shown
    assert "day 0.00 USD / 100.00 USD, month 0.00 USD / 2,000.00 USD" in shown

    changed = apply(empty, path, text.replace("pause_ahead: 2h", "pause_ahead: 90m").replace("JPY", "EUR"))
    assert changed.stdout.startswith("brands: 0 created, 1 updated;"), changed.stdout
    assert stored_brands(empty)["Tokyo Foods"] == ["EUR", "50,100", 90]
    bad = apply(empty, path, text.replace("JPY", "YEN"))
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == "brands[1].currency: 'YEN' is not a current ISO 4217 currency code"
    assert stored_brands(empty)["Tokyo Foods"] == ["EUR", "50,100", 90]
