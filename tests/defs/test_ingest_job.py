"""ingest_spend_job and spend_landing_sensor against a real landing folder and database."""

from pathlib import Path

import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context
from sqlalchemy import Engine, text

from budget_pipeline.defs.jobs import ingest_spend_job
from budget_pipeline.defs.resources import BudgetDatabase, Clock, LandingFolder
from budget_pipeline.defs.sensors import spend_landing_sensor
from budget_pipeline.ingest.pipeline import ingest_file
from tests.conftest import write_csv


def run_ingest(db_url: str, landing: Path, as_of: str = "2026-11-25T18:00:00Z", instance=None):  # type: ignore[no-untyped-def]
    return ingest_spend_job.execute_in_process(
        resources={
            "database": BudgetDatabase(url=db_url),
            "landing": LandingFolder(path=str(landing), settle_seconds=0),
            "clock": Clock(as_of=as_of),
        },
        instance=instance or DagsterInstance.ephemeral(),
    )


def test_ingest_job_ingests_refreshes_and_reports(acme: Engine, db_url: str, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    write_csv(
        landing / "a.csv",
        [
            "r1,acme-search,120,2026-11-25T15:00:00Z",
            "late,acme-social,3,2026-11-20T15:00:00Z",
            "x,ghost,1,2026-11-25T15:00:00Z",
        ],
    )
    (landing / "broken.csv").write_text("nothing,useful\n1,2\n")
    result = run_ingest(db_url, landing)
    assert result.success
    [raw] = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["raw_spend_records"]]
    metadata = raw.materialization.metadata
    assert (metadata["accepted"].value, metadata["duplicate"].value, metadata["rejected"].value) == (2, 0, 1)
    partitions = sorted(
        (m.asset_key.path[0], m.partition) for m in result.get_asset_materialization_events() if m.partition
    )
    # The late day, today in New York and today in Tokyo, and the month they fall in.
    assert partitions == [
        ("daily_spend", "2026-11-20"),
        ("daily_spend", "2026-11-25"),
        ("daily_spend", "2026-11-26"),
        ("monthly_spend", "2026-11-01"),
    ]
    over = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "daily_spend_within_budget" and not e.passed
    ]
    assert [e.partition for e in over] == ["2026-11-25"]
    assert (landing / "processed" / "a.csv").exists()
    assert (landing / "failed" / "broken.csv.error").exists()
    with acme.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dirty_spend_days")).scalar_one() == 0


def test_landing_sensor_requests_each_new_batch_once(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    resources = {"landing": LandingFolder(path=str(landing), settle_seconds=0)}
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources=resources)
        assert isinstance(spend_landing_sensor(context).skip_reason, SkipReason)

        write_csv(landing / "a.csv", [])
        write_csv(landing / "b.csv", [])
        first = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources))
        [request] = first.run_requests
        assert isinstance(request, RunRequest)
        assert request.run_config["ops"]["ingest_landing_files"]["config"]["files"] == ["a.csv", "b.csv"]

        # The same files on the next tick are not requested again; a new one is, alone.
        write_csv(landing / "c.csv", [])
        second = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
        [again] = second.run_requests
        assert again.run_config["ops"]["ingest_landing_files"]["config"]["files"] == ["c.csv"]
        assert again.run_key != request.run_key
        third = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources, cursor=second.cursor))
        assert not third.run_requests


def test_a_file_name_that_is_not_utf8_neither_stops_the_sensor_nor_the_run(
    acme: Engine, db_url: str, tmp_path: Path
) -> None:
    """Its name cannot travel in run config (nor be hashed as UTF-8): the sensor failed at every
    tick, and no spend file was asked for. The run it asks for takes every file; that one goes
    to failed/, the one beside it is ingested and enforced."""
    landing = tmp_path / "landing"
    landing.mkdir()
    bad = b"bad\xffname.csv".decode("utf-8", "surrogateescape")
    write_csv(landing / bad, ["r1,acme-search,1,2026-11-25T15:00:00Z"])
    write_csv(landing / "good.csv", ["r2,acme-search,150,2026-11-25T15:00:00Z"])
    resources = {"landing": LandingFolder(path=str(landing), settle_seconds=0)}
    with DagsterInstance.ephemeral() as instance:
        asked = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources))
        [request] = asked.run_requests
        assert request.run_config["ops"]["ingest_landing_files"]["config"]["files"] == []
        result = ingest_spend_job.execute_in_process(
            run_config=request.run_config,
            resources={
                **resources,
                "database": BudgetDatabase(url=db_url),
                "clock": Clock(as_of="2026-11-25T18:00:00Z"),
            },
            instance=instance,
        )
    assert result.success and result.output_for_node("enforce_budgets") == 2
    assert (landing / "failed" / bad).exists() and (landing / "processed" / "good.csv").exists()


