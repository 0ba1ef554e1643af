"""Campaign status as people read it: the status log, counts per reason, the campaigns paused
now and since when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    func,
    select,
)

from budget_pipeline.rules.reasons import ALL_REASONS, parse_reasons
from budget_pipeline.store.schema import (
    brands_table,
    campaigns_table,
    status_log_table,
)

b, c = brands_table, campaigns_table


@dataclass(frozen=True)
class LogEntry:
    campaign_id: str
    at: dt.datetime
    active_before: bool
    active_after: bool
    reasons_before: list[str]
    reasons_after: list[str]
    changed_reason: str
    run_id: str
    predicted: bool


def history(conn: Connection, campaign_id: str | None = None, limit: int | None = None) -> list[LogEntry]:
    """The status log, newest first."""
    log = status_log_table
    query = select(
        log.c.campaign_id,
        log.c.at,
        log.c.active_before,
        log.c.active_after,
        log.c.reasons_before,
        log.c.reasons_after,
        log.c.changed_reason,
        log.c.run_id,
        log.c.predicted,
    ).order_by(log.c.id.desc())
    if campaign_id is not None:
        query = query.where(log.c.campaign_id == campaign_id)
    if limit is not None:
        query = query.limit(limit)
    return [
        LogEntry(r[0], r[1], r[2], r[3], _in_order(r[4]), _in_order(r[5]), r[6], r[7], bool(r[8]))
        for r in conn.execute(query)
    ]


def _in_order(stored: str) -> list[str]:
    """Stored reasons as a list in the contract's order."""
    reasons = parse_reasons(stored)
    return [reason for reason in ALL_REASONS if reason in reasons]


@dataclass(frozen=True)
class PausedCampaign:
    id: str
    brand: str
    reasons: list[str]
    since: dt.datetime | None  # when it last went from active to paused


def status_counts(conn: Connection) -> dict[str, int]:
    """How many campaigns there are, how many are active and paused, and how many carry each
    reason (a campaign with two reasons counts under both)."""
    counts = {"campaigns": 0, "active": 0, "paused": 0, **{reason: 0 for reason in ALL_REASONS}}
    query = select(c.c.pause_reasons, func.count()).group_by(c.c.pause_reasons)
    for text, n in conn.execute(query).all():
        counts["campaigns"] += n
        reasons = parse_reasons(text)
        counts["paused" if reasons else "active"] += n
        for reason in reasons:
            counts[reason] += n
    return counts


def paused_campaigns(conn: Connection, limit: int) -> list[PausedCampaign]:
    """Up to `limit` paused campaigns, the most recently changed first, with their brand, reasons
    and the moment each last went from active to paused."""
    rows = conn.execute(
        select(c.c.id, b.c.name, c.c.pause_reasons)
        .join(b, b.c.id == c.c.brand_id)
        .where(c.c.active.is_(False))
        .order_by(c.c.status_changed_at.desc(), c.c.id)
        .limit(limit)
    ).all()
    log = status_log_table
    since = dict(
        conn.execute(
            select(log.c.campaign_id, func.max(log.c.at))
            .where(log.c.campaign_id.in_([row.id for row in rows]), log.c.active_before.is_(True))
            .where(log.c.active_after.is_(False))
            .group_by(log.c.campaign_id)
        ).all()
    )
    return [PausedCampaign(cid, brand, _in_order(reasons), since.get(cid)) for cid, brand, reasons in rows]


def campaign_brands(conn: Connection, campaign_ids: Sequence[str]) -> dict[str, int]:
    """The brand of each of `campaign_ids`."""
    if not campaign_ids:
        return {}
    return dict(conn.execute(select(c.c.id, c.c.brand_id).where(c.c.id.in_(list(campaign_ids)))).all())


def active_campaigns(conn: Connection) -> set[str]:
    """The ids of the campaigns that may spend now (no pause reason)."""
    return set(conn.execute(select(c.c.id).where(c.c.active.is_(True))).scalars())


@dataclass(frozen=True)
class CampaignState:
    id: str
    name: str
    enabled: bool
    active: bool
    reasons: list[str]  # in the contract's order


def campaigns_by_brand(
    conn: Connection, brand_name: str | None = None, paused: bool = False
) -> dict[int, list[CampaignState]]:
    """Each brand's campaigns by id (of the brand named `brand_name` only, if given; only the
    paused ones, with `paused`), by brand id."""
    query = select(c.c.id, c.c.brand_id, c.c.name, c.c.enabled, c.c.active, c.c.pause_reasons).order_by(c.c.id)
    if brand_name is not None:
        query = query.join(b, b.c.id == c.c.brand_id).where(b.c.name == brand_name)
    if paused:
        query = query.where(c.c.active.is_(False))
    by_brand: dict[int, list[CampaignState]] = {}
    for cid, brand_id, name, enabled, active, reasons in conn.execute(query):
        state = CampaignState(cid, name, enabled, active, _in_order(reasons))
        by_brand.setdefault(brand_id, []).append(state)
    return by_brand
