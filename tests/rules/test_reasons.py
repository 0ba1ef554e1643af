from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from budget_pipeline.rules.reasons import (
    ALL_REASONS,
    BUDGET_RULE,
    CAMPAIGN_DAILY_BUDGET,
    CAMPAIGN_MONTHLY_BUDGET,
    DAILY_BUDGET,
    DAILY_RESET,
    DAYPARTING_RULE,
    MANUAL_RULE,
    MONTHLY_BUDGET,
    MONTHLY_RESET,
    apply_rule,
    brand_budget_reasons,
    campaign_cap_reasons,
    format_reasons,
    parse_reasons,
)

RULES = [MANUAL_RULE, BUDGET_RULE, DAILY_RESET, MONTHLY_RESET, DAYPARTING_RULE]
reason_sets = st.frozensets(st.sampled_from(ALL_REASONS))


@given(reason_sets, st.sampled_from(RULES), reason_sets)
def test_a_rule_changes_only_its_own_reasons(
    current: frozenset[str], owned: frozenset[str], present: frozenset[str]
) -> None:
    after = apply_rule(current, owned, present)
    assert after - owned == current - owned, "reasons owned by other rules are untouched"
    assert after & owned == present & owned, "the rule's own reasons are exactly what it found"


@given(reason_sets, st.lists(st.tuples(st.sampled_from(RULES), reason_sets), max_size=8))
def test_dayparting_never_clears_a_budget_reason(start: frozenset[str], steps: list) -> None:  # type: ignore[type-arg]
    reasons = start
    for owned, present in steps:
        if owned in (DAYPARTING_RULE, MANUAL_RULE):
            before_budget = reasons & BUDGET_RULE
            reasons = apply_rule(reasons, owned, present)
            assert reasons & BUDGET_RULE == before_budget


def test_reasons_round_trip_in_contract_order() -> None:
    assert format_reasons({"dayparting", "manual", "daily_budget"}) == "manual,daily_budget,dayparting"
    assert parse_reasons("") == frozenset()
    assert parse_reasons("manual,dayparting") == {"manual", "dayparting"}


def test_brand_budgets_compare_the_brand_total() -> None:
    def brand(daily: str, monthly: str = "0") -> frozenset[str]:
        return brand_budget_reasons(Decimal(daily), Decimal("100"), Decimal(monthly), Decimal("2000"))

    assert brand("99.99") == frozenset()
    assert brand("100.00") == {DAILY_BUDGET}
    assert brand("0", "2000") == {MONTHLY_BUDGET}
    assert brand("100", "2500") == {DAILY_BUDGET, MONTHLY_BUDGET}


def test_campaign_caps_compare_the_campaign_alone() -> None:
    sixty = Decimal("60")
    assert campaign_cap_reasons(sixty, sixty, None, None) == {CAMPAIGN_DAILY_BUDGET}
    assert campaign_cap_reasons(Decimal("600"), None, Decimal("600"), None) == frozenset(), "no cap, no reason"
    assert campaign_cap_reasons(None, Decimal("1"), Decimal("900"), Decimal("900")) == {CAMPAIGN_MONTHLY_BUDGET}