def test_landing_sensor_asks_again_for_a_file_whose_run_failed(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    write_csv(landing / "a.csv", ["r1,acme-search,1,2026-11-25T15:00:00Z"])
    resources = {"landing": LandingFolder(path=str(landing), settle_seconds=0)}
    with DagsterInstance.ephemeral() as instance:
        first = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources))
        [request] = first.run_requests
        # Its run fails for a reason that is not the file's: the database is down.
        failed = ingest_spend_job.execute_in_process(
            run_config=request.run_config,
            resources={
                "database": BudgetDatabase(url="postgresql+psycopg2://postgres@127.0.0.1:9/down"),
                "clock": Clock(as_of="2026-11-25T18:00:00Z"),
                **resources,
            },
            instance=instance,
            tags={"dagster/run_key": request.run_key},
            raise_on_error=False,
        )
        assert not failed.success and (landing / "a.csv").exists()
        second = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
        [again] = second.run_requests
        assert again.run_config == request.run_config and again.run_key != request.run_key
        # Until its run has ended (here: it has not even been launched yet), it is not asked for a third time.
        third = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources, cursor=second.cursor))
        assert not third.run_requests and "waiting for their ingest run" in str(third.skip_reason)


def test_landing_sensor_waits_for_files_still_being_written(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    write_csv(landing / "a.csv", ["r1,acme-search,1,2026-11-25T15:00:00Z"])
    resources = {"landing": LandingFolder(path=str(landing), settle_seconds=60)}
    with DagsterInstance.ephemeral() as instance:
        result = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources))
    assert not result.run_requests and "still being written" in str(result.skip_reason)


def test_a_landing_folder_that_is_a_file_is_said_in_one_line_and_enforcement_goes_on(
    acme: Engine, db_url: str, tmp_path: Path
) -> None:
    ingest_file(acme, write_csv(tmp_path / "s.csv", ["r1,acme-search,150,2026-11-25T15:00:00Z"]))
    not_a_folder = write_csv(tmp_path / "landing", ["r2,acme-search,1,2026-11-25T15:00:00Z"])
    said = f"the landing folder {not_a_folder} (BUDGET_LANDING_DIR) is not a folder: no spend file is read"
    result = run_ingest(db_url, not_a_folder)
    assert result.success
    assert result.output_for_node("ingest_landing_files") == [said]
    assert result.output_for_node("enforce_budgets") == 2  # Acme's two campaigns paused all the same
    with DagsterInstance.ephemeral() as instance:
        resources = {"landing": LandingFolder(path=str(not_a_folder), settle_seconds=0)}
        skipped = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources))
    assert not skipped.run_requests and skipped.skip_reason is not None and skipped.skip_reason.skip_message == said


