"""A run on a budget database it cannot use fails at the start with the reason as its one
message: the run's resource failure is a Dagster `Failure`, not the store's own exception."""

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, Failure
from sqlalchemy import Engine, text

from budget_pipeline.definitions import defs
from budget_pipeline.defs.resources import WebhookResource
from budget_pipeline.defs.schedules import clock_config
from budget_pipeline.store.db import head_revision, make_engine
from tests.conftest import PG_URL


def failing_run(job: str) -> Any:
    """The error of a run of `job` (at noon UTC, 2026-11-25) that failed: of its resources' start
    or of its step, whichever failed."""
    result = defs.resolve_job_def(job).execute_in_process(
        run_config=clock_config(dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failed = (DagsterEventType.RESOURCE_INIT_FAILURE, DagsterEventType.STEP_FAILURE)
    [event] = [e for e in result.all_events if e.event_type in failed]
    return event.event_specific_data.error  # type: ignore[union-attr]


def resource_failure(monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[str, str]:
    """The error class and message of an enforcement run's resource failure on `url`."""
    monkeypatch.setenv("BUDGET_DATABASE_URL", url)
    error = failing_run("enforce_budgets_job")
    return error.cls_name, error.message.strip()


def several_versions(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0007')"))


def not_migrated(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (several_versions, rf"the budget database records several schema versions \(0007, {head_revision()}\)"),
        (not_migrated, rf"schema is at nothing, expected {head_revision()}: run `budget-pipeline init-db`"),
    ],
)
def test_a_database_the_run_cannot_use_is_one_failure(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, spoil: Callable[[Engine], None], says: str
) -> None:
    spoil(engine)
    cls_name, message = resource_failure(monkeypatch, db_url)
    assert cls_name == "Failure"
    assert message.count("\n") == 0
    assert re.search(says, message), message


def test_an_unreachable_database_is_one_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_engine(PG_URL).url.set(port=1).render_as_string(hide_password=False)
    cls_name, message = resource_failure(monkeypatch, url)
    assert cls_name == "Failure"
    assert message.startswith("dagster._core.definitions.events.Failure: cannot reach the budget database: ")


def test_a_sqlite_database_that_does_not_exist_is_one_failure_and_is_not_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cls_name, message = resource_failure(monkeypatch, f"sqlite:///{tmp_path / 'typo' / 'budget.db'}")
    assert cls_name == "Failure"
    assert message.endswith(
        "the budget database schema is at nothing, expected " + head_revision() + ": run `budget-pipeline init-db`"
    ), message
    assert not (tmp_path / "typo").exists()


def test_a_sqlite_file_that_is_not_a_database_is_one_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "budget.db").write_bytes(b"not a database, " * 512)
    cls_name, message = resource_failure(monkeypatch, f"sqlite:///{tmp_path / 'budget.db'}")
    assert cls_name == "Failure"
    assert message.endswith("cannot use the budget database: file is not a database"), message


@pytest.mark.parametrize(
    ("url", "secret", "name"),
    [
        ("http://a b.example.com/hook", None, "BUDGET_WEBHOOK_URL"),
        ("http://example.com/hook", "k3y\udcff", "BUDGET_WEBHOOK_SECRET"),
    ],
    ids=["a URL with a space", "a secret that is not UTF-8"],
)
def test_a_run_with_a_bad_webhook_fails_in_one_line_that_keeps_its_secret(
    url: str, secret: str | None, name: str
) -> None:
    """What a run's resource says when the code location was given a bad setting (the CLI checks
    them before it starts; `dagster dev` does not)."""
    with pytest.raises(Failure) as failed:
        WebhookResource(url=url, secret=secret).webhook()
    message = failed.value.description or ""
    assert message.startswith(f"{name}: ") and "\n" not in message and "k3y" not in message and "a b" not in message


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_that_refuses_a_write_mid_step_is_one_failure(
    env: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database takes the run's start (it can be read) and refuses the step's write: the
    step fails with one line that says so, a `Failure`, not SQLAlchemy's error and its stack."""
    read_only = f"sqlite:///file:{db_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    monkeypatch.setenv("BUDGET_DATABASE_URL", read_only)
    error = failing_run("daily_reset_job")
    assert error.cls_name == "Failure" and error.cause is None
    assert error.message.strip().endswith("cannot use the budget database: attempt to write a readonly database")


@pytest.mark.parametrize("defect", ["python", "sql"])
def test_a_bug_keeps_its_stack_trace(env: Engine, monkeypatch: pytest.MonkeyPatch, defect: str) -> None:
    """Only the database being unusable is made one line: a defect (in Python, or a statement the
    database refuses: on SQLite that too is an OperationalError) keeps its class and trace."""
    from budget_pipeline import control

    def broken(engine: Engine, *_args: object, **_kwargs: object) -> None:
        if defect == "python":
            raise ZeroDivisionError("a defect")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT no_such_column FROM campaigns")

    monkeypatch.setattr(control, "reset_budgets", broken)
    error = failing_run("daily_reset_job")
    while error.cause is not None:
        error = error.cause
    assert error.cls_name != "Failure" and error.stack
    assert error.cls_name == "ZeroDivisionError" if defect == "python" else "no_such_column" in error.message
