"""The notification outbox in the store: rows written in the transaction of the status change or
alert they tell of, the pending ones read in order for delivery, each attempt's outcome, and
the outbox as people read it."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)

from budget_pipeline.rules.money import money_text
from budget_pipeline.rules.notifications import (
    DELIVERED,
    FAILED,
    PENDING,
    change_summary,
    change_type,
)
from budget_pipeline.rules.reasons import ALL_REASONS, Change, format_reasons
from budget_pipeline.store.bulk import empty_temp_table
from budget_pipeline.store.db import sqlite_file
from budget_pipeline.store.schema import alerts_table, brands_table, campaigns_table, notifications_table

a, b, c, n = alerts_table, brands_table, campaigns_table, notifications_table

# The kinds of change one status write makes: a mass change has many campaigns and few kinds,
# so each kind's payload is written once and joined to its campaigns in the database.
_kinds = Table(
    "change_kinds",
    MetaData(),
    Column("kind", Integer, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("data", Text, nullable=False),
    Column("summary", Text, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)

KindKey = tuple[frozenset[str], frozenset[str], bool]


def change_kinds(changes: Sequence[Change]) -> tuple[list[int], dict[KindKey, int]]:
    """The kind number of each change, and the kinds: (reasons before, after, predicted)."""
    kinds: dict[KindKey, int] = {}
    numbers = [kinds.setdefault((ch.before, ch.after, ch.predicted), len(kinds)) for ch in changes]
    return numbers, kinds


def _ordered(reasons: frozenset[str]) -> list[str]:
    return [r for r in ALL_REASONS if r in reasons]


def write_change_notifications(
    conn: Connection, stage: Table, kinds: dict[KindKey, int], as_of: dt.datetime, run_id: str
) -> None:
    """One notification per staged change (`stage`: a campaign `id` and its `kind` a row), in
    the caller's transaction. Ids are a random prefix of this write and the campaign's id."""
    empty_temp_table(conn, _kinds)
    rows = []
    for (before, after, predicted), kind in kinds.items():
        data = {
            "active_before": not before,
            "active_after": not after,
            "reasons_before": _ordered(before),
            "reasons_after": _ordered(after),
            "changed_reason": format_reasons(before ^ after),
            "predicted": predicted,
            "as_of": as_of.isoformat(),
            "run_id": run_id,
        }
        summary = change_summary(before, after, _ordered(after))
        rows.append({"kind": kind, "type": change_type(before, after), "data": json.dumps(data), "summary": summary})
    conn.execute(insert(_kinds), rows)
    s, k = stage.c, _kinds.c
    prefix = uuid.uuid4().hex
    text = b.c.name + literal(": campaign ") + c.c.name + literal(" (") + s.id + literal(") ") + k.summary
    conn.execute(
        insert(n).from_select(
            ["id", "type", "occurred_at", "created_at", "brand", "campaign_id", "data", "text"],
            select(
                literal(prefix + ":") + s.id,
                k.type,
                literal(as_of, n.c.occurred_at.type),
                literal(as_of, n.c.created_at.type),
                b.c.name,
                s.id,
                k.data,
                text,
            )
            .select_from(stage.join(_kinds, k.kind == s.kind).join(c, c.c.id == s.id).join(b, b.c.id == c.c.brand_id))
            .order_by(s.id),
        )
    )


def alert_text(
    brand: str, period: str, period_start: dt.date, percent: int, spend: str, budget: str, currency: str
) -> str:
    what = "day" if period == "daily" else "month"
    return (
        f"{brand} reached {percent}% of its {period} budget for the {what} of "
        f"{period_start.isoformat()}: {spend} of {budget} {currency}"
    )


@dataclass(frozen=True)
class OutboxRow:
    """A notification and what became of it."""

    seq: int
    id: str
    type: str
    occurred_at: dt.datetime
    created_at: dt.datetime
    brand: str
    campaign_id: str | None
    data: str
    text: str
    status: str
    attempts: int
    first_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_error: str | None

    def payload(self) -> dict[str, Any]:
        """What is POSTed: the same for every attempt."""
        return {
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "brand": self.brand,
            "campaign_id": self.campaign_id,
            "data": json.loads(self.data),
            "text": self.text,
        }


_COLUMNS = (
    n.c.seq,
    n.c.id,
    n.c.type,
    n.c.occurred_at,
    n.c.created_at,
    n.c.brand,
    n.c.campaign_id,
    n.c.data,
    n.c.text,
    n.c.status,
    n.c.attempts,
    n.c.first_attempt_at,
    n.c.next_attempt_at,
    n.c.last_error,
)
# An alert's notification holds no payload of its own: it is rendered from the alert it names.
_ALERT_COLUMNS = (
    a.c.period,
    a.c.period_start,
    a.c.percent,
    a.c.spend,
    a.c.budget,
    a.c.at,
    a.c.run_id,
    b.c.currency,
)


def _select() -> Select[Any]:
    return select(*_COLUMNS, *_ALERT_COLUMNS).select_from(
        n.outerjoin(a, a.c.id == n.c.alert_id).outerjoin(b, b.c.id == a.c.brand_id)
    )


def _outbox_row(row: Row[Any]) -> OutboxRow:
    """An outbox row, an alert's payload rendered from its alert (the same on every read: an
    alert is never changed)."""
    fields = row._asdict()
    alert = {column.name: fields.pop(column.name) for column in _ALERT_COLUMNS}
    if fields["data"] is None:
        spend, budget = money_text(alert["spend"]), money_text(alert["budget"])
        data = {
            "period": alert["period"],
            "period_start": alert["period_start"].isoformat(),
            "percent": alert["percent"],
            "spend": spend,
            "budget": budget,
            "currency": alert["currency"],
            "as_of": alert["at"].isoformat(),
            "run_id": alert["run_id"],
        }
        fields["data"] = json.dumps(data)
        fields["text"] = alert_text(
            fields["brand"], alert["period"], alert["period_start"], alert["percent"], spend, budget, alert["currency"]
        )
    return OutboxRow(**fields)


def pending(conn: Connection, after: int = 0, limit: int | None = None) -> list[OutboxRow]:
    """The pending notifications after the one numbered `after`, oldest first."""
    query = _select().where(n.c.status == PENDING, n.c.seq > after).order_by(n.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return [_outbox_row(row) for row in conn.execute(query).all()]


def pending_count(conn: Connection, after: int = 0) -> int:
    """How many notifications are pending after the one numbered `after`."""
    return int(conn.execute(select(func.count()).where(n.c.status == PENDING, n.c.seq > after)).scalar_one())


def outbox(conn: Connection, only_pending: bool = False, limit: int | None = None) -> list[OutboxRow]:
    """The notifications, newest first."""
    query = _select().order_by(n.c.seq.desc())
    if only_pending:
        query = query.where(n.c.status == PENDING)
    if limit is not None:
        query = query.limit(limit)
    return [_outbox_row(row) for row in conn.execute(query).all()]


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt of the notification `seq`, or (`attempted` false) a
    reason it was not tried."""

    seq: int
    status: str
    attempts: int
    first_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_error: str | None
    delivered_at: dt.datetime | None = None