def test_files_asked_for_that_are_not_in_the_landing_folder_are_said(acme: Engine, db_url: str, tmp_path: Path) -> None:
    """Run config names files of the landing folder: a name that is none (a path, a typing
    error, a file another run took) is said in one line each, and the named file that is there is
    ingested."""
    landing = tmp_path / "landing"
    landing.mkdir()
    write_csv(landing / "a.csv", ["r1,acme-search,10,2026-11-25T15:00:00Z"])
    asked = ["a.csv", "nope.csv", str(landing / "a.csv"), "../a.csv", "a.csv\n"]
    result = ingest_spend_job.execute_in_process(
        run_config={"ops": {"ingest_landing_files": {"config": {"files": asked}}}},
        resources={
            "database": BudgetDatabase(url=db_url),
            "landing": LandingFolder(path=str(landing), settle_seconds=0),
            "clock": Clock(as_of="2026-11-25T18:00:00Z"),
        },
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    said = result.output_for_node("ingest_landing_files")
    assert said[0] == "a.csv: accepted 1, duplicate 0, rejected 0"
    assert sorted(said[1:]) == sorted(
        f"{name}: no such spend file in {landing} (taken already, or not there)"
        for name in ("nope.csv", str(landing / "a.csv"), "../a.csv", "a.csv\\n")
    )
    assert (landing / "processed" / "a.csv").exists()


def test_a_processed_folder_that_is_a_link_stops_the_sensor_asking(tmp_path: Path) -> None:
    """No run could take a file (it would be moved outside the folder): the sensor says so and
    asks for none, rather than one run after another that each succeed and take nothing."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (landing / "processed").symlink_to(tmp_path / "elsewhere")
    write_csv(landing / "a.csv", ["r1,acme-search,1,2026-11-25T15:00:00Z"])
    resources = {"landing": LandingFolder(path=str(landing), settle_seconds=0)}
    with DagsterInstance.ephemeral() as instance:
        skipped = spend_landing_sensor(build_sensor_context(instance=instance, resources=resources))
    assert not skipped.run_requests and skipped.skip_reason is not None
    assert skipped.skip_reason.skip_message == (
        f"the landing folder {landing} (BUDGET_LANDING_DIR) has a processed/ that is not a plain folder: "
        "no spend file is read"
    )


def test_a_file_with_lone_cr_line_ends_is_read_like_any_other(acme: Engine, db_url: str, tmp_path: Path) -> None:
    """Excel's "CSV (Macintosh)" ends its lines with a lone CR: the file is read, each row on its
    line, and the good file beside it too."""
    landing = tmp_path / "landing"
    landing.mkdir()
    rows = ["record_id,campaign_id,amount,occurred_at", "m1,acme-search,120,2026-11-25T15:00:00Z", "m2,ghost,1,x"]
    (landing / "a_mac.csv").write_bytes(("\r".join(rows) + "\r").encode())
    write_csv(landing / "b_good.csv", ["g1,acme-social,1,2026-11-25T15:00:00Z"])
    assert run_ingest(db_url, landing).success
    assert sorted(p.name for p in (landing / "processed").iterdir()) == ["a_mac.csv", "b_good.csv"]
    with acme.connect() as conn:
        stored = conn.execute(text("SELECT record_id FROM raw_spend_records ORDER BY record_id")).scalars().all()
        lines = conn.execute(text("SELECT line_no FROM quarantined_rows")).scalars().all()
    assert stored == ["g1", "m1"] and lines == [3]


def test_spend_outside_the_accepted_dates_is_quarantined_and_enforcement_goes_on(
    acme: Engine, db_url: str, tmp_path: Path
) -> None:
    # Before BUDGET_START_DATE (2025-01-01), a "no date" placeholder, and a year-1 instant that is
    # in year 0 in New York: bad rows, quarantined; the good row beside them is ingested, its
    # partitions refreshed, and the over-budget brand paused.
    landing = tmp_path / "landing"
    landing.mkdir()
    write_csv(
        landing / "edges.csv",
        [
            "ancient,acme-search,7,2024-06-01T15:00:00Z",
            "placeholder,acme-search,1,9999-12-31T23:59:59Z",
            "year-one,acme-search,1,0001-01-01T00:00:00Z",
            "good,acme-search,150,2026-11-25T15:00:00Z",
        ],
    )
    result = run_ingest(db_url, landing)
    assert result.success
    assert (landing / "processed" / "edges.csv").exists()
    with acme.connect() as conn:
        reasons = dict(conn.execute(text("SELECT record_id, reason FROM quarantined_rows")).all())
        assert conn.execute(text("SELECT record_id FROM raw_spend_records")).scalars().all() == ["good"]
        paused = conn.execute(text("SELECT pause_reasons FROM campaigns WHERE id = 'acme-search'")).scalar_one()
    assert "before BUDGET_START_DATE (2025-01-01)" in reasons["ancient"]
    assert "later than the day after its ingestion" in reasons["placeholder"]
    assert "before BUDGET_START_DATE" in reasons["year-one"]
    assert paused == "daily_budget"


def test_each_refreshed_partition_has_its_own_results_and_today_names_the_brand_over(
    acme: Engine, db_url: str, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    # Over budget on the 25th in New York; the 26th (Tokyo's today) is within budget.
    write_csv(landing / "a.csv", ["r1,acme-search,150,2026-11-25T15:00:00Z", "r2,tokyo-display,1,2026-11-25T16:00:00Z"])
    result = run_ingest(db_url, landing)
    within = {
        e.partition: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "daily_spend_within_budget"
    }
    assert within == {"2026-11-25": False, "2026-11-26": True}
    [today] = [e for e in result.get_asset_check_evaluations() if e.check_name == "brands_within_budget_today"]
    assert (today.passed, today.partition) == (False, None)
    assert today.description == "1 brand(s) at or over the daily budget: Acme 150.00 / 100.00 USD, +50.00"
    [status] = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["campaign_status"]]
    metadata = status.materialization.metadata
    assert (metadata["paused"].value, metadata["paused_daily_budget"].value, metadata["active"].value) == (2, 2, 1)
    assert "| acme-search | Acme | daily_budget | 2026-11-25T18:00:00+00:00 |" in metadata["paused_now"].value
    assert (
        "| acme-search | Acme | active | daily_budget | daily_budget | Acme day 2026-11-25: 150.00 / 100.00 USD |"
        in (metadata["changes"].value)
    )
    run = DagsterInstance.ephemeral()  # tags are on the run the job wrote
    del run


def test_the_default_landing_folder_is_named_as_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDGET_LANDING_DIR", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert LandingFolder().problem() is None  # not there yet: no files
    (tmp_path / "landing").write_text("")
    assert LandingFolder().problem() == (
        f"the landing folder {tmp_path / 'landing'} (the default landing/ in DAGSTER_HOME) is not a folder: "
        "no spend file is read"
    )
