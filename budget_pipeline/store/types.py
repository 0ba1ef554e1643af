"""Column types that keep money exact and timestamps in UTC on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from budget_pipeline.rules.money import MONEY_CEILING

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


MONEY_CEILING_MICROS = to_micros(MONEY_CEILING)  # SQLite's largest integer


class money_sum(FunctionElement[Decimal]):  # noqa: N801 - a SQL function, named like func.sum
    """`SUM()` of a Money column, held at MONEY_CEILING instead of overflowing. A plain SUM of
    10,000 records of 999,999,999.999999 overflows SQLite's 64-bit integers and PostgreSQL's
    NUMERIC(20, 6) column it is written to, and one such campaign-day failed every refresh,
    and the enforcement after it, for every brand."""

    type = Money()
    inherit_cache = True


class money_add(FunctionElement[Decimal]):  # noqa: N801
    """`a + b` of two Money values (b may be negative), held at MONEY_CEILING likewise."""

    type = Money()
    inherit_cache = True


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(argument, **kw) for argument in element.clauses]


@compiles(money_sum)
def _money_sum(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    # Not LEAST(), which skips a NULL: the SUM() of no rows would be the ceiling.
    (x,) = _arguments(element, compiler, **kw)
    return f"CASE WHEN sum({x}) > {MONEY_CEILING} THEN {MONEY_CEILING} ELSE sum({x}) END"


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    # Whole units and micro-units summed apart cannot overflow (that needs ~10^10 records): the
    # total is units * 10^6 + rest, `rest` of either sign (changes of spend may be negative).
    # With k = units - the ceiling's units, a total with k > 1 is over the ceiling, one with
    # k < -1 under it, and in between k * 10^6 + rest against the ceiling's rest tells, in small
    # integers. The total is built only when it fits, units and rest of one sign first, so that
    # no step of it passes the range. Totals below minus the ceiling are out of range (only
    # changes are negative, each at most a held sum). SQLite computes each distinct sum once.
    (x,) = _arguments(element, compiler, **kw)
    units = f"(sum(({x}) / {MICROS}) + sum(({x}) % {MICROS}) / {MICROS})"
    rest = f"(sum(({x}) % {MICROS}) % {MICROS})"
    top_units, top_rest = divmod(MONEY_CEILING_MICROS, MICROS)
    k = f"({units} - {top_units})"
    return (
        f"CASE WHEN {k} > 1 OR ({k} >= -1 AND {k} * {MICROS} + {rest} > {top_rest})"
        f" THEN {MONEY_CEILING_MICROS}"
        f" WHEN {units} > 0 AND {rest} < 0 THEN ({units} - 1) * {MICROS} + ({rest} + {MICROS})"
        f" WHEN {units} < 0 AND {rest} > 0 THEN ({units} + 1) * {MICROS} + ({rest} - {MICROS})"
        f" ELSE {units} * {MICROS} + {rest} END"
    )


@compiles(money_add)
def _money_add(element: money_add, compiler: SQLCompiler, **kw: Any) -> str:
    a, b = _arguments(element, compiler, **kw)
    return f"CASE WHEN {a} + {b} > {MONEY_CEILING} THEN {MONEY_CEILING} ELSE {a} + {b} END"


@compiles(money_add, "sqlite")
def _money_add_sqlite(element: money_add, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite turns an integer sum that overflows into an inexact float, silently.
    a, b = _arguments(element, compiler, **kw)
    return f"CASE WHEN {b} > 0 AND {a} > {MONEY_CEILING_MICROS} - {b} THEN {MONEY_CEILING_MICROS} ELSE {a} + {b} END"


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
