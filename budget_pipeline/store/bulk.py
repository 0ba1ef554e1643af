"""Bulk writes shared by the store's modules: per-transaction temp tables, and Arrow tables
written into a table in one go (PostgreSQL's COPY, SQLite's executemany)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Table, delete
from sqlalchemy.schema import CreateTable


def empty_temp_table(conn: Connection, table: Table) -> None:
    """Make `table` (a TEMPORARY table) exist in this session, empty. Declare it with
    `postgresql_on_commit="DELETE ROWS"`: PostgreSQL then truncates it at every commit, and so
    does this within a transaction. A DELETE would leave its rows behind, dead, for every later
    scan of the table to step over (autovacuum never looks at temp tables)."""
    conn.execute(CreateTable(table, if_not_exists=True))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"TRUNCATE {table.name}")
    else:
        conn.execute(delete(table))  # SQLite drops the pages of a DELETE without WHERE at once


def arrow_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """The rows of `table` as Python tuples, for a DB-API executemany."""
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


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
        cursor.copy_expert(sql, io.BytesIO(csv_data), size=1 << 20)
    finally:
        cursor.close()


def insert_arrow(conn: Connection, table: str, rows: pa.Table) -> None:
    """Insert `rows` (columns named as the table's) as they are, bypassing column types: one COPY
    on PostgreSQL, one executemany on SQLite."""
    columns = rows.column_names
    if conn.dialect.name == "postgresql":
        copy_csv(conn, table, columns, arrow_csv(rows))
        return
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", arrow_rows(rows)
    )
