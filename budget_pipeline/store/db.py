"""Engines for the budget database and the migrations that build its schema."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from budget_pipeline import settings

if TYPE_CHECKING:
    from alembic.config import Config

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
# Each migration's file starts with its revision id, and each revises the one before it.
MIGRATIONS = Path(__file__).with_name("migrations") / "versions"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """A problem with the budget database a user can act on; its message is one line."""


class DatabaseSettingError(StoreError, settings.SettingError):
    """A database URL (BUDGET_DATABASE_URL, or one given) the product cannot use: a bad setting
    (exit status 2 in the CLI) and a store problem (a run's one-line Failure) at once."""


def driver_message(exc: DBAPIError) -> str:
    """A database error in one line, as its driver gave it: no statement, parameters or stack."""
    text = str(exc.orig).strip().splitlines()
    return text[0] if text else type(exc.orig).__name__


def unusable_message(exc: DBAPIError) -> str:
    """The one line said of a database that cannot be used (the CLI's error, a step's Failure)."""
    return f"cannot use the budget database: {driver_message(exc)}"


# What an error says about the database rather than about the statement: SQLite's messages of a
# file it cannot write, lock, read, open or grow, or that is not (or no longer) a database;
# PostgreSQL's SQLSTATE classes of a connection lost or refused (08), an operator's intervention
# (57P: shut down, restarting), a database that does not exist (3D), resources exhausted (53:
# disk full), a read-only server (25006) and a role without the rights it needs (42501).
_SQLITE_UNUSABLE = (
    "readonly database",
    "database is locked",
    "disk i/o error",
    "unable to open database",
    "disk is full",
    "not a database",
    "disk image is malformed",
)
_POSTGRESQL_UNUSABLE = ("08", "57P", "3D", "53", "25006", "42501")


def database_unusable(exc: DBAPIError) -> bool:
    """Whether `exc` says the database cannot be used (gone, unreachable, read-only, locked, full,
    corrupt) rather than that a statement is wrong or met another transaction (a syntax error, a
    missing column, a constraint, a deadlock: defects, whose stack trace a developer needs)."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):  # a connection closed under it
        return True
    if code := getattr(exc.orig, "pgcode", ""):  # whatever class psycopg2 gave it (25006: InternalError)
        return str(code).startswith(_POSTGRESQL_UNUSABLE)
    if not isinstance(exc, OperationalError) and type(exc) is not DatabaseError:
        return False  # a statement's own error: programming, integrity, data
    if exc.orig.__class__.__module__ == "sqlite3":
        return any(part in str(exc.orig).lower() for part in _SQLITE_UNUSABLE)
    return isinstance(exc, OperationalError)  # psycopg2's of a connection, with no SQLSTATE


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; the busy timeout waits instead of failing
    # with "database is locked"; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB of page cache: the primary-key B-tree of a million records stays in memory.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for `url` (default: BUDGET_DATABASE_URL, else budget.db in DAGSTER_HOME)."""
    try:
        parsed = (
            settings.parse_database_url(url)
            if url
            else settings.parse_database_url(settings.database_url(), "BUDGET_DATABASE_URL")
        )
    except settings.SettingError as exc:
        raise DatabaseSettingError(str(exc)) from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "connect", _remember_file)
            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(f"no driver for database URL {parsed.render_as_string()}: {exc}") from exc


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names (None in memory); a `file:` URI (`?uri=true`) names it after
    its scheme, without its query."""
    database = url.database
    if database and database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database) if database and database != ":memory:" else None


# A SQLite connection's record notes the files it opened (_Opened).
_OPENED = "budget_pipeline.sqlite_file"
Identity = tuple[int, int]  # a file's device and inode


def _identity(path: Path) -> Identity | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _beside(path: Path, suffix: str) -> Path:
    """The file SQLite names after the database `path`: its write-ahead log ("-wal"), the log's
    index ("-shm")."""
    return path.with_name(path.name + suffix)


class _Opened(NamedTuple):
    """What a SQLite connection opened: the database's path, and the identities of the file at
    that path, of its write-ahead log and of the log's index."""

    path: Path
    database: Identity | None
    log: Identity | None
    log_index: Identity | None

    @classmethod
    def at(cls, path: Path) -> _Opened:
        """The files at `path` and beside it, as they are now."""
        return cls(path, _identity(path), _identity(_beside(path, "-wal")), _identity(_beside(path, "-shm")))


