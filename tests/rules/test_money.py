"""Sums of spend held at MONEY_CEILING, as the rules and people see them."""

from decimal import Decimal

from budget_pipeline.rules.money import MONEY_CEILING, at_least, held, month_to_date, spend_text
from budget_pipeline.store.types import MONEY_CEILING_MICROS

MICRO = Decimal("0.000001")


def test_the_ceiling_is_sqlites_largest_integer_in_micro_units() -> None:
    assert MONEY_CEILING_MICROS == 2**63 - 1


def test_a_sum_is_held_at_the_ceiling() -> None:
    assert held(MONEY_CEILING - MICRO) == MONEY_CEILING - MICRO
    assert held(MONEY_CEILING * 2) == MONEY_CEILING


def test_a_held_month_has_no_month_to_date_by_subtraction() -> None:
    assert month_to_date(Decimal("3000.00"), Decimal("1000.00")) == Decimal("2000.00")
    assert month_to_date(MONEY_CEILING - MICRO, MONEY_CEILING - Decimal(1)) == Decimal("0.999999")
    assert month_to_date(MONEY_CEILING, MONEY_CEILING) is None  # summed from its days instead


def test_only_a_held_sum_is_shown_as_a_lower_bound() -> None:
    assert spend_text(Decimal("82.08")) == "82.08"
    assert spend_text(MONEY_CEILING) == f"at least {MONEY_CEILING}"
    assert at_least("9,223,372,036,854.78 USD", MONEY_CEILING) == "at least 9,223,372,036,854.78 USD"
    assert at_least("1.00 USD", Decimal(1)) == "1.00 USD"
