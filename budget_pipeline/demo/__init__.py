"""Demo data: a catalog in the spirit of the old system's test data and a few weeks of spend."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from budget_pipeline.store.types import from_micros

CATALOG = Path(__file__).with_name("catalog.yaml")
# (campaign id, typical spend per day)
DAILY_SPEND = {
    "brand-a-search": Decimal("30"),
    "brand-a-social": Decimal("15"),
    "brand-b-search": Decimal("40"),
    "brand-b-video": Decimal("30"),
    "brand-c-search": Decimal("55"),
    "brand-c-display": Decimal("35"),
    "kathmandu-night": Decimal("20"),
    "chatham-late": Decimal("12"),
}


def spend_csv(path: Path, until: dt.datetime, days: int = 21) -> int:
    """Write hourly spend for the `days` days before `until` to `path`; returns the record count.

    Each record's id and amount depend only on its campaign and hour, so running the demo again
    later adds the new hours and finds the old ones as duplicates.
    """
    first = (until - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    hours = int((until - first) / dt.timedelta(hours=1)) + 1
    lines = ["record_id,campaign_id,amount,occurred_at"]
    for campaign, typical in DAILY_SPEND.items():
        for n in range(hours):
            moment = first + dt.timedelta(hours=n)
            if moment > until:
                break
            share = Decimal(random.Random(f"{campaign}{moment:%Y%m%d%H}").uniform(0.6, 1.3))
            micros = int(typical * 1_000_000 / 24 * share)
            lines.append(f"demo-{campaign}-{moment:%Y%m%dT%H}Z,{campaign},{from_micros(micros)},{moment.isoformat()}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1
