"""Keeping the aggregates honest between refreshes: the dirty-day marks (made by ingestion and
by catalog changes, claimed by rebuilds), and re-dating the records of campaigns whose time
zone changed. Set-based, except that re-dating computes local dates in Arrow and NumPy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Column,
    Connection,
    Date,
    MetaData,
    Select,
    String,
    Table,
    and_,
    delete,
    func,
    select,
    update,
)

from budget_pipeline.rules.calendar import current_days, local_dates
from budget_pipeline.store.bulk import dialect_insert, empty_temp_table, insert_arrow, temp_table
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    dirty_campaigns_table,
    dirty_days_table,
    raw_table,
)

raw_t = raw_table
dirty_t = dirty_days_table
dirty_campaigns_t = dirty_campaigns_table
brands_t = brands_table
campaigns_t = campaigns_table


CATALOG_CHANGE = 0  # the file_id of a dirty mark made by a catalog change, not by a spend file


def mark_days_dirty(
    conn: Connection,
    days: Collection[dt.date],
    file_id: int = CATALOG_CHANGE,
    campaigns: Mapping[dt.date, Collection[str]] | None = None,
) -> None:
    """Mark `days` for the next refresh, noting the spend file that touched them last. A day in
    `campaigns` is marked for those campaigns only (the rest of it as built), unless it is
    already marked whole; any other day is marked whole.

    In day order, the order in which a rebuild locks them too (`claim_dirty_days`): a mark
    waits for a rebuild that holds its day, then outlives it. The campaigns are noted after the
    day, under its lock: a rebuild that claims the day sees them all or waits for them."""
    if not days:
        return
    campaigns = campaigns or {}
    upsert = dialect_insert(conn, dirty_t)
    only = dirty_t.c.campaigns_only
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["day"],
            set_={"file_id": upsert.excluded.file_id, "campaigns_only": and_(only, upsert.excluded.campaigns_only)},
        ),
        [{"day": day, "file_id": file_id, "campaigns_only": day in campaigns} for day in sorted(days)],
    )
    marked = sorted(set(campaigns) & set(days))
    if not marked:
        return
    staged = [(day.isoformat(), cid) for day in marked for cid in campaigns[day]]
    empty_temp_table(conn, _staged_marks_t)
    insert_arrow(
        conn,
        _staged_marks_t.name,
        pa.table({"day": [day for day, _ in staged], "campaign_id": [cid for _, cid in staged]}),
    )
    s, d, dc = _staged_marks_t.c, dirty_t.c, dirty_campaigns_t.c
    # Only where the day is still marked for some campaigns: a day marked whole needs no names.
    marks = dialect_insert(conn, dirty_campaigns_t).from_select(
        ["day", "campaign_id"], select(s.day, s.campaign_id).where(s.day.in_(select(d.day).where(d.campaigns_only)))
    )
    conn.execute(marks.on_conflict_do_nothing(index_elements=["day", "campaign_id"]))
    # Many files' marks add up: a day marked for more campaigns than a file may name is summed whole.
    named = select(func.count()).where(dc.day == d.day).scalar_subquery()
    conn.execute(
        update(dirty_t)
        .where(d.day.in_(marked), d.campaigns_only, named > MARKED_CAMPAIGNS_PER_DAY)
        .values(campaigns_only=False)
    )


# A file's campaign marks, staged (written in one COPY on PostgreSQL) before they are added.
_staged_marks_t = temp_table(
    "dirty_campaigns_staged",
    Column("day", Date, nullable=False),
    Column("campaign_id", String(64), nullable=False),
)

# The most campaigns a day is marked for, from every file since its last refresh; more, and the
# refresh sums the whole day.
MARKED_CAMPAIGNS_PER_DAY = 5_000


def claim_dirty_days(conn: Connection, first: dt.date, stop: dt.date) -> dict[dt.date, bool]:
    """The dirty days of [first, stop), each with whether only its marked campaigns changed,
    locked until this rebuild commits (on PostgreSQL, in day order, as `mark_days_dirty` writes
    them). A file that marks one of them meanwhile waits and marks it again after the rebuild,
    whose sums may have missed its records; a day first marked meanwhile is not claimed. Either
    way the next refresh sees the day."""
    query = (
        select(dirty_t.c.day, dirty_t.c.campaigns_only)
        .where(dirty_t.c.day >= first, dirty_t.c.day < stop)
        .order_by(dirty_t.c.day)
    )
    return {day: bool(only) for day, only in conn.execute(query.with_for_update()).all()}


def marked_campaigns(day: dt.date) -> Select[Any]:
    """The campaigns marked in `day` (a `campaigns_only` dirty day)."""
    return select(dirty_campaigns_t.c.campaign_id).where(dirty_campaigns_t.c.day == day)


def clear_dirty_days(conn: Connection, days: Collection[dt.date]) -> None:
    """Delete the dirty marks (and campaign marks) of `days`, which this rebuild claimed (`claim_dirty_days`): no other
    writer can mark them until it commits."""
    if days:
        conn.execute(delete(dirty_campaigns_t).where(dirty_campaigns_t.c.day.in_(sorted(days))))
        conn.execute(delete(dirty_t).where(dirty_t.c.day.in_(sorted(days))))


def dirty_days(conn: Connection) -> list[dt.date]:
    return list(conn.execute(select(dirty_t.c.day).order_by(dirty_t.c.day)).scalars())


def days_to_refresh(conn: Connection, as_of: dt.datetime) -> list[dt.date]:
    """The days a refresh rebuilds: those whose raw records changed since they were built, and
    every brand's local date of `as_of` (one or two dates)."""
    zones = set(conn.execute(select(brands_t.c.timezone).distinct()).scalars())
    return sorted(set(dirty_days(conn)) | current_days(as_of, zones))


