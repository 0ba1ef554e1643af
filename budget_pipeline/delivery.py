"""Delivery of the notification outbox: store -> webhook -> store. Each due notification is
POSTed, in order per campaign, and each attempt's outcome written back. Runs apart from the
status writers: it takes no status lock, and a slow receiver holds up only itself."""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
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
    saying,
    unsay_not_sent,
)

TIMEOUT_SECONDS = 10.0
URL_NOT_SET = "not sent: BUDGET_WEBHOOK_URL is not set"
# A receiver that failed this many times in a row in one run is left alone until the next run:
# the notifications not tried keep their place, and nothing waits on a dead receiver's timeouts.
STOP_AFTER_FAILURES = 5
# A run delivers for this long at most, then leaves the rest to the next run (notifications_sensor
# asks for it at its next tick): well inside the job's dagster/max_runtime (defs/jobs.py), past
# which run monitoring would cut a long delivery off mid-way.
RUN_SECONDS = 300.0
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
    stopped: bool = False  # after STOP_AFTER_FAILURES failures in a row
    out_of_time: bool = False  # after RUN_SECONDS
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.not_sent == BUSY:
            return BUSY
        if self.not_sent:
            return f"{self.not_sent} ({self.waiting} kept)"
        text = f"{self.sent} sent, {self.retried} to retry, {self.failed} failed, {self.waiting} waiting"
        if self.stopped:
            text += f"; stopped after {STOP_AFTER_FAILURES} failures in a row"
        if self.out_of_time:
            text += f"; stopped after {RUN_SECONDS:.0f} s, the rest for the next run"
        return text


def body(row: OutboxRow) -> bytes:
    """The exact bytes POSTed (and signed) for a notification: the same on every attempt."""
    return json.dumps(row.payload(), separators=(",", ":"), ensure_ascii=False).encode()


class Poster:
    """POSTs notifications, each given the webhook's timeout from its start: its status by then
    decides it (a 2xx whose body is still coming is delivered), else it is no answer. requests'
    own timeout bounds each socket read, so a receiver that answers a byte at a time, or never
    stops, would hold a delivery for ever and fill memory: the POSTs are made on a thread (kept
    from one POST to the next, with its session's kept-alive connection), waited for until the
    deadline. A POST still going then is left to its thread and the next gets a new thread and
    session. A body still coming is dropped one socket read after the deadline; headers that
    never end (http.client reads up to 100 of 64 KiB each, for as long as they come) keep their
    thread and socket until they stop or the process ends: at most five a run, which stops
    after five failures in a row."""

    def __init__(self, webhook: Webhook) -> None:
        self.webhook = webhook
        self._idle: _PostingThread | None = None

    def close(self) -> None:
        if self._idle is not None:
            self._idle.stop()
            self._idle = None

    def post(self, row: OutboxRow) -> str | None:
        """POST one notification; None when the receiver took it (2xx), else why not. An error
        never repeats the URL (it may carry a token) nor the secret."""
        data = body(row)
        headers = {"Content-Type": "application/json", "Idempotency-Key": row.id}
        if self.webhook.secret:
            headers["X-Budget-Signature"] = signature(self.webhook.secret, data)
        worker, self._idle = self._idle or _PostingThread(self.webhook), None
        deadline = time.monotonic() + self.webhook.timeout
        replies = worker.post(data, headers, deadline)
        outcome = _reply(replies, deadline)
        if outcome is _NOTHING:
            worker.stop()
            return _no_answer(self.webhook)
        if _reply(replies, deadline) is _DONE:
            self._idle = worker  # free again, its connection kept for the next POST
        else:
            worker.stop()  # still reading the answer: left to end it
        assert outcome is None or isinstance(outcome, str)
        return outcome


def _no_answer(webhook: Webhook) -> str:
    return f"no answer within {webhook.timeout:g} s"


_DONE, _NOTHING = object(), object()  # a POSTing thread's last reply; no reply by the deadline
Replies = queue.SimpleQueue[object]  # a POST's replies: its outcome (None or why not), then _DONE


