"""Resources: the budget database, the clock that gives every run its `as_of`, the landing folder."""

import datetime as dt
from pathlib import Path

from dagster import ConfigurableResource, Failure, InitResourceContext, OpExecutionContext
from pydantic import PrivateAttr
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from budget_pipeline import settings
from budget_pipeline.rules.calendar import parse_instant
from budget_pipeline.store.db import current_revision, head_revision, make_engine


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


AS_OF_TAG = "budget_pipeline/as_of"


class Clock(ConfigurableResource):
    """The instant a run evaluates at: `as_of` from run config (schedules pass their tick
    time), else the wall clock when the run's first step asks. Either way it is resolved once
    per run and recorded as the run tag budget_pipeline/as_of, which every later step reads."""

    as_of: str | None = None

    def resolve(self, context: OpExecutionContext) -> dt.datetime:
        """The run's one instant, the same in every step of it."""
        run = context.instance.get_run_by_id(context.run_id)
        tagged = run.tags.get(AS_OF_TAG) if run else None
        if self.as_of:
            instant = parse_instant(self.as_of)
        elif tagged:
            instant = parse_instant(tagged)
        else:
            instant = dt.datetime.now(dt.UTC)
        if tagged != instant.isoformat():
            context.instance.add_run_tags(context.run_id, {AS_OF_TAG: instant.isoformat()})
        return instant


class LandingFolder(ConfigurableResource):
    """The folder watched for spend files (BUDGET_LANDING_DIR, else landing/ in DAGSTER_HOME),
    and how long a file must stand still before it is read (BUDGET_LANDING_SETTLE_SECONDS)."""

    path: str | None = None
    settle_seconds: float | None = None

    @property
    def root(self) -> Path:
        return Path(self.path) if self.path else settings.landing_dir()

    @property
    def settle(self) -> float:
        return settings.settle_seconds() if self.settle_seconds is None else self.settle_seconds
