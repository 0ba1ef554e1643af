"""Bulk writes shared by the store's modules: per-transaction temp tables, and Arrow tables
written into a table in one go (PostgreSQL's COPY, SQLite's multi-row INSERT)."""

from __future__ import annotations

import functools
import io
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Column, Connection, MetaData, Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from budget_pipeline.hooks import EXCEPTHOOK


def dialect_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of `table` in the connection's dialect, which can say ON CONFLICT."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def temp_table(name: str, *columns: Column[Any]) -> Table:
    """A TEMPORARY table of one transaction's staged rows (emptied at commit on PostgreSQL); make
    it exist, empty, with empty_temp_table."""
    return Table(name, MetaData(), *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS")


def ensure_temp_table(conn: Connection, table: Table) -> None:
    """Make `table` (a TEMPORARY table) exist in this session, keeping what it holds."""
    conn.execute(CreateTable(table, if_not_exists=True))


def empty_temp_table(conn: Connection, table: Table) -> None:
    """Make `table` (a TEMPORARY table) exist in this session, empty. Declare it with
    `postgresql_on_commit="DELETE ROWS"`: PostgreSQL then truncates it at every commit, and so
    does this within a transaction. A DELETE would leave its rows behind, dead, for every later
    scan of the table to step over (autovacuum never looks at temp tables)."""
    ensure_temp_table(conn, table)
    if conn.dialect.name == "postgresql":
        # Truncated only when it has pages: as a rule it has none, emptied at the last commit,
        # and a TRUNCATE costs ~1-2 ms (a new file for the table) where asking costs ~0.1 ms.
        # Rows of a rolled-back transaction or savepoint, or of an earlier use, take pages.
        size = conn.exec_driver_sql("SELECT pg_relation_size(%s::regclass)", (table.name,)).scalar_one()
        if size:
            conn.exec_driver_sql(f"TRUNCATE {table.name}")
    else:
        conn.execute(delete(table))  # SQLite drops the pages of a DELETE without WHERE at once


def analyze_temp(conn: Connection, temp_table: str) -> None:
    """Give PostgreSQL's planner the size of a freshly filled temp table (autovacuum never sees
    temp tables), so a join against it is planned for its real size."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {temp_table}")


def arrow_csv(table: pa.Table) -> bytes:
    """`table` as headerless CSV, every string quoted (so "" stays an empty string for COPY)."""
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


def copy_csv(conn: Connection, table: str, columns: Sequence[str], csv_data: bytes) -> None:
    """PostgreSQL's COPY of CSV rows into `columns` of `table`, inside the caller's transaction."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
        with _errors_raised_not_printed():
            cursor.copy_expert(sql, io.BytesIO(csv_data), size=1 << 20)
    finally:
        cursor.close()


def _errors_raised_not_printed() -> AbstractContextManager[None]:
    """When the server ends the session during a COPY (a restart), psycopg2 prints the error
    through sys.excepthook (a SystemError chained to it, several lines on stderr), then raises
    it: what it prints is dropped for this thread while it copies, and the raise says it once.
    Other threads' uncaught errors are printed as ever."""
    return EXCEPTHOOK.held(lambda *error: True)


SQLITE_ROWS_PER_STATEMENT = 8_000


def insert_arrow(conn: Connection, table: str, rows: pa.Table, constants: Mapping[str, int] | None = None) -> None:
    """Insert `rows` (columns named as the table's) as they are, bypassing column types, with
    the integer `constants` in every row: one COPY on PostgreSQL, multi-row INSERTs on SQLite."""
    constants = constants or {}
    if conn.dialect.name == "postgresql":
        for name, value in constants.items():
            rows = rows.append_column(name, pa.repeat(pa.scalar(value, pa.int64()), rows.num_rows))
        copy_csv(conn, table, rows.column_names, arrow_csv(rows))
        return
    _sqlite_insert(conn, table, rows, constants)


def _sqlite_insert(conn: Connection, table: str, rows: pa.Table, constants: Mapping[str, int]) -> None:
    """SQLite takes rows one statement execution at a time: an executemany binds and steps each
    row on its own and hands Python's GIL over between them. An INSERT of a couple of thousand
    rows' VALUES binds them all in one call and steps once, at two thirds of the cost (and leaves
    the GIL to the thread that reads the next chunk for far fewer hand-overs)."""
    width = rows.num_columns
    limit = conn.connection.dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
    per_statement = max(1, min(SQLITE_ROWS_PER_STATEMENT, limit // width))
    values: list[Any] = [None] * (rows.num_rows * width)
    for k, column in enumerate(rows.columns):
        values[k::width] = column.to_pylist()
    constant_sql = tuple((name, int(value)) for name, value in constants.items())
    for start in range(0, rows.num_rows, per_statement):
        count = min(per_statement, rows.num_rows - start)
        sql = _sqlite_insert_sql(table, tuple(rows.column_names), constant_sql, count)
        conn.exec_driver_sql(sql, tuple(values[start * width : (start + count) * width]))


@functools.lru_cache(maxsize=64)
def _sqlite_insert_sql(table: str, columns: Sequence[str], constants: Sequence[tuple[str, int]], count: int) -> str:
    """`INSERT INTO table (columns) VALUES (?, …, constants), …` for `count` rows; one string
    object per shape, so that sqlite3's statement cache finds it prepared."""
    names = ", ".join([*columns, *(name for name, _ in constants)])
    row = "(" + ", ".join(["?"] * len(columns) + [str(value) for _, value in constants]) + ")"
    return f"INSERT INTO {table} ({names}) VALUES " + ", ".join([row] * count)
