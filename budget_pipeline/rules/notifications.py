"""Notifications, pure: their types and human lines, the signature of a body, and when a
failed delivery is tried again or given up."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable

from budget_pipeline.rules.reasons import ALL_REASONS, Reasons

PAUSED = "campaign.paused"
RESUMED = "campaign.resumed"
REASONS_CHANGED = "campaign.reasons_changed"
BUDGET_ALERT = "budget.alert"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=1)
# Failures are retried for at least this long after the first attempt, then given up.
RETRY_FOR = dt.timedelta(hours=24)


def change_type(before: Reasons, after: Reasons) -> str:
    if not before and after:
        return PAUSED
    if before and not after:
        return RESUMED
    return REASONS_CHANGED


def change_summary(before: Reasons, after: Reasons, ordered: Iterable[str]) -> str:
    """What happened to a campaign, after its name: "paused (daily_budget)", "resumed", or
    "still paused, now for daily_budget, dayparting"; `ordered` is the reasons after, in order."""
    reasons = ", ".join(ordered)
    kind = change_type(before, after)
    if kind == PAUSED:
        return f"paused ({reasons})"
    if kind == RESUMED:
        return "resumed"
    return f"still paused, now for {reasons}"


def change_text(brand: str, campaign: str, campaign_id: str, before: Reasons, after: Reasons) -> str:
    """A status change's human line: "Acme: campaign Acme Search (acme-search) paused (daily_budget)"."""
    ordered = [reason for reason in ALL_REASONS if reason in after]
    return f"{brand}: campaign {campaign} ({campaign_id}) {change_summary(before, after, ordered)}"


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, doubling, at most an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


def gives_up(first_attempt_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a notification that has failed since `first_attempt_at` is failed for good at `now`."""
    return now - first_attempt_at >= RETRY_FOR


def signature(secret: str, body: bytes) -> str:
    """The X-Budget-Signature header of `body`: sha256=<hex HMAC-SHA256 keyed with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
