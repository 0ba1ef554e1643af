"""Budget alerts: a brand's daily (monthly) spend reaching each of its `alerts` percents of the
budget in a local day (month) is recorded once per brand, period, period start and percent.

The comparison is the one that pauses (`rules.reasons.budget_reached`: spend at or over the
budget × percent / 100). An enforcement right after a month was ingested at once has every
day's alerts of the month to record, so store.alerts makes it in the database, set by set, on
exact amounts (tests/store/test_alerts_property.py checks it against sums of the records)."""

from __future__ import annotations

DAILY = "daily"
MONTHLY = "monthly"
