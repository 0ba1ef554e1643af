"""Which database errors say the database cannot be used (a step fails in one line, a Failure)
and which are defects or contention whose stack a developer needs: real errors of real SQLite
and PostgreSQL, classified by `store.db.database_unusable`."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from budget_pipeline.store.db import database_unusable, make_engine, upgrade
from tests.conftest import PG_URL


def error_of(engine: Engine, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    return raised.value


def test_sqlite_says_which_are_the_database_and_which_the_statement(tmp_path: Path) -> None:
    database = tmp_path / "budget.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    assert not database_unusable(error_of(engine, "SELECT no_such_column FROM campaigns"))
    assert not database_unusable(error_of(engine, "SELECT * FROM no_such_table"))
    duplicate = error_of(engine, "INSERT INTO alembic_version SELECT version_num FROM alembic_version")
    assert isinstance(duplicate, IntegrityError) and not database_unusable(duplicate)
    read_only = make_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
    assert database_unusable(error_of(read_only, "DELETE FROM campaigns"))
    holder = sqlite3.connect(database)
    holder.execute("BEGIN EXCLUSIVE")
    impatient = create_engine(f"sqlite:///{database}", connect_args={"timeout": 0.05})
    try:
        assert database_unusable(error_of(impatient, "DELETE FROM campaigns"))  # locked
    finally:
        holder.rollback()
        holder.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all, whatever its name says " * 100)
    assert database_unusable(error_of(make_engine(f"sqlite:///{garbage}"), "SELECT * FROM campaigns"))
    for used in (engine, read_only, impatient):
        used.dispose()


def test_postgresql_a_deadlock_is_not_the_database_but_a_session_ended_is() -> None:
    engine = create_engine(PG_URL)
    with engine.connect() as first, engine.connect() as second:
        for conn in (first, second):
            conn.exec_driver_sql("SET deadlock_timeout = '50ms'")
        first.execute(text("SELECT pg_advisory_xact_lock(424201)"))
        second.execute(text("SELECT pg_advisory_xact_lock(424202)"))
        errors: list[OperationalError] = []

        def take(conn, key: int) -> None:  # type: ignore[no-untyped-def]
            try:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            except OperationalError as exc:
                errors.append(exc)
                conn.rollback()  # the other one then gets its lock

        waiting = threading.Thread(target=take, args=(first, 424202))
        waiting.start()
        take(second, 424201)
        waiting.join(timeout=30)
        [deadlock] = errors
        assert getattr(deadlock.orig, "pgcode", None) == "40P01"
        assert not database_unusable(deadlock)
    with engine.connect() as doomed, engine.connect() as admin:
        pid = doomed.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(OperationalError) as ended:
            doomed.exec_driver_sql("SELECT 1")
        assert database_unusable(ended.value)
    with engine.connect() as closed:
        closed.connection.dbapi_connection.close()  # type: ignore[union-attr]
        with pytest.raises(InterfaceError) as gone:
            closed.exec_driver_sql("SELECT 1")
        assert database_unusable(gone.value)
    with engine.connect() as read_only:
        read_only.exec_driver_sql("SET TRANSACTION READ ONLY")
        with pytest.raises(DBAPIError) as refused:
            read_only.exec_driver_sql("CREATE TEMPORARY TABLE t (n integer)")
        assert getattr(refused.value.orig, "pgcode", None) == "25006"  # psycopg2: an InternalError
        assert database_unusable(refused.value)
    missing = create_engine(PG_URL.rsplit("/", 1)[0] + "/no_such_database_budget_pipeline")
    with pytest.raises(OperationalError) as absent, missing.connect():
        pass
    assert database_unusable(absent.value)
    for used in (engine, missing):
        used.dispose()
