"""The control cycle: each function reads through the store, decides with `rules`, and writes
the campaigns that change (plus their status-log rows) in one locked transaction."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Connection, Engine

from budget_pipeline.collector import collector_paused
from budget_pipeline.rules.calendar import local_date, month_start, reset_due
from budget_pipeline.rules.dayparting import in_hours, windows_from_key
from budget_pipeline.rules.pacing import brand_budget_presence, rate_per_minute
from budget_pipeline.rules.reasons import (
    BUDGET_RULE,
    DAILY_RESET,
    DAYPARTING_RULE,
    MANUAL_RULE,
    MONTHLY_RESET,
    Change,
    apply_rule,
    campaign_cap_reasons,
    dayparting_reasons,
    format_reasons,
    manual_reasons,
)
from budget_pipeline.store.alerts import record_alerts
from budget_pipeline.store.db import writing
from budget_pipeline.store.marks import (
    Marks,
    brands_in_zones,
    clear_marks,
    enforced_dates,
    predictive_brands,
    read_marks,
    record_enforced_dates,
    zones_turned,
)
from budget_pipeline.store.reads import (
    BrandRow,
    BrandSpend,
    CampaignRow,
    brand_spend,
    brands,
    capped_campaign_groups,
    capped_campaigns_with_spend,
    few_brands,
    recent_spend,
)
from budget_pipeline.store.status import (
    dayparting_groups,
    dayparting_members,
    few_rows_ahead,
    group_members,
    lock_status,
    mark_reset,
    uncapped_campaign_groups,
    write_changes,
)


@dataclass(frozen=True)
class Outcome:
    evaluated: int
    changes: list[Change] = field(default_factory=list)
    # Each brand's spend the decisions were made on (budget steps), by brand id.
    spend: dict[int, BrandSpend] = field(default_factory=dict)
    # An enforcement's reach: every brand, or only those whose inputs changed (and how many).
    incremental: bool = False
    brands: int = 0
    # How many alerts this step recorded (each once: none that an earlier step recorded).
    alerts: int = 0

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


@dataclass(frozen=True)
class BudgetPresence:
    """The brand-level budget reasons present for each brand, and those present only because
    spend is projected to reach the budget within the brand's `pause_ahead`."""

    present: dict[int, frozenset[str]]
    predicted: dict[int, frozenset[str]]


def _budget_presence(
    conn: Connection,
    as_of: dt.datetime,
    brand_rows: dict[int, BrandRow],
    totals: dict[int, BrandSpend],
    *,
    predictive: bool,
) -> BudgetPresence:
    """The brand-level budget reasons of every brand, from its total daily and monthly spend (and,
    with `predictive`, for brands with a pause_ahead, its recent rate)."""
    ahead = {bid: row for bid, row in brand_rows.items() if predictive and row.pause_ahead_minutes is not None}
    recent = recent_spend(conn, as_of, ahead) if ahead else {}
    present, predicted = {}, {}
    for brand in brand_rows.values():
        spend = totals[brand.id]
        if brand.id in ahead:
            rate, minutes = rate_per_minute(recent.get(brand.id, Decimal(0))), brand.pause_ahead_minutes
        else:
            rate, minutes = Decimal(0), None
        present[brand.id], predicted[brand.id] = brand_budget_presence(
            spend.daily, brand.daily_budget, spend.monthly, brand.monthly_budget, rate, minutes
        )
    return BudgetPresence(present, predicted)


def _caps(row: CampaignRow) -> frozenset[str]:
    return campaign_cap_reasons(row.daily_spend, row.daily_cap, row.monthly_spend, row.monthly_cap)


