"""The product's settings: every environment variable of the contract, read and checked here.

A bad value is a `SettingError` whose message is one line that names the variable; nothing
else in the package reads the environment.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_START_DATE = dt.date(2025, 1, 1)
# Partitions, local dates and month arithmetic all work far beyond these; a start date outside
# them is a typo, not a plan.
EARLIEST_START_DATE = dt.date(1970, 1, 1)
LATEST_START_DATE = dt.date(2999, 12, 31)
DEFAULT_SETTLE_SECONDS = 2.0
MAX_SETTLE_SECONDS = 3600.0
DATABASE_BACKENDS = ("sqlite", "postgresql")
# Rows a spend file is read, validated and written in at a time. At 25k, SQLite ingested ~9%
# faster than at 50k on a 2-core machine (12.5k and 100k were no better; PostgreSQL the same
# either way; bench/ingest_and_aggregate.py). Larger chunks cost memory, not correctness.
DEFAULT_CHUNK_ROWS = 25_000
CHUNK_ROWS_RANGE = (1_000, 1_000_000)


class SettingError(ValueError):
    """A setting with a value the product cannot use; the message is one line."""


def is_set(name: str) -> bool:
    """Whether the environment gives `name` a value (the Dagster layer then shows it as an EnvVar)."""
    return _value(name) is not None


def _value(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def dagster_home() -> Path:
    """DAGSTER_HOME, or `.dagster_home/` in the working directory (as scripts/dev sets it)."""
    return Path(_value("DAGSTER_HOME") or ".dagster_home")


def landing_dir() -> Path:
    """BUDGET_LANDING_DIR, else `landing/` in DAGSTER_HOME."""
    return Path(_value("BUDGET_LANDING_DIR") or dagster_home() / "landing")


def database_url() -> str:
    """BUDGET_DATABASE_URL, else the SQLite file `budget.db` in DAGSTER_HOME."""
    text = _value("BUDGET_DATABASE_URL")
    if text is None:
        return f"sqlite:///{dagster_home() / 'budget.db'}"
    parse_database_url(text, "BUDGET_DATABASE_URL")
    return text


def parse_database_url(text: str, name: str = "the database URL") -> URL:
    """The SQLAlchemy URL of `text`, which must name SQLite or PostgreSQL through a driver this
    package ships. The message never repeats the URL: it may hold a password."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise SettingError(
            f"{name}: not a database URL; write sqlite:///PATH or postgresql+psycopg2://USER@HOST/DB"
        ) from None
    backend = url.get_backend_name()
    if backend not in DATABASE_BACKENDS:
        raise SettingError(f"{name}: {backend!r} databases are not supported; use SQLite or PostgreSQL")
    if backend == "sqlite" and _in_memory(url):
        # Each command (and each run) would get an empty database of its own.
        raise SettingError(f"{name}: an in-memory SQLite database keeps nothing; write sqlite:///PATH")
    if backend == "postgresql" and url.get_driver_name() != "psycopg2":
        # With SQLAlchemy 2.1 a bare postgresql:// means psycopg 3, which is not installed.
        raise SettingError(f"{name}: write postgresql+psycopg2://… (the driver this package ships)")
    return url


def _in_memory(url: URL) -> bool:
    """Whether a SQLite URL names a database in memory: no file, `:memory:`, or a `file:` URI of
    `:memory:` or with `mode=memory`."""
    database = (url.database or "").removeprefix("file:")
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def start_date() -> dt.date:
    """BUDGET_START_DATE: the first day of the spend partitions, and the earliest local date a
    spend record may fall on."""
    text = _value("BUDGET_START_DATE")
    if text is None:
        return DEFAULT_START_DATE
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise SettingError(f"BUDGET_START_DATE: {text!r} is not a date like 2025-01-01") from None
    if not EARLIEST_START_DATE <= day <= LATEST_START_DATE:
        raise SettingError(f"BUDGET_START_DATE: {day} is not between {EARLIEST_START_DATE} and {LATEST_START_DATE}")
    return day


def settle_seconds() -> float:
    """BUDGET_LANDING_SETTLE_SECONDS: how long a landing file's size and modification time must
    have stood still before it is read."""
    text = _value("BUDGET_LANDING_SETTLE_SECONDS")
    if text is None:
        return DEFAULT_SETTLE_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_SETTLE_SECONDS:  # also false for NaN
        raise SettingError(
            f"BUDGET_LANDING_SETTLE_SECONDS: {text!r} is not a number of seconds from 0 to {MAX_SETTLE_SECONDS:g}"
        )
    return seconds


def ingest_chunk_rows() -> int:
    """BUDGET_INGEST_CHUNK_ROWS: rows of a spend file read, validated and written at a time."""
    text = _value("BUDGET_INGEST_CHUNK_ROWS")
    if text is None:
        return DEFAULT_CHUNK_ROWS
    low, high = CHUNK_ROWS_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise SettingError(f"BUDGET_INGEST_CHUNK_ROWS: {text!r} is not a whole number from {low} to {high}")
    return int(text)


def webhook_url() -> str | None:
    """BUDGET_WEBHOOK_URL: where notifications are POSTed; None keeps them in the outbox."""
    return _checked("BUDGET_WEBHOOK_URL", check_webhook_url)


def check_webhook_url(text: str, name: str = "BUDGET_WEBHOOK_URL") -> None:
    """An http(s) URL with a host, and no space or control character in it (which no request
    can carry: each would fail, and be retried for a day). The message never repeats it: a chat
    webhook's URL is a secret."""
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        valid = False
    if not valid or any(char.isspace() or not char.isprintable() for char in text):
        raise SettingError(f"{name}: not an http:// or https:// URL with a host")


def webhook_secret() -> str | None:
    """BUDGET_WEBHOOK_SECRET: the key of the notifications' signature; None leaves them unsigned."""
    return _checked("BUDGET_WEBHOOK_SECRET", check_webhook_secret)


def _checked(name: str, check: Callable[[str], None]) -> str | None:
    """The value of `name`, put through `check` (which raises SettingError), or None when unset."""
    text = _value(name)
    if text is not None:
        check(text)
    return text


def check_webhook_secret(text: str, name: str = "BUDGET_WEBHOOK_SECRET") -> None:
    """Text the signature can key with: UTF-8 (bytes the environment gave that are not UTF-8 come
    to Python as lone surrogates). The message says nothing of the secret."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise SettingError(f"{name}: not UTF-8 text") from None


def check() -> None:
    """Read every setting once, so a bad one is reported before any work starts."""
    database_url()
    webhook_url()
    webhook_secret()
    start_date()
    settle_seconds()
    ingest_chunk_rows()


def exit_if_invalid() -> None:
    """End the process with one line on stderr (exit status 2) if a setting is bad."""
    try:
        check()
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
