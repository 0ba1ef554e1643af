"""Raw spend records in the store: the chunks of one spend file written in file order (a plain
bulk insert, or a staging table that sorts repeated record_ids into duplicates and conflicts),
and the spend_files row of each ingestion. Statements are set-based and bound."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from budget_pipeline.store.bulk import arrow_csv, copy_csv, empty_temp_table, insert_arrow
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    quarantine_table,
    raw_table,
    spend_files_table,
)
from budget_pipeline.store.types import Money, UTCDateTime

raw_t = raw_table


_COLUMNS = ("line_no", "record_id", "campaign_id", "amount", "occurred_at", "local_date")


@dataclass(frozen=True)
class InsertResult:
    accepted: int
    duplicate: int
    conflicts: list[tuple[int, str]]  # (line_no, record_id) of conflicting duplicates


# A file with at most this many records of a day marks that day for its campaigns, and the
# refresh sums their records alone; a file with more marks the whole day.
MARKED_RECORDS_PER_DAY = 5_000
# ... and marks at most this many (day, campaign) pairs in all; its other days are marked whole.
MARKED_CAMPAIGNS_PER_FILE = 10_000


class DayCampaigns:
    """The campaigns of each local day a file's stored chunks touch, for the days of few records
    in the file (`MARKED_RECORDS_PER_DAY`); counted in Arrow, and a day's campaigns read out only
    while the day has few records, so a big file costs one count per chunk."""

    def __init__(self) -> None:
        self.records: dict[dt.date, int] = {}
        self.campaigns: dict[dt.date, set[str]] = {}

    def add(self, rows: pa.Table) -> None:
        """Add a chunk's stored rows (their local_date and campaign_id columns)."""
        counts = pc.value_counts(rows["local_date"])
        days = counts.field("values").to_pylist()
        for day, n in zip(days, counts.field("counts").to_pylist(), strict=True):
            self.records[day] = self.records.get(day, 0) + n
        few = [day for day in days if self.records[day] <= MARKED_RECORDS_PER_DAY]
        if not few:
            return
        of_few = rows.filter(pc.is_in(rows["local_date"], pa.array(few, pa.date32())))
        pairs = of_few.group_by(["local_date", "campaign_id"]).aggregate([])
        for day, campaign in zip(pairs["local_date"].to_pylist(), pairs["campaign_id"].to_pylist(), strict=True):
            self.campaigns.setdefault(day, set()).add(campaign)

    def few(self) -> dict[dt.date, set[str]]:
        """The campaigns of each day of few records, as many of them as a file may name
        (`MARKED_CAMPAIGNS_PER_FILE`, the days of fewest first); a day not here is to be marked
        whole."""
        few: dict[dt.date, set[str]] = {}
        named = 0
        for day, of_day in sorted(self.campaigns.items(), key=lambda item: (len(item[1]), item[0])):
            if self.records[day] > MARKED_RECORDS_PER_DAY or named + len(of_day) > MARKED_CAMPAIGNS_PER_FILE:
                continue
            few[day] = of_day
            named += len(of_day)
        return few


