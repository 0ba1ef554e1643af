"""The one ingestion code path, shared by `budget-pipeline ingest` and the landing folder
(`ingest.landing`).

A spend file is stored whole or not at all: all its chunks go in through one connection, in
one transaction, in file order (so the first line of a repeated record_id wins), while a
second thread reads and validates the next chunk."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from budget_pipeline import settings
from budget_pipeline.ingest.names import NAME_NOT_UTF8, one_line, utf8_name
from budget_pipeline.ingest.spendfile import SpendFileError, open_spend_file, read_spend_file
from budget_pipeline.ingest.validation import AcceptedDates, Chunk, Rejection
from budget_pipeline.store.db import writing
from budget_pipeline.store.marks import mark_brands_of_campaigns
from budget_pipeline.store.quarantine import keep_rejected
from budget_pipeline.store.raw import (
    DayCampaigns,
    PreparedRecords,
    finish_file,
    insert_records,
    record_failed_file,
    start_file,
)
from budget_pipeline.store.raw import campaign_zones as stored_campaign_zones
from budget_pipeline.store.upkeep import mark_days_dirty

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
        """One line, whatever the file's name holds (a line break, a control character)."""
        if self.error:
            return one_line(f"{self.name}: failed: {self.error}")
        return one_line(f"{self.name}: accepted {self.accepted}, duplicate {self.duplicate}, rejected {self.rejected}")


def file_key(name: str, seen: os.stat_result) -> str:
    """Identity of a file's content as seen on disk; unchanged when it is read again."""
    return f"{name}:{seen.st_size}:{seen.st_mtime_ns}"


def campaign_zones(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return stored_campaign_zones(conn)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ingest_file(
    engine: Engine,
    path: Path,
    zones: dict[str, str] | None = None,
    chunk_rows: int | None = None,
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
    if not utf8_name(path.name):  # nothing about it could be stored
        raise SpendFileError(one_line(f"{path.name}: {NAME_NOT_UTF8}"))
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
    chunk_rows: int | None,
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
    file_id = start_file(conn, name, key, _now())
    result = FileResult(name)
    days: set[dt.date] = set()
    day_campaigns = DayCampaigns()
    first_days: dict[str, dt.date] = {}  # each campaign's earliest local date in the file
    dialect = conn.dialect.name
    prepared = ((PreparedRecords(dialect, file_id, chunk.valid), chunk.rejections) for chunk in chunks)
    for records, rejections in _read_ahead(prepared):
        inserted = insert_records(conn, records)
        conflicts = [
            Rejection(line, f"conflicting duplicate of record_id '{rid}'", rid, "") for line, rid in inserted.conflicts
        ]
        keep_rejected(conn, file_id, key, name, rejections + conflicts)
        if inserted.accepted:
            # Every day the chunk names: a day that gained only duplicates is rebuilt needlessly, never missed.
            days.update(records.days)
            day_campaigns.add(records.day_campaigns)
            for campaign, day in records.campaign_first_days.items():
                first_days[campaign] = min(day, first_days.get(campaign, day))
        result.accepted += inserted.accepted
        result.duplicate += inserted.duplicate
        result.rejected += len(rejections) + len(conflicts)
        if on_rows is not None:
            on_rows(inserted.accepted + inserted.duplicate + len(rejections) + len(conflicts))
    mark_days_dirty(conn, days, file_id, day_campaigns.few())
    mark_brands_of_campaigns(conn, first_days)
    finish_file(conn, file_id, _now(), result.accepted, result.duplicate, result.rejected)
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
        record_failed_file(conn, name, key, _now(), error)
