"""A smoke test of the overspend simulator at a tiny size: the real ingestion, refresh and
enforcement on SQLite over a whole simulated day."""

from __future__ import annotations

import numpy as np
import pytest

from bench import overspend


def tiny_day() -> overspend.Day:
    """Two brands of one campaign, budget 100.00 each: the first spends 1.00 a minute all day
    (1,440.00 unchecked), the second 0.05 (72.00, never reaching its budget)."""
    demand = np.zeros((overspend.MINUTES, 2), np.int32)
    demand[:, 0] = 100
    demand[:, 1] = 5
    return overspend.Day(demand, np.array([0, 1]), np.array([10_000, 10_000], np.int64), np.array([True, False]))


@pytest.fixture
def day(monkeypatch: pytest.MonkeyPatch) -> overspend.Day:
    tiny = tiny_day()
    monkeypatch.setattr(overspend, "_DAY", tiny)
    return tiny


def test_reactive_pauses_the_brand_over_its_budget(day: overspend.Day) -> None:
    settings = overspend.Settings(seed=1, file_every=5, report_delay=10, platform_delay=(10, 15))
    played = overspend.run_strategy("reactive", None, settings, None)
    assert played.pauses.tolist() == [1, 0]
    # Reached at 01:40; the record of that minute arrives 10-15 minutes later, the platform
    # stops 10-15 minutes after the pause: 20-35 minutes of 1.00 beyond the budget.
    assert 120_00 <= played.spend[0] <= 135_00
    assert played.spend[1] == 72_00
    summary = overspend.summarize(day, day.unchecked(), played, np.arange(2))
    assert (summary.capped, summary.over, summary.early) == (1, 1, 0)


def test_the_old_rule_looks_at_one_campaign_alone(day: overspend.Day) -> None:
    settings = overspend.Settings(seed=1, file_every=5, report_delay=10, platform_delay=(10, 15))
    played = overspend.run_strategy("old rule", None, settings, None)
    # One campaign per brand: its own spend is the brand's, so it pauses as late as reactive.
    assert played.pauses.tolist() == [1, 0]
    assert 120_00 <= played.spend[0] <= 135_00
