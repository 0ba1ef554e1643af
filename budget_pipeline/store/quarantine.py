"""The quarantine: the rejected rows of spend files, kept with file, line and reason, and read
newest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, select

from budget_pipeline.store.bulk import dialect_insert
from budget_pipeline.store.schema import quarantine_table

RECORD_ID_KEPT = 200  # characters of a rejected row's record_id kept beside its raw text


class RejectedRow(Protocol):
    """What the quarantine keeps of a rejected row (ingest.spendfile.Rejection is one)."""

    @property
    def line_no(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def record_id(self) -> str | None: ...
    @property
    def raw(self) -> str: ...


def keep_rejected(conn: Connection, file_id: int, key: str, name: str, rejected: Sequence[RejectedRow]) -> None:
    """Quarantine the rejected rows of one ingestion; a row of the same file (key) and line that
    is already there stays as it is, so ingesting a file again quarantines nothing twice."""
    if not rejected:
        return
    rows = [
        {
            "file_id": file_id,
            "file_key": key,
            "file_name": name,
            "line_no": r.line_no,
            "reason": r.reason,
            "record_id": r.record_id[:RECORD_ID_KEPT] if r.record_id else None,
            "raw": r.raw,
        }
        for r in rejected
    ]
    conn.execute(
        dialect_insert(conn, quarantine_table).on_conflict_do_nothing(index_elements=["file_key", "line_no"]), rows
    )


@dataclass(frozen=True)
class QuarantinedRow:
    file_name: str
    line: int
    reason: str
    row: str  # the line as it was in the file ("" for a conflicting duplicate, found among parsed rows)
    at: dt.datetime


def quarantined_rows(conn: Connection, file_name: str | None = None, limit: int | None = None) -> list[QuarantinedRow]:
    """Rejected rows, newest first (within one ingestion, in line order), of every file or of
    the files named `file_name`; at most `limit`."""
    q = quarantine_table.c
    query = select(q.file_name, q.line_no, q.reason, q.raw, q.at).order_by(q.at.desc(), q.file_id.desc(), q.line_no)
    if file_name is not None:
        query = query.where(q.file_name == file_name)
    if limit is not None:
        query = query.limit(limit)
    return [QuarantinedRow(*row) for row in conn.execute(query)]