def mark_campaign_days_dirty(conn: Connection, campaign_ids: Select[Any]) -> None:
    """Mark every local day with spend of the campaigns `campaign_ids` selects for the next refresh."""
    days = conn.execute(select(raw_t.c.local_date).where(raw_t.c.campaign_id.in_(campaign_ids)).distinct())
    mark_days_dirty(conn, set(days.scalars()))


# Records of a re-zoned campaign whose local date changed, with the new date.
_redates_t = Table(
    "spend_redates",
    MetaData(),
    Column("record_id", raw_t.c.record_id.type, primary_key=True),
    Column("local_date", Date, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def relocalize_campaigns(conn: Connection, campaign_ids: Select[Any]) -> int:
    """Re-date the raw records of the campaigns `campaign_ids` selects to the local days of
    their brands' (new) time zones, computed as ingestion computes them; the old and new days
    are marked dirty so the next refresh rebuilds them. How many records changed day."""
    rows = conn.execute(
        select(raw_t.c.record_id, raw_t.c.campaign_id, raw_t.c.occurred_at, raw_t.c.local_date, brands_t.c.timezone)
        .join(campaigns_t, campaigns_t.c.id == raw_t.c.campaign_id)
        .join(brands_t, brands_t.c.id == campaigns_t.c.brand_id)
        .where(raw_t.c.campaign_id.in_(campaign_ids))
    ).all()
    if not rows:
        return 0
    record_ids, _, occurred, old_days, zones = zip(*rows, strict=True)
    names = sorted(set(zones))
    code = {name: i for i, name in enumerate(names)}
    utc = np.asarray(pa.array(occurred, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False))
    codes = np.fromiter((code[zone] for zone in zones), dtype=np.int32, count=len(zones))
    new_days = pa.array(local_dates(utc, codes, names), pa.date32())
    changed = pc.not_equal(new_days, pa.array(old_days, pa.date32()))
    moved = pa.table(
        {
            "record_id": pa.array(record_ids, pa.string()).filter(changed),
            "local_date": new_days.filter(changed).cast(pa.string()),
        }
    )
    if moved.num_rows:
        empty_temp_table(conn, _redates_t)
        insert_arrow(conn, _redates_t.name, moved)
        conn.execute(
            update(raw_t).values(local_date=_redates_t.c.local_date).where(raw_t.c.record_id == _redates_t.c.record_id)
        )
        old = pa.array(old_days, pa.date32()).filter(changed)
        mark_days_dirty(conn, set(pc.unique(old).to_pylist()) | set(pc.unique(new_days.filter(changed)).to_pylist()))
    return moved.num_rows
