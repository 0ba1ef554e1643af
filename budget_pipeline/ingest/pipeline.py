"""The one ingestion code path, shared by `budget-pipeline ingest` and the landing-folder job.

A spend file is stored whole or not at all: all its chunks go in through one connection, in
one transaction, in file order (so the first line of a repeated record_id wins), while a
second thread reads and validates the next chunk.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO, TypeVar

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from budget_pipeline import settings
from budget_pipeline.ingest.spendfile import (
    CHUNK_ROWS,
    AcceptedDates,
    Chunk,
    Rejection,
    SpendFileError,
    open_spend_file,
    read_spend_file,
)
from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import Brand, Campaign, quarantine_table, spend_files_table
from budget_pipeline.store.spend import PreparedRecords, insert_records, mark_days_dirty

files_t = spend_files_table
quarantine_t = quarantine_table
DEADLOCK_ATTEMPTS = 3
T = TypeVar("T")


class FileInFlight(Exception):
    """The file changed while it was read: an upload still in progress. Nothing of it was
    stored; it is left where it is for the next look."""


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


def file_key(name: str, seen: os.stat_result) -> str:
    """Identity of a file's content as seen on disk; unchanged when it is read again."""
    return f"{name}:{seen.st_size}:{seen.st_mtime_ns}"


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
    *,
    now: dt.datetime | None = None,
    follow_links: bool = False,
    on_rows: Callable[[int], None] | None = None,
) -> FileResult:
    """Ingest one spend file: good rows are stored, bad rows quarantined with line and reason,
    all in one transaction. `now` is the moment of ingestion (default: the wall clock); a
    record's local date may be at most a day after it. A symbolic link is read only with
    `follow_links` (a file a user names), never in the landing folder. `on_rows` hears the
    number of rows of each chunk as it is stored (for a progress display).

    Raises SpendFileError, with nothing stored, when the file as a whole is unreadable (also
    when that shows only part-way through it), FileInFlight when it changed while it was read,
    and FileNotFoundError when it is gone. Running the same file again, even after a crash
    half-way, stores nothing twice and quarantines no row twice.
    """
    zones = campaign_zones(engine) if zones is None else zones
    accepted = AcceptedDates(settings.start_date(), now or _now())
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return _ingest_once(engine, path, zones, chunk_rows, accepted, follow_links, on_rows)
        except OperationalError as exc:
            # Two files that repeat each other's record_ids in crossing order, stored at once on
            # PostgreSQL: the server ends one transaction; it is tried again from the start.
            if attempt == DEADLOCK_ATTEMPTS or not _is_deadlock(exc):
                raise
    raise AssertionError("unreachable")


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(exc.orig, "pgcode", None) == "40P01"


def _ingest_once(
    engine: Engine,
    path: Path,
    zones: dict[str, str],
    chunk_rows: int,
    accepted: AcceptedDates,
    follow_links: bool,
    on_rows: Callable[[int], None] | None,
) -> FileResult:
    with open_spend_file(path, follow_links=follow_links) as handle:
        seen = os.fstat(handle.fileno())
        key = file_key(path.name, seen)
        chunks = read_spend_file(handle, zones, chunk_rows, accepted, path.name)
        try:
            first = next(chunks, None)  # a bad header raises here, before anything is written
            with writing(engine) as conn:
                result = _store(conn, path.name, key, chain([first] if first else [], chunks), on_rows)
                if _changed(handle, seen):
                    raise FileInFlight(f"{path.name}: changed while it was read; left for the next look")
        except SpendFileError as exc:
            _record_failure(engine, path.name, key, str(exc))
            raise
    return result


def _changed(handle: BinaryIO, seen: os.stat_result) -> bool:
    now = os.fstat(handle.fileno())
    return (now.st_size, now.st_mtime_ns) != (seen.st_size, seen.st_mtime_ns)