_attempt_update = (
    update(n)
    .where(n.c.seq == bindparam("b_seq"), n.c.status == PENDING)
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        first_attempt_at=bindparam("b_first_attempt_at"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        last_error=bindparam("b_last_error"),
        delivered_at=bindparam("b_delivered_at"),
    )
)


def record_attempts(conn: Connection, attempts: Sequence[Attempt]) -> None:
    """Write each attempt's outcome onto its notification, in the caller's transaction, in one
    statement run for them all; a row another delivery has moved on since (it is no longer
    pending) is left as that one left it."""
    if attempts:
        conn.execute(_attempt_update, [{f"b_{k}": v for k, v in vars(attempt).items()} for attempt in attempts])


def note_not_sent(conn: Connection, reason: str) -> int:
    """Say on every pending notification why it was not sent (no attempt counted), where it
    does not say so already; how many it was said on."""
    result = conn.execute(
        update(n)
        .where(n.c.status == PENDING, (n.c.last_error.is_(None)) | (n.c.last_error != reason))
        .values(last_error=reason)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class Due:
    """The pending notifications due at an instant: how many, the newest, and their attempts so
    far (together they change whenever a delivery made progress or a new one came)."""

    count: int
    newest: int
    attempts: int


def due(conn: Connection, now: dt.datetime) -> Due:
    """The pending notifications due at `now` (some may still wait behind an earlier one of
    their campaign)."""
    query = select(func.count(), func.max(n.c.seq), func.sum(n.c.attempts)).where(
        n.c.status == PENDING, (n.c.next_attempt_at.is_(None)) | (n.c.next_attempt_at <= now)
    )
    count, newest, attempts = conn.execute(query).one()
    return Due(int(count), int(newest or 0), int(attempts or 0))


def counts(conn: Connection) -> dict[str, int]:
    """How many notifications are pending, delivered and failed."""
    found: dict[str, int] = dict(conn.execute(select(n.c.status, func.count()).group_by(n.c.status)).tuples().all())
    return {status: int(found.get(status, 0)) for status in (PENDING, DELIVERED, FAILED)}


def failed(conn: Connection, limit: int = 20) -> list[OutboxRow]:
    """The notifications failed for good, newest first."""
    query = _select().where(n.c.status == FAILED).order_by(n.c.seq.desc()).limit(limit)
    return [_outbox_row(row) for row in conn.execute(query).all()]


# The advisory lock one delivery holds on PostgreSQL, per schema: budget databases that share
# one PostgreSQL database in schemas of their own each deliver their own outbox.
DELIVERY_LOCK_KEY = 0x6465_6C76  # "delv"
_delivery_lock = (literal(DELIVERY_LOCK_KEY), func.hashtext(func.current_schema()))


@contextmanager
def delivery_turn(engine: Engine) -> Iterator[bool]:
    """Whether this delivery may go on: one at a time per budget database, whichever process
    asks (`tick`, the sensor's runs), since two at once would POST the same notifications twice
    and could cross a campaign's order. Never waited for: the one that holds it delivers. On
    PostgreSQL a session advisory lock of the schema, on SQLite a lock on a file named after the database;
    either ends with its process."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            mine = bool(conn.execute(select(func.pg_try_advisory_lock(*_delivery_lock))).scalar())
            conn.commit()
            try:
                yield mine
            finally:
                if mine:
                    conn.execute(select(func.pg_advisory_unlock(*_delivery_lock)))
                    conn.commit()
        return
    database = sqlite_file(engine.url)
    if database is None:
        yield True
        return
    # In the temporary folder, named after the database's real path: a read-only database's
    # folder may not take a new file.
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:24]
    lock = Path(tempfile.gettempdir()) / f"budget-pipeline-delivery-{key}.lock"
    with open(lock, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
