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

from budget_pipeline.ingest.spendfile import Chunk, Rejection, SpendFileError, read_spend_file
from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import Brand, Campaign, quarantine_table, spend_files_table
from budget_pipeline.store.spend import insert_records

files_t = spend_files_table
quarantine_t = quarantine_table


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


def ingest_file(engine: Engine, path: Path, zones: dict[str, str] | None = None) -> FileResult:
    """Ingest one spend file: good rows are stored, bad rows quarantined with line and reason.

    Raises SpendFileError (nothing stored) when the file as a whole is unreadable. Each chunk
    is one transaction; running the same file again, even after a crash half-way, stores
    nothing twice and quarantines no row twice.
    """
    zones = campaign_zones(engine) if zones is None else zones
    chunks = read_spend_file(path, zones)
    first = next(chunks, None)  # raises SpendFileError before anything is written
    key = file_key(path)
    with writing(engine) as conn:
        file_id = conn.execute(
            insert(files_t).values(name=path.name, file_key=key, started_at=_now()).returning(files_t.c.id)
        ).scalar_one()
    result = FileResult(path.name)

    def write(chunk: Chunk) -> tuple[int, int, int]:
        with writing(engine) as conn:
            inserted = insert_records(conn, file_id, chunk.valid)
            conflicts = [
                Rejection(line, f"conflicting duplicate of record_id '{rid}'", rid, "")
                for line, rid in inserted.conflicts
            ]
            _quarantine(conn, file_id, key, path.name, chunk.rejections + conflicts)
        return inserted.accepted, inserted.duplicate, len(chunk.rejections) + len(conflicts)

    # The database writes chunk N (in its server, or in sqlite3 with the GIL released) while
    # this thread reads and validates chunk N+1; at most two chunks are held at once.
    in_flight: deque[Future[tuple[int, int, int]]] = deque()

    def collect(done: Future[tuple[int, int, int]]) -> None:
        accepted, duplicate, rejected = done.result()
        result.accepted += accepted
        result.duplicate += duplicate
        result.rejected += rejected

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spend-writer") as writer:
            try:
                for chunk in _prepend(first, chunks):
                    in_flight.append(writer.submit(write, chunk))
                    while len(in_flight) > 1:
                        collect(in_flight.popleft())
            finally:
                while in_flight:
                    collect(in_flight.popleft())
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
