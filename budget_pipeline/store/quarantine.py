"""Reading the quarantine: the rejected rows of spend files, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from budget_pipeline.store.schema import quarantine_table


@dataclass(frozen=True)
class QuarantinedRow:
    file_name: str
    line: int
    reason: str
    row: str  # the line as it was in the file ("" where the reader could not keep it)
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
