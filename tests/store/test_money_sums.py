"""money_sum and money_add on both databases: exact below MONEY_CEILING, held at it above,
never an overflow (a plain SUM of 10,000 records of the largest amount overflowed SQLite)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, literal, select

from budget_pipeline.rules.money import MONEY_CEILING
from budget_pipeline.store.types import Money, money_add, money_sum

MICRO = Decimal("0.000001")
_rows = Table("money_rows", MetaData(), Column("batch", Integer), Column("amount", Money))

amounts = st.one_of(
    st.integers(0, 999_999_999_999_999).map(lambda micros: micros * MICRO),  # one record's range
    st.integers(0, 2**63 - 1).map(lambda micros: micros * MICRO),  # an aggregate row's range
    st.sampled_from([MONEY_CEILING, MONEY_CEILING - MICRO, Decimal(0)]),
)


def _summed(engine: Engine, values: list[Decimal]) -> Decimal | None:
    with engine.begin() as conn:
        _rows.create(conn, checkfirst=True)
        conn.execute(_rows.delete())
        if values:
            conn.execute(insert(_rows), [{"batch": 1, "amount": value} for value in values])
        return conn.execute(select(money_sum(_rows.c.amount))).scalar_one()


def test_sums_are_exact_below_the_ceiling_and_held_at_it(engine: Engine) -> None:
    assert _summed(engine, []) is None  # as SUM() of no rows
    assert _summed(engine, [Decimal("0.10")] * 3) == Decimal("0.30")
    top = Decimal("999999999.999999")
    assert _summed(engine, [top] * 9_223) == top * 9_223  # just under: exact
    assert _summed(engine, [top] * 12_000) == MONEY_CEILING
    assert _summed(engine, [MONEY_CEILING - MICRO, MICRO]) == MONEY_CEILING
    assert _summed(engine, [MONEY_CEILING, MICRO]) == MONEY_CEILING
    assert _summed(engine, [MONEY_CEILING] * 3) == MONEY_CEILING


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(amounts, max_size=8), negative=st.lists(amounts, max_size=3))
def test_any_sum_is_the_exact_sum_held_at_the_ceiling(
    engine: Engine, values: list[Decimal], negative: list[Decimal]
) -> None:
    """Changes of spend summed (the monthly carry's) may be negative, down to minus a held sum."""
    values = values + [-value for value in negative]
    assume(sum(values, Decimal(0)) >= -MONEY_CEILING)
    expected = min(sum(values, Decimal(0)), MONEY_CEILING) if values else None
    assert _summed(engine, values) == expected


def test_a_sum_of_both_signs_near_the_ceiling_is_exact(engine: Engine) -> None:
    assert _summed(engine, [Decimal(9223372036854), Decimal(1), Decimal("-0.5")]) == Decimal("9223372036854.5")
    assert _summed(engine, [MONEY_CEILING, MICRO, -MICRO]) == MONEY_CEILING
    assert _summed(engine, [MONEY_CEILING, Decimal(2), Decimal("-1.000001")]) == MONEY_CEILING
    assert _summed(engine, [MONEY_CEILING, Decimal(1), Decimal("-1.000001")]) == MONEY_CEILING - MICRO


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=amounts, b=amounts, negative=st.booleans())
def test_an_addition_is_exact_and_held_at_the_ceiling(engine: Engine, a: Decimal, b: Decimal, negative: bool) -> None:
    if negative:  # a change that takes spend back: never below zero
        a, b = max(a, b), -min(a, b)
    with engine.connect() as conn:
        added = conn.execute(select(money_add(literal(a, Money()), literal(b, Money())))).scalar_one()
    assert added == min(a + b, MONEY_CEILING)


def test_an_addition_of_nothing_is_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(select(money_add(literal(None, Money()), literal(MICRO, Money())))).scalar_one() is None