class PreparedRecords:
    """One chunk of validated rows turned into what one database's bulk insert takes, so that
    this work (in Arrow, outside the GIL) is done before the write transaction, beside the
    writes of the chunks before it. On SQLite the values are integer micro-units and the text
    layout SQLAlchemy's DATETIME reads and compares; on PostgreSQL the amount as written (NUMERIC
    parses it exactly) and the instant with an explicit UTC offset."""

    def __init__(self, dialect: str, file_id: int, valid: pa.Table) -> None:
        self.dialect = dialect
        self.file_id = file_id
        self.num_rows = valid.num_rows
        # Stored in local_date order: a day's records then sit together on disk, whatever order
        # the file has, so a rebuild reads a few runs of pages instead of rows from every page.
        # (Sorting by campaign within the day as well took 5% off ingestion for 10% off SQLite's
        # month rebuild.) Which line of a repeated record_id came first: `_first_lines`.
        valid = valid.take(pc.sort_indices(valid, [("local_date", "ascending")]))
        # Sorted: writers that mark the same days lock their rows in one order, never deadlocking.
        self.days: list[dt.date] = sorted(pc.unique(valid["local_date"]).to_pylist())
        # Each campaign's earliest local date in the chunk: how far back its brand's new spend reaches.
        firsts = valid.group_by("campaign_id").aggregate([("local_date", "min")])
        self.campaign_first_days: dict[str, dt.date] = dict(
            zip(firsts["campaign_id"].to_pylist(), firsts["local_date_min"].to_pylist(), strict=True)
        )
        # Which campaigns on which days, for the file's dirty marks (DayCampaigns).
        self.day_campaigns = valid.select(["local_date", "campaign_id"])
        naive = pc.cast(valid["occurred_at"], pa.timestamp("us")).cast(pa.string())
        if dialect == "sqlite":
            amount, instant = valid["amount_micros"], naive
        else:
            amount, instant = valid["amount"], pc.binary_join_element_wise(naive, "+00", "")
        self.values = pa.table(
            [
                valid["line_no"],
                valid["record_id"],
                valid["campaign_id"],
                amount,
                instant,
                valid["local_date"].cast(pa.string()),
            ],
            names=list(_COLUMNS),
        )
        # On SQLite the values become Python objects in the writing thread, as they are bound
        # (bulk.insert_arrow): built here, beside the writes, they slowed both threads down.
        self.csv = b""
        if dialect == "postgresql":
            file_ids = pa.repeat(pa.scalar(file_id, pa.int32()), valid.num_rows)
            self.csv = arrow_csv(self.values.append_column("file_id", file_ids))


def _insert_new(conn: Connection, records: PreparedRecords) -> None:
    """Plain bulk insert of rows whose record_ids are all new: COPY on PostgreSQL, multi-row
    INSERTs on SQLite. A record_id already stored raises the driver's IntegrityError."""
    if records.dialect == "postgresql":
        copy_csv(conn, "raw_spend_records", [*_COLUMNS, "file_id"], records.csv)
        return
    insert_arrow(conn, "raw_spend_records", records.values, {"file_id": records.file_id})


