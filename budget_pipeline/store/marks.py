"""Which brands an enforcement must look at, so that it costs in proportion to what changed:
the brands whose spend (or, all at once, whose catalog) changed since enforcement last saw
them, and the time zones whose local date has moved on since the last enforcement.

Marks are only ever inserted (one per brand and spend file) and deleted by the enforcement that
read them, by their sequence numbers: a mark committed while an enforcement runs was not read by
it, so it is not deleted and the next enforcement sees its brand. No writer updates a row
another writer may hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, func, insert, select

from budget_pipeline.rules.calendar import local_date
from budget_pipeline.store.bulk import dialect_insert
from budget_pipeline.store.schema import (
    brands_table,
    brands_to_enforce_table,
    campaigns_table,
    enforced_zones_table,
)

b, c = brands_table, campaigns_table
marks_t, zones_t = brands_to_enforce_table, enforced_zones_table

EVERY_BRAND = 0  # the brand id of a mark that asks for every brand (a catalog change)
BOUND_IDS = 500  # ids bound in one statement: well within SQLite's limit on variables


def mark_brands(conn: Connection, brand_ids: Iterable[int], first_day: dt.date | None = None) -> None:
    """Ask the next enforcement to look at `brand_ids`, whose spend changed on `first_day` or later."""
    _mark(conn, dict.fromkeys(brand_ids, first_day))


def _mark(conn: Connection, first_days: Mapping[int, dt.date | None]) -> None:
    rows = [{"brand_id": brand_id, "first_day": first_days[brand_id]} for brand_id in sorted(first_days)]
    if rows:
        conn.execute(insert(marks_t), rows)


def mark_every_brand(conn: Connection) -> None:
    """Ask the next enforcement for a full pass (the catalog changed)."""
    mark_brands(conn, [EVERY_BRAND])


def newest_catalog_change(conn: Connection) -> int | None:
    """The sequence number of the newest mark a catalog change left that no enforcement has
    read yet, or None: what `enforce_on_spend_sensor` asks a run for."""
    return conn.execute(select(func.max(marks_t.c.seq)).where(marks_t.c.brand_id == EVERY_BRAND)).scalar()


def mark_brands_of_campaigns(conn: Connection, first_days: Mapping[str, dt.date]) -> None:
    """Ask the next enforcement to look at the brands of a file's campaigns, each brand from the
    earliest local date of its campaigns' new records (`first_days`, by campaign id)."""
    if not first_days:
        return
    if len(first_days) <= BOUND_IDS:
        query = select(c.c.id, c.c.brand_id).where(c.c.id.in_(sorted(first_days)))
    else:  # most of the catalog: read every campaign's brand once rather than bind them all
        query = select(c.c.id, c.c.brand_id)
    by_brand: dict[int, dt.date] = {}
    for campaign_id, brand_id in conn.execute(query):
        if (day := first_days.get(campaign_id)) is not None:
            by_brand[brand_id] = min(day, by_brand.get(brand_id, day))
    _mark(conn, by_brand)


@dataclass(frozen=True)
class Marks:
    """The marks one enforcement read: their sequence numbers and brands."""

    seqs: list[int]
    brand_ids: frozenset[int]
    # The earliest local date of the new spend of each marked brand (for its late alerts).
    first_days: dict[int, dt.date] = field(default_factory=dict)

    @property
    def every_brand(self) -> bool:
        return EVERY_BRAND in self.brand_ids


def read_marks(conn: Connection) -> Marks:
    rows = conn.execute(select(marks_t.c.seq, marks_t.c.brand_id, marks_t.c.first_day)).all()
    first_days: dict[int, dt.date] = {}
    for _, brand_id, day in rows:
        if day is not None:
            first_days[brand_id] = min(day, first_days.get(brand_id, day))
    return Marks([seq for seq, _, _ in rows], frozenset(bid for _, bid, _ in rows), first_days)


def clear_marks(conn: Connection, marks: Marks) -> None:
    """Delete the marks an enforcement read (and only those), in its transaction."""
    for i in range(0, len(marks.seqs), BOUND_IDS):
        conn.execute(delete(marks_t).where(marks_t.c.seq.in_(marks.seqs[i : i + BOUND_IDS])))


def enforced_dates(conn: Connection) -> dict[str, dt.date]:
    """Each time zone's local date at the last enforcement (none before the first)."""
    return dict(conn.execute(select(zones_t.c.timezone, zones_t.c.local_date)).all())


def zones_turned(enforced: dict[str, dt.date], as_of: dt.datetime) -> list[str]:
    """The zones whose local date at `as_of` is not the one of the last enforcement."""
    return sorted(zone for zone, day in enforced.items() if local_date(as_of, zone) != day)


def record_enforced_dates(conn: Connection, as_of: dt.datetime, zones: Iterable[str]) -> None:
    """Note `zones`' local dates at `as_of` as those of the last enforcement."""
    rows = [{"timezone": zone, "local_date": local_date(as_of, zone)} for zone in sorted(set(zones))]
    if rows:
        upsert = dialect_insert(conn, zones_t)
        conn.execute(
            upsert.on_conflict_do_update(index_elements=["timezone"], set_={"local_date": upsert.excluded.local_date}),
            rows,
        )


def brands_in_zones(conn: Connection, zones: Collection[str]) -> set[int]:
    if not zones:
        return set()
    return set(conn.execute(select(b.c.id).where(b.c.timezone.in_(sorted(zones)))).scalars())


def predictive_brands(conn: Connection) -> set[int]:
    """Brands with a `pause_ahead`: their recent rate moves with the clock, spend or none."""
    return set(conn.execute(select(b.c.id).where(b.c.pause_ahead_minutes.is_not(None))).scalars())
