"""Resources: the budget database, the clock that gives every run its `as_of`, the landing folder,
the webhook notifications go to."""

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from dagster import ConfigurableResource, EnvVar, Failure, InitResourceContext, OpExecutionContext
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from budget_pipeline import settings
from budget_pipeline.delivery import TIMEOUT_SECONDS, Webhook
from budget_pipeline.ingest.landing import folder_problem
from budget_pipeline.rules.calendar import parse_instant
from budget_pipeline.store.db import (
    StoreError,
    current_revision,
    database_unusable,
    driver_message,
    head_revision,
    make_engine,
    unusable_message,
)


class BudgetDatabase(ConfigurableResource):
    """The budget database; `url` defaults to BUDGET_DATABASE_URL, else budget.db in DAGSTER_HOME."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (sqlite:///… or postgresql+psycopg2://…); unset: budget.db in DAGSTER_HOME",
    )
    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        try:
            engine = make_engine(self.url)
        except StoreError as exc:
            raise Failure(str(exc)) from None
        try:
            revision = current_revision(engine)
        except DBAPIError as exc:  # unreachable, or not a database (a SQLite file of something else)
            engine.dispose()
            verb = "reach" if isinstance(exc, OperationalError) else "use"
            raise Failure(f"cannot {verb} the budget database: {driver_message(exc)}") from None
        except StoreError as exc:
            engine.dispose()
            raise Failure(str(exc)) from None
        if revision != head_revision():
            engine.dispose()
            raise Failure(
                f"the budget database schema is at {revision or 'nothing'}, expected {head_revision()}: "
                "run `budget-pipeline init-db`"
            )
        self._engine = engine

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine


F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def _as_failure() -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        raise Failure(str(exc)) from None
    except DBAPIError as exc:
        if not database_unusable(exc):
            raise  # a defect (a statement the database refuses, a deadlock): its stack is needed
        raise Failure(unusable_message(exc)) from None


def store_failures(body: F) -> F:
    """An op's, asset's or check's body whose store problems fail its step in one line (a
    Failure) rather than SQLAlchemy's stack: a StoreError, or the database gone, unreachable,
    locked, full or read-only mid-step (`store.db.database_unusable`). Any other error keeps
    its stack trace: a statement the database refuses, a deadlock, a defect of ours."""
    if inspect.isgeneratorfunction(body):

        @functools.wraps(body)
        def generating(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with _as_failure():
                yield from body(*args, **kwargs)

        return cast(F, generating)

    @functools.wraps(body)
    def returning(*args: Any, **kwargs: Any) -> Any:
        with _as_failure():
            return body(*args, **kwargs)

    return cast(F, returning)


AS_OF_TAG = "budget_pipeline/as_of"


class Clock(ConfigurableResource):
    """The instant a run evaluates at: `as_of` from run config (schedules pass their tick
    time), else the wall clock when the run's first step asks. Either way it is resolved once
    per run and recorded as the run tag budget_pipeline/as_of, which every later step reads."""

    as_of: str | None = Field(default=None, description="ISO-8601 instant with an offset; unset: the run tag, else now")

    def resolve(self, context: OpExecutionContext) -> dt.datetime:
        """The run's one instant, the same in every step of it."""
        run = context.instance.get_run_by_id(context.run_id)
        tagged = run.tags.get(AS_OF_TAG) if run else None
        try:
            if self.as_of and self.as_of.strip():
                instant = parse_instant(self.as_of)
            elif tagged:
                instant = parse_instant(tagged)
            else:
                instant = dt.datetime.now(dt.UTC)
        except ValueError as exc:  # one line in the run, as `--as-of` is in the CLI
            given = "clock as_of" if self.as_of and self.as_of.strip() else f"run tag {AS_OF_TAG}"
            raise Failure(f"{given}: {exc}") from None
        if tagged != instant.isoformat():
            context.instance.add_run_tags(context.run_id, {AS_OF_TAG: instant.isoformat()})
        return instant


class LandingFolder(ConfigurableResource):
    """The folder watched for spend files (BUDGET_LANDING_DIR, else landing/ in DAGSTER_HOME),
    and how long a file must stand still before it is read (BUDGET_LANDING_SETTLE_SECONDS)."""

    path: str | None = Field(default=None, description="the folder; unset: landing/ in DAGSTER_HOME")
    settle_seconds: float | None = Field(
        default=None,
        description="seconds a file's size and modification time must stand still before it is read",
    )

    @property
    def root(self) -> Path:
        return Path(self.path) if self.path else settings.landing_dir()

    @property
    def settle(self) -> float:
        return settings.settle_seconds() if self.settle_seconds is None else self.settle_seconds

    def problem(self) -> str | None:
        """Why nothing can be read from the landing folder (one line naming it and where it is
        set), or None: it is a folder that can be read, or is not there yet (no files)."""
        if (why := folder_problem(self.root)) is None:
            return None
        named = "BUDGET_LANDING_DIR" if self.path else "the default landing/ in DAGSTER_HOME"
        return f"the landing folder {self.root} ({named}) {why}"


class WebhookResource(ConfigurableResource):
    """Where notifications are POSTed (BUDGET_WEBHOOK_URL; unset: they stay in the outbox) and
    the key of their signature (BUDGET_WEBHOOK_SECRET), both EnvVars so the UI never shows them."""

    url: str | None = Field(default=None, description="the receiver's URL; unset: notifications are kept, not sent")
    secret: str | None = Field(default=None, description="key of the X-Budget-Signature HMAC; unset: not signed")
    timeout_seconds: float = Field(default=TIMEOUT_SECONDS, description="seconds to wait for the receiver's answer")

    def webhook(self) -> Webhook:
        """The webhook to deliver to; a bad URL or secret is a one-line Failure that repeats
        neither. Both are taken without the blanks around them, as `tick` and the settings read
        them (a value from a secret file ends in a line break)."""
        url, secret = (self.url or "").strip() or None, (self.secret or "").strip() or None
        try:
            if url:
                settings.check_webhook_url(url)
            if secret:
                settings.check_webhook_secret(secret)
        except settings.SettingError as exc:
            raise Failure(str(exc)) from None
        return Webhook(url, secret, self.timeout_seconds)


def from_settings() -> dict[str, ConfigurableResource]:
    """The code location's resources. A setting the environment gives is passed as an EnvVar, so
    the UI's resource page shows where it comes from (and masks it); one it does not give is
    left to the resource, which falls back to the product's default when a run starts."""
    return {
        "database": BudgetDatabase(url=_from_env("BUDGET_DATABASE_URL")),
        "landing": LandingFolder(path=_from_env("BUDGET_LANDING_DIR"), settle_seconds=settings.settle_seconds()),
        "clock": Clock(),
        "webhook": WebhookResource(url=_from_env("BUDGET_WEBHOOK_URL"), secret=_from_env("BUDGET_WEBHOOK_SECRET")),
    }


def _from_env(name: str) -> str | None:
    return EnvVar(name) if settings.is_set(name) else None