def _store(
    conn: Connection, name: str, key: str, chunks: Iterator[Chunk], on_rows: Callable[[int], None] | None = None
) -> FileResult:
    """Store every chunk of one file inside the caller's transaction; the file's counts."""
    file_id = conn.execute(
        insert(files_t).values(name=name, file_key=key, started_at=_now()).returning(files_t.c.id)
    ).scalar_one()
    result = FileResult(name)
    days: set[dt.date] = set()
    dialect = conn.dialect.name
    prepared = ((PreparedRecords(dialect, file_id, chunk.valid), chunk.rejections) for chunk in chunks)
    for records, rejections in _read_ahead(prepared):
        inserted = insert_records(conn, records)
        conflicts = [
            Rejection(line, f"conflicting duplicate of record_id '{rid}'", rid, "") for line, rid in inserted.conflicts
        ]
        _quarantine(conn, file_id, key, name, rejections + conflicts)
        if inserted.accepted:
            # Every day the chunk names: a day that gained only duplicates is rebuilt needlessly, never missed.
            days.update(records.days)
        result.accepted += inserted.accepted
        result.duplicate += inserted.duplicate
        result.rejected += len(rejections) + len(conflicts)
        if on_rows is not None:
            on_rows(inserted.accepted + inserted.duplicate + len(rejections) + len(conflicts))
    mark_days_dirty(conn, days, file_id)
    conn.execute(
        update(files_t)
        .where(files_t.c.id == file_id)
        .values(finished_at=_now(), accepted=result.accepted, duplicate=result.duplicate, rejected=result.rejected)
    )
    return result


def _read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each next one made in a second thread while the caller works on this one: the
    file is read and validated (in Arrow, mostly outside the GIL) while the last chunk is written."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spend-reader") as reader:
        pending = reader.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = reader.submit(next, items, None)
            yield item


def _record_failure(engine: Engine, name: str, key: str, error: str) -> None:
    """Note a file that could not be ingested, with why, in its own transaction."""
    with writing(engine) as conn:
        at = _now()
        conn.execute(insert(files_t).values(name=name, file_key=key, started_at=at, finished_at=at, error=error))


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
    left: list[str] = field(default_factory=list)  # in flight, or taken by another run meanwhile

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.processed)

    @property
    def duplicate(self) -> int:
        return sum(r.duplicate for r in self.processed)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.processed)


IN_PROGRESS_PREFIX = "."
IN_PROGRESS_SUFFIXES = (".part", ".tmp")
SPEND_FILE_SUFFIX = ".csv"
# A modification time this far ahead of our clock is a skewed clock, not an upload in progress;
# such a file settles once its size and time stand still between two looks.
CLOCK_SKEW_SECONDS = 60.0


@dataclass(frozen=True)
class LandingScan:
    """What a look into the landing folder found, oldest first."""

    ready: list[Path]  # regular *.csv files that have settled
    refused: list[tuple[Path, str]]  # entries named like spend files that are not regular files, and why
    settling: list[Path]  # files changed within the settle time: left for the next look


def scan_landing(landing: Path, now: float | None = None, settle_seconds: float | None = None) -> LandingScan:
    """The spend files waiting directly in `landing`: regular `*.csv` files whose size and
    modification time have not changed for `settle_seconds` (default BUDGET_LANDING_SETTLE_SECONDS).
    Names starting with "." or ending in .part or .tmp are uploads in progress and not looked
    at; a symbolic link (never followed) or other non-regular entry named *.csv is refused."""
    now = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    settle = settings.settle_seconds() if settle_seconds is None else settle_seconds
    if not landing.is_dir():
        return LandingScan([], [], [])
    found: list[tuple[int, str, Path, os.stat_result]] = []
    refused: list[tuple[Path, str]] = []
    with os.scandir(landing) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(IN_PROGRESS_PREFIX) or name.endswith(IN_PROGRESS_SUFFIXES):
                continue
            if not name.endswith(SPEND_FILE_SUFFIX):
                continue
            try:
                seen = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # taken by another run meanwhile
            if stat.S_ISLNK(seen.st_mode):
                refused.append((Path(entry.path), "a symbolic link; only regular files are read"))
            elif not stat.S_ISREG(seen.st_mode):
                refused.append((Path(entry.path), "not a regular file"))
            else:
                found.append((seen.st_mtime_ns, name, Path(entry.path), seen))
    ready: list[Path] = []
    settling: list[Path] = []
    for _, _, path, seen in sorted(found):
        age = now - seen.st_mtime_ns / 1e9
        (ready if age >= settle or age < -CLOCK_SKEW_SECONDS else settling).append(path)
    return LandingScan(ready, sorted(refused), settling)


