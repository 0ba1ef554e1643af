from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from budget_pipeline.rules.reasons import (
    ALL_REASONS,
    BUDGET_RULE,
    CAMPAIGN_DAILY_BUDGET,
    DAILY_BUDGET,
    DAILY_RESET,
    DAYPARTING_RULE,
    MANUAL_RULE,
    MONTHLY_BUDGET,
    MONTHLY_RESET,
    Spend,
    apply_rule,
    budget_reasons,
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


def spend(**kw: str | None) -> Spend:
    base = {
        "brand_daily_spend": "0",
        "brand_daily_budget": "100",
        "brand_monthly_spend": "0",
        "brand_monthly_budget": "2000",
        "campaign_daily_spend": "0",
        "campaign_monthly_spend": "0",
        "campaign_daily_cap": None,
        "campaign_monthly_cap": None,
    }
    base.update(kw)
    return Spend(**{k: (Decimal(v) if v is not None else None) for k, v in base.items()})  # type: ignore[arg-type]


def test_budget_reasons_compare_brand_totals_and_own_caps() -> None:
    assert budget_reasons(spend(brand_daily_spend="99.99")) == frozenset()
    assert budget_reasons(spend(brand_daily_spend="100.00")) == {DAILY_BUDGET}
    assert budget_reasons(spend(brand_monthly_spend="2000")) == {MONTHLY_BUDGET}
    assert budget_reasons(spend(campaign_daily_spend="60", campaign_daily_cap="60")) == {CAMPAIGN_DAILY_BUDGET}
    assert budget_reasons(spend(campaign_daily_spend="600", campaign_daily_cap=None)) == frozenset()
