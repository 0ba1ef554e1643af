"""Column types that keep money exact and timestamps in UTC on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_SCALE = 6
MICROS = 10**MONEY_SCALE
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def to_micros(amount: Decimal) -> int:
    """Exact micro-units of a decimal amount with at most six decimals."""
    micros = amount.scaleb(MONEY_SCALE)
    if micros != micros.to_integral_value():
        raise ValueError(f"{amount} has more than {MONEY_SCALE} decimals")
    return int(micros)


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).quantize(_QUANTUM)


class Money(TypeDecorator[Decimal]):
    """A money amount: NUMERIC(20, 6) on PostgreSQL, integer micro-units on SQLite.

    SQLite has no exact decimal type (its NUMERIC affinity stores floats, so 0.10 + 0.10 + 0.10
    would sum to 0.30000000000000004); integers sum exactly, as ad platforms' `cost_micros` do.
    Python always sees `Decimal`, and `SUM()` of a Money column comes back as `Decimal` too.
    """

    impl = Numeric(20, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_micros(Decimal(value))
        return Decimal(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "postgresql":
            # psycopg2 returns NUMERIC(20, 6), and its sums, as Decimals with six places:
            # nothing to convert, and nothing to spend per value on reads of 100k rows.
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        # SQLite only: result_processor leaves PostgreSQL's Decimals as they come.
        return None if value is None else from_micros(int(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant: `timestamptz` on PostgreSQL, naive UTC text on SQLite; always aware UTC in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime(timezone=False))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: an instant needs a time zone")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def opaque_id(length: int) -> TypeEngine[str]:
    """An identifier that is only ever matched, never sorted for people: VARCHAR compared byte
    by byte (COLLATE "C") on PostgreSQL, as SQLite's default BINARY collation does. A language
    collation (en_US.utf8 in the postgres image) costs a locale-aware comparison at every step
    of a B-tree search, which is most of the price of a unique index on millions of ids."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")
