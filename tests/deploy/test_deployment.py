"""The production deployment without a Docker engine: the compose file validates, and the
processes it runs (gRPC code server, webserver on the deployment workspace, daemon on the
top-level dagster.yaml) run here against the local PostgreSQL; a job launched through the
GraphQL API succeeds and its status changes land in the budget database."""

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, QueuedRunCoordinator
from sqlalchemy import create_engine, text

from budget_pipeline import control
from budget_pipeline.store.db import make_engine
from tests.conftest import PG_URL

REPO = Path(__file__).resolve().parents[2]
MODULE = "budget_pipeline.definitions"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_compose_file_is_valid() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose (Debian package) is needed to validate docker-compose.yml"
    done = subprocess.run(
        [compose, "--env-file", ".env.example", "config"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    config = done.stdout
    for service in ("postgres:", "code:", "webserver:", "daemon:"):
        assert service in config
    assert "127.0.0.1" in config and "0.0.0.0:3000" not in config.replace("-h 0.0.0.0", "")
    assert "condition: service_healthy" in config
    assert "change-me" in config, "secrets come from the env file"


def graphql(port: int, query: str, variables: dict | None = None) -> dict:  # type: ignore[type-arg]
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]  # type: ignore[no-any-return]


def wait_until(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    last: object = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"{what} not ready after {timeout:.0f} s (last: {last})")


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    names = (f"deploy_dagster_{suffix}", f"deploy_budget_{suffix}")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield names
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_deployment_processes_launch_a_job_over_graphql(databases: tuple[str, str], tmp_path: Path) -> None:
    dagster_db, budget_db = databases
    server = PG_URL.rsplit("/", 1)[0]
    budget_url = f"{server}/{budget_db}"
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    code_port, web_port = free_port(), free_port()
    # The deployment workspace, with the compose service name `code` resolved to this machine.
    workspace = tmp_path / "workspace.yaml"
    deployed = (REPO / "deploy" / "workspace.yaml").read_text()
    assert "host: code" in deployed and "port: 4000" in deployed
    workspace.write_text(deployed.replace("host: code", "host: 127.0.0.1").replace("port: 4000", f"port: {code_port}"))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": dagster_db,
        "BUDGET_DATABASE_URL": budget_url,
        "BUDGET_LANDING_DIR": str(tmp_path / "landing"),
    }
    cli = str(BIN / "budget-pipeline")
    subprocess.run([cli, "init-db"], env=env, check=True, capture_output=True)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        'brands: [{name: Acme, daily_budget: "10.00", monthly_budget: "100.00", '
        "campaigns: [{id: acme-search, name: Search}, {id: acme-social, name: Social}]}]\n"
    )
    subprocess.run([cli, "catalog", "apply", str(catalog)], env=env, check=True, capture_output=True)
    spend = tmp_path / "spend.csv"
    spend.write_text("record_id,campaign_id,amount,occurred_at\nd1,acme-search,12.50,2026-11-25T09:00:00Z\n")
    subprocess.run([cli, "ingest", str(spend)], env=env, check=True, capture_output=True)
    # The catalog change has been seen by an enforcement (the day before, so nothing is paused):
    # else enforce_on_spend_sensor asks the daemon for one at the wall clock's instant, which would
    # decide these campaigns again, on today's spend, beside the run launched below.
    before = make_engine(budget_url)
    control.enforce_budgets(before, dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC), "before-the-deployment")
    before.dispose()

    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("code", "webserver", "daemon")}
    commands = {
        "code": [
            str(BIN / "dagster"),
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(code_port),
            "-m",
            "budget_pipeline.definitions",
        ],
        "webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", str(workspace)],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
    }
    processes = []
    try:
        processes.append(
            subprocess.Popen(commands["code"], cwd=REPO, env=env, stdout=logs["code"], stderr=subprocess.STDOUT)
        )
        wait_until(
            lambda: (
                subprocess.run(
                    [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(code_port)],
                    capture_output=True,
                    env=env,
                ).returncode
                == 0
            ),
            120,
            "code server",
        )
        for name in ("webserver", "daemon"):
            processes.append(
                subprocess.Popen(commands[name], cwd=REPO, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
            )
        wait_until(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{web_port}/server_info", timeout=5).status == 200,
            120,
            "webserver",
        )

        launched = graphql(
            web_port,
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
                 __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": "budget_pipeline",
                        "repositoryName": "__repository__",
                        "jobName": "enforce_budgets_job",
                    },
                    "runConfigData": {"resources": {"clock": {"config": {"as_of": "2026-11-25T12:00:00Z"}}}},
                }
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]

        def finished() -> str | None:
            status = graphql(
                web_port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id}
            )
            value = status["runOrError"]["status"]
            return value if value in ("SUCCESS", "FAILURE", "CANCELED") else None

        assert wait_until(finished, 180, "the launched run") == "SUCCESS"
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    budget = create_engine(budget_url)
    with budget.connect() as conn:
        paused = conn.execute(text("SELECT id, pause_reasons FROM campaigns ORDER BY id")).all()
        logged = conn.execute(text("SELECT campaign_id, run_id FROM campaign_status_log ORDER BY campaign_id")).all()
    budget.dispose()
    assert [tuple(r) for r in paused] == [("acme-search", "daily_budget"), ("acme-social", "daily_budget")]
    assert [tuple(r) for r in logged] == [("acme-search", run_id), ("acme-social", run_id)]
    with create_engine(f"{server}/{dagster_db}").connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": run_id}).scalar_one() == 1
        steps = conn.execute(
            text(
                "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = :r "
                "AND dagster_event_type IN ('STEP_SUCCESS', 'STEP_WORKER_STARTING') GROUP BY dagster_event_type"
            ),
            {"r": run_id},
        ).all()
    # Both steps (refresh, enforce) ran inside the run worker: no step started a process of its own.
    assert dict(steps) == {"STEP_SUCCESS": 2}


