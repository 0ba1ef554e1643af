"""Late alerts, pure: a brand's spend per local day, from the month of its earliest new record."""

import datetime as dt
from decimal import Decimal

from budget_pipeline.rules.alerts import late_alerts


def test_late_spend_alerts_each_day_from_the_first_and_each_whole_month_before_today() -> None:
    days = {
        dt.date(2026, 10, 30): Decimal("5"),  # before the first late day: counts only to October
        dt.date(2026, 10, 31): Decimal("9"),
        dt.date(2026, 11, 1): Decimal("10"),
        dt.date(2026, 11, 2): Decimal("40"),  # today: its alerts are the current period's
    }
    found = late_alerts(7, days, dt.date(2026, 10, 31), dt.date(2026, 11, 2), Decimal("10"), Decimal("14"), (80, 100))
    assert sorted((a.period, a.period_start.isoformat(), a.percent, str(a.spend)) for a in found) == [
        ("daily", "2026-10-31", 80, "9"),
        ("daily", "2026-11-01", 80, "10"),
        ("daily", "2026-11-01", 100, "10"),
        ("monthly", "2026-10-01", 80, "14"),
        ("monthly", "2026-10-01", 100, "14"),
    ]
    assert all(a.brand_id == 7 for a in found)
