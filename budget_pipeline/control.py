"""The control cycle: each function reads through the store, decides with `rules`, and writes
the campaigns that change (plus their status-log rows) in one locked transaction."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from budget_pipeline.collector import collector_paused
from budget_pipeline.rules.calendar import local_date, month_start
from budget_pipeline.rules.dayparting import Window, in_hours
from budget_pipeline.rules.reasons import (
    BUDGET_RULE,
    DAILY_RESET,
    DAYPARTING_RULE,
    MANUAL_RULE,
    MONTHLY_RESET,
    Change,
    apply_rule,
    brand_budget_reasons,
    campaign_cap_reasons,
    change,
    dayparting_reasons,
    format_reasons,
    manual_reasons,
)
from budget_pipeline.store.db import writing
from budget_pipeline.store.reads import (
    BrandRow,
    BrandSpend,
    CampaignRow,
    brand_spend,
    brands,
    capped_campaigns_with_spend,
)
from budget_pipeline.store.status import (
    campaign_states,
    group_members,
    lock_status,
    mark_reset,
    uncapped_campaign_groups,
    windows,
    write_changes,
)


@dataclass(frozen=True)
class Outcome:
    evaluated: int
    changes: list[Change] = field(default_factory=list)
    # Each brand's spend the decisions were made on (budget steps), by brand id.
    spend: dict[int, BrandSpend] = field(default_factory=dict)

    @property
    def paused(self) -> list[Change]:
        return [ch for ch in self.changes if ch.active_before and not ch.active_after]

    @property
    def resumed(self) -> list[Change]:
        return [ch for ch in self.changes if ch.active_after and not ch.active_before]


@contextmanager
def _status_transaction(engine: Engine) -> Iterator[Connection]:
    """One control step's write transaction, under the status lock, the collector paused."""
    with collector_paused(), writing(engine) as conn:
        lock_status(conn)
        yield conn


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    """A read-only control step (a schedule asking whether a run is due), the collector paused."""
    with collector_paused(), engine.connect() as conn:
        yield conn


def _budget_decisions(brand_rows: dict[int, BrandRow], totals: dict[int, BrandSpend]) -> dict[int, frozenset[str]]:
    """The brand-level budget reasons of every brand, from its total daily and monthly spend."""
    decisions = {}
    for brand in brand_rows.values():
        spend = totals[brand.id]
        decisions[brand.id] = brand_budget_reasons(spend.daily, brand.daily_budget, spend.monthly, brand.monthly_budget)
    return decisions


def _caps(row: CampaignRow) -> frozenset[str]:
    return campaign_cap_reasons(row.daily_spend, row.daily_cap, row.monthly_spend, row.monthly_cap)


def _budget_changes(
    conn: Connection,
    as_of: dt.datetime,
    brand_rows: dict[int, BrandRow],
    decide: Callable[[frozenset[str], bool, frozenset[str]], frozenset[str]],
    brand_ids: set[int] | None = None,
) -> tuple[int, list[Change], dict[int, BrandSpend]]:
    """(campaigns evaluated, changes, brand spend) of a budget decision `decide(reasons, enabled, present)`.

    Campaigns without caps of their own are decided once per (brand, enabled, reasons) group;
    campaigns with caps one by one, with their own spend. Only changed groups are expanded.
    """
    # A pure function of few distinct (reasons, enabled, present): each is decided once.
    decide = functools.cache(decide)
    spend = brand_spend(conn, as_of, brand_rows)
    brand_present = _budget_decisions(brand_rows, spend)
    groups = uncapped_campaign_groups(conn, brand_ids)
    changed = {}
    for group in groups:
        after = decide(group.reasons, group.enabled, brand_present[group.brand_id])
        if after != group.reasons:
            changed[(group.brand_id, group.enabled, format_reasons(group.reasons))] = (group, after)
    changes = [
        Change(cid, changed[key][0].reasons, changed[key][1])
        for key, ids in group_members(conn, [group for group, _ in changed.values()]).items()
        for cid in ids
    ]
    capped = capped_campaigns_with_spend(conn, as_of, brand_rows, brand_ids)
    for row in capped:
        after = decide(row.reasons, row.enabled, brand_present[row.brand_id] | _caps(row))
        if after != row.reasons:
            changes.append(Change(row.id, row.reasons, after))
    evaluated = sum(group.members for group in groups) + len(capped)
    return evaluated, sorted(changes, key=lambda ch: ch.campaign_id), spend


def enforce_budgets(engine: Engine, as_of: dt.datetime, run_id: str) -> Outcome:
    """Apply the manual rule and the budget rule to every campaign as of `as_of`."""

    def decide(reasons: frozenset[str], enabled: bool, present: frozenset[str]) -> frozenset[str]:
        return apply_rule(apply_rule(reasons, MANUAL_RULE, manual_reasons(enabled)), BUDGET_RULE, present)

    with _status_transaction(engine) as conn:
        evaluated, changes, spend = _budget_changes(conn, as_of, brands(conn), decide)
        write_changes(conn, changes, as_of, run_id)
    return Outcome(evaluated, changes, spend)


def reset_budgets(engine: Engine, as_of: dt.datetime, run_id: str, *, monthly: bool) -> Outcome:
    """For each brand whose local day (or month) turned since its last reset, re-decide its
    campaigns' daily (or monthly) budget reasons on the new period's spend: usually none, so
    they clear. Other reasons, `manual` included, are kept."""
    owned = MONTHLY_RESET if monthly else DAILY_RESET

    def decide(reasons: frozenset[str], enabled: bool, present: frozenset[str]) -> frozenset[str]:
        return apply_rule(reasons, owned, present)

    with _status_transaction(engine) as conn:
        brand_rows = brands(conn)
        turned = _turned(brand_rows, as_of, monthly=monthly)
        if not turned:
            return Outcome(0)
        evaluated, changes, spend = _budget_changes(conn, as_of, brand_rows, decide, set(turned))
        write_changes(conn, changes, as_of, run_id)
        mark_reset(conn, turned, monthly=monthly)
    return Outcome(evaluated, changes, spend)


def _turned(brand_rows: dict[int, BrandRow], as_of: dt.datetime, *, monthly: bool) -> dict[int, dt.date]:
    """Brands whose local day (or month) at `as_of` is later than their last reset, and that period."""
    turned = {}
    for brand in brand_rows.values():
        period = local_date(as_of, brand.timezone)
        if monthly:
            period = month_start(period)
        last = brand.last_monthly_reset if monthly else brand.last_daily_reset
        if last is None or last < period:
            turned[brand.id] = period
    return turned


def brands_due_for_reset(engine: Engine, as_of: dt.datetime, *, monthly: bool) -> list[int]:
    """Brands whose local day (or month) has turned since their last reset; read-only."""
    with _reading(engine) as conn:
        return sorted(_turned(brands(conn), as_of, monthly=monthly))


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
    with _status_transaction(engine) as conn:
        states = campaign_states(conn)
        zones = {brand.id: brand.timezone for brand in brands(conn).values()}
        changes = _dayparting_changes(states, zones, windows(conn), as_of)
        write_changes(conn, changes, as_of, run_id)
    return Outcome(len(states), changes)


def pending_dayparting_changes(engine: Engine, as_of: dt.datetime) -> int:
    """How many campaigns the dayparting rule would change at `as_of`; read-only."""
    with _reading(engine) as conn:
        states = campaign_states(conn)
        zones = {brand.id: brand.timezone for brand in brands(conn).values()}
        return len(_dayparting_changes(states, zones, windows(conn), as_of))