def _remember_file(dbapi_connection: Any, record: Any) -> None:
    """Note the files a new SQLite connection opened (after `_sqlite_pragmas`, whose WAL mode
    opens the log), the database as SQLite names it: absolute, whatever the URL said (a relative
    path or `file:` URI, from the folder of the moment)."""
    cursor = dbapi_connection.cursor()
    try:
        main = next((row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"), "")
    finally:
        cursor.close()
    if main:  # "" in memory
        record.info[_OPENED] = _Opened.at(Path(main))


def _refuse_if_gone(connection: Connection) -> None:
    """After a commit: when the path of the SQLite file `connection` opened now names no file or
    another one (deleted, or a database moved in, while the connection was open), what it wrote
    went to the old file, and away with it. Then this engine's connections are closed (none
    writes on into the old file), the old file's log is set aside, and a StoreError says so."""
    opened: _Opened | None = connection.connection.info.get(_OPENED)
    if opened is None or _identity(opened.path) == opened.database:
        return
    connection.invalidate()
    connection.engine.dispose()
    aside = _set_aside_old_log(opened)
    raise StoreError(
        f"the SQLite database {opened.path} was deleted or replaced during this write; the write went with it"
        + (f" (the old file's write-ahead log is now {aside})" if aside else "")
    )


def _set_aside_old_log(opened: _Opened) -> Path | None:
    """Move the write-ahead log `opened` names aside and delete its index, if they are still the
    ones the connection opened: SQLite leaves them at their paths when the database file has
    moved, and finds them by the path, so left there they are read as the new file's (it showed
    the old file's data, or was malformed). A log or index another connection made since, the new
    file's, is left alone. Where the log went, or None."""
    now = _Opened.at(opened.path)
    moved = None
    if opened.log is not None and now.log == opened.log:
        log = _beside(opened.path, "-wal")
        aside = log.with_name(f"{log.name}.replaced-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}")
        with contextlib.suppress(OSError):  # a folder not writable: the message says what happened
            log.rename(aside)
            moved = aside
    if opened.log_index is not None and now.log_index == opened.log_index:
        with contextlib.suppress(OSError):
            _beside(opened.path, "-shm").unlink()
    return moved


def missing_sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite engine's database when it does not exist yet, else None."""
    if engine.dialect.name != "sqlite" or (path := sqlite_file(engine.url)) is None:
        return None
    return None if path.exists() else path


def _make_parent(database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = next((p for p in (database.parent, *database.parent.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocking} is a file" if blocking else exc.strerror
        raise StoreError(f"cannot create the folder of the SQLite database {database}: {why}") from None


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision` (and a SQLite file, with its folder);
    running it again changes nothing."""
    from alembic import command

    if (path := missing_sqlite_file(engine)) is not None:
        _make_parent(path)

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


# Every command and every run asks the two questions below before it starts, so they are answered
# without loading Alembic (a third of a second): the version table Alembic keeps, and the newest
# migration's file name. tests/store/test_schema.py holds them equal to Alembic's own answers.


def current_revision(engine: Engine) -> str | None:
    """The schema's migration, None before `init-db` (a SQLite file that does not exist is not
    made by asking: a mistyped path leaves nothing behind)."""
    if missing_sqlite_file(engine) is not None:
        return None
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:
        raise StoreError(f"the budget database records several schema versions ({', '.join(sorted(versions))})")
    return versions[0] if versions else None


def head_revision() -> str:
    """The newest migration in the package."""
    return max(path.name.split("_", 1)[0] for path in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction, committed on success and rolled back on any error.

    On SQLite it starts with BEGIN IMMEDIATE, taking the write lock up front, so two writers
    queue behind the busy timeout instead of failing half-way with "database is locked". After
    its commit it asks whether the file is still the one at the database's path: if the file was
    deleted or replaced meanwhile, the write is gone with it, and a StoreError says so (so that
    nothing which counts on the write, a spend file moved to processed/, follows it).
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
        _refuse_if_gone(connection)
