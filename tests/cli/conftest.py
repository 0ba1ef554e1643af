"""The CLI as a user runs it: a real subprocess, whose output must never hold a stack trace."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from budget_pipeline.store.db import make_engine, upgrade
from tests.conftest import ACME, apply_yaml

CLI = str(Path(sys.executable).with_name("budget-pipeline"))


def cli(db_url: str, *args: str, home: Path | None = None, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUDGET_DATABASE_URL": db_url, "BUDGET_LANDING_SETTLE_SECONDS": "0", **env_vars}
    if home:
        env["DAGSTER_HOME"] = str(home)
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert "Stack Trace" not in done.stderr + done.stdout, done.stderr
    return done


@pytest.fixture
def ready(db_url: str) -> str:
    """A database at head holding the ACME catalog, made in this process: `init-db` and `catalog
    apply` through the CLI have tests of their own, and two process starts per test add up."""
    engine = make_engine(db_url)
    upgrade(engine)
    apply_yaml(engine, ACME)
    engine.dispose()
    return db_url