def _budget_changes(
    conn: Connection,
    as_of: dt.datetime,
    brand_rows: dict[int, BrandRow],
    decide: Callable[[frozenset[str], bool, frozenset[str]], frozenset[str]],
    brand_ids: set[int] | None = None,
    *,
    predictive: bool = False,
) -> tuple[int, list[Change], dict[int, BrandSpend]]:
    """(campaigns evaluated, changes, brand spend) of a budget decision `decide(reasons, enabled, present)`.

    Campaigns without caps of their own are decided once per (brand, enabled, reasons) group;
    campaigns with caps one by one, with their own spend. Only changed groups are expanded.
    """
    # A pure function of few distinct (reasons, enabled, present): each is decided once.
    decide = functools.cache(decide)
    spend = brand_spend(conn, as_of, brand_rows)
    presence = _budget_presence(conn, as_of, brand_rows, spend, predictive=predictive)

    def change(campaign_id: str, brand_id: int, before: frozenset[str], after: frozenset[str]) -> Change:
        predicted = bool((after - before) & presence.predicted[brand_id])
        return Change(campaign_id, before, after, predicted)

    groups = uncapped_campaign_groups(conn, brand_ids)
    changed = {}
    for group in groups:
        after = decide(group.reasons, group.enabled, presence.present[group.brand_id])
        if after != group.reasons:
            changed[(group.brand_id, group.enabled, format_reasons(group.reasons))] = (group, after)
    changes = [
        change(cid, changed[key][0].brand_id, changed[key][0].reasons, changed[key][1])
        for key, ids in group_members(conn, [group for group, _ in changed.values()]).items()
        for cid in ids
    ]
    capped, evaluated_capped = _capped_to_decide(conn, as_of, brand_rows, brand_ids, presence, decide)
    for row in capped:
        after = decide(row.reasons, row.enabled, presence.present[row.brand_id] | _caps(row))
        if after != row.reasons:
            changes.append(change(row.id, row.brand_id, row.reasons, after))
    evaluated = sum(group.members for group in groups) + evaluated_capped
    return evaluated, sorted(changes, key=lambda ch: ch.campaign_id), spend


def _capped_to_decide(
    conn: Connection,
    as_of: dt.datetime,
    brand_rows: dict[int, BrandRow],
    brand_ids: set[int] | None,
    presence: BudgetPresence,
    decide: Callable[[frozenset[str], bool, frozenset[str]], frozenset[str]],
) -> tuple[list[CampaignRow], int]:
    """(the campaigns with caps of their own to decide one by one, how many such campaigns were
    evaluated). A few brands' are read as they are. Every brand's are first decided as groups
    (their caps compared in the database); only the brands with a group that changes are read
    campaign by campaign, and those campaigns decided again, the same way."""
    if brand_ids is not None or (groups := capped_campaign_groups(conn, as_of, brand_rows)) is None:
        capped = capped_campaigns_with_spend(conn, as_of, brand_rows, brand_ids)
        return capped, len(capped)
    changed = {
        group.brand_id
        for group in groups
        if decide(group.reasons, group.enabled, presence.present[group.brand_id] | group.caps) != group.reasons
    }
    evaluated = sum(group.members for group in groups)
    if not changed:
        return [], evaluated
    few = changed if len(changed) <= few_brands(conn) else None  # many: read every one, keep theirs
    rows = capped_campaigns_with_spend(conn, as_of, brand_rows, few)
    return [row for row in rows if row.brand_id in changed], evaluated


# More brands to look at than this, and a full pass costs no more (reads.FEW_BRANDS_POSTGRESQL).
INCREMENTAL_BRANDS = 1000


def _incremental_scope(conn: Connection, as_of: dt.datetime, marks: Marks) -> tuple[set[int], list[str]] | None:
    """The brands an enforcement must look at, and the zones whose date turned; None when that
    is every brand: none has been enforced yet, the catalog changed, or too many changed.

    A brand's budget decision depends on its spend, its budgets and caps, its campaigns' state,
    and its local day and month at `as_of` (its recent rate too, with a `pause_ahead`). So it can
    only differ from the last one for a brand whose spend changed (ingestion marks it), after a
    catalog change (which marks every brand), in a zone whose date turned, or with a pause_ahead.
    Resets and dayparting change only reasons that the budget rule does not own, or that it
    would decide the same way."""
    enforced = enforced_dates(conn)
    if not enforced or marks.every_brand:
        return None
    turned = zones_turned(enforced, as_of)
    scope = set(marks.brand_ids) | brands_in_zones(conn, turned) | predictive_brands(conn)
    return (scope, turned) if len(scope) <= INCREMENTAL_BRANDS else None