def _reply(replies: Replies, deadline: float) -> object:
    try:
        return replies.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        return _NOTHING


class _PostingThread:
    """A thread that makes the POSTs it is given, one at a time, on a session of its own. For each
    it replies the outcome as soon as the status line is in (or the error), then _DONE once the
    answer is read."""

    def __init__(self, webhook: Webhook) -> None:
        assert webhook.url is not None
        self.webhook, self.url = webhook, webhook.url
        self.session = _session(self.url)
        self.jobs: queue.SimpleQueue[tuple[bytes, dict[str, str], float, Replies] | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True, name="webhook-post").start()

    def post(self, data: bytes, headers: dict[str, str], deadline: float) -> Replies:
        replies: Replies = queue.SimpleQueue()
        self.jobs.put((data, headers, deadline, replies))
        return replies

    def stop(self) -> None:
        """End the thread once it has made the POSTs it was given."""
        self.jobs.put(None)

    def _run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                data, headers, deadline, replies = job
                self._post(data, headers, deadline, replies)
                replies.put(_DONE)
        finally:
            self.session.close()

    def _post(self, data: bytes, headers: dict[str, str], deadline: float, replies: Replies) -> None:
        """POST; reply the outcome as soon as it is known, then read the answer to its end."""
        told = False
        try:
            # A redirect is a failure (not 2xx), never followed: a GET after a 303 proves nothing.
            with self.session.post(
                self.url, data=data, headers=headers, timeout=self.webhook.timeout, allow_redirects=False, stream=True
            ) as response:
                status = response.status_code
                replies.put(None if 200 <= status < 300 else f"HTTP {status}")
                told = True
                _read_to_the_end(response, deadline)
        except Exception as exc:  # noqa: BLE001 - every failure of a POST is its outcome
            if not told:
                replies.put(_failure(exc, self.webhook))


def _failure(exc: Exception, webhook: Webhook) -> str:
    """Why a POST failed, in words that never repeat the URL (the message of `exc` may)."""
    if isinstance(exc, requests.Timeout):
        return _no_answer(webhook)
    if isinstance(exc, requests.ConnectionError):
        return "connection refused" if _refused(exc) else "could not connect"
    return f"request failed ({type(exc).__name__})"


ANSWER_READ_AT_MOST = 64 * 1024  # bytes of an answer's body read, so its connection is kept


def _read_to_the_end(response: requests.Response, deadline: float) -> None:
    """Read the answer's body to its end (an answer read whole gives its connection back for the
    next POST), a socket read at a time; one longer than ANSWER_READ_AT_MOST or still coming at
    `deadline` is left unread, and its connection closed with the response."""
    read = 0
    while read <= ANSWER_READ_AT_MOST and time.monotonic() < deadline:
        chunk = response.raw.read1(8192)
        if not chunk:
            return
        read += len(chunk)
    response.raw.close()


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
    with engine.connect() as conn:
        said = saying(conn, URL_NOT_SET)
    if said:  # the URL is set now: a notification still waiting its turn no longer says otherwise
        with writing(engine) as conn:
            unsay_not_sent(conn, URL_NOT_SET)
    blocked: set[str] = set()
    outcomes: list[Attempt] = []
    in_a_row = 0
    until = time.monotonic() + RUN_SECONDS
    poster = Poster(webhook)
    try:
        for row in _pending_rows(engine):
            stopped, out_of_time = in_a_row >= STOP_AFTER_FAILURES, time.monotonic() >= until
            if stopped or out_of_time:  # this one and the rest wait for the next run
                done.stopped, done.out_of_time = stopped, out_of_time
                with engine.connect() as conn:
                    done.waiting += 1 + pending_count(conn, row.seq)
                break
            # Alerts name no campaign: each is on its own.
            stream = row.campaign_id or row.id
            if stream in blocked or not (row.next_attempt_at is None or row.next_attempt_at <= now):
                blocked.add(stream)
                done.waiting += 1
                continue
            error = poster.post(row)
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
    finally:
        poster.close()
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