# One chunk's rows on the slow path of insert_records, sorting duplicates from conflicts.
_staging_t = Table(
    "spend_staging",
    MetaData(),
    Column("line_no", Integer, nullable=False),
    # The collation of raw_spend_records.record_id, which it is joined to.
    Column("record_id", raw_t.c.record_id.type, nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("amount", Money, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("local_date", Date, nullable=False),
    Column("first_in_chunk", Boolean, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def _first_lines(rows: pa.Table) -> pa.Array:
    """True at the earliest line of each record_id among `rows`, whatever their order."""
    order = pc.sort_indices(rows, [("record_id", "ascending"), ("line_no", "ascending")])
    ids = rows["record_id"].take(order)
    first_in_order = np.ones(rows.num_rows, dtype=bool)
    if rows.num_rows > 1:
        changed = pc.not_equal(ids.slice(1), ids.slice(0, rows.num_rows - 1))
        first_in_order[1:] = np.asarray(changed.to_numpy(zero_copy_only=False), dtype=bool)
    first = np.empty(rows.num_rows, dtype=bool)
    first[np.asarray(order)] = first_in_order
    return pa.array(first)


def _stage(conn: Connection, records: PreparedRecords) -> None:
    empty_temp_table(conn, _staging_t)
    insert_arrow(conn, "spend_staging", records.values.append_column("first_in_chunk", _first_lines(records.values)))


def insert_new_records(conn: Connection, records: PreparedRecords) -> InsertResult | None:
    """Add one chunk whose record_ids are all new with one plain bulk insert (COPY on
    PostgreSQL) inside a savepoint. None, with nothing written, when the chunk repeats a
    record_id or meets one already stored (the unique index says so): `insert_records` then
    sorts it out."""
    if records.num_rows == 0:
        return InsertResult(0, 0, [])
    try:
        with conn.begin_nested():
            _insert_new(conn, records)
    except (IntegrityError, conn.dialect.loaded_dbapi.IntegrityError):
        return None
    return InsertResult(records.num_rows, 0, [])


def insert_records(conn: Connection, records: PreparedRecords) -> InsertResult:
    """Add the validated rows of one chunk. A record_id already stored (by an earlier file or an
    earlier line) with the same content is a duplicate and changes nothing; with other content it
    is a conflicting duplicate, left out and returned. The caller marks the days that gained
    records dirty (`mark_days_dirty`), once per file.

    The usual chunk, all new record_ids, goes in with one plain bulk insert inside a savepoint;
    only when that meets a stored record_id (or the chunk repeats one) does it take the slower
    path through a staging table that sorts duplicates from conflicts.
    """
    if (inserted := insert_new_records(conn, records)) is not None:
        return inserted
    file_id = records.file_id
    _stage(conn, records)
    accepted = conn.execute(
        text(
            "INSERT INTO raw_spend_records "
            "(record_id, campaign_id, amount, occurred_at, local_date, file_id, line_no) "
            "SELECT record_id, campaign_id, amount, occurred_at, local_date, :file_id, line_no "
            "FROM spend_staging WHERE first_in_chunk "
            "ON CONFLICT (record_id) DO NOTHING"
        ),
        {"file_id": file_id},
    ).rowcount
    # Every staged row was inserted unless its record_id was already stored or repeated in the
    # chunk; only then can a row conflict.
    conflicts: Sequence[Any] = []
    if accepted < records.num_rows:
        conflicts = conn.execute(
            text(
                "SELECT s.line_no, s.record_id FROM spend_staging s "
                "JOIN raw_spend_records r ON r.record_id = s.record_id "
                "WHERE NOT (r.file_id = :file_id AND r.line_no = s.line_no) "
                "AND (r.campaign_id <> s.campaign_id OR r.amount <> s.amount OR r.occurred_at <> s.occurred_at) "
                "ORDER BY s.line_no"
            ),
            {"file_id": file_id},
        ).all()
    return InsertResult(
        accepted, records.num_rows - accepted - len(conflicts), [(int(n), str(r)) for n, r in conflicts]
    )


@dataclass(frozen=True)
class IngestTotals:
    records: int  # records stored, by every ingestion so far
    quarantined: int  # rows kept in quarantine
    files: int  # files ingested


def ingest_totals(conn: Connection) -> IngestTotals:
    """Running totals of ingestion, from its per-file counts (no scan of the records)."""
    f = spend_files_table.c
    records, files = conn.execute(
        select(func.coalesce(func.sum(f.accepted), 0), func.count()).where(
            f.error.is_(None), f.finished_at.is_not(None)
        )
    ).one()
    quarantined = conn.execute(select(func.count()).select_from(quarantine_table)).scalar_one()
    return IngestTotals(int(records), int(quarantined), int(files))


def campaign_zones(conn: Connection) -> dict[str, str]:
    """Each campaign's brand time zone, by campaign id: what ingestion dates records by."""
    rows = conn.execute(
        select(campaigns_table.c.id, brands_table.c.timezone).join(
            brands_table, brands_table.c.id == campaigns_table.c.brand_id
        )
    ).all()
    return dict(rows)


def start_file(conn: Connection, name: str, key: str, at: dt.datetime) -> int:
    """The spend_files row of one ingestion of a file (its id tags the records it adds)."""
    files = spend_files_table
    return int(
        conn.execute(insert(files).values(name=name, file_key=key, started_at=at).returning(files.c.id)).scalar_one()
    )


def finish_file(conn: Connection, file_id: int, at: dt.datetime, accepted: int, duplicate: int, rejected: int) -> None:
    files = spend_files_table
    conn.execute(
        update(files)
        .where(files.c.id == file_id)
        .values(finished_at=at, accepted=accepted, duplicate=duplicate, rejected=rejected)
    )


def record_failed_file(conn: Connection, name: str, key: str, at: dt.datetime, error: str) -> None:
    """Note an ingestion that stored nothing because the file could not be read, with why."""
    conn.execute(insert(spend_files_table).values(name=name, file_key=key, started_at=at, finished_at=at, error=error))
