"""The control cycle: each function reads through the store, decides with `rules`, and writes
the campaigns that change (plus their status-log rows) in one locked transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Engine

from budget_pipeline.rules.calendar import local_date, month_start
from budget_pipeline.rules.dayparting import Window, in_hours
from budget_pipeline.rules.reasons import (
    BUDGET_RULE,
    DAILY_RESET,
    DAYPARTING_RULE,
    MANUAL_RULE,
    MONTHLY_RESET,
    Change,
    Spend,
    apply_rule,
    budget_reasons,
    change,
    dayparting_reasons,
    manual_reasons,
)
from budget_pipeline.store.db import writing
from budget_pipeline.store.status import (
    BrandRow,
    CampaignRow,
    brands,
    campaign_states,
    campaigns_with_spend,
    lock_status,
    mark_reset,
    windows,
    write_changes,
)


@dataclass(frozen=True)
class Outcome:
    evaluated: int
    changes: list[Change] = field(default_factory=list)

    @property
    def paused(self) -> list[Change]:
        return [ch for ch in self.changes if ch.active_before and not ch.active_after]

    @property
    def resumed(self) -> list[Change]:
        return [ch for ch in self.changes if ch.active_after and not ch.active_before]


def _spend(brand: BrandRow, campaign: CampaignRow, totals: dict[int, tuple[Decimal, Decimal]]) -> Spend:
    brand_daily, brand_monthly = totals.get(brand.id, (Decimal(0), Decimal(0)))
    return Spend(
        brand_daily_spend=brand_daily,
        brand_daily_budget=brand.daily_budget,
        brand_monthly_spend=brand_monthly,
        brand_monthly_budget=brand.monthly_budget,
        campaign_daily_spend=campaign.daily_spend,
        campaign_monthly_spend=campaign.monthly_spend,
        campaign_daily_cap=campaign.daily_cap,
        campaign_monthly_cap=campaign.monthly_cap,
    )


def _brand_totals(campaigns: list[CampaignRow]) -> dict[int, tuple[Decimal, Decimal]]:
    """A brand's spend is the sum over all of its campaigns."""
    totals: dict[int, tuple[Decimal, Decimal]] = {}
    for row in campaigns:
        daily, monthly = totals.get(row.brand_id, (Decimal(0), Decimal(0)))
        totals[row.brand_id] = (daily + row.daily_spend, monthly + row.monthly_spend)
    return totals


def enforce_budgets(engine: Engine, as_of: dt.datetime, run_id: str) -> Outcome:
    """Apply the manual rule and the budget rule to every campaign as of `as_of`."""
    with writing(engine) as conn:
        lock_status(conn)
        brand_rows = brands(conn)
        campaigns = campaigns_with_spend(conn, as_of, brand_rows)
        totals = _brand_totals(campaigns)
        changes = []
        for row in campaigns:
            after = apply_rule(row.reasons, MANUAL_RULE, manual_reasons(row.enabled))
            after = apply_rule(after, BUDGET_RULE, budget_reasons(_spend(brand_rows[row.brand_id], row, totals)))
            if found := change(row.id, row.reasons, after):
                changes.append(found)
        write_changes(conn, changes, as_of, run_id)
    return Outcome(len(campaigns), changes)


def reset_budgets(engine: Engine, as_of: dt.datetime, run_id: str, *, monthly: bool) -> Outcome:
    """For each brand whose local day (or month) turned since its last reset, re-decide its
    campaigns' daily (or monthly) budget reasons on the new period's spend: usually none, so
    they clear. Other reasons, `manual` included, are kept."""
    owned = MONTHLY_RESET if monthly else DAILY_RESET
    with writing(engine) as conn:
        lock_status(conn)
        brand_rows = brands(conn)
        turned: dict[int, dt.date] = {}
        for brand in brand_rows.values():
            period = local_date(as_of, brand.timezone)
            if monthly:
                period = month_start(period)
            last = brand.last_monthly_reset if monthly else brand.last_daily_reset
            if last is None or last < period:
                turned[brand.id] = period
        if not turned:
            return Outcome(0)
        campaigns = [row for row in campaigns_with_spend(conn, as_of, brand_rows) if row.brand_id in turned]
        totals = _brand_totals(campaigns)
        changes = []
        for row in campaigns:
            present = budget_reasons(_spend(brand_rows[row.brand_id], row, totals))
            if found := change(row.id, row.reasons, apply_rule(row.reasons, owned, present)):
                changes.append(found)
        write_changes(conn, changes, as_of, run_id)
        mark_reset(conn, turned, monthly=monthly)
    return Outcome(len(campaigns), changes)


def brands_due_for_reset(engine: Engine, as_of: dt.datetime, *, monthly: bool) -> list[int]:
    """Brands whose local day (or month) has turned since their last reset; read-only."""
    with engine.connect() as conn:
        due = []
        for brand in brands(conn).values():
            period = local_date(as_of, brand.timezone)
            last = brand.last_monthly_reset if monthly else brand.last_daily_reset
            if last is None or last < (month_start(period) if monthly else period):
                due.append(brand.id)
    return due


def _dayparting_changes(
    states: dict[str, tuple[int, bool, frozenset[str]]],
    zones: dict[int, str],
    campaign_windows: dict[str, tuple[Window, ...]],
    as_of: dt.datetime,
) -> list[Change]:
    changes = []
    for campaign_id, (brand_id, enabled, reasons) in states.items():
        allowed = in_hours(campaign_windows.get(campaign_id, ()), as_of, zones[brand_id])
        after = apply_rule(reasons, DAYPARTING_RULE, dayparting_reasons(allowed))
        after = apply_rule(after, MANUAL_RULE, manual_reasons(enabled))
        if found := change(campaign_id, reasons, after):
            changes.append(found)
    return changes


def apply_dayparting(engine: Engine, as_of: dt.datetime, run_id: str) -> Outcome:
    """Apply the dayparting rule (and the manual rule) to every campaign as of `as_of`."""
    with writing(engine) as conn:
        lock_status(conn)
        states = campaign_states(conn)
        zones = {brand.id: brand.timezone for brand in brands(conn).values()}
        changes = _dayparting_changes(states, zones, windows(conn), as_of)
        write_changes(conn, changes, as_of, run_id)
    return Outcome(len(states), changes)


def pending_dayparting_changes(engine: Engine, as_of: dt.datetime) -> int:
    """How many campaigns the dayparting rule would change at `as_of`; read-only."""
    with engine.connect() as conn:
        states = campaign_states(conn)
        zones = {brand.id: brand.timezone for brand in brands(conn).values()}
        return len(_dayparting_changes(states, zones, windows(conn), as_of))
