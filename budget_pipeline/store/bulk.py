"""Bulk writes shared by the store's modules: Arrow tables as CSV for PostgreSQL's COPY."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection


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
