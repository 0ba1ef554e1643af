"""The bulk writer every store module uses: Arrow rows into a real table, on both databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Column, Connection, Engine, Integer, create_engine, func, insert, select, text
from sqlalchemy.pool import StaticPool

from budget_pipeline.store import bulk
from budget_pipeline.store.db import make_engine, writing


def _insert_and_read(engine: Engine, rows: pa.Table) -> list[tuple[object, ...]]:
    with writing(engine) as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE bulk_target (n INTEGER, label VARCHAR(20), file_id INTEGER)")
        bulk.insert_arrow(conn, "bulk_target", rows, {"file_id": 7})
        stored = conn.execute(text("SELECT n, label, file_id FROM bulk_target ORDER BY n")).all()
    return [tuple(r) for r in stored]


ROWS = pa.table({"n": pa.array(range(10), pa.int64()), "label": [f"row '{i}', \"x\"" for i in range(10)]})
EXPECTED = [(i, f"row '{i}', \"x\"", 7) for i in range(10)]


def test_rows_and_constants_are_stored_as_given(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three rows per statement on SQLite: 10 rows take four statements, the last one shorter.
    monkeypatch.setattr(bulk, "SQLITE_ROWS_PER_STATEMENT", 3)
    assert _insert_and_read(engine, ROWS) == EXPECTED


def test_sqlite_statements_stay_within_the_bound_parameter_limit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 5)  # two rows of two values
        conn.exec_driver_sql("CREATE TEMPORARY TABLE bulk_target (n INTEGER, label VARCHAR(20), file_id INTEGER)")
        bulk.insert_arrow(conn, "bulk_target", ROWS, {"file_id": 7})
        stored = [tuple(r) for r in conn.execute(text("SELECT n, label, file_id FROM bulk_target ORDER BY n"))]
        conn.rollback()
    engine.dispose()
    assert stored == EXPECTED


_staged = bulk.temp_table("bulk_staged", Column("n", Integer, nullable=False))


def _count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(_staged)).scalar_one()


def _fill(conn: Connection, *numbers: int) -> None:
    bulk.empty_temp_table(conn, _staged)
    if numbers:
        conn.execute(insert(_staged), [{"n": n} for n in numbers])


def test_an_emptied_temp_table_holds_nothing_of_before(engine: Engine) -> None:
    """empty_temp_table leaves the table empty whatever came before on the same connection: an
    earlier use in the same transaction (also ensure_temp_table and an INSERT), a rolled-back
    savepoint's rows, earlier transactions committed or rolled back. On PostgreSQL it truncates
    only a table with pages: each of these leaves some, where a commit leaves none."""
    with engine.connect() as conn:
        _fill(conn, 1, 2, 3)
        _fill(conn)  # the same transaction's second use
        assert _count(conn) == 0
        _fill(conn, 4)
        conn.commit()
        _fill(conn)  # the next transaction's first use
        assert _count(conn) == 0
        _fill(conn, 5, 6)
        conn.rollback()
        _fill(conn)
        assert _count(conn) == 0
        conn.rollback()
        bulk.ensure_temp_table(conn, _staged)  # a transaction that fills it first, then empties it
        conn.execute(insert(_staged), [{"n": 10}, {"n": 11}])
        _fill(conn)
        assert _count(conn) == 0
        _fill(conn, 7, 8)
        with conn.begin_nested() as savepoint:
            _fill(conn, 9)
            savepoint.rollback()  # the table holds 7 and 8 again
        _fill(conn)
        assert _count(conn) == 0
        conn.rollback()


def test_connections_that_share_a_database_session_still_empty_it(db_url: str) -> None:
    """Two Connections sharing one DBAPI connection (StaticPool), or a session in AUTOCOMMIT with
    a transaction begun by hand: empty_temp_table still leaves the table empty."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite empties a temp table with a DELETE every time")
    shared = create_engine(db_url, poolclass=StaticPool)
    with shared.connect() as first, shared.connect() as second:
        _fill(first, 1, 2, 3)
        _fill(second)
        assert _count(second) == 0
        first.rollback()
    shared.dispose()
    autocommit = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        _fill(conn, 1, 2)
        conn.commit()  # the DBAPI commits nothing in AUTOCOMMIT: the transaction begun by hand goes on
        _fill(conn)
        assert _count(conn) == 0
        conn.exec_driver_sql("ROLLBACK")
    autocommit.dispose()