def enforce_budgets(engine: Engine, as_of: dt.datetime, run_id: str, *, full: bool = False) -> Outcome:
    """Apply the manual rule and the budget rule as of `as_of` to the campaigns of every brand
    whose inputs changed since the last enforcement, or with `full` to every campaign. Both
    decide the same (tests/defs/test_incremental.py): the full pass is the periodic safety net."""

    def decide(reasons: frozenset[str], enabled: bool, present: frozenset[str]) -> frozenset[str]:
        return apply_rule(apply_rule(reasons, MANUAL_RULE, manual_reasons(enabled)), BUDGET_RULE, present)

    with _status_transaction(engine) as conn:
        marks = read_marks(conn)
        scope = None if full else _incremental_scope(conn, as_of, marks)
        if scope is None:
            brand_rows = brands(conn)
            evaluated, changes, spend = _budget_changes(conn, as_of, brand_rows, decide, predictive=True)
            turned = sorted({row.timezone for row in brand_rows.values()})
        else:
            ids, turned = scope
            few_rows_ahead(conn)
            brand_rows = brands(conn, ids)
            evaluated, changes, spend = _budget_changes(conn, as_of, brand_rows, decide, ids, predictive=True)
        write_changes(conn, changes, as_of, run_id)
        alerts = record_alerts(conn, brand_rows, spend, marks.first_days, as_of, run_id)
        clear_marks(conn, marks)
        record_enforced_dates(conn, as_of, turned)
    return Outcome(evaluated, changes, spend, incremental=scope is not None, brands=len(brand_rows), alerts=alerts)


def reset_budgets(engine: Engine, as_of: dt.datetime, run_id: str, *, monthly: bool) -> Outcome:
    """For each brand whose local day (or month) turned since its last reset, re-decide its
    campaigns' daily (or monthly) budget reasons on the new period's spend: usually none, so
    they clear (predictive or not: the next enforcement predicts again). Other reasons,
    `manual` included, are kept."""
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
    """Brands whose local day (or month) at `as_of` is due for a reset (rules.calendar.reset_due),
    and that period."""
    turned = {}
    for brand in brand_rows.values():
        period = local_date(as_of, brand.timezone)
        if monthly:
            period = month_start(period)
        last = brand.last_monthly_reset if monthly else brand.last_daily_reset
        if reset_due(last, period, monthly=monthly):
            turned[brand.id] = period
    return turned


def brands_due_for_reset(engine: Engine, as_of: dt.datetime, *, monthly: bool) -> list[int]:
    """Brands whose local day (or month) has turned since their last reset; read-only."""
    with _reading(engine) as conn:
        return sorted(_turned(brands(conn), as_of, monthly=monthly))


def _dayparting_changes(conn: Connection, as_of: dt.datetime, *, expand: bool = True) -> tuple[int, int, list[Change]]:
    """(campaigns evaluated, campaigns to change, and with `expand` the changes) of the dayparting
    rule (and the manual rule) as of `as_of`. Decided once per group of campaigns in one zone
    with the same windows, `enabled` and reasons; only changed groups are read campaign by
    campaign (those whose window opened or closed since the last pass, as a rule)."""

    @functools.cache
    def allowed(window_key: str, timezone: str) -> bool:
        return in_hours(windows_from_key(window_key), as_of, timezone)

    groups = dayparting_groups(conn)
    changed = {}
    for group in groups:
        after = apply_rule(
            group.reasons, DAYPARTING_RULE, dayparting_reasons(allowed(group.window_key, group.timezone))
        )
        after = apply_rule(after, MANUAL_RULE, manual_reasons(group.enabled))
        if after != group.reasons:
            changed[group.key] = (group, after)
    to_change = sum(group.members for group, _ in changed.values())
    if not expand:
        return sum(group.members for group in groups), to_change, []
    changes = [
        Change(cid, changed[key][0].reasons, changed[key][1])
        for key, ids in dayparting_members(conn, [group for group, _ in changed.values()]).items()
        for cid in ids
    ]
    return sum(group.members for group in groups), to_change, sorted(changes, key=lambda ch: ch.campaign_id)


def apply_dayparting(engine: Engine, as_of: dt.datetime, run_id: str) -> Outcome:
    """Apply the dayparting rule (and the manual rule) to every campaign as of `as_of`."""
    with _status_transaction(engine) as conn:
        evaluated, _, changes = _dayparting_changes(conn, as_of)
        write_changes(conn, changes, as_of, run_id)
    return Outcome(evaluated, changes)


def pending_dayparting_changes(engine: Engine, as_of: dt.datetime) -> int:
    """How many campaigns the dayparting rule would change at `as_of`; read-only."""
    with _reading(engine) as conn:
        return _dayparting_changes(conn, as_of, expand=False)[1]
