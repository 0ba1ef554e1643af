"""The `budget-pipeline` command through a real subprocess: output, exit status, no tracebacks."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.store.db import make_engine
from budget_pipeline.store.schema import QuarantinedRow, RawSpendRecord
from tests.cli.conftest import CLI, cli
from tests.conftest import ACME, PG_URL, write_csv


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


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the reader's, before any write
def test_a_malformed_row_that_is_not_utf8_is_one_line_naming_it(ready: str, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(
        b"record_id,campaign_id,amount,occurred_at\nr1,acme-search,1,2026-11-25T15:00:00Z\nbad\xff,x\n"
        b"r2,acme-search,1,2026-11-25T15:00:00Z\n"
    )
    done = cli(ready, "ingest", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: m.csv: not a readable UTF-8 CSV file (line 3 is not UTF-8)"]


def test_ingest_prints_each_files_counts_only_beside_others_and_none_for_a_file_it_could_not_read(
    ready: str, tmp_path: Path
) -> None:
    one = write_csv(tmp_path / "one.csv", ["r1,acme-search,1,2026-11-25T15:00:00Z"])
    two = write_csv(tmp_path / "two.csv", ["r2,acme-search,1,2026-11-25T15:00:00Z", "r3,ghost,1,2026-11-25T15:00:00Z"])
    assert cli(ready, "ingest", str(one)).stdout.splitlines() == ["accepted 1, duplicate 0, rejected 0"]
    both = cli(ready, "ingest", str(one), str(two))
    assert both.stdout.splitlines() == [
        "one.csv: accepted 0, duplicate 1, rejected 0",
        "two.csv: accepted 1, duplicate 0, rejected 1",
        "accepted 1, duplicate 1, rejected 1",
    ]
    missing = cli(ready, "ingest", str(tmp_path / "nothing.csv"))
    assert (missing.returncode, missing.stdout) == (2, "")


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
    # 13:00 in New York: 13/24 of the day, (24 days + 13 h) / 30 days of the month gone.
    assert (acme["timezone"], acme["currency"], acme["monthly_budget"]) == ("America/New_York", "USD", "2000.00")
    assert acme["daily_pace"] == "1.52"  # 82.08 / (100 x 13/24)
    assert acme["monthly_pace"] == "0.05"  # 82.08 / (2000 x 589/720)
    # New York's first instant of November (DST still on: 04:00Z): no share of the day or month gone.
    first = json.loads(cli(ready, "status", "--json", "--as-of", "2026-11-01T04:00:00Z").stdout)["brands"][0]
    assert (first["local_date"], first["daily_pace"], first["monthly_pace"]) == ("2026-11-01", None, None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "not a CSV file (binary content)"),
        (b"record_id,campaign_id,amount\nr1,acme-search,1\n", "missing required column occurred_at"),
        # A header line past the 64 KiB the check reads: Arrow then typed the columns it named
        # otherwise, and a traceback followed (in the landing folder, at every tick).
        (
            b"record_id,campaign_id,amount,occurred_at,note"
            + b"x" * 70_000
            + b"\nr1,acme-search,1,2026-11-25T15:00:00Z,5\n",
            "not a spend file (its first line is longer than 64 KiB)",
        ),
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


def test_a_file_whose_name_is_not_utf8_is_one_line_and_exit_2(ready: str, tmp_path: Path) -> None:
    path = tmp_path / b"bad\xffname.csv".decode("utf-8", "surrogateescape")
    write_csv(path, ["r1,acme-search,1,2026-11-25T15:00:00Z"])
    done = cli(ready, "ingest", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: bad\\udcffname.csv: the file name is not UTF-8 (the database keeps names as text): rename the file"
    ]


@pytest.mark.parametrize("option", [("quarantine", "--file"), ("history", "--campaign")])
def test_a_name_to_look_up_that_is_not_utf8_is_one_line_and_exit_2(ready: str, option: tuple[str, str]) -> None:
    command, name = option
    done = cli(ready, command, name, b"x\xff".decode("utf-8", "surrogateescape"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {name}: x\\xff is not UTF-8 text"]


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
        "  spend.csv",
        "daily_reset_job",
        "monthly_reset_job",
        "dayparting_job",
        "deliver_notifications_job",
    ]
    assert lines[0].endswith("2 changed")
    assert lines[1] == "  spend.csv: accepted 2, duplicate 0, rejected 0"
    ingest_run = re.search(r"\(run ([0-9a-f-]{36})\)", lines[0]).group(1)  # type: ignore[union-attr]
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
            "predicted": False,
            "run_id": ingest_run,
        }
    ]
    assert f"Run: {ingest_run}" in runs.stdout
    again = cli(ready, "tick", "--as-of", "2026-11-25T18:01:00Z", home=home)
    assert again.stdout.splitlines()[0].endswith("0 changed")


def test_a_file_tick_cannot_read_goes_to_failed_and_enforcement_goes_on(ready: str, tmp_path: Path) -> None:
    """A hostile file in the landing folder is refused on its own: the files beside it are
    ingested and the cycle still enforces budgets."""
    home = tmp_path / "dagster_home"
    landing = home / "landing"
    landing.mkdir(parents=True)
    header = "record_id,campaign_id,amount,occurred_at"
    (landing / "long.csv").write_text(header + ",note" + "x" * 70_000 + "\nr1,acme-search,1,2026-11-25T15:00:00Z,5\n")
    write_csv(
        landing / "spend.csv", ["r2,acme-search,60,2026-11-25T15:00:00Z", "r3,acme-social,40,2026-11-25T16:00:00Z"]
    )
    done = cli(ready, "tick", "--as-of", "2026-11-25T18:00:00Z", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith("2 changed")
    assert "  long.csv: failed: long.csv: not a spend file (its first line is longer than 64 KiB)" in done.stdout
    assert sorted(path.name for path in (landing / "failed").iterdir()) == ["long.csv", "long.csv.error"]
    assert (landing / "processed" / "spend.csv").exists()
    status = json.loads(cli(ready, "status", "--json", "--as-of", "2026-11-25T18:00:00Z").stdout)
    assert {c["id"]: c["active"] for c in status["brands"][0]["campaigns"]} == {
        "acme-search": False,
        "acme-social": False,
    }


def test_a_landing_folder_whose_processed_is_a_link_still_enforces(ready: str, tmp_path: Path) -> None:
    """processed/ replaced by a link: no file is moved or ingested (it could be moved outside),
    the run says why in one line, and the cycle still enforces budgets on the spend stored."""
    home = tmp_path / "dagster_home"
    landing = home / "landing"
    landing.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (landing / "processed").symlink_to(elsewhere)
    write_csv(landing / "spend.csv", ["r1,acme-search,60,2026-11-25T15:00:00Z"])
    engine = make_engine(ready)
    ingest_file(engine, write_csv(tmp_path / "stored.csv", ["r0,acme-social,100,2026-11-25T15:00:00Z"]))
    engine.dispose()
    done = cli(ready, "tick", "--as-of", "2026-11-25T18:00:00Z", home=home)
    assert done.returncode == 0, done.stderr
    first, said = done.stdout.splitlines()[:2]
    assert first.startswith("ingest_spend_job: success") and first.endswith("2 changed")
    assert said == (
        f"  the landing folder {landing} (the default landing/ in DAGSTER_HOME) has a processed/ that is not a "
        "plain folder: no spend file is read"
    )
    assert (landing / "spend.csv").exists() and list(elsewhere.iterdir()) == []


def test_tick_without_dagster_home_is_one_line(ready: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["BUDGET_DATABASE_URL"] = ready
    done = subprocess.run([CLI, "tick"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no Dagster instance")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the budget database plays no part
@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("run_coordinator: [unclosed\n", "ParserError: while parsing a flow sequence"),
        (
            "storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://postgres@127.0.0.1:1/nothing\n",
            "DagsterPostgresException: too many retries for DB connection (last: Retrying failed database "
            "connection: (psycopg2.OperationalError) connection to server at",
        ),
        (
            "telemetry:\n  enabled: false\nbogus_key: s3cret\n",
            "DagsterInvalidConfigError: Errors whilst loading dagster instance config at dagster.yaml. "
            'Error 1: Received unexpected config entry "bogus_key" at the root',
        ),
    ],
    ids=["a dagster.yaml that is not YAML", "instance storage it cannot reach", "a key Dagster does not know"],
)
def test_tick_with_a_dagster_instance_it_cannot_load_is_one_line(
    ready: str, tmp_path: Path, config: str, said: str
) -> None:
    (tmp_path / "dagster.yaml").write_text(config)
    done = cli(ready, "tick", home=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: no Dagster instance in {tmp_path}: {said}") and "s3cret" not in line


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_tick_still_shows_what_dagster_warns_while_it_loads_an_instance_it_can_use(ready: str, tmp_path: Path) -> None:
    done = cli(ready, "tick", "--as-of", "2026-11-25T18:00:00Z", home=tmp_path)  # no dagster.yaml in it
    assert done.returncode == 0, done.stderr
    assert "No dagster instance configuration file (dagster.yaml) found" in done.stderr


def test_tick_on_a_read_only_database_prints_one_line_per_failed_run(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("a read-only SQLite file; PostgreSQL going away mid-run has its own test")
    ready_db = db_url
    assert cli(ready_db, "init-db").returncode == 0
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(ACME)
    assert cli(ready_db, "catalog", "apply", str(catalog)).returncode == 0
    read_only = f"sqlite:///file:{db_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    (tmp_path / "home").mkdir()
    done = cli(read_only, "tick", "--as-of", "2026-11-25T18:00:00Z", home=tmp_path / "home")
    assert done.returncode == 1
    failures = [line for line in done.stdout.splitlines() if "FAILURE" in line]
    # ingest, daily and monthly reset write; dayparting had nothing to write, nor delivery to send
    assert len(failures) == 3
    assert all(
        line.endswith("): cannot use the budget database: attempt to write a readonly database") for line in failures
    )
    assert len(done.stdout.splitlines()) == 5
    assert done.stderr.splitlines()[-1] == "error: a control run failed; see it in the Dagster UI or `dagster run list`"


@contextmanager
def _database_of_its_own() -> Iterator[tuple[str, Engine, str]]:
    """A fresh PostgreSQL database beside the test one: (its URL, an admin engine, its name)."""
    name = f"restart_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}", admin, name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _end_its_sessions_until_done(admin: Engine, name: str, running: subprocess.Popen[str]) -> tuple[str, str]:
    """End every session of database `name` every 50 ms (as a restart does) until `running` ends;
    its stdout and stderr."""
    while running.poll() is None:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"), {"db": name}
            )
        time.sleep(0.05)
    return running.communicate()


def test_tick_while_postgresql_drops_its_connections_is_one_line_per_run(tmp_path: Path) -> None:
    """The budget database's server ends every session while the cycle runs (as a restart does)."""
    with _database_of_its_own() as (url, admin, name):
        assert cli(url, "init-db").returncode == 0
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(ACME)
        assert cli(url, "catalog", "apply", str(catalog)).returncode == 0
        home = tmp_path / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "BUDGET_DATABASE_URL": url, "DAGSTER_HOME": str(home)}
        tick = subprocess.Popen([CLI, "tick"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = _end_its_sessions_until_done(admin, name, tick)
    assert "Traceback" not in out + err and "Stack Trace" not in out + err, out + err
    assert all(len(line) < 400 for line in (out + err).splitlines())
    assert [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")] in (
        [],  # the readiness check itself met a dropped connection: one error line instead
        ["ingest_spend_job", "daily_reset_job", "monthly_reset_job", "dayparting_job", "deliver_notifications_job"],
    )
    assert tick.returncode in (0, 1)
    assert len(err.strip().splitlines()) <= 2, err


@pytest.mark.parametrize("command", ["ingest", "catalog apply"])
def test_a_command_while_postgresql_drops_its_connections_is_one_line_and_all_or_nothing(
    tmp_path: Path, command: str
) -> None:
    """The server ends every session of the budget database while a large ingest (most of it in
    COPY, where psycopg2 printed the error on stderr before raising it) or apply runs."""
    brands = 3000
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "brands:\n"
        + "".join(
            f'  - {{name: B{b}, timezone: UTC, daily_budget: "1.00", monthly_budget: "9.00", '
            f"campaigns: [{{id: c{b}, name: C{b}}}]}}\n"
            for b in range(brands)
        )
    )
    spend = write_csv(tmp_path / "s.csv", [f"r{i},c{i % brands},1,2026-11-25T15:00:00Z" for i in range(300_000)])
    with _database_of_its_own() as (url, admin, name):
        assert cli(url, "init-db").returncode == 0
        if command == "ingest":
            assert cli(url, "catalog", "apply", str(catalog)).returncode == 0
        args = ["ingest", str(spend)] if command == "ingest" else ["catalog", "apply", str(catalog)]
        env = {**os.environ, "BUDGET_DATABASE_URL": url}
        running = subprocess.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Well into the work: the ingest's COPY of its records, any statement of the apply's.
        busy = "query LIKE 'COPY raw_spend_records%'" if command == "ingest" else "query NOT LIKE '%pg_stat_activity%'"
        while running.poll() is None:
            with admin.connect() as conn:
                found = conn.execute(
                    text(f"SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND state = 'active' AND {busy}"),
                    {"db": name},
                ).scalar_one()
            if found:
                break
            time.sleep(0.01)
        out, err = _end_its_sessions_until_done(admin, name, running)
        stored = create_engine(url)
        with stored.connect() as conn:
            records = conn.execute(text("SELECT count(*) FROM raw_spend_records")).scalar_one()
            campaigns = conn.execute(text("SELECT count(*) FROM campaigns")).scalar_one()
        stored.dispose()
    assert "Traceback" not in out + err and "Stack Trace" not in out + err, err
    if running.returncode == 0:  # it ended before the first session was ended
        assert err == ""
    else:
        assert running.returncode == 1 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert records in (0, 300_000) and campaigns in (0, brands)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("replaced", [False, True], ids=["deleted", "replaced by a copy of a database"])
def test_ingest_while_its_sqlite_file_goes_says_so_and_leaves_the_new_file_its_own(
    ready: str, tmp_path: Path, replaced: bool
) -> None:
    """The SQLite file is deleted (or a database moved in at its path) while `ingest` writes a
    large file's records into it: the process holds the old file open and would write on to a
    successful end, its records gone with the file. It says instead that they went with it, with
    exit status 1, and moves the old file's write-ahead log aside: SQLite finds that log by the
    path, and left there it is read as the new file's (the new database then showed the old
    file's spend, or was malformed)."""
    database = Path(ready.removeprefix("sqlite:///"))
    spare = tmp_path / "spare.db"
    shutil.copyfile(database, spare)  # the catalog, no spend: what a restored backup would be
    spend = write_csv(tmp_path / "s.csv", [f"r{i},acme-search,1,2026-11-25T15:00:00Z" for i in range(300_000)])
    env = {**os.environ, "BUDGET_DATABASE_URL": ready}
    running = subprocess.Popen(
        [CLI, "ingest", str(spend)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wal = database.with_name(database.name + "-wal")
    # The file's 300k records fit in SQLite's page cache: they reach the write-ahead log only as
    # the transaction commits (~30 MB in ~50 ms here), and the check follows the commit. So the
    # first bytes in the log are the moment: the file goes within a millisecond or two of them.
    while running.poll() is None and not (wal.exists() and wal.stat().st_size > 0):
        time.sleep(0.001)
    assert running.poll() is None, "the ingest ended before the file could be deleted mid-write"
    if replaced:
        spare.rename(database)
    else:
        database.unlink()
    out, err = running.communicate(timeout=120)
    assert running.returncode == 1 and out == "", err
    if replaced:  # the database now at the path is the copy, as it was: a catalog, no spend
        shown = cli(ready, "status", "--json", "--as-of", "2026-11-25T18:00:00Z")
        assert shown.returncode == 0, shown.stderr
        assert {brand["name"]: brand["daily_spend"] for brand in json.loads(shown.stdout)["brands"]} == {
            "Acme": "0.00",
            "Tokyo Foods": "0.00",
        }
    [aside] = database.parent.glob(f"{database.name}-wal.replaced-*")
    assert err == (
        f"error: the SQLite database {database} was deleted or replaced during this write; the write went with it"
        f" (the old file's write-ahead log is now {aside})\n"
    )
    assert not wal.exists() and not database.with_name(database.name + "-shm").exists()


def test_two_ticks_at_once_both_succeed_and_ingest_each_file_once(ready: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    landing = home / "landing"
    landing.mkdir(parents=True)
    for n in range(6):
        write_csv(landing / f"f{n}.csv", [f"f{n}-{i},acme-search,0.01,2026-11-25T15:00:00Z" for i in range(500)])
    env = {**os.environ, "BUDGET_DATABASE_URL": ready, "DAGSTER_HOME": str(home), "BUDGET_LANDING_SETTLE_SECONDS": "0"}
    ticks = [
        subprocess.Popen(
            [CLI, "tick", "--as-of", "2026-11-25T18:00:00Z"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [tick.communicate(timeout=180) for tick in ticks]
    for tick, (out, err) in zip(ticks, outputs, strict=True):
        assert tick.returncode == 0, (out + err).decode()
        assert b"Traceback" not in err and b"FileNotFoundError" not in out + err
    assert counts(ready) == (6 * 500, 0)
    assert sorted(p.name for p in (landing / "processed").iterdir()) == [f"f{n}.csv" for n in range(6)]


def test_a_sqlite_database_below_a_regular_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    done = cli(f"sqlite:///{tmp_path / 'file' / 'budget.db'}", "init-db")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot create the folder of the SQLite database {tmp_path / 'file' / 'budget.db'}: "
        f"{tmp_path / 'file'} is a file"
    ]


def test_a_command_on_a_sqlite_file_that_does_not_exist_makes_nothing(tmp_path: Path) -> None:
    """A mistyped path: one line saying what to do, and no folder or empty database left behind."""
    url = f"sqlite:///{tmp_path / 'typo' / 'dir' / 'budget.db'}"
    for command in (["status"], ["alerts"], ["notifications"]):
        done = cli(url, *command)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            f"error: no budget database at {tmp_path / 'typo' / 'dir' / 'budget.db'}: run `budget-pipeline init-db` "
            "first (a mistyped path?)"
        ]
    assert not (tmp_path / "typo").exists()


# A setting is read and checked before any database is opened: one backend is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BUDGET_START_DATE", "2025-13-01", "error: BUDGET_START_DATE: '2025-13-01' is not a date like 2025-01-01"),
        (
            "BUDGET_START_DATE",
            "0001-01-01",
            "error: BUDGET_START_DATE: 0001-01-01 is not between 1970-01-01 and 2999-12-31",
        ),
        (
            "BUDGET_LANDING_SETTLE_SECONDS",
            "soon",
            "error: BUDGET_LANDING_SETTLE_SECONDS: 'soon' is not a number of seconds from 0 to 3600",
        ),
        (
            "BUDGET_DATABASE_URL",
            "postgresql://postgres@127.0.0.1/budget",
            "error: BUDGET_DATABASE_URL: write postgresql+psycopg2://… (the driver this package ships)",
        ),
        *(
            (
                "BUDGET_DATABASE_URL",
                url,
                "error: BUDGET_DATABASE_URL: an in-memory SQLite database keeps nothing; write sqlite:///PATH",
            )
            for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true")
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    ready: str, tmp_path: Path, variable: str, value: str, message: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {variable: value}
    db = value if variable == "BUDGET_DATABASE_URL" else ready
    tick = cli(db, "tick", home=home, **env)
    assert tick.returncode == 2 and tick.stderr.strip().splitlines() == [message]
    if variable == "BUDGET_DATABASE_URL":  # read by every command: the same line and status
        status = cli(db, "status", **env)
        assert status.returncode == 2 and status.stderr.strip().splitlines() == [message]
    if variable == "BUDGET_START_DATE":  # read when a file's dates are checked: not a traceback there either
        spend = write_csv(tmp_path / "s.csv", ["r1,acme-search,1,2026-11-25T15:00:00Z"])
        ingest = cli(ready, "ingest", str(spend), **env)
        assert ingest.returncode == 2 and ingest.stderr.strip().splitlines() == [message] and ingest.stdout == ""
    validate = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate"],
        env={**os.environ, "DAGSTER_HOME": str(home), "BUDGET_DATABASE_URL": ready, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validate.returncode != 0
    assert message in validate.stderr.splitlines()
    assert "Stack Trace" not in validate.stderr and "Traceback" not in validate.stderr


# --as-of is checked before any database is opened: one backend is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "instant",
    ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+05:45", "9999-12-31T23:00:00-05:00", "0001-01-02T00:00:00Z"],
)
def test_an_as_of_at_the_calendar_edge_is_one_line(ready: str, tmp_path: Path, instant: str) -> None:
    for command in ("status", "tick"):
        done = cli(ready, command, "--as-of", instant, home=tmp_path / "home")
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"error: --as-of: {instant!r} is outside the instants this product can evaluate (0001-02-01 to 9999-11-29)"
        ]


def test_status_and_history_as_text(ready: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "landing").mkdir(parents=True)
    write_csv(home / "landing" / "s.csv", ["r1,acme-search,100,2026-11-25T15:00:00Z"])
    assert cli(ready, "tick", "--as-of", "2026-11-25T18:00:00Z", home=home).returncode == 0
    status = cli(ready, "status", "--as-of", "2026-11-25T18:00:00Z")
    assert status.returncode == 0
    assert status.stdout.splitlines() == [
        "as of 2026-11-25T18:00:00+00:00",
        "Acme (America/New_York, 2026-11-25): day 100.00 USD / 100.00 USD, month 100.00 USD / 2,000.00 USD",
        # 13:00 in New York: 100 / (100 × 13/24) and 100 / (2,000 × (24 d 13 h) / 30 d); the record
        # is older than the hour before as_of (no recent rate), so today stays at 100, and the
        # five days left in November spend what its 24 completed days spent on their weekdays: 0.
        "  pace: day 1.85, month 0.06; projected: day 100.00 USD, month 100.00 USD",
        "  acme-search              paused: daily_budget",
        "  acme-social              paused: daily_budget",
        "Tokyo Foods (Asia/Tokyo, 2026-11-26): day 0.00 USD / 50.00 USD, month 0.00 USD / 1,000.00 USD",
        "  pace: day 0.00, month 0.00; projected: day 0.00 USD, month 0.00 USD",
        "  tokyo-display            active",
    ]
    history = cli(ready, "history", "--campaign", "acme-social")
    [line] = history.stdout.splitlines()
    assert re.fullmatch(
        r"2026-11-25T18:00:00\+00:00  acme-social +active -> daily_budget  \(daily_budget; run [0-9a-f]{8}\)", line
    ), line


def test_history_of_a_campaign_not_in_the_catalog_is_one_line_and_exit_2(ready: str) -> None:
    """As `--brand` of an unknown brand is; a campaign of the catalog without changes yet has an
    empty history."""
    unknown = cli(ready, "history", "--campaign", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines() == ["error: --campaign: no campaign with id 'nope' in the catalog"]
    quiet = cli(ready, "history", "--campaign", "tokyo-display", "--json")
    assert quiet.returncode == 0 and json.loads(quiet.stdout) == []


def test_status_reads_spend_stored_before_its_refresh(ready: str, tmp_path: Path) -> None:
    assert cli(ready, "ingest", str(write_csv(tmp_path / "s.csv", ["r1,acme-search,12.5,2026-11-25T15:00:00Z"])))
    done = cli(ready, "status", "--as-of", "2026-11-25T18:00:00Z")
    assert "day 12.50 USD / 100.00 USD" in done.stdout
    assert done.stderr.startswith("note: spend recorded for 1 day(s) (2026-11-25) is counted here from the raw records")
    # A month later the day is in no period shown: nothing to say of it.
    later = cli(ready, "status", "--as-of", "2026-12-28T18:00:00Z")
    assert "month 0.00 USD" in later.stdout and later.stderr == ""


def test_each_command_loads_only_what_it_uses(tmp_path: Path) -> None:
    """Every listed command resolves, and reading the store loads neither the ingestion's pandas,
    Alembic nor Dagster: a person (and each test here) waits for every start."""
    from budget_pipeline.cli import COMMANDS

    listed = subprocess.run([CLI, "--help"], capture_output=True, text=True, check=True).stdout
    typo = subprocess.run([CLI, "stauts"], capture_output=True, text=True)
    assert typo.returncode == 2 and "No such command 'stauts'. Did you mean 'status'?" in typo.stderr
    assert all(re.search(rf"^  {re.escape(name)} ", listed, re.M) for name in COMMANDS if name != "demo-simulator")
    probe = (
        "import sys\n"
        "from budget_pipeline.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({'pandas', 'alembic', 'dagster'} & {m.split('.')[0] for m in sys.modules}))\n"
    )
    env = {**os.environ, "BUDGET_DATABASE_URL": f"sqlite:///{tmp_path / 'budget.db'}"}
    assert subprocess.run([CLI, "init-db"], env=env, capture_output=True, check=True).returncode == 0
    for command in ("status", "history", "alerts", "notifications", "quarantine"):
        done = subprocess.run([sys.executable, "-c", probe, command], env=env, capture_output=True, text=True)
        assert done.stdout.strip().splitlines()[-1] == "[]", (command, done.stdout, done.stderr)
