"""The `budget-pipeline` command through a real subprocess: output, exit status, no tracebacks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from budget_pipeline.store.schema import QuarantinedRow, RawSpendRecord
from tests.conftest import ACME, write_csv

CLI = str(Path(sys.executable).with_name("budget-pipeline"))


def cli(db_url: str, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUDGET_DATABASE_URL": db_url}
    if home:
        env["DAGSTER_HOME"] = str(home)
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def ready(db_url: str, tmp_path: Path) -> str:
    assert cli(db_url, "init-db").returncode == 0
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(ACME)
    assert cli(db_url, "catalog", "apply", str(catalog)).returncode == 0
    return db_url


def counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        raw = conn.execute(select(func.count()).select_from(RawSpendRecord)).scalar_one()
        bad = conn.execute(select(func.count()).select_from(QuarantinedRow)).scalar_one()
    engine.dispose()
    return raw, bad


def test_init_db_twice(db_url: str) -> None:
    first, second = cli(db_url, "init-db"), cli(db_url, "init-db")
    assert first.returncode == second.returncode == 0
    assert "upgraded from empty" in first.stdout
    assert "unchanged" in second.stdout


def test_bad_catalog_prints_every_error_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    cli(db_url, "init-db")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        ACME.replace('"50.00"', '"-1"').replace("Asia/Tokyo", "Asia/Atlantis").replace("tokyo-display", "Tokyo!")
    )
    done = cli(db_url, "catalog", "apply", str(bad))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "brands[1].timezone: unknown IANA time zone 'Asia/Atlantis'",
        "brands[1].daily_budget: '-1' is not a decimal amount like \"12.50\"",
        "brands[1].campaigns[0].id: must match [a-z0-9][a-z0-9_-]{0,63}",
        f"error: {bad}: 3 problem(s); nothing was written",
    ]
    status = json.loads(cli(db_url, "status", "--json", "--as-of", "2026-11-25T10:00:00Z").stdout)
    assert status["brands"] == []


def test_ingest_counts_and_keeps_good_rows(ready: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "spend.csv",
        [
            "r1,acme-search,60.00,2026-11-25T15:00:00Z",
            "r2,acme-social,22.08,2026-11-25T16:00:00Z",
            "r3,ghost,1,2026-11-25T15:00:00Z",
            "r4,acme-search,1.1234567,2026-11-25T15:00:00Z",
            "r5,acme-search,1,2026-11-25T15:00:00",
            "r6,acme-search,,2026-11-25T15:00:00Z",
            "r1,acme-search,61.00,2026-11-25T15:00:00Z",
        ],
    )
    done = cli(ready, "ingest", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "accepted 2, duplicate 0, rejected 5"
    assert counts(ready) == (2, 5)
    again = cli(ready, "ingest", str(path))
    assert again.stdout.splitlines()[-1] == "accepted 0, duplicate 2, rejected 5"
    assert counts(ready) == (2, 5)

    status = json.loads(cli(ready, "status", "--json", "--as-of", "2026-11-25T18:00:00Z").stdout)
    acme = status["brands"][0]
    assert status["as_of"] == "2026-11-25T18:00:00+00:00"
    assert {k: acme[k] for k in ("name", "local_date", "daily_budget", "daily_spend", "monthly_spend")} == {
        "name": "Acme",
        "local_date": "2026-11-25",
        "daily_budget": "100.00",
        "daily_spend": "82.08",
        "monthly_spend": "82.08",
    }
    assert acme["campaigns"][0] == {
        "id": "acme-search",
        "name": "Acme Search",
        "enabled": True,
        "active": True,
        "pause_reasons": [],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "not a CSV file (binary content)"),
        (b"record_id,campaign_id,amount\nr1,acme-search,1\n", "missing required column occurred_at"),
    ],
)
def test_unusable_file_is_one_line_and_exit_2(ready: str, tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    good = write_csv(tmp_path / "good.csv", ["g1,acme-search,1,2026-11-25T15:00:00Z"])
    done = cli(ready, "ingest", str(bad), str(good))
    assert done.returncode == 2
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert error.startswith(f"error: bad.csv: {message}")
    assert counts(ready) == (1, 0), "the good file is still ingested"


def test_bad_as_of(ready: str) -> None:
    done = cli(ready, "status", "--as-of", "2026-11-25 10:00")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --as-of: '2026-11-25 10:00' has no UTC offset; add Z or +HH:MM"


def test_unreachable_database_is_one_line() -> None:
    done = cli("postgresql+psycopg2://nobody@127.0.0.1:1/none", "status")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot use the budget database:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_schema_not_initialised(tmp_path: Path) -> None:
    done = cli(f"sqlite:///{tmp_path / 'new.db'}", "status")
    assert done.returncode == 1
    assert "run `budget-pipeline init-db` first" in done.stderr


def test_tick_runs_a_control_cycle_recorded_in_dagster_home(ready: str, tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    landing = home / "landing"
    landing.mkdir(parents=True)
    write_csv(
        landing / "spend.csv", ["r1,acme-search,60,2026-11-25T15:00:00Z", "r2,acme-social,40,2026-11-25T16:00:00Z"]
    )
    done = cli(ready, "tick", "--as-of", "2026-11-25T18:00:00Z", home=home)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ingest_spend_job",
        "daily_reset_job",
        "monthly_reset_job",
        "dayparting_job",
    ]
    assert lines[0].endswith("2 changed")
    assert (landing / "processed" / "spend.csv").exists()

    runs = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "run", "list"],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    for job in ("ingest_spend_job", "daily_reset_job", "monthly_reset_job", "dayparting_job"):
        assert f"Job: {job}" in runs.stdout

    status = json.loads(cli(ready, "status", "--json", "--as-of", "2026-11-25T18:00:00Z").stdout)
    campaigns = {c["id"]: c for c in status["brands"][0]["campaigns"]}
    assert campaigns["acme-search"]["active"] is False
    assert campaigns["acme-search"]["pause_reasons"] == ["daily_budget"]

    history = json.loads(cli(ready, "history", "--json", "--campaign", "acme-search").stdout)
    assert history == [
        {
            "campaign_id": "acme-search",
            "at": "2026-11-25T18:00:00+00:00",
            "active_before": True,
            "active_after": False,
            "reasons_before": [],
            "reasons_after": ["daily_budget"],
            "changed_reason": "daily_budget",
            "run_id": history[0]["run_id"],
        }
    ]
    assert len(history[0]["run_id"]) == 36
    again = cli(ready, "tick", "--as-of", "2026-11-25T18:01:00Z", home=home)
    assert again.stdout.splitlines()[0].endswith("0 changed")


def test_tick_without_dagster_home_is_one_line(ready: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["BUDGET_DATABASE_URL"] = ready
    done = subprocess.run([CLI, "tick"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no Dagster instance")
