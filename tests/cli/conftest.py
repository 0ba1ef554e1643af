"""The CLI as a user runs it: a real subprocess, whose output must never hold a stack trace."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ACME

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
def ready(db_url: str, tmp_path: Path) -> str:
    assert cli(db_url, "init-db").returncode == 0
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(ACME)
    assert cli(db_url, "catalog", "apply", str(catalog)).returncode == 0
    return db_url
