"""The alert comparison, pure: spend reaches a percent of a budget at or over it, exactly."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from budget_pipeline.rules.alerts import new_percents, reaches, threshold
from budget_pipeline.rules.reasons import budget_reached

micros = st.integers(0, 10**18).map(lambda m: Decimal(m).scaleb(-6))


def test_a_threshold_is_rounded_up_to_the_micro_unit() -> None:
    assert threshold(Decimal("100"), 80) == Decimal("80.000000")
    assert threshold(Decimal("0.000001"), 50) == Decimal("0.000001")  # half a micro-unit: one is needed
    assert threshold(Decimal("999999999999.99"), 1000) == Decimal("9999999999999.900000")


@given(spend=micros, budget=micros, percent=st.integers(1, 1000))
def test_reaching_is_spend_at_or_over_the_threshold_the_store_compares_with(
    spend: Decimal, budget: Decimal, percent: int
) -> None:
    """`reaches` (Python, a product of exact amounts) and `threshold` (rounded up to the
    micro-unit, what the store compares spend with) always agree."""
    assert reaches(spend, budget, percent) == (spend >= threshold(budget, percent)) == (spend * 100 >= budget * percent)


@given(spend=micros, budget=micros)
def test_at_100_it_is_the_comparison_that_pauses(spend: Decimal, budget: Decimal) -> None:
    assert reaches(spend, budget, 100) == budget_reached(spend, budget)


@given(budget=micros, percent=st.integers(1, 1000), step=st.integers(-2, 2))
def test_reaching_agrees_with_the_threshold_a_micro_unit_either_side(budget: Decimal, percent: int, step: int) -> None:
    spend = max(Decimal(0), threshold(budget, percent) + Decimal(step).scaleb(-6))
    assert reaches(spend, budget, percent) == (spend >= threshold(budget, percent))


def test_new_percents_are_those_reached_and_not_recorded() -> None:
    budget = Decimal("100")
    assert new_percents(Decimal("79.999999"), budget, (80, 100), set()) == []
    assert new_percents(Decimal("80"), budget, (50, 80, 100), {50}) == [80]
    assert new_percents(Decimal("150"), budget, (80, 100, 150), {80, 100, 150}) == []


@given(
    spend=micros,
    budget=micros,
    percents=st.lists(st.integers(1, 1000), unique=True).map(sorted),
    recorded=st.sets(st.integers(1, 1000)),
)
def test_new_percents_never_repeat_a_recorded_one_nor_miss_a_reached_one(
    spend: Decimal, budget: Decimal, percents: list[int], recorded: set[int]
) -> None:
    new = new_percents(spend, budget, percents, recorded)
    assert not set(new) & recorded
    assert set(new) == {p for p in percents if spend >= threshold(budget, p)} - recorded
