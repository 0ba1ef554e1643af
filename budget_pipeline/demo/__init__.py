"""Demo data: a catalog in the spirit of the old system's test data, three weeks of spend, and a
spend simulator that drops a new file into the landing folder while the demo runs.

The story it tells in the first minutes: Brand A starts the day at ~92% of its daily budget and
the simulator's first files push it over, so its campaigns pause; Night Owl, in the zone whose
local midnight passed last, overspent yesterday and was paused just before midnight, and the
daily reset brings it back. Paused campaigns stop spending (a small late trickle aside).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import yaml

from budget_pipeline.rules.zones import check_zone

CATALOG = Path(__file__).with_name("catalog.yaml")
HISTORY_DAYS = 21
NIGHT_OWL = "Night Owl"
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
    "night-owl-search": Decimal("12"),
    "night-owl-video": Decimal("8"),
}
# Today's share of each brand's daily budget when the demo loads (the rest of the day is the
# simulator's); Night Owl's day has just begun, and yesterday it spent 110% of its budget.
TODAY_SHARE = {"Brand A": Decimal("0.92"), NIGHT_OWL: Decimal("0")}
DEFAULT_TODAY_SHARE = Decimal("0.5")
NIGHT_OWL_YESTERDAY_SHARE = Decimal("1.10")
TRICKLE_CHANCE = 0.15  # a paused campaign's late-reported spend, now and then


def night_owl_zone(now: dt.datetime) -> str:
    """The region zone whose local midnight passed last before `now` (at least five minutes
    ago, so the moment just before it can be replayed), first by name among equals."""
    best: tuple[float, str] | None = None
    for name in sorted(available_timezones()):
        try:
            check_zone(name)
        except ValueError:
            continue
        local = now.astimezone(ZoneInfo(name))
        since_midnight = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
        if since_midnight >= 300 and (best is None or since_midnight < best[0]):
            best = (since_midnight, name)
    assert best is not None
    return best[1]


def local_midnight(now: dt.datetime, zone: str) -> dt.datetime:
    """The start of `now`'s local day in `zone`, as a UTC instant."""
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def catalog(now: dt.datetime) -> dict[str, Any]:
    """The demo catalog: two windows placed around the current hour (Brand A Social open now,
    Brand C Display opening in two hours) and Night Owl in the zone whose day began last."""
    data: dict[str, Any] = yaml.safe_load(CATALOG.read_text())
    for brand in data["brands"]:
        if brand["name"] == NIGHT_OWL:
            brand["timezone"] = night_owl_zone(now)
        hour = now.astimezone(ZoneInfo(brand.get("timezone", "UTC"))).hour
        for campaign in brand["campaigns"]:
            if campaign["id"] == "brand-a-social":
                campaign["dayparting"] = [{"start": f"{(hour - 1) % 24:02d}:00", "end": f"{(hour + 2) % 24:02d}:00"}]
            if campaign["id"] == "brand-c-display":
                campaign["dayparting"] = [{"start": f"{(hour + 2) % 24:02d}:00", "end": f"{(hour + 6) % 24:02d}:00"}]
    return data


def _brand_of(data: dict[str, Any]) -> dict[str, tuple[str, str, Decimal]]:
    """Campaign id -> (brand name, zone, brand daily budget)."""
    return {
        c["id"]: (b["name"], b.get("timezone", "UTC"), Decimal(b["daily_budget"]))
        for b in data["brands"]
        for c in b["campaigns"]
    }