@contextlib.contextmanager
def instance_of(
    instance_file: str, databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    """The instance of one of the repository's instance files (the production one's storage on
    the test server's `databases[0]`)."""
    monkeypatch.setenv("DAGSTER_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_USER", "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "unused-with-trust-auth")
    monkeypatch.setenv("DAGSTER_PG_DB", databases[0])
    shutil.copy(REPO / instance_file, tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


@pytest.mark.parametrize("instance_file", ["dagster.yaml", "deploy/dagster.local.yaml"])
def test_instance_files_allow_one_status_writing_run_at_a_time(
    instance_file: str, databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with instance_of(instance_file, databases, tmp_path, monkeypatch) as instance:
        config = instance.get_concurrency_config()
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.dequeue_interval_seconds == 1
    assert config.pool_config.default_pool_limit == 1  # the campaign_status pool, which has no limit of its own
    assert config.pool_config.pool_granularity is not None and config.pool_config.pool_granularity.value == "run"
    assert config.run_queue_config is not None
    limits = config.run_queue_config.tag_concurrency_limits
    assert {"key": "budget_pipeline/writes_status", "limit": 1} in limits
    # Every op that writes status is in the pool the limit applies to.
    from budget_pipeline.definitions import defs
    from budget_pipeline.defs.jobs import WRITES_STATUS_TAG

    writers = [job for job in defs.resolve_all_job_defs() if job.tags.get(WRITES_STATUS_TAG) == "true"]
    assert len(writers) == 5
    for job in writers:
        assert any(node.definition.pool == "campaign_status" for node in job.nodes), job.name


@pytest.mark.parametrize("instance_file", ["dagster.yaml", "deploy/dagster.local.yaml"])
def test_instance_files_fail_a_run_that_outlives_its_job_and_every_slot_holder_has_a_limit(
    instance_file: str, databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run monitoring is on (a run whose code server died under it is failed once it passes its
    job's dagster/max_runtime, so it frees the one status-writing or delivery slot), and every job
    that holds such a slot has a limit of its own."""
    with instance_of(instance_file, databases, tmp_path, monkeypatch) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_poll_interval_seconds <= 30
        assert instance.run_monitoring_max_resume_run_attempts == 0  # this run launcher cannot resume
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_user_code_failure_retries >= 3  # a code server restarting
    from budget_pipeline import delivery
    from budget_pipeline.definitions import defs
    from budget_pipeline.defs.jobs import DELIVERS_TAG, MAX_RETRIES_TAG, MAX_RUNTIME_TAG, WRITES_STATUS_TAG

    jobs = defs.resolve_all_job_defs()
    writers = [job for job in jobs if job.tags.get(WRITES_STATUS_TAG) == "true"]
    (deliverer,) = [job for job in jobs if job.tags.get(DELIVERS_TAG) == "true"]
    assert len(writers) == 5
    for job in [*writers, deliverer]:
        assert 600 <= int(job.tags[MAX_RUNTIME_TAG]) <= 3600, job.name
    # A delivery run stops itself well before it would be ended mid-way.
    assert int(deliverer.tags[MAX_RUNTIME_TAG]) >= delivery.RUN_SECONDS * 2
    # A failed status-writing run is not retried at its own, by then earlier, instant.
    assert all(job.tags[MAX_RETRIES_TAG] == "0" for job in writers)


def run_status(instance: DagsterInstance, run_id: str) -> str:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status.value


def test_a_status_run_whose_code_server_was_killed_is_failed_and_the_next_one_runs(tmp_path: Path) -> None:
    """The deployment's processes on the local instance file (its poll interval shortened): the
    code server is killed (kill -9, with the run worker it started) while an enforcement runs,
    then started again, as a restarted code container is. The dead run stays "started" and holds
    the one status-writing slot, so the next enforcement waits queued (and is put back in the
    queue while the code server is down); run monitoring fails the dead run once it passes its
    dagster/max_runtime (20 s here, a run tag), and the next enforcement then runs."""
    home = tmp_path / "home"
    home.mkdir()
    local = (REPO / "deploy" / "dagster.local.yaml").read_text()
    assert "poll_interval_seconds: 30" in local
    (home / "dagster.yaml").write_text(local.replace("poll_interval_seconds: 30", "poll_interval_seconds: 1"))
    code_port = free_port()
    workspace = tmp_path / "workspace.yaml"
    deployed = (REPO / "deploy" / "workspace.yaml").read_text()
    workspace.write_text(deployed.replace("host: code", "host: 127.0.0.1").replace("port: 4000", f"port: {code_port}"))
    database = tmp_path / "budget.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDGET_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home), BUDGET_DATABASE_URL=f"sqlite:///{database}", BUDGET_LANDING_DIR=str(tmp_path / "land")
    )
    (tmp_path / "land").mkdir()
    subprocess.run([str(BIN / "budget-pipeline"), "init-db"], env=env, check=True, capture_output=True)
    config = tmp_path / "run.yaml"
    config.write_text('resources: {clock: {config: {as_of: "2026-11-25T12:00:00Z"}}}\n')
    log = (tmp_path / "processes.log").open("w")

    def start(*command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def code_server() -> subprocess.Popen[bytes]:
        server = start(
            str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port), "-m", MODULE
        )
        health = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(code_port)]
        wait_until(lambda: subprocess.run(health, capture_output=True, env=env).returncode == 0, 120, "code server")
        return server

    def launch(*tags: str) -> str:
        command = [str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", "enforce_budgets_job"]
        command += ["-c", str(config), *tags]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        with DagsterInstance.from_config(str(home)) as instance:
            return instance.get_run_records(limit=1)[0].dagster_run.run_id

    # The first run's worker waits for the budget database's write lock, held here, until it is killed.
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    processes = [code_server(), start(str(BIN / "dagster-daemon"), "run", "-w", str(workspace))]
    try:
        dead = launch("--tags", '{"dagster/max_runtime": "20"}')
        with DagsterInstance.from_config(str(home)) as instance:
            wait_until(lambda: run_status(instance, dead) == "STARTED", 120, "the first run started")
            waiting = launch()
            os.killpg(processes[0].pid, signal.SIGKILL)  # the code server, its gRPC server and the run worker
            processes[0].wait()
            time.sleep(2)
            assert run_status(instance, dead) == "STARTED"  # no process is left to say it ended
            assert run_status(instance, waiting) == "QUEUED"  # the slot is held
            lock.rollback()
            processes[0] = code_server()
            wait_until(lambda: run_status(instance, dead) == "FAILURE", 60, "the dead run failed")
            finished = wait_until(
                lambda: run_status(instance, waiting) in ("SUCCESS", "FAILURE") and run_status(instance, waiting),
                120,
                "the next run",
            )
            errors = [r.message for r in instance.all_logs(waiting) if r.level == logging.ERROR]
            assert finished == "SUCCESS", errors
    finally:
        lock.close()
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