def ingest_landing(
    engine: Engine,
    landing: Path,
    names: Iterable[str] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    *,
    now: dt.datetime | None = None,
    settle_seconds: float | None = None,
) -> LandingResult:
    """Ingest the settled spend files of `landing` (or just those of `names`), oldest first,
    moving each to processed/ or, if it cannot be read as a whole, to failed/ beside an .error
    note. One bad file never holds back the others; a failure that is not the file's (the
    database is down) raises, leaving this file and those after it in place for the next look."""
    wanted = set(names) if names is not None else None
    moment = now or _now()
    scan = scan_landing(landing, moment.timestamp(), settle_seconds)
    if scan.ready or scan.refused:
        for folder in ("processed", "failed"):
            _real_folder(landing / folder)
    result = LandingResult(left=[path.name for path in scan.settling])
    for path, why in scan.refused:
        if wanted is None or path.name in wanted:
            _refuse(landing, path, f"{path.name}: {why}", result, on_file)
    zones = campaign_zones(engine)
    for path in scan.ready:
        if wanted is not None and path.name not in wanted:
            continue
        try:
            with open_spend_file(path) as handle:
                seen = os.fstat(handle.fileno())
            file_result = ingest_file(engine, path, zones, now=moment)
        except (FileNotFoundError, FileInFlight):
            result.left.append(path.name)
            continue
        except SpendFileError as exc:
            _refuse(landing, path, str(exc), result, on_file)
            continue
        if _move(path, landing / "processed", seen) is None:
            result.left.append(path.name)  # replaced or taken meanwhile: the next look decides
        result.processed.append(file_result)
        if on_file:
            on_file(file_result)
    return result


def _refuse(
    landing: Path, path: Path, why: str, result: LandingResult, on_file: Callable[[FileResult], None] | None
) -> None:
    """Move `path` (a link itself, never its target) to failed/ with an .error note saying why."""
    moved = _move(path, landing / "failed")
    if moved is None:
        result.left.append(path.name)
        return
    _write_note(moved.with_name(moved.name + ".error"), why + "\n")
    file_result = FileResult(path.name, error=why)
    result.failed.append(file_result)
    if on_file:
        on_file(file_result)


def _move(path: Path, folder: Path, seen: os.stat_result | None = None) -> Path | None:
    """Move `path` into `folder` under a name free there (its note's name too); None when the
    file is gone, or when `seen` is given and `path` is no longer that file (another run took
    it, or an upload replaced it): a look into the folder later decides what to do with it."""
    _real_folder(folder)
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return None
    if seen is not None and (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (
        seen.st_dev,
        seen.st_ino,
        seen.st_size,
        seen.st_mtime_ns,
    ):
        return None
    target = folder / path.name
    if os.path.lexists(target) or os.path.lexists(f"{target}.error"):
        stamp = _now().strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    return target


def _real_folder(folder: Path) -> None:
    """Make `folder` exist as a real directory; one that is a link would move files outside."""
    folder.mkdir(exist_ok=True)
    if folder.is_symlink() or not folder.is_dir():
        raise OSError(f"{folder} is not a plain folder; processed/ and failed/ must not be links")


def _write_note(path: Path, text: str) -> None:
    """Write a new note file; never through a link planted under its name."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as note:
        note.write(text)
