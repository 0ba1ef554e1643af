"""Delivery of the notification outbox: store -> webhook -> store. Each due notification is
POSTed, in order per campaign, and each attempt's outcome written back. Runs apart from the
status writers: it takes no status lock, and a slow receiver holds up only itself."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import requests
from sqlalchemy import Engine

from budget_pipeline.rules.notifications import DELIVERED, FAILED, PENDING, gives_up, retry_delay, signature
from budget_pipeline.store.db import writing
from budget_pipeline.store.notifications import (
    Attempt,
    OutboxRow,
    delivery_turn,
    not_saying,
    note_not_sent,
    pending,
    pending_count,
    record_attempts,
)

TIMEOUT_SECONDS = 10.0
URL_NOT_SET = "not sent: BUDGET_WEBHOOK_URL is not set"
# A receiver that failed this many times in a row in one run is left alone until the next run:
# the notifications not tried keep their place, and nothing waits on a dead receiver's timeouts.
STOP_AFTER_FAILURES = 5
# Outcomes are written back in batches: a crash in between re-sends a few (at least once).
WRITE_EVERY = 100
PAGE = 1000  # pending notifications read at a time
BUSY = "another delivery is under way; left to it"


@dataclass(frozen=True)
class Webhook:
    """Where notifications go and how they are signed. `secret` is never shown anywhere."""

    url: str | None
    secret: str | None = field(default=None, repr=False)
    timeout: float = TIMEOUT_SECONDS


@dataclass
class Delivery:
    """What one delivery run did."""

    sent: int = 0
    retried: int = 0  # failed attempts that will be tried again
    failed: int = 0  # failed for good (retried for 24 hours)
    waiting: int = 0  # pending, not tried: not due yet, behind an earlier one of its campaign, or stopped
    not_sent: str | None = None  # why nothing was tried
    stopped: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.not_sent == BUSY:
            return BUSY
        if self.not_sent:
            return f"{self.not_sent} ({self.waiting} kept)"
        text = f"{self.sent} sent, {self.retried} to retry, {self.failed} failed, {self.waiting} waiting"
        if self.stopped:
            text += f"; stopped after {STOP_AFTER_FAILURES} failures in a row"
        return text


def body(row: OutboxRow) -> bytes:
    """The exact bytes POSTed (and signed) for a notification: the same on every attempt."""
    return json.dumps(row.payload(), separators=(",", ":"), ensure_ascii=False).encode()


def post(session: requests.Session, webhook: Webhook, row: OutboxRow) -> str | None:
    """POST one notification; None when the receiver took it (2xx), else why not. An error never
    repeats the URL (it may carry a token) nor the secret."""
    assert webhook.url is not None
    data = body(row)
    headers = {"Content-Type": "application/json", "Idempotency-Key": row.id}
    if webhook.secret:
        headers["X-Budget-Signature"] = signature(webhook.secret, data)
    try:
        # A redirect is a failure (not 2xx), never followed: a GET after a 303 proves nothing.
        with session.post(
            webhook.url, data=data, headers=headers, timeout=webhook.timeout, allow_redirects=False
        ) as response:
            _ = response.content  # read to the end, so the connection is kept for the next one
            status = response.status_code
    except requests.Timeout:
        return f"no answer within {webhook.timeout:g} s"
    except requests.ConnectionError as exc:
        return "connection refused" if _refused(exc) else "could not connect"
    except requests.RequestException as exc:
        return f"request failed ({type(exc).__name__})"
    return None if 200 <= status < 300 else f"HTTP {status}"


def _refused(exc: requests.ConnectionError) -> bool:
    """Whether nothing listened (the message is only looked at: it names the URL)."""
    return "refused" in str(exc).lower()


def _outcome(row: OutboxRow, error: str | None, now: dt.datetime) -> Attempt:
    attempts = row.attempts + 1
    first = row.first_attempt_at or now
    if error is None:
        return Attempt(row.seq, DELIVERED, attempts, first, None, None, delivered_at=now)
    if gives_up(first, now):
        return Attempt(row.seq, FAILED, attempts, first, None, error)
    return Attempt(row.seq, PENDING, attempts, first, now + retry_delay(attempts), error)


def deliver_due(engine: Engine, webhook: Webhook, now: dt.datetime) -> Delivery:
    """Deliver the notifications due at `now`, oldest first; a campaign's later notification
    waits while an earlier one of it is pending. Without a URL nothing is sent, and each pending
    notification says so. While another delivery is under way, this one does nothing."""
    with delivery_turn(engine) as mine:
        if not mine:
            return Delivery(not_sent=BUSY)
        return _deliver_due(engine, webhook, now)


def _deliver_due(engine: Engine, webhook: Webhook, now: dt.datetime) -> Delivery:
    done = Delivery()
    if not webhook.url:
        with engine.connect() as conn:
            done.waiting, done.not_sent = pending_count(conn), URL_NOT_SET
            unsaid = not_saying(conn, URL_NOT_SET)
        if unsaid:  # said once on each: nothing written when all say it already
            with writing(engine) as conn:
                note_not_sent(conn, URL_NOT_SET)
        return done
    blocked: set[str] = set()
    outcomes: list[Attempt] = []
    in_a_row = 0
    with _session(webhook.url) as session:
        for row in _pending_rows(engine):
            if in_a_row >= STOP_AFTER_FAILURES:  # this one and the rest wait for the next run
                done.stopped = True
                with engine.connect() as conn:
                    done.waiting += 1 + pending_count(conn, row.seq)
                break
            # Alerts name no campaign: each is on its own.
            stream = row.campaign_id or row.id
            if stream in blocked or not (row.next_attempt_at is None or row.next_attempt_at <= now):
                blocked.add(stream)
                done.waiting += 1
                continue
            error = post(session, webhook, row)
            outcome = _outcome(row, error, now)
            outcomes.append(outcome)
            if outcome.status == DELIVERED:
                done.sent += 1
                in_a_row = 0
            else:
                blocked.add(stream)
                in_a_row += 1
                done.failed += outcome.status == FAILED
                done.retried += outcome.status == PENDING
                if error is not None and error not in done.errors:
                    done.errors.append(error)
            if len(outcomes) >= WRITE_EVERY:
                _write(engine, outcomes)
    _write(engine, outcomes)
    return done


def _pending_rows(engine: Engine) -> Iterator[OutboxRow]:
    """The pending notifications, oldest first, read a page at a time (the outbox may hold
    100k's), each page on a connection of its own."""
    after = 0
    while True:
        with engine.connect() as conn:
            rows = pending(conn, after, PAGE)
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1].seq


def _session(url: str) -> requests.Session:
    """A session that keeps its connections alive, with what the environment says about `url`
    (proxy, CA bundle, .netrc) read once here, not again before every POST."""
    session = requests.Session()
    settings = session.merge_environment_settings(url, {}, None, None, None)
    auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    if settings["cert"] is not None:
        session.cert = settings["cert"]
    if auth is not None:
        session.auth = auth
    return session


def _write(engine: Engine, outcomes: list[Attempt]) -> None:
    if outcomes:
        with writing(engine) as conn:
            record_attempts(conn, outcomes)
        outcomes.clear()
