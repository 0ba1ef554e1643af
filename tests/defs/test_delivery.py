"""Delivery of the outbox to a real HTTP receiver (tests/receiver.py) on both databases: the
signature and idempotency key, retries with growing delays until the receiver is back, order
per campaign, giving up after 24 hours, nothing sent without a URL; the Dagster job and sensor;
the secret nowhere in what they show."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context
from sqlalchemy import Engine

from budget_pipeline import control, delivery
from budget_pipeline.defs.resources import BudgetDatabase, WebhookResource
from budget_pipeline.delivery import BUSY, URL_NOT_SET, Webhook, deliver_due
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.store.notifications import outbox
from tests.conftest import write_csv
from tests.receiver import ENDLESS_BODY, HANG, TRICKLE_BODY, TRICKLE_HEADERS, closed_port_url, misbehaving, receiver

NOON = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)
RETRY = dt.timedelta(seconds=30)  # the first retry's delay
SECRET = "s3cr3t-do-not-show"


def _pause(engine: Engine, tmp_path: Path, amount: str = "120") -> None:
    """Acme's two campaigns paused (two notifications) and its two daily alerts."""
    ingest_file(engine, write_csv(tmp_path / "a.csv", [f"r1,acme-search,{amount},2026-11-25T15:00:00Z"]), now=NOON)
    control.enforce_budgets(engine, NOON, "pause")


