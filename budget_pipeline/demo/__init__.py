"""Demo data: a catalog in the spirit of the old system's test data, a few weeks of spend, and
a spend simulator that drops a new file into the landing folder every minute (demo only)."""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from budget_pipeline.store.types import from_micros

CATALOG = Path(__file__).with_name("catalog.yaml")
# Typical spend per day of each demo campaign: about 70% of its brand's budgets, so the past
# weeks leave room and the simulator's extra spend pushes brands over within minutes.
DAILY_SPEND = {
    "brand-a-search": Decimal("14"),
    "brand-a-social": Decimal("9"),
    "brand-b-search": Decimal("20"),
    "brand-b-video": Decimal("15"),
    "brand-c-search": Decimal("28"),
    "brand-c-display": Decimal("18"),
    "kathmandu-night": Decimal("14"),
    "chatham-late": Decimal("10"),
}


def catalog(now: dt.datetime) -> dict[str, Any]:
    """The demo catalog, with two windows placed around the current hour: one open now (Brand A
    Social) and one that opens in two hours (Brand C Display)."""
    data: dict[str, Any] = yaml.safe_load(CATALOG.read_text())
    for brand in data["brands"]:
        hour = now.astimezone(ZoneInfo(brand.get("timezone", "UTC"))).hour
        for campaign in brand["campaigns"]:
            if campaign["id"] == "brand-a-social":
                campaign["dayparting"] = [{"start": f"{(hour - 1) % 24:02d}:00", "end": f"{(hour + 2) % 24:02d}:00"}]
            if campaign["id"] == "brand-c-display":
                campaign["dayparting"] = [{"start": f"{(hour + 2) % 24:02d}:00", "end": f"{(hour + 6) % 24:02d}:00"}]
    return data


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


def simulated_file(landing: Path, now: dt.datetime, rng: random.Random) -> Path:
    """One minute of simulated spend: about half a day's worth for four random demo campaigns
    (so a brand reaches its daily budget within minutes), written under a hidden name and
    renamed, so the landing sensor never reads half a file."""
    stamp = now.strftime("%Y%m%dT%H%M%S")
    lines = ["record_id,campaign_id,amount,occurred_at"]
    for n, campaign in enumerate(rng.sample(sorted(DAILY_SPEND), 4)):
        amount = (DAILY_SPEND[campaign] / 2 * Decimal(rng.uniform(0.5, 1.5))).quantize(Decimal("0.01"))
        lines.append(f"sim-{stamp}-{n},{campaign},{amount},{now.isoformat()}")
    landing.mkdir(parents=True, exist_ok=True)
    part = landing / f".sim-{stamp}.part"
    part.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return part.rename(landing / f"sim-{stamp}.csv")


def simulate(landing: Path, every_seconds: float = 60.0, count: int | None = None) -> None:
    """Drop a simulated spend file every `every_seconds` until stopped (or `count` files)."""
    rng = random.Random()
    dropped = 0
    while count is None or dropped < count:
        path = simulated_file(landing, dt.datetime.now(dt.UTC), rng)
        print(f"demo spend simulator: dropped {path.name}", flush=True)
        dropped += 1
        if count is None or dropped < count:
            time.sleep(every_seconds)
