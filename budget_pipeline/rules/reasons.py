"""Pause reasons and the rules that own them.

A campaign carries a set of pause reasons and is active exactly when the set is empty. Each rule
owns some reasons and only ever adds or removes those: dayparting never clears a budget reason,
a reset never clears `manual`, a budget rule never clears `dayparting`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

MANUAL = "manual"
DAILY_BUDGET = "daily_budget"
MONTHLY_BUDGET = "monthly_budget"
CAMPAIGN_DAILY_BUDGET = "campaign_daily_budget"
CAMPAIGN_MONTHLY_BUDGET = "campaign_monthly_budget"
DAYPARTING = "dayparting"

ALL_REASONS = (MANUAL, DAILY_BUDGET, MONTHLY_BUDGET, CAMPAIGN_DAILY_BUDGET, CAMPAIGN_MONTHLY_BUDGET, DAYPARTING)

# What each rule owns.
MANUAL_RULE = frozenset({MANUAL})
BUDGET_RULE = frozenset({DAILY_BUDGET, MONTHLY_BUDGET, CAMPAIGN_DAILY_BUDGET, CAMPAIGN_MONTHLY_BUDGET})
DAILY_RESET = frozenset({DAILY_BUDGET, CAMPAIGN_DAILY_BUDGET})
MONTHLY_RESET = frozenset({MONTHLY_BUDGET, CAMPAIGN_MONTHLY_BUDGET})
DAYPARTING_RULE = frozenset({DAYPARTING})

Reasons = frozenset[str]


@lru_cache(maxsize=256)
def parse_reasons(text: str) -> Reasons:
    """The reasons in their stored text form ("" when active); there are few distinct ones."""
    return frozenset(r for r in text.split(",") if r)


def format_reasons(reasons: Iterable[str]) -> str:
    """Stable text form: the reasons in the contract's table order, comma-separated."""
    return _formatted(reasons if isinstance(reasons, frozenset) else frozenset(reasons))


@lru_cache(maxsize=256)
def _formatted(reasons: Reasons) -> str:
    # Few distinct sets: a mass change formats three per campaign (its log row's before, after
    # and changed reasons), 0.7 s of a 4.4 s first pass at 100k campaigns before this cache.
    return ",".join(r for r in ALL_REASONS if r in reasons)


def apply_rule(current: Reasons, owned: Reasons, present: Reasons) -> Reasons:
    """The reasons after a rule that owns `owned` found `present` (a subset of `owned`) to hold:
    the rule's own reasons are replaced, every other reason is kept as it was."""
    return (current - owned) | (present & owned)


def budget_reached(spend: Decimal, budget: Decimal) -> bool:
    """The one comparison of spend with a budget, for pauses, checks and alerts alike: a budget
    is reached when spend is at or over it."""
    return spend >= budget


def brand_budget_reasons(
    daily_spend: Decimal, daily_budget: Decimal, monthly_spend: Decimal, monthly_budget: Decimal
) -> Reasons:
    """A brand's budgets compare the whole brand's spend: the sum over all of its campaigns."""
    present = set()
    if budget_reached(daily_spend, daily_budget):
        present.add(DAILY_BUDGET)
    if budget_reached(monthly_spend, monthly_budget):
        present.add(MONTHLY_BUDGET)
    return frozenset(present)


def campaign_cap_reasons(
    daily_spend: Decimal | None, daily_cap: Decimal | None, monthly_spend: Decimal | None, monthly_cap: Decimal | None
) -> Reasons:
    """A campaign's own caps compare that campaign's spend alone; no cap, no reason."""
    return cap_reasons(
        daily_cap is not None and budget_reached(daily_spend or Decimal(0), daily_cap),
        monthly_cap is not None and budget_reached(monthly_spend or Decimal(0), monthly_cap),
    )


def cap_reasons(daily_reached: bool, monthly_reached: bool) -> Reasons:
    """The reasons of a campaign's own caps that are reached (the store may compare the amounts
    itself, with the same `>=`)."""
    return _CAP_REASONS[(daily_reached, monthly_reached)]


_CAP_REASONS: dict[tuple[bool, bool], Reasons] = {
    (daily, monthly): frozenset(
        reason for reason, reached in ((CAMPAIGN_DAILY_BUDGET, daily), (CAMPAIGN_MONTHLY_BUDGET, monthly)) if reached
    )
    for daily in (False, True)
    for monthly in (False, True)
}


def manual_reasons(enabled: bool) -> Reasons:
    return frozenset() if enabled else MANUAL_RULE


def dayparting_reasons(in_hours: bool) -> Reasons:
    return frozenset() if in_hours else DAYPARTING_RULE


@dataclass(frozen=True)
class Change:
    """One campaign's status change, as the status log records it; `predicted` when a budget
    reason it adds is there because spend was projected to reach the budget (pause_ahead)."""

    campaign_id: str
    before: Reasons
    after: Reasons
    predicted: bool = False

    @property
    def active_before(self) -> bool:
        return not self.before

    @property
    def active_after(self) -> bool:
        return not self.after

    @property
    def changed(self) -> Reasons:
        return self.before ^ self.after


def change(campaign_id: str, before: Reasons, after: Reasons) -> Change | None:
    return Change(campaign_id, before, after) if before != after else None
