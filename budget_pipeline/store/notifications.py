"""The notification outbox in the store: rows written in the transaction of the status change or
alert they tell of, the pending ones read in order for delivery, each attempt's outcome, and
the outbox as people read it."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    Row,
    Select,
    String,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)

from budget_pipeline.rules.money import money_text, spend_text
from budget_pipeline.rules.notifications import (
    DELIVERED,
    FAILED,
    PENDING,
    change_text,
    change_type,
)
from budget_pipeline.rules.reasons import parse_reasons
from budget_pipeline.store.bulk import empty_temp_table, insert_arrow, temp_table
from budget_pipeline.store.db import sqlite_file
from budget_pipeline.store.schema import (
    alerts_table,
    brands_table,
    campaigns_table,
    notifications_table,
    status_log_table,
)

a, b, c, n, log = alerts_table, brands_table, campaigns_table, notifications_table, status_log_table


def write_prefix() -> str:
    """The random start of the ids of one write's notifications, 64 bits: the rest of an id (a
    status-log or alert row's id) is unique in its database, this keeps ids apart across
    databases a receiver may hear from, such as one restored from a backup, whose row ids
    start again where the backup left them."""
    return secrets.token_hex(8)


def write_change_notifications(conn: Connection, after: int) -> None:
    """One notification per status-log row written since the row `after` (this write's), in the
    caller's transaction: its id, times, campaign and log row, nothing else (its
    type, brand, line and data are rendered from the log row when read; see keep_names). The
    ids are a random prefix of this write, the log row's id and the campaign's."""
    prefix = write_prefix() + ":"
    conn.execute(
        insert(n).from_select(
            ["id", "occurred_at", "created_at", "campaign_id", "log_id"],
            select(
                literal(prefix) + cast(log.c.id, String) + literal(":") + log.c.campaign_id,
                log.c.at,
                log.c.at,
                log.c.campaign_id,
                log.c.id,
            )
            # No order: seq gives a campaign's notifications the order of its writes, and one
            # write changes a campaign once (sorting a mass change's rows would spill to disk).
            .where(log.c.id > after),
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
# Notifications written since migration 0012 hold no data of their own: an alert's (and its
# line) is rendered from its alert, a status change's from its status-log row (neither changes);
# since 0014 a status change's type, brand and line too, with the names of its campaign and
# brand (kept in the row by a catalog apply that would change them: keep_names).
alert_brand, campaign_brand = b.alias("alert_brand"), b.alias("campaign_brand")
_SOURCE_COLUMNS = (
    a.c.period,
    a.c.period_start,
    a.c.percent,
    a.c.spend,
    a.c.budget,
    a.c.currency,
    a.c.at.label("alert_at"),
    a.c.run_id.label("alert_run_id"),
    alert_brand.c.name.label("alert_brand"),
    log.c.active_before,
    log.c.active_after,
    log.c.reasons_before,
    log.c.reasons_after,
    log.c.changed_reason,
    log.c.predicted,
    log.c.at.label("log_at"),
    log.c.run_id.label("log_run_id"),
    c.c.name.label("campaign_name"),
    campaign_brand.c.name.label("campaign_brand"),
)
_SOURCE_NAMES = tuple(column.name for column in _SOURCE_COLUMNS)


def _select() -> Select[Any]:
    return select(*_COLUMNS, *_SOURCE_COLUMNS).select_from(
        n.outerjoin(a, a.c.id == n.c.alert_id)
        .outerjoin(alert_brand, alert_brand.c.id == a.c.brand_id)
        .outerjoin(log, log.c.id == n.c.log_id)
        .outerjoin(c, c.c.id == n.c.campaign_id)
        .outerjoin(campaign_brand, campaign_brand.c.id == c.c.brand_id)
    )


def _outbox_row(row: Row[Any]) -> OutboxRow:
    """An outbox row with its payload: what it holds, the rest rendered from the alert or the
    status-log row it names (the same on every read)."""
    fields = row._asdict()
    source = {name: fields.pop(name) for name in _SOURCE_NAMES}
    fields["brand"] = fields["brand"] or source["alert_brand"] or source["campaign_brand"] or ""
    if source["period"] is not None:
        if fields["data"] is None:
            fields["data"], fields["text"] = _alert_payload(fields["brand"], source)
    elif source["active_before"] is not None:
        before, after = parse_reasons(source["reasons_before"]), parse_reasons(source["reasons_after"])
        fields["type"] = fields["type"] or change_type(before, after)
        if fields["text"] is None:
            fields["text"] = change_text(fields["brand"], source["campaign_name"], fields["campaign_id"], before, after)
        if fields["data"] is None:
            fields["data"] = _change_data(source)
    return OutboxRow(**fields)


# The brand and line of each notification keep_names writes, staged for one UPDATE.
_kept = temp_table(
    "notification_names",
    Column("seq", Integer, primary_key=True),
    Column("brand", String(200), nullable=False),
    Column("text", Text, nullable=False),
)


def keep_names(conn: Connection, campaign_ids: Select[Any]) -> int:
    """Write into the status-change notifications of `campaign_ids` that render their names the
    brand and line they read now, in the caller's transaction (under the status lock, so no
    status write adds one meanwhile), before a catalog apply renames those campaigns or moves
    them to another brand: a notification says what was true when it was written, on every
    read and every attempt. How many were written."""
    query = (
        select(n.c.seq, n.c.campaign_id, c.c.name, b.c.name, log.c.reasons_before, log.c.reasons_after)
        .select_from(
            n.join(log, log.c.id == n.c.log_id).join(c, c.c.id == n.c.campaign_id).join(b, b.c.id == c.c.brand_id)
        )
        .where(n.c.text.is_(None), n.c.campaign_id.in_(campaign_ids))
    )
    rows = conn.execute(query).all()
    if not rows:
        return 0
    kept = {
        "seq": pa.array([row[0] for row in rows], pa.int64()),
        "brand": pa.array([row[3] for row in rows], pa.string()),
        "text": pa.array(
            [
                change_text(brand, name, campaign_id, parse_reasons(before), parse_reasons(after))
                for _, campaign_id, name, brand, before, after in rows
            ],
            pa.string(),
        ),
    }
    empty_temp_table(conn, _kept)
    insert_arrow(conn, _kept.name, pa.table(kept))
    k = _kept.c
    conn.execute(update(n).where(n.c.seq == k.seq).values(brand=k.brand, text=k.text))
    return len(rows)


def _alert_payload(brand: str, alert: dict[str, Any]) -> tuple[str, str]:
    spend, budget = money_text(alert["spend"]), money_text(alert["budget"])
    data = {
        "period": alert["period"],
        "period_start": alert["period_start"].isoformat(),
        "percent": alert["percent"],
        "spend": spend,
        "budget": budget,
        "currency": alert["currency"],
        "as_of": alert["alert_at"].isoformat(),
        "run_id": alert["alert_run_id"],
    }
    shown = spend_text(alert["spend"])  # "at least …" for a sum held at the ceiling; the data keeps the decimal
    text = alert_text(brand, alert["period"], alert["period_start"], alert["percent"], shown, budget, alert["currency"])
    return json.dumps(data), text


def _change_data(change: dict[str, Any]) -> str:
    """A status change's data; reasons in the contract's order (the log keeps them so)."""
    return json.dumps(
        {
            "active_before": bool(change["active_before"]),
            "active_after": bool(change["active_after"]),
            "reasons_before": [r for r in change["reasons_before"].split(",") if r],
            "reasons_after": [r for r in change["reasons_after"].split(",") if r],
            "changed_reason": change["changed_reason"],
            "predicted": bool(change["predicted"]),
            "as_of": change["log_at"].isoformat(),
            "run_id": change["log_run_id"],
        }
    )


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


def _not_saying(reason: str) -> Any:
    return (n.c.status == PENDING) & ((n.c.last_error.is_(None)) | (n.c.last_error != reason))


def not_saying(conn: Connection, reason: str) -> int:
    """How many pending notifications do not say `reason` yet (a read: a delivery that has
    nothing new to say writes nothing, so it runs on a read-only database too)."""
    return int(conn.execute(select(func.count()).where(_not_saying(reason))).scalar_one())


def note_not_sent(conn: Connection, reason: str) -> int:
    """Say on every pending notification why it was not sent (no attempt counted), where it
    does not say so already; how many it was said on."""
    result = conn.execute(update(n).where(_not_saying(reason)).values(last_error=reason))
    return result.rowcount or 0


def _saying(reason: str) -> Any:
    return (n.c.status == PENDING) & (n.c.last_error == reason)


def saying(conn: Connection, reason: str) -> int:
    """How many pending notifications say `reason` (a read, as `not_saying`)."""
    return int(conn.execute(select(func.count()).where(_saying(reason))).scalar_one())


def unsay_not_sent(conn: Connection, reason: str) -> int:
    """Take `reason` back from the pending notifications that say it (it no longer holds: the
    next attempt says what became of each); how many."""
    result = conn.execute(update(n).where(_saying(reason)).values(last_error=None))
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
