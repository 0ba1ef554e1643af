"""The one ingestion code path, shared by `budget-pipeline ingest` and the landing-folder job."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from budget_pipeline.ingest.spendfile import CHUNK_ROWS, Chunk, Rejection, SpendFileError, read_spend_file
from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import Brand, Campaign, quarantine_table, spend_files_table
from budget_pipeline.store.spend import PreparedRecords, insert_new_records, insert_records

files_t = spend_files_table
quarantine_t = quarantine_table


PARALLEL_WRITERS = 2  # PostgreSQL connections storing chunks at once (this machine class has two cores)


@dataclass(frozen=True)
class Counts:
    accepted: int
    duplicate: int
    rejected: int


@dataclass
class FileResult:
    name: str
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"{self.name}: failed: {self.error}"
        return f"{self.name}: accepted {self.accepted}, duplicate {self.duplicate}, rejected {self.rejected}"


def file_key(path: Path) -> str:
    """Identity of a file's content as seen on disk; unchanged when it is read again."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def campaign_zones(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(Campaign.id, Brand.timezone).join(Brand, Brand.id == Campaign.brand_id)).all()
    return {cid: zone for cid, zone in rows}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ingest_file(
    engine: Engine,
    path: Path,
    zones: dict[str, str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> FileResult:
    """Ingest one spend file: good rows are stored, bad rows quarantined with line and reason.
    `on_rows` hears the number of rows of each chunk as it is stored (for a progress display).

    Raises SpendFileError (nothing stored) when the file as a whole is unreadable. Each chunk
    is one transaction; running the same file again, even after a crash half-way, stores
    nothing twice and quarantines no row twice.
    """
    zones = campaign_zones(engine) if zones is None else zones
    chunks = read_spend_file(path, zones, chunk_rows)
    first = next(chunks, None)  # raises SpendFileError before anything is written
    key = file_key(path)
    with writing(engine) as conn:
        file_id = conn.execute(
            insert(files_t).values(name=path.name, file_key=key, started_at=_now()).returning(files_t.c.id)
        ).scalar_one()
    result = FileResult(path.name)
    dialect = engine.dialect.name

    def write(records: PreparedRecords, rejections: list[Rejection], *, new_only: bool) -> Counts | None:
        with writing(engine) as conn:
            inserted = insert_new_records(conn, records) if new_only else insert_records(conn, records)
            if inserted is None:
                return None
            conflicts = [
                Rejection(line, f"conflicting duplicate of record_id '{rid}'", rid, "")
                for line, rid in inserted.conflicts
            ]
            _quarantine(conn, file_id, key, path.name, rejections + conflicts)
        return Counts(inserted.accepted, inserted.duplicate, len(rejections) + len(conflicts))

    def add(counts: Counts) -> None:
        result.accepted += counts.accepted
        result.duplicate += counts.duplicate
        result.rejected += counts.rejected
        if on_rows is not None:
            on_rows(counts.accepted + counts.duplicate + counts.rejected)

    # This thread reads, validates and prepares the next chunk while writers store the ones
    # before it: on PostgreSQL two connections at once (the server then works on both cores), on
    # SQLite one (it has one writer).
    writers = PARALLEL_WRITERS if dialect == "postgresql" else 1
    in_flight: deque[tuple[Future[Counts | None], PreparedRecords, list[Rejection]]] = deque()

    def settle(keep: int) -> None:
        while len(in_flight) > keep:
            future, records, rejections = in_flight.popleft()
            counts = future.result()
            if counts is None:
                # Its bulk insert met a record_id already stored: let the writes in flight
                # finish, then sort it out alone, so that two writers never wait on each other.
                settle(keep=0)
                counts = write(records, rejections, new_only=False)
                assert counts is not None  # insert_records always stores the chunk
            add(counts)

    try:
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="spend-writer") as pool:
            try:
                for chunk in _prepend(first, chunks):
                    records = PreparedRecords(dialect, file_id, chunk.valid)
                    future = pool.submit(write, records, chunk.rejections, new_only=True)
                    in_flight.append((future, records, chunk.rejections))
                    settle(keep=writers)
            finally:
                settle(keep=0)
    except SpendFileError as exc:
        result.error = str(exc)
    with writing(engine) as conn:
        conn.execute(
            update(files_t)
            .where(files_t.c.id == file_id)
            .values(
                finished_at=_now(),
                accepted=result.accepted,
                duplicate=result.duplicate,
                rejected=result.rejected,
                error=result.error,
            )
        )
    if result.error:
        raise SpendFileError(result.error)
    return result


def _prepend(first: Chunk | None, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    if first is not None:
        yield first
    yield from rest


def _quarantine(conn: Connection, file_id: int, key: str, name: str, rejections: list[Rejection]) -> None:
    if not rejections:
        return
    rows = [
        {
            "file_id": file_id,
            "file_key": key,
            "file_name": name,
            "line_no": r.line_no,
            "reason": r.reason,
            "record_id": r.record_id[:200] if r.record_id else None,
            "raw": r.raw,
        }
        for r in rejections
    ]
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect_insert(quarantine_t).on_conflict_do_nothing(index_elements=["file_key", "line_no"]), rows)


@dataclass
class LandingResult:
    processed: list[FileResult] = field(default_factory=list)
    failed: list[FileResult] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.processed)

    @property
    def duplicate(self) -> int:
        return sum(r.duplicate for r in self.processed)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.processed)


def pending_files(landing: Path) -> list[Path]:
    """Spend files waiting in the landing folder, oldest first; hidden and partial files wait."""
    if not landing.is_dir():
        return []
    files = [
        p
        for p in landing.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".tmp", ".part", ".error"))
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def ingest_landing(
    engine: Engine,
    landing: Path,
    names: Iterable[str] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> LandingResult:
    """Ingest pending landing files (or just `names`), moving each to processed/ or failed/."""
    wanted = set(names) if names is not None else None
    result = LandingResult()
    zones = campaign_zones(engine)
    for path in pending_files(landing):
        if wanted is not None and path.name not in wanted:
            continue
        try:
            file_result = ingest_file(engine, path, zones)
        except SpendFileError as exc:
            file_result = FileResult(path.name, error=str(exc))
            moved = _move(path, landing / "failed")
            moved.with_name(moved.name + ".error").write_text(str(exc) + "\n")
            result.failed.append(file_result)
        else:
            _move(path, landing / "processed")
            result.processed.append(file_result)
        if on_file:
            on_file(file_result)
    return result


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        stamp = _now().strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    shutil.move(os.fspath(path), os.fspath(target))
    return target
