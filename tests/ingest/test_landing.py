"""The landing folder's protocol against real files, links and FIFOs, on both databases."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from budget_pipeline.ingest.landing import LOCK_FILE, LandingFolderError, ingest_landing, scan_landing
from budget_pipeline.ingest.names import NAME_NOT_UTF8
from budget_pipeline.store.schema import RawSpendRecord, SpendFile
from tests.conftest import write_csv

ROW = "r1,acme-search,1,2026-11-25T15:00:00Z"


def raw_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(RawSpendRecord)).scalar_one()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def at(path: Path, seconds_after_mtime: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime + seconds_after_mtime, dt.UTC)


def test_a_file_is_read_only_once_it_has_settled(acme: Engine, landing: Path) -> None:
    path = write_csv(landing / "a.csv", [ROW])
    early = ingest_landing(acme, landing, now=at(path, 1.0), settle_seconds=2)
    assert early.processed == [] and early.left == ["a.csv"]
    assert path.exists() and raw_count(acme) == 0
    settled = ingest_landing(acme, landing, now=at(path, 2.5), settle_seconds=2)
    assert [r.name for r in settled.processed] == ["a.csv"]
    assert (landing / "processed" / "a.csv").exists() and raw_count(acme) == 1


def test_uploads_in_progress_and_other_files_are_not_touched(acme: Engine, landing: Path) -> None:
    names = [".a.csv", "b.csv.part", "c.csv.tmp", "d.part", "notes.txt", "e.CSV.part"]
    for name in names:
        write_csv(landing / name, [ROW])
    result = ingest_landing(acme, landing, settle_seconds=0)
    assert result.processed == [] and result.failed == []
    assert sorted(p.name for p in landing.iterdir()) == sorted([*names, LOCK_FILE])  # the runs' turn-taking
    assert raw_count(acme) == 0


def test_symbolic_links_are_moved_never_followed(acme: Engine, landing: Path, tmp_path: Path) -> None:
    outside = write_csv(tmp_path / "elsewhere.csv", ["secret-record,acme-search,99,2026-11-25T15:00:00Z"])
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:TOPSECRET:/root:/bin/bash\n")
    (landing / "spend.csv").symlink_to(outside)
    (landing / "passwd.csv").symlink_to(secret)
    (landing / "dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    write_csv(landing / "good.csv", [ROW])
    result = ingest_landing(acme, landing, settle_seconds=0)
    assert [r.name for r in result.processed] == ["good.csv"]
    assert sorted(r.name for r in result.failed) == ["dangling.csv", "passwd.csv", "spend.csv"]
    assert raw_count(acme) == 1  # only good.csv's record
    for name in ("spend.csv", "passwd.csv", "dangling.csv"):
        moved = landing / "failed" / name
        assert moved.is_symlink(), "the link itself is moved"
        note = (landing / "failed" / f"{name}.error").read_text()
        assert note == f"{name}: a symbolic link; only regular files are read\n"
    assert outside.exists() and secret.exists(), "targets stay where they are"
    assert "TOPSECRET" not in "".join(r.summary() for r in result.failed)


def test_a_fifo_is_refused_without_waiting_on_it(acme: Engine, landing: Path) -> None:
    os.mkfifo(landing / "pipe.csv")
    write_csv(landing / "good.csv", [ROW])
    result = ingest_landing(acme, landing, settle_seconds=0)
    assert [r.name for r in result.processed] == ["good.csv"]
    assert [r.error for r in result.failed] == ["pipe.csv: not a regular file"]
    assert (landing / "failed" / "pipe.csv.error").exists()


def test_a_link_in_place_of_the_processed_folder_stops_the_run_and_moves_nothing(
    acme: Engine, landing: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (landing / "processed").symlink_to(elsewhere)
    write_csv(landing / "a.csv", [ROW])
    with pytest.raises(LandingFolderError, match="must not be links"):
        ingest_landing(acme, landing, settle_seconds=0)
    assert (landing / "a.csv").exists() and list(elsewhere.iterdir()) == []
    assert raw_count(acme) == 0


def test_two_looks_at_once_ingest_each_file_once(acme: Engine, landing: Path) -> None:
    """Each file read by one of them only (before the landing lock, the second read the files
    the first was moving, found their records stored, and counted each file ingested twice)."""
    for n in range(8):
        write_csv(landing / f"f{n}.csv", [f"f{n}-r{i},acme-search,1,2026-11-25T15:00:00Z" for i in range(2000)])
    errors: list[BaseException] = []
    read: list[str] = []

    def look() -> None:
        try:
            read.extend(r.name for r in ingest_landing(acme, landing, settle_seconds=0).processed)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(read) == [f"f{n}.csv" for n in range(8)]
    with acme.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SpendFile)).scalar_one() == 8
    assert raw_count(acme) == 8 * 2000
    assert sorted(p.name for p in (landing / "processed").iterdir()) == [f"f{n}.csv" for n in range(8)]
    assert sorted(p.name for p in landing.iterdir() if not p.name.startswith(".")) == ["failed", "processed"]


def test_a_link_planted_at_the_lock_files_name_is_not_followed_and_the_files_go_in(
    acme: Engine, landing: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("not the product's\n")
    (landing / LOCK_FILE).symlink_to(target)
    write_csv(landing / "a.csv", [ROW])
    result = ingest_landing(acme, landing, settle_seconds=0)
    assert [r.name for r in result.processed] == ["a.csv"] and raw_count(acme) == 1
    assert target.read_text() == "not the product's\n" and (landing / LOCK_FILE).is_symlink()


def test_the_scan_lists_files_oldest_first(landing: Path) -> None:
    for n, name in enumerate(["c.csv", "a.csv", "b.csv"]):
        path = write_csv(landing / name, [ROW])
        os.utime(path, (1_000_000 + n, 1_000_000 + n))
    scan = scan_landing(landing, now=2_000_000, settle_seconds=2)
    assert [p.name for p in scan.ready] == ["c.csv", "a.csv", "b.csv"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("replaced", [False, True], ids=["deleted", "replaced by a new database"])
def test_a_sqlite_file_gone_during_the_write_leaves_the_file_in_landing(
    acme: Engine, landing: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, replaced: bool
) -> None:
    """The database file is deleted (or replaced) while a file's records are being written: the
    process writes on into the file it holds open, which nobody will read again. The run says
    so, and the spend file stays in the folder for the next look, so that nothing is lost."""
    from budget_pipeline.ingest import landing as landing_module
    from budget_pipeline.ingest.pipeline import ingest_file
    from budget_pipeline.store.db import StoreError, make_engine, upgrade

    database = Path(db_url.removeprefix("sqlite:///"))

    def ingest_while_the_file_goes(*args: object, **kwargs: object) -> object:
        def on_rows(_rows: int) -> None:
            if database.exists():
                database.unlink()
                if replaced:
                    fresh = make_engine(db_url)
                    upgrade(fresh)
                    fresh.dispose()

        return ingest_file(*args, **kwargs, chunk_rows=2, on_rows=on_rows)  # type: ignore[arg-type]

    monkeypatch.setattr(landing_module, "ingest_file", ingest_while_the_file_goes)
    write_csv(landing / "a.csv", [f"r{i},acme-search,1,2026-11-25T15:00:00Z" for i in range(5)])
    with pytest.raises(StoreError, match=f"the SQLite database {database} was deleted or replaced during this write"):
        ingest_landing(acme, landing, settle_seconds=0)
    assert (landing / "a.csv").exists() and not (landing / "processed" / "a.csv").exists()
    monkeypatch.undo()
    if replaced:  # the next look puts the file's records in the database now at the path
        fresh = make_engine(db_url)
        from tests.conftest import ACME, apply_yaml

        apply_yaml(fresh, ACME)
        assert [r.name for r in ingest_landing(fresh, landing, settle_seconds=0).processed] == ["a.csv"]
        assert raw_count(fresh) == 5
        fresh.dispose()


def test_a_file_name_with_a_line_break_is_said_on_one_line(acme: Engine, landing: Path) -> None:
    """A file name may hold a line break: every file's summary (tick's output, the run's log)
    and its .error note stay one line, the break written as \\n."""
    write_csv(landing / "evil\nname.csv", [ROW])
    (landing / "bad\nfile.csv").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    result = ingest_landing(acme, landing, settle_seconds=0)
    summaries = sorted(r.summary() for r in (*result.processed, *result.failed))
    assert summaries == [
        "bad\\nfile.csv: failed: bad\\nfile.csv: not a CSV file (binary content)",
        "evil\\nname.csv: accepted 1, duplicate 0, rejected 0",
    ]
    note = (landing / "failed" / "bad\nfile.csv.error").read_text()
    assert note == "bad\\nfile.csv: not a CSV file (binary content)\n"


def test_a_file_whose_name_is_not_utf8_is_refused_and_the_rest_goes_on(acme: Engine, landing: Path) -> None:
    """The OS hands such a name over with surrogates, which no database takes as text: the
    ingest run failed on it at every look, before it enforced budgets. It goes to failed/."""
    name = b"bad\xffname.csv".decode("utf-8", "surrogateescape")
    write_csv(landing / name, [ROW])
    write_csv(landing / "good.csv", [ROW.replace("r1,", "r2,", 1)])
    result = ingest_landing(acme, landing, settle_seconds=0)
    assert [r.name for r in result.processed] == ["good.csv"]
    [failed] = [r.summary() for r in result.failed]
    assert failed == "bad\\udcffname.csv: failed: bad\\udcffname.csv: " + NAME_NOT_UTF8
    assert (landing / "failed" / name).exists() and raw_count(acme) == 1