def _status(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        return {r.id: (r.status, r.attempts) for r in outbox(conn)}


def test_each_notification_is_signed_and_keyed_by_its_id(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    with receiver() as hook:
        done = deliver_due(acme, Webhook(hook.url, SECRET), NOON)
    assert (done.sent, done.retried, done.failed) == (4, 0, 0)
    assert len(hook.delivered) == 4
    for got in hook.delivered:
        expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(got.headers["X-Budget-Signature"], expected)
        assert got.headers["Idempotency-Key"] == got.json["id"]
        assert set(got.json) == {"id", "type", "occurred_at", "brand", "campaign_id", "data", "text"}
    assert [g.json["type"] for g in hook.delivered] == [
        "campaign.paused",
        "campaign.paused",
        "budget.alert",
        "budget.alert",
    ]
    assert set(_status(acme).values()) == {("delivered", 1)}
    with receiver() as again:
        assert deliver_due(acme, Webhook(again.url, SECRET), NOON).sent == 0
    assert again.received == []


def test_a_url_and_secret_read_from_files_are_taken_without_their_line_breaks(acme: Engine, tmp_path: Path) -> None:
    """As `tick` and the settings take them: the run's resource refused the URL, and signed with
    the line break, while `tick` said the settings were fine (a hostile-user pass)."""
    _pause(acme, tmp_path)
    with receiver() as hook:
        webhook = WebhookResource(url=f"  {hook.url}\n", secret=f"{SECRET}\n").webhook()
        assert deliver_due(acme, webhook, NOON).sent == 4
    for got in hook.delivered:
        expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(got.headers["X-Budget-Signature"], expected)
    assert WebhookResource(url=" \n", secret=" ").webhook().url is None


def test_unsigned_without_a_secret(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    with receiver() as hook:
        deliver_due(acme, Webhook(hook.url), NOON)
    assert hook.delivered and all("X-Budget-Signature" not in g.headers for g in hook.delivered)


def test_a_503_is_retried_with_growing_delays_and_delivered_when_the_receiver_is_back(
    acme: Engine, tmp_path: Path
) -> None:
    _pause(acme, tmp_path)
    with receiver(503, 503, 503, 503, 503, 503) as hook:
        first = deliver_due(acme, Webhook(hook.url, SECRET), NOON)
        assert (first.sent, first.retried) == (0, 4)
        with acme.connect() as conn:
            rows = outbox(conn)
        assert {(r.attempts, r.next_attempt_at, r.last_error) for r in rows} == {
            (1, NOON + dt.timedelta(seconds=30), "HTTP 503")
        }
        # Not due yet: nothing is sent.
        assert deliver_due(acme, Webhook(hook.url, SECRET), NOON + dt.timedelta(seconds=10)).waiting == 4
        second = deliver_due(acme, Webhook(hook.url, SECRET), NOON + dt.timedelta(seconds=30))
        assert (second.sent, second.retried) == (2, 2)
        with acme.connect() as conn:
            waiting = [r for r in outbox(conn) if r.status == "pending"]
        assert {r.next_attempt_at for r in waiting} == {NOON + dt.timedelta(seconds=90)}  # 30 s, then 60 s
        third = deliver_due(acme, Webhook(hook.url, SECRET), NOON + dt.timedelta(seconds=90))
        assert third.sent == 2
    assert set(_status(acme).values()) <= {("delivered", 1), ("delivered", 2), ("delivered", 3)}
    assert len({g.json["id"] for g in hook.delivered}) == 4
    # Duplicates carry the same id and the same bytes.
    by_id: dict[str, set[bytes]] = {}
    for got in hook.received:
        by_id.setdefault(got.json["id"], set()).add(got.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())


def test_a_redirect_is_a_failure_retried_and_the_payload_says_when_the_change_occurred(
    acme: Engine, tmp_path: Path
) -> None:
    _pause(acme, tmp_path)
    with receiver(302) as hook:  # not followed: the body would go where the receiver did not sign for
        first = deliver_due(acme, Webhook(hook.url), NOON)
        assert (first.sent, first.retried, first.errors) == (3, 1, ["HTTP 302"])
        assert deliver_due(acme, Webhook(hook.url), NOON + dt.timedelta(seconds=30)).sent == 1
    assert len(hook.received) == 5 and len({g.json["id"] for g in hook.delivered}) == 4
    assert {g.json["occurred_at"] for g in hook.delivered} == {NOON.isoformat()}  # the enforcement's as_of


def test_the_receiver_has_10_seconds_to_answer_by_default() -> None:
    assert Webhook("http://127.0.0.1:1/").timeout == 10.0
    assert WebhookResource(url="http://127.0.0.1:1/").webhook().timeout == 10.0


def test_connection_refused_keeps_them_pending_with_the_reason(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    done = deliver_due(acme, Webhook(closed_port_url(), SECRET), NOON)
    assert done.sent == 0 and done.retried == 4
    with acme.connect() as conn:
        assert {(r.status, r.last_error) for r in outbox(conn)} == {("pending", "connection refused")}


def test_a_dead_receiver_stops_the_run_and_the_pages_not_read_wait(
    acme: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "PAGE", 2)
    monkeypatch.setattr(delivery, "STOP_AFTER_FAILURES", 2)
    _pause(acme, tmp_path)  # four notifications, each of a stream of its own
    done = deliver_due(acme, Webhook(closed_port_url()), NOON)
    assert (done.sent, done.retried, done.waiting, done.stopped) == (0, 2, 2, True)
    assert sorted(_status(acme).values()) == [("pending", 0), ("pending", 0), ("pending", 1), ("pending", 1)]


def test_a_hanging_receiver_times_out_and_never_holds_up_enforcement(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    with receiver(HANG, HANG, HANG, HANG) as hook:
        hook.hang_seconds = 3.0
        result = {}
        delivery = threading.Thread(
            target=lambda: result.setdefault("done", deliver_due(acme, Webhook(hook.url, SECRET, timeout=1.0), NOON))
        )
        delivery.start()
        time.sleep(0.3)
        ingest_file(acme, write_csv(tmp_path / "b.csv", ["r2,tokyo-display,60,2026-11-25T15:00:00Z"]), now=NOON)
        outcome = control.enforce_budgets(acme, NOON, "meanwhile")
        # Four 1-second timeouts in a row: a delivery still under way when enforcement is done.
        assert delivery.is_alive(), "enforcement waited for the receiver"
        assert len(outcome.changes) == 1
        delivery.join(timeout=30)
    assert result["done"].retried == 4
    with acme.connect() as conn:
        errors = {r.last_error for r in outbox(conn) if r.attempts}
    assert errors == {"no answer within 1 s"}


def _deliver_in_a_thread(engine: Engine, webhook: Webhook, seconds: float) -> delivery.Delivery:
    """deliver_due run on a thread of its own, which must be done within `seconds` (a delivery
    held by its receiver would never end)."""
    result: dict[str, delivery.Delivery] = {}
    worker = threading.Thread(target=lambda: result.setdefault("done", deliver_due(engine, webhook, NOON)))
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), "the receiver held up the delivery"
    return result["done"]


# What the receiver does cannot depend on the database: these run on SQLite.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", [TRICKLE_BODY, ENDLESS_BODY], ids=["a byte at a time", "a body without end"])
def test_an_answer_that_does_not_end_is_left_at_the_timeout(acme: Engine, tmp_path: Path, mode: str) -> None:
    """A 200 came at once, so each notification is delivered; the rest of the answer is read for
    at most the timeout (1,000 bytes at 5 a second took 200 s a POST, and a body without end
    filled memory, before), and no more of it than a connection's worth is taken in."""
    _pause(acme, tmp_path)
    with misbehaving(mode) as hook:
        done = _deliver_in_a_thread(acme, Webhook(hook.url, SECRET, timeout=1.0), seconds=20)
        assert (done.sent, done.retried, hook.requests) == (4, 0, 4)
        assert hook.sent < 64 * 2**20  # the client stopped reading: what the sockets' buffers took
    assert set(_status(acme).values()) == {("delivered", 1)}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_headers_that_never_end_are_no_answer(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    with misbehaving(TRICKLE_HEADERS) as hook:
        done = _deliver_in_a_thread(acme, Webhook(hook.url, SECRET, timeout=1.0), seconds=20)
    assert (done.sent, done.retried) == (0, 4)
    with acme.connect() as conn:
        assert {r.last_error for r in outbox(conn)} == {"no answer within 1 s"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_one_connection_is_kept_for_every_post(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    with receiver() as hook:
        assert deliver_due(acme, Webhook(hook.url, SECRET), NOON).sent == 4
    assert len({got.client for got in hook.delivered}) == 1


@pytest.mark.parametrize("page", [delivery.PAGE, 1], ids=["one page", "a page per notification"])
def test_a_campaigns_later_notification_waits_for_its_earlier_one(
    acme: Engine, tmp_path: Path, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox is read a page at a time: a campaign's earlier failure holds its later
    notifications back in later pages too."""
    monkeypatch.setattr(delivery, "PAGE", page)
    _pause(acme, tmp_path)
    control.reset_budgets(acme, NOON + dt.timedelta(days=1), "reset", monthly=False)  # resumes both
    with receiver(500) as hook:
        first = deliver_due(acme, Webhook(hook.url), NOON + dt.timedelta(days=1))
        # acme-search's pause failed, so its resume waited; acme-social's went in order.
        assert first.retried == 1 and first.sent == 4 and first.waiting == 1
        deliver_due(acme, Webhook(hook.url), NOON + dt.timedelta(days=1, seconds=30))
    sequence = [(g.json["campaign_id"], g.json["type"]) for g in hook.delivered if g.json["campaign_id"]]
    for campaign in ("acme-search", "acme-social"):
        assert [t for c, t in sequence if c == campaign] == ["campaign.paused", "campaign.resumed"]
    assert set(_status(acme).values()) <= {("delivered", 1), ("delivered", 2)}


def test_failed_for_good_after_24_hours_of_failures(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    url = closed_port_url()
    now, delays = NOON, []
    for _ in range(100):
        deliver_due(acme, Webhook(url), now)
        with acme.connect() as conn:
            row = next(r for r in outbox(conn) if r.campaign_id == "acme-search")
        if row.status != "pending":
            break
        assert row.next_attempt_at is not None
        delays.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert row.status == "failed" and row.next_attempt_at is None and row.last_error == "connection refused"
    assert delays[0] == dt.timedelta(seconds=30)
    assert delays == sorted(delays) and max(delays) == dt.timedelta(hours=1)
    assert now - NOON >= dt.timedelta(hours=24)
    assert row.attempts == len(delays) + 1


def test_without_a_url_nothing_is_sent_and_each_says_why(acme: Engine, tmp_path: Path) -> None:
    _pause(acme, tmp_path)
    done = deliver_due(acme, Webhook(None), NOON)
    assert done.not_sent == URL_NOT_SET and done.waiting == 4
    with acme.connect() as conn:
        assert {(r.status, r.attempts, r.last_error) for r in outbox(conn)} == {("pending", 0, URL_NOT_SET)}


def test_once_the_url_is_set_a_notification_waiting_its_turn_no_longer_says_it_is_not_set(
    acme: Engine, tmp_path: Path
) -> None:
    _pause(acme, tmp_path)
    control.reset_budgets(acme, NOON + dt.timedelta(days=1), "reset", monthly=False)  # resumes both
    later = NOON + dt.timedelta(days=1)
    assert deliver_due(acme, Webhook(None), later).not_sent == URL_NOT_SET
    with receiver(500) as hook:  # acme-search's pause fails: its resume waits behind it, untried
        done = deliver_due(acme, Webhook(hook.url), later)
    assert (done.sent, done.retried, done.waiting) == (4, 1, 1)
    with acme.connect() as conn:
        pending = sorted((r.attempts, r.last_error) for r in outbox(conn) if r.status == "pending")
    assert pending == [(0, None), (1, "HTTP 500")]


def _job_result(instance: DagsterInstance, db_url: str, url: str | None, as_of: dt.datetime) -> object:
    from budget_pipeline.definitions import defs

    job = defs.resolve_job_def("deliver_notifications_job")
    return job.execute_in_process(
        run_config={"resources": {"clock": {"config": {"as_of": as_of.isoformat()}}}},
        instance=instance,
        resources={"database": BudgetDatabase(url=db_url), "webhook": WebhookResource(url=url, secret=SECRET)},
        raise_on_error=False,
    )


def _run_text(instance: DagsterInstance, run_id: str) -> str:
    return "\n".join(str(entry) for entry in instance.all_logs(run_id))


@pytest.fixture
def paused_for_a_job(acme: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Acme paused (four notifications), the code location's database pointed at it."""
    monkeypatch.setenv("BUDGET_DATABASE_URL", db_url)
    _pause(acme, tmp_path)
    return acme


def _sensor_run_key(instance: DagsterInstance, db_url: str) -> str | None:
    """The run key notifications_sensor asks for now (None: it skips)."""
    from budget_pipeline.defs.sensors import notifications_sensor

    resources = {"database": BudgetDatabase(url=db_url), "webhook": WebhookResource(url="http://x.invalid/")}
    with build_sensor_context(instance=instance, resources=resources) as context:
        result = notifications_sensor(context)
    return None if isinstance(result, SkipReason) else result.run_requests[0].run_key  # type: ignore[union-attr]


def test_a_run_stops_at_its_time_limit_and_the_sensor_asks_for_the_next(
    paused_for_a_job: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery run takes new notifications for RUN_SECONDS at most (well inside its job's
    dagster/max_runtime, past which run monitoring would end it mid-way): the rest keep their
    place, the run says so in a tag, the sensor asks for the next run at once (a key of its own),
    and that run goes on in order."""
    from budget_pipeline.defs.ops import OUT_OF_TIME_TAG

    monkeypatch.setattr(delivery, "RUN_SECONDS", 0.5)
    with paused_for_a_job.connect() as conn:
        in_order = [row.id for row in sorted(outbox(conn), key=lambda row: row.seq)]
    with DagsterInstance.ephemeral() as instance, receiver(HANG, HANG, HANG, HANG) as hook:
        hook.hang_seconds = 0.3
        asked = _sensor_run_key(instance, db_url)
        first = _job_result(instance, db_url, hook.url, NOON)
        assert first.success  # type: ignore[attr-defined]
        assert 1 <= len(hook.delivered) < 4  # each POST takes 0.3 s of the run's 0.5 s
        run = instance.get_run_by_id(first.run_id)  # type: ignore[attr-defined]
        assert run is not None and run.tags.get(OUT_OF_TIME_TAG) == "true"
        asked_again = _sensor_run_key(instance, db_url)
        assert asked_again is not None and asked_again != asked
        monkeypatch.setattr(delivery, "RUN_SECONDS", 60.0)
        second = _job_result(instance, db_url, hook.url, NOON)
        run = instance.get_run_by_id(second.run_id)  # type: ignore[attr-defined]
        assert run is not None and OUT_OF_TIME_TAG not in run.tags
    assert [got.json["id"] for got in hook.delivered] == in_order
    assert set(_status(paused_for_a_job).values()) == {("delivered", 1)}


def test_after_a_run_stopped_by_failures_the_sensor_asks_again_only_when_a_retry_is_due(
    paused_for_a_job: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that stopped after failures in a row leaves the sensor's run key as it was (the
    same key is not run twice): a dead receiver is not asked for the next notifications run
    after run, and the untried ones keep their 24 hours."""
    monkeypatch.setattr(delivery, "STOP_AFTER_FAILURES", 2)
    now = dt.datetime.now(dt.UTC)  # the sensor's instant is the wall clock's
    with DagsterInstance.ephemeral() as instance:
        asked = _sensor_run_key(instance, db_url)
        assert _job_result(instance, db_url, closed_port_url(), now).success  # type: ignore[attr-defined]
        assert sorted(_status(paused_for_a_job).values()) == [("pending", 0)] * 2 + [("pending", 1)] * 2
        assert _sensor_run_key(instance, db_url) == asked


def test_deliver_notifications_job_reports_sent_retried_failed_and_never_the_secret(
    paused_for_a_job: Engine, db_url: str
) -> None:
    with DagsterInstance.ephemeral() as instance:
        with receiver(503) as hook:
            result = _job_result(instance, db_url, hook.url, NOON)
        assert result.success  # type: ignore[attr-defined]
        output = [
            e
            for e in result.all_events
            if e.event_type_value == "STEP_OUTPUT"  # type: ignore[attr-defined]
        ][0]
        metadata = {k: v.value for k, v in output.event_specific_data.metadata.items()}
        assert (metadata["sent"], metadata["retried"], metadata["failed"]) == (3, 1, 0)
        checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]  # type: ignore[attr-defined]
        assert checks and checks[0].event_specific_data.passed
        refused = _job_result(instance, db_url, closed_port_url(), NOON + dt.timedelta(minutes=1))
        assert refused.success  # type: ignore[attr-defined]
        for run_id in (result.run_id, refused.run_id):  # type: ignore[attr-defined]
            text = _run_text(instance, run_id)
            assert SECRET not in text
        assert "connection refused" in _run_text(instance, refused.run_id)  # type: ignore[attr-defined]


def test_a_delivery_run_given_an_instant_years_ahead_schedules_its_retries_on_the_wall_clock(
    paused_for_a_job: Engine, db_url: str
) -> None:
    with DagsterInstance.ephemeral() as instance:
        before = dt.datetime.now(dt.UTC)
        refused = _job_result(instance, db_url, closed_port_url(), dt.datetime(2062, 1, 1, tzinfo=dt.UTC))
        after = dt.datetime.now(dt.UTC)
    assert refused.success  # type: ignore[attr-defined]
    with paused_for_a_job.connect() as conn:
        retries = {r.next_attempt_at for r in outbox(conn)}
    assert all(r is not None and before + RETRY <= r <= after + RETRY for r in retries), retries


def test_notifications_sensor_asks_for_a_delivery_only_when_some_are_due(
    acme: Engine, db_url: str, tmp_path: Path
) -> None:
    from budget_pipeline.defs.sensors import notifications_sensor

    database = BudgetDatabase(url=db_url)
    with DagsterInstance.ephemeral() as instance:
        webhook = WebhookResource(url="http://x.invalid/")
        with build_sensor_context(instance=instance, resources={"database": database, "webhook": webhook}) as context:
            assert isinstance(notifications_sensor(context), SkipReason)
            _pause(acme, tmp_path)
            result = notifications_sensor(context)
            assert [type(r) for r in result.run_requests] == [RunRequest]  # type: ignore[union-attr]
        unset = WebhookResource(url=None)
        with build_sensor_context(instance=instance, resources={"database": database, "webhook": unset}) as context:
            skipped = notifications_sensor(context)
        assert isinstance(skipped, SkipReason) and "BUDGET_WEBHOOK_URL is not set" in (skipped.skip_message or "")


def test_one_delivery_at_a_time(acme: Engine, tmp_path: Path) -> None:
    """A delivery that starts while another is under way (`tick` beside the sensor's run) sends
    nothing: each notification reaches the receiver once, in its campaign's order."""
    _pause(acme, tmp_path)
    with receiver(HANG) as hook:
        hook.hang_seconds = 2.0
        result = {}
        first = threading.Thread(target=lambda: result.setdefault("first", deliver_due(acme, Webhook(hook.url), NOON)))
        first.start()
        deadline = time.monotonic() + 10
        while not hook.received and time.monotonic() < deadline:
            time.sleep(0.01)
        second = deliver_due(acme, Webhook(hook.url), NOON)
        first.join(timeout=30)
    assert (second.sent, second.not_sent) == (0, BUSY)
    assert result["first"].sent == 4
    ids = [got.json["id"] for got in hook.received]
    assert len(ids) == len(set(ids)) == 4
    assert set(_status(acme).values()) == {("delivered", 1)}


def test_budget_databases_in_schemas_of_one_database_each_deliver_their_own(db_url: str) -> None:
    """On PostgreSQL the delivery lock is the schema's: a delivery under way in one schema never
    makes another schema's delivery (another budget database) wait for its next run."""
    from budget_pipeline.store.db import make_engine
    from budget_pipeline.store.notifications import delivery_turn
    from tests.conftest import PG_URL

    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite budget database is a file of its own")
    mine, same, other = make_engine(db_url), make_engine(db_url), make_engine(PG_URL)
    try:
        with delivery_turn(mine) as first, delivery_turn(same) as second, delivery_turn(other) as elsewhere:
            assert (first, second, elsewhere) == (True, False, True)
        with delivery_turn(same) as after:
            assert after
    finally:
        for engine in (mine, same, other):
            engine.dispose()
