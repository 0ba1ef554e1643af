"""Resources: the budget database, the clock that gives every run its `as_of`, the landing folder."""

import datetime as dt
from pathlib import Path

from dagster import ConfigurableResource, Failure, InitResourceContext
from pydantic import PrivateAttr
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from budget_pipeline.rules.calendar import parse_instant
from budget_pipeline.store.db import current_revision, default_landing_dir, head_revision, make_engine


class BudgetDatabase(ConfigurableResource):
    """The budget database; `url` defaults to BUDGET_DATABASE_URL, else budget.db in DAGSTER_HOME."""

    url: str | None = None
    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        engine = make_engine(self.url)
        try:
            revision = current_revision(engine)
        except OperationalError as exc:
            raise Failure(f"cannot reach the budget database: {str(exc.orig).strip().splitlines()[0]}") from None
        if revision != head_revision():
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


class Clock(ConfigurableResource):
    """The instant a run evaluates at: `as_of` from run config (schedules pass their tick
    time), else the wall clock when the run starts."""

    as_of: str | None = None

    def now(self) -> dt.datetime:
        if self.as_of:
            return parse_instant(self.as_of)
        return dt.datetime.now(dt.UTC)


class LandingFolder(ConfigurableResource):
    """The folder watched for spend files (BUDGET_LANDING_DIR, else landing/ in DAGSTER_HOME)."""

    path: str | None = None

    @property
    def root(self) -> Path:
        return Path(self.path) if self.path else default_landing_dir()