def spend_csv(path: Path, until: dt.datetime, days: int = HISTORY_DAYS) -> int:
    """Write hourly spend for the `days` days before `until` to `path`; returns the record count.

    Each record's id depends only on its campaign and hour, so running the demo again later adds
    the new hours and finds the old ones as duplicates. Past days spend ~70% of the budgets;
    today (each brand's own local day) reaches the share of TODAY_SHARE, spread over its hours so
    far; Night Owl spent 110% of its budget yesterday.
    """
    data = catalog(until)
    brand_of = _brand_of(data)
    per_brand = {name: sum(1 for b, _, _ in brand_of.values() if b == name) for name, _, _ in brand_of.values()}
    first = (until - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    hours = [first + dt.timedelta(hours=n) for n in range(int((until - first) / dt.timedelta(hours=1)) + 1)]
    lines = ["record_id,campaign_id,amount,occurred_at"]
    for campaign, typical in DAILY_SPEND.items():
        brand, zone, budget = brand_of[campaign]
        today = until.astimezone(ZoneInfo(zone)).date()
        yesterday = today - dt.timedelta(days=1)
        # Today's (and Night Owl's yesterday's) share of the budget, in cents over the day's hours.
        fixed = {today: budget * TODAY_SHARE.get(brand, DEFAULT_TODAY_SHARE) / per_brand[brand]}
        if brand == NIGHT_OWL:
            fixed[yesterday] = budget * NIGHT_OWL_YESTERDAY_SHARE / per_brand[brand]
        spread = {
            day: _cents(total, sum(1 for h in hours if h.astimezone(ZoneInfo(zone)).date() == day))
            for day, total in fixed.items()
        }
        for moment in hours:
            local_day = moment.astimezone(ZoneInfo(zone)).date()
            if local_day in spread:
                amount = spread[local_day].pop() if spread[local_day] else Decimal(0)
            else:
                jitter = Decimal(random.Random(f"{campaign}{moment:%Y%m%d%H}").uniform(0.6, 1.3))
                amount = (typical / 24 * jitter).quantize(Decimal("0.01"))
            if amount <= 0:
                continue
            lines.append(f"demo-{campaign}-{moment:%Y%m%dT%H}Z,{campaign},{amount},{moment.isoformat()}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def _cents(total: Decimal, parts: int) -> list[Decimal]:
    """`total` in `parts` amounts of whole cents that add up to it exactly (rounded to cents)."""
    cents = int((total * 100).to_integral_value())
    if parts <= 0:
        return []
    share, rest = divmod(cents, parts)
    return [Decimal(share + (1 if n < rest else 0)) / 100 for n in range(parts)]


def simulated_file(landing: Path, now: dt.datetime, rng: random.Random, active: set[str]) -> Path:
    """One drop of simulated spend: about an eighth of a day's worth for up to four active demo
    campaigns (so brands reach their daily budgets one after another over the first ten minutes
    or so, Brand A with the first drop that touches it), and now and then a late trickle for a
    paused one, as platforms report spend that happened before the pause. Written under a hidden
    name and renamed, as the landing folder's protocol asks."""
    stamp = now.strftime("%Y%m%dT%H%M%S")
    lines = ["record_id,campaign_id,amount,occurred_at"]
    spenders = sorted(c for c in DAILY_SPEND if c in active)
    for n, campaign in enumerate(rng.sample(spenders, min(4, len(spenders)))):
        amount = (DAILY_SPEND[campaign] / 8 * Decimal(rng.uniform(0.5, 1.5))).quantize(Decimal("0.01"))
        lines.append(f"sim-{stamp}-{n},{campaign},{amount},{now.isoformat()}")
    paused = sorted(c for c in DAILY_SPEND if c not in active)
    if paused and rng.random() < TRICKLE_CHANCE:
        campaign = rng.choice(paused)
        amount = (DAILY_SPEND[campaign] / 100).quantize(Decimal("0.01"))
        lines.append(f"sim-{stamp}-late,{campaign},{amount},{(now - dt.timedelta(minutes=3)).isoformat()}")
    landing.mkdir(parents=True, exist_ok=True)
    part = landing / f".sim-{stamp}.part"
    part.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return part.rename(landing / f"sim-{stamp}.csv")


def simulate(
    landing: Path, active: Callable[[], set[str]], every_seconds: float = 60.0, count: int | None = None
) -> None:
    """Drop a simulated spend file every `every_seconds` until stopped (or `count` files);
    `active()` says which campaigns may spend now."""
    rng = random.Random()
    dropped = 0
    while count is None or dropped < count:
        path = simulated_file(landing, dt.datetime.now(dt.UTC), rng, active())
        print(f"demo spend simulator: dropped {path.name}", flush=True)
        dropped += 1
        if count is None or dropped < count:
            time.sleep(every_seconds)
