"""Simulator: how far brands overshoot their daily budget on a simulated day, strategy by strategy.

    python bench/overspend.py [--brands 1000] [--campaigns 10000] [--seed 14]
                              [--file-every 5] [--report-delay 10] [--platform-delay 10-15]
                              [--pause-ahead 15m,30m,60m] [--held 30m,60m] [--jobs 0]
                              [--db-url URL] [--per-brand FILE]
    python bench/overspend.py --brands 100 --campaigns 1000        # a quick look

The day (one seeded truth, the same for every strategy). Brands in UTC with daily budgets drawn
log-normally (median 150.00); each brand's demand for the day is a multiple of its budget: half
stay under it (0.3-0.95x), most of the rest would exceed it in the afternoon or evening
(1.05-2.5x), and a few (--high-velocity, 5%) want 3.2-6x and, unchecked, burn the budget by
noon. Demand follows a day curve (slow night, morning ramp, a plateau, an evening peak) shifted
by up to an hour per brand, with a slow random drift of the brand's rate (15-minute steps), split
across the brand's campaigns; each campaign buys clicks (Poisson per minute) at its own cost per
click. Money is whole cents from the clicks on; a campaign that is running spends what its
demand asks for in that minute, a stopped one nothing.

Reporting. Every --file-every minutes a spend file arrives with one record per campaign per
--file-every bucket of spend (occurred_at = the bucket's start); a bucket arrives --report-delay
minutes after it closes (the next file at or after that). The platform carries out a pause or a
resume --platform-delay minutes (uniform, per command) after it is sent; meanwhile the campaign
keeps its old state.

The strategies, each on the same day:
  old rule    the replaced system: every minute, each campaign's own spend received so far
              against its brand's daily budget (it never summed the brand; that was its bug).
              Pure Python over the same files and delays.
  reactive    the product: each file written as CSV and ingested with `ingest_file`, today's
              partitions refreshed as the control jobs refresh them (`days_to_refresh`, then
              `rebuild_daily`, `rebuild_monthly`), then `enforce_budgets` as of the file's instant;
              the campaigns the store says are active are what is sent to the platform.
  predictive  the same with `pause_ahead` set on every brand through the catalog.

Each DB strategy gets its own database: a SQLite file in a temporary folder, or with --db-url a
fresh schema in that PostgreSQL database (dropped at the end). Strategies run in processes of
their own, all at once by default (--jobs 0): what they decide depends on simulated time only,
never on how fast a step runs, so sharing the cores changes the wall time and nothing else.

A what-if, not the product (--held D,...; off by default): predictive pause at D with every
campaign the store pauses kept paused on the platform until midnight, resumes not sent, as if a
budget reason, once present, held until the daily reset.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import math
import multiprocessing
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Protocol

import numpy as np
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reference import describe  # noqa: E402
from budget_pipeline.control import enforce_budgets  # noqa: E402
from budget_pipeline.ingest.catalog import parse_catalog  # noqa: E402
from budget_pipeline.ingest.pipeline import campaign_zones, ingest_file  # noqa: E402
from budget_pipeline.rules.calendar import month_start, next_month_start  # noqa: E402
from budget_pipeline.store.aggregates import rebuild_daily, rebuild_monthly  # noqa: E402
from budget_pipeline.store.catalog import apply_catalog  # noqa: E402
from budget_pipeline.store.db import make_engine, upgrade, writing  # noqa: E402
from budget_pipeline.store.history import active_campaigns  # noqa: E402
from budget_pipeline.store.upkeep import days_to_refresh  # noqa: E402

DAY = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)  # a Wednesday
MINUTES = 24 * 60
# The day's shape: (local hour, relative demand); linear between the knots.
DAY_CURVE = [
    (0, 0.30),
    (3, 0.15),
    (5, 0.18),
    (6, 0.35),
    (8, 0.80),
    (10, 1.00),
    (13, 1.00),
    (16, 0.90),
    (18, 1.10),
    (20, 1.45),
    (22, 1.10),
    (24, 0.40),
]
DRIFT_STEP = 15  # minutes between steps of a brand's random rate drift
HUNDRED = Decimal(100)
PERCENT = Decimal("0.01")


# --- the day's demand -------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    """What every campaign would spend in every minute if nothing stopped it (cents), and who is who."""

    demand: np.ndarray  # [minute, campaign] cents, int32
    brand_of: np.ndarray  # [campaign] brand index
    budget: np.ndarray  # [brand] daily budget, cents
    high_velocity: np.ndarray  # [brand] bool

    @property
    def brands(self) -> int:
        return len(self.budget)

    @property
    def campaigns(self) -> int:
        return len(self.brand_of)

    def per_brand(self, per_campaign: np.ndarray) -> np.ndarray:
        return np.bincount(self.brand_of, weights=per_campaign, minlength=self.brands).astype(np.int64)

    def unchecked(self) -> np.ndarray:
        """Each brand's spend for the day with nothing paused (cents)."""
        return self.per_brand(self.demand.sum(axis=0, dtype=np.int64))

    def reached_at(self) -> np.ndarray:
        """The minute each brand's unchecked spend reaches its budget (MINUTES if never)."""
        cumulative = np.zeros(self.brands, np.int64)
        reached = np.full(self.brands, MINUTES)
        for minute in range(MINUTES):
            cumulative += self.per_brand(self.demand[minute])
            reached[(reached == MINUTES) & (cumulative >= self.budget)] = minute
        return reached


def campaigns_per_brand(rng: np.random.Generator, brands: int, campaigns: int) -> np.ndarray:
    """At least one campaign each, the rest spread at random."""
    return 1 + rng.multinomial(campaigns - brands, np.full(brands, 1 / brands))


def day_curve(shift_minutes: np.ndarray) -> np.ndarray:
    """[brand, minute] relative demand: the day curve, each brand's shifted by its own minutes."""
    hours, levels = zip(*DAY_CURVE, strict=True)
    minutes = (np.arange(MINUTES)[None, :] - shift_minutes[:, None]) % MINUTES
    return np.interp(minutes / 60, hours, levels)


def rate_drift(rng: np.random.Generator, brands: int) -> np.ndarray:
    """[brand, minute] multiplicative drift: an AR(1) walk of the log rate in 15-minute steps
    (step sd 0.1, pull 0.9: about +-25% around the curve), held within each step."""
    steps = MINUTES // DRIFT_STEP
    log = np.zeros((brands, steps))
    log[:, 0] = rng.normal(0, 0.23, brands)
    for step in range(1, steps):
        log[:, step] = 0.9 * log[:, step - 1] + rng.normal(0, 0.1, brands)
    return np.repeat(np.exp(log), DRIFT_STEP, axis=1)


def simulate_day(rng: np.random.Generator, brands: int, campaigns: int, high_velocity_share: float) -> Day:
    counts = campaigns_per_brand(rng, brands, campaigns)
    brand_of = np.repeat(np.arange(brands), counts)
    budget_units = np.clip(np.round(rng.lognormal(math.log(150), 1.0, brands)), 20, 20_000)
    budget = (budget_units * 100).astype(np.int64)
    kind = rng.random(brands)
    high_velocity = kind < high_velocity_share
    under = kind >= high_velocity_share + (1 - high_velocity_share) / 2
    ratio = np.where(
        high_velocity,
        rng.uniform(3.2, 6.0, brands),
        np.where(under, rng.uniform(0.3, 0.95, brands), rng.uniform(1.05, 2.5, brands)),
    )
    intensity = day_curve(rng.normal(0, 30, brands).clip(-60, 60)) * rate_drift(rng, brands)
    # Dollars per minute of each brand, summing to its intended day's spend.
    brand_rate = intensity * (budget_units * ratio / intensity.sum(axis=1))[:, None]
    share = np.concatenate([rng.dirichlet(np.ones(n)) for n in counts])
    cost_per_click = np.clip(rng.lognormal(0, 0.6, campaigns), 0.05, 20.0)
    clicks_per_minute = brand_rate[brand_of].T * (share / cost_per_click)[None, :]  # [minute, campaign]
    clicks = rng.poisson(clicks_per_minute)
    price = rng.lognormal(0, 0.2, clicks.shape)  # what a minute's clicks cost against the usual
    demand = np.round(clicks * cost_per_click[None, :] * price * 100).astype(np.int32)
    return Day(demand, brand_of, budget, high_velocity)


# --- the platform -----------------------------------------------------------------------------


class Platform:
    """Campaigns that run or not; a command takes effect `delay` minutes after it is sent (never
    before an earlier command to the same campaign)."""

    def __init__(self, campaigns: int, delay: tuple[int, int], rng: np.random.Generator) -> None:
        self.running = np.ones(campaigns, bool)
        self.commanded = np.ones(campaigns, bool)  # the state last sent
        self.last_effective = np.zeros(campaigns, np.int64)
        self.delay = delay
        self.rng = rng
        self.due: dict[int, list[tuple[np.ndarray, bool]]] = {}

    def command(self, active: np.ndarray, minute: int) -> tuple[np.ndarray, np.ndarray]:
        """Send `active` where it differs from what was last sent; the campaigns paused and resumed."""
        changed = np.flatnonzero(active != self.commanded)
        if changed.size:
            lo, hi = self.delay
            at = np.maximum(minute + self.rng.integers(lo, hi + 1, changed.size), self.last_effective[changed])
            self.last_effective[changed] = at
            self.commanded[changed] = active[changed]
            for when in np.unique(at):
                for state in (False, True):
                    chosen = changed[(at == when) & (active[changed] == state)]
                    if chosen.size:
                        self.due.setdefault(int(when), []).append((chosen, state))
        return changed[~active[changed]], changed[active[changed]]

    def advance(self, minute: int) -> None:
        for chosen, state in self.due.pop(minute, []):
            self.running[chosen] = state


# --- the strategies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    bucket: int
    campaign: int
    cents: int


class Controller(Protocol):
    checks_every: int

    def receive(self, minute: int, records: list[Record]) -> None: ...

    def decide(self, minute: int) -> np.ndarray: ...

    def close(self) -> None: ...


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def instant(minute: int) -> dt.datetime:
    return DAY + dt.timedelta(minutes=minute)


class OldRule:
    """The replaced system: a campaign is paused once its own spend received today reaches its
    brand's daily budget; checked every minute."""

    checks_every = 1

    def __init__(self, day: Day) -> None:
        self.received = np.zeros(day.campaigns, np.int64)
        self.budget = day.budget[day.brand_of]

    def receive(self, minute: int, records: list[Record]) -> None:
        for record in records:
            self.received[record.campaign] += record.cents

    def decide(self, minute: int) -> np.ndarray:
        # Exact: whole cents on both sides, as Decimal(received) / 100 >= Decimal(budget) / 100.
        return self.received < self.budget

    def close(self) -> None:
        pass


def refresh(engine: Engine, as_of: dt.datetime) -> None:
    """The writes of the control jobs' refresh (`refresh_spend_partitions`): the days whose
    records changed and the brands' dates of `as_of` rebuilt, then their months, in one
    transaction as `build_days_and_months` does. Its reports (Dagster metadata: checks, pace
    tables) are left out: they decide nothing, and would double the time of a step."""
    with engine.connect() as conn:
        days = days_to_refresh(conn, as_of)
    with writing(engine) as conn:
        for day in days:
            rebuild_daily(conn, day, day + dt.timedelta(days=1))
        for month in sorted({month_start(day) for day in days}):
            rebuild_monthly(conn, month, next_month_start(month))


class StoreRules:
    """The product on a database of its own: ingestion, refresh, enforcement."""

    def __init__(
        self, url: str, catalog: dict, ids: list[str], folder: Path, file_every: int, *, held: bool = False
    ) -> None:
        self.checks_every = file_every
        self.held = held
        self.paused_once = np.zeros(len(ids), bool)
        self.engine = make_engine(url)
        upgrade(self.engine)
        apply_catalog(self.engine, parse_catalog(catalog))
        self.zones = campaign_zones(self.engine)
        self.ids = ids
        self.index = {cid: n for n, cid in enumerate(ids)}
        self.folder = folder
        self.file_every = file_every
        self.predicted = 0
        self.files = 0
        self.phases = {"ingest": 0.0, "refresh": 0.0, "enforce": 0.0}

    def receive(self, minute: int, records: list[Record]) -> None:
        path = self.folder / f"spend-{minute:04d}.csv"
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["record_id", "campaign_id", "amount", "occurred_at"])
            for r in records:
                occurred = instant(r.bucket * self.file_every).strftime("%Y-%m-%dT%H:%M:%SZ")
                writer.writerow([f"b{r.bucket}-{r.campaign}", self.ids[r.campaign], money(r.cents), occurred])
        started = time.perf_counter()
        result = ingest_file(self.engine, path, self.zones, now=instant(minute))
        if result.rejected:
            raise SystemExit(f"{path.name}: {result.summary()}")
        self.phases["ingest"] += time.perf_counter() - started
        self.files += 1
        path.unlink()

    def decide(self, minute: int) -> np.ndarray:
        started = time.perf_counter()
        as_of = instant(minute)
        refresh(self.engine, as_of)
        refreshed = time.perf_counter()
        outcome = enforce_budgets(self.engine, as_of, f"overspend-{minute}")
        self.predicted += sum(1 for change in outcome.paused if change.predicted)
        with self.engine.connect() as conn:
            active = active_campaigns(conn)
        self.phases["refresh"] += refreshed - started
        self.phases["enforce"] += time.perf_counter() - refreshed
        decided = np.array([cid in active for cid in self.ids])
        if self.held:  # the what-if: a pause, once decided, holds until midnight
            self.paused_once |= ~decided
            decided &= ~self.paused_once
        return decided

    def close(self) -> None:
        self.engine.dispose()


# --- one simulated day under one strategy ------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    seed: int
    file_every: int
    report_delay: int
    platform_delay: tuple[int, int]


@dataclass
class Played:
    """A strategy's day, per brand: spend (cents), first pause command (minute, MINUTES if none),
    campaigns paused and resumed; and the whole run's wall time."""

    name: str
    spend: np.ndarray
    first_pause: np.ndarray
    pauses: np.ndarray
    resumes: np.ndarray
    seconds: float
    cpu_seconds: float
    files: int = 0
    phases: dict[str, float] | None = None
    predicted: int = 0


def play(name: str, day: Day, settings: Settings, controller: Controller) -> Played:
    """Minute by minute: the platform carries out due commands, running campaigns spend, files
    arrive, the controller decides and its decisions are sent to the platform."""
    started, cpu = time.perf_counter(), time.process_time()
    every, delay = settings.file_every, settings.report_delay
    platform = Platform(day.campaigns, settings.platform_delay, np.random.default_rng([settings.seed, 2]))
    buckets = np.zeros((-(-MINUTES // every), day.campaigns), np.int64)
    delivered = 0
    spent = np.zeros(day.campaigns, np.int64)
    first_pause = np.full(day.brands, MINUTES)
    pauses = np.zeros(day.brands, np.int64)
    resumes = np.zeros(day.brands, np.int64)
    for minute in range(MINUTES):
        platform.advance(minute)
        spend = np.where(platform.running, day.demand[minute], 0)
        spent += spend
        buckets[minute // every] += spend
        now = minute + 1  # the end of this minute: files arrive and decisions are made
        if now >= MINUTES:
            break  # midnight: a new day, whose decisions are not this day's
        if now % every == 0:
            ready = (now - delay) // every  # buckets that closed at least `delay` minutes ago
            records = [
                Record(bucket, int(c), int(buckets[bucket, c]))
                for bucket in range(delivered, max(ready, delivered))
                for c in np.flatnonzero(buckets[bucket])
            ]
            delivered = max(ready, delivered)
            controller.receive(now, records)
        if now % controller.checks_every == 0:
            paused, resumed = platform.command(controller.decide(now), now)
            for brand in day.brand_of[paused]:
                first_pause[brand] = min(first_pause[brand], now)
            np.add.at(pauses, day.brand_of[paused], 1)
            np.add.at(resumes, day.brand_of[resumed], 1)
    controller.close()
    return Played(
        name,
        day.per_brand(spent),
        first_pause,
        pauses,
        resumes,
        time.perf_counter() - started,
        time.process_time() - cpu,
        getattr(controller, "files", 0),
        getattr(controller, "phases", None),
        getattr(controller, "predicted", 0),
    )


def catalog(day: Day, ids: list[str], pause_ahead: str | None) -> dict:
    brands = []
    for b in range(day.brands):
        brand: dict = {
            "name": f"sim-brand-{b:05d}",
            "timezone": "UTC",
            "daily_budget": money(int(day.budget[b])),
            # Forty days' budget: the month never binds on this day.
            "monthly_budget": money(int(day.budget[b]) * 40),
            "campaigns": [{"id": ids[c], "name": ids[c]} for c in np.flatnonzero(day.brand_of == b)],
        }
        if pause_ahead is not None:
            brand["pause_ahead"] = pause_ahead
        brands.append(brand)
    return {"brands": brands}


@contextlib.contextmanager
def database(db_url: str | None, label: str) -> Iterator[str]:
    """A URL to an empty database of the strategy's own: a SQLite file, or a fresh schema in the
    PostgreSQL database of `db_url`; removed afterwards."""
    if db_url is None:
        folder = Path(tempfile.mkdtemp(prefix=f"budget-overspend-{label}-"))
        try:
            yield f"sqlite:///{folder / 'budget.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema = f"overspend_{label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(db_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# The day, made once in the parent and inherited by the worker processes (fork).
_DAY: Day | None = None


def run_strategy(
    name: str, pause_ahead: str | None, settings: Settings, db_url: str | None, *, held: bool = False
) -> Played:
    day = _DAY
    assert day is not None
    if name == "old rule":
        return play(name, day, settings, OldRule(day))
    ids = [f"sim-c{c:05d}" for c in range(day.campaigns)]
    label = name.replace(" ", "-")
    with database(db_url, label) as url:
        folder = Path(tempfile.mkdtemp(prefix=f"budget-overspend-files-{label}-"))
        try:
            rules = StoreRules(url, catalog(day, ids, pause_ahead), ids, folder, settings.file_every, held=held)
            return play(name, day, settings, rules)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# --- figures ----------------------------------------------------------------------------------


def nearest_rank(values: Sequence[Decimal], share: Decimal) -> Decimal | None:
    """The nearest-rank percentile (an observed value, no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def percent(part: int, whole: int) -> Decimal:
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(PERCENT, ROUND_HALF_UP)


def shown(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}%"


@dataclass(frozen=True)
class Summary:
    capped: int
    over: int
    over_p50: Decimal | None
    over_p95: Decimal | None
    over_max: Decimal | None
    paused: int
    early: int
    unused_p50: Decimal | None
    unused_p95: Decimal | None
    wrongly: int
    resumes: int

    def goal_met(self) -> bool:
        return self.over_p95 is not None and self.over_p95 <= 1 and (self.unused_p50 is None or self.unused_p50 <= 2)


def summarize(day: Day, unchecked: np.ndarray, played: Played, brands: np.ndarray) -> Summary:
    """Over the `brands` chosen: overspend of those whose unchecked day reaches the budget, and
    the budget left unused by those paused that ended below it."""
    budget, spend = day.budget, played.spend
    capped = [b for b in brands if unchecked[b] >= budget[b]]
    overspend = [percent(max(int(spend[b] - budget[b]), 0), int(budget[b])) for b in capped]
    paused = [b for b in brands if played.pauses[b]]
    early = [b for b in paused if spend[b] < budget[b]]
    unused = [percent(int(budget[b] - spend[b]), int(budget[b])) for b in early]
    return Summary(
        capped=len(capped),
        over=sum(1 for b in capped if spend[b] > budget[b]),
        over_p50=nearest_rank(overspend, Decimal("0.5")),
        over_p95=nearest_rank(overspend, Decimal("0.95")),
        over_max=max(overspend, default=None),
        paused=len(paused),
        early=len(early),
        unused_p50=nearest_rank(unused, Decimal("0.5")),
        unused_p95=nearest_rank(unused, Decimal("0.95")),
        wrongly=sum(1 for b in paused if unchecked[b] < budget[b]),
        resumes=int(played.resumes[brands].sum()),
    )


def table(title: str, day: Day, unchecked: np.ndarray, runs: list[Played], brands: np.ndarray) -> None:
    print(f"\n{title}")
    print(
        f"  {'strategy':<20}{'capped':>7}{'over':>6}{'p50 over':>10}{'p95 over':>10}{'max over':>10}"
        f"{'paused':>8}{'early':>7}{'p50 unused':>12}{'p95 unused':>12}{'not due':>9}{'resumed':>9}  goal"
    )
    for played in runs:
        s = summarize(day, unchecked, played, brands)
        goal = "met" if s.goal_met() else "not met"
        print(
            f"  {played.name:<20}{s.capped:>7}{s.over:>6}{shown(s.over_p50):>10}{shown(s.over_p95):>10}"
            f"{shown(s.over_max):>10}{s.paused:>8}{s.early:>7}{shown(s.unused_p50):>12}{shown(s.unused_p95):>12}"
            f"{s.wrongly:>9}{s.resumes:>9}  {goal}"
        )


def clock(minute: int) -> str:
    return "-" if minute >= MINUTES else f"{minute // 60:02d}:{minute % 60:02d}"


def write_per_brand(path: Path, day: Day, unchecked: np.ndarray, reached: np.ndarray, runs: list[Played]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        header = ["brand", "high_velocity", "daily_budget", "unchecked_spend", "unchecked_reaches_budget_at"]
        for played in runs:
            header += [f"{played.name}: {what}" for what in ("spend", "vs_budget_pct", "first_pause", "resumed")]
        writer.writerow(header)
        for b in range(day.brands):
            row = [
                f"sim-brand-{b:05d}",
                bool(day.high_velocity[b]),
                money(int(day.budget[b])),
                money(int(unchecked[b])),
                clock(int(reached[b])),
            ]
            for played in runs:
                over = percent(int(played.spend[b] - day.budget[b]), int(day.budget[b]))
                row += [money(int(played.spend[b])), over, clock(int(played.first_pause[b])), int(played.resumes[b])]
            writer.writerow(row)


def delay_range(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition("-")
    low, high = int(lo), int(hi or lo)
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"{value!r}: minutes like 10-15 or 12")
    return low, high


def main() -> None:
    global _DAY
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brands", type=int, default=1_000)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--high-velocity", type=float, default=0.05, help="share of brands that burn by noon")
    parser.add_argument("--file-every", type=int, default=5, help="minutes between spend files")
    parser.add_argument("--report-delay", type=int, default=10, help="minutes from a bucket's close to its file")
    parser.add_argument("--platform-delay", type=delay_range, default=(10, 15), help="minutes, e.g. 10-15")
    parser.add_argument("--pause-ahead", default="15m,30m,60m", help="pause_ahead values of the predictive runs")
    parser.add_argument(
        "--held", default="", help="what-if runs: predictive at these pause_ahead values, pauses held until midnight"
    )
    parser.add_argument("--jobs", type=int, default=0, help="strategies run at once (processes); 0 = all")
    parser.add_argument(
        "--db-url", help="a PostgreSQL database; each strategy works in a schema of its own there (default: SQLite)"
    )
    parser.add_argument("--per-brand", type=Path, help="write a CSV with every brand's figures under each strategy")
    args = parser.parse_args()
    if args.campaigns < args.brands:
        parser.error("--campaigns must be at least --brands")
    started = time.perf_counter()
    print(describe(), flush=True)
    settings = Settings(args.seed, args.file_every, args.report_delay, args.platform_delay)
    _DAY = day = simulate_day(np.random.default_rng(args.seed), args.brands, args.campaigns, args.high_velocity)
    unchecked, reached = day.unchecked(), day.reached_at()
    hv = np.flatnonzero(day.high_velocity)
    lo, hi = args.platform_delay
    print(
        f"day         {DAY:%Y-%m-%d} (UTC), {day.brands:,} brands / {day.campaigns:,} campaigns, seed {args.seed}; "
        f"unchecked demand {money(int(unchecked.sum()))} against budgets {money(int(day.budget.sum()))}\n"
        f"            {int((unchecked >= day.budget).sum())} brands would reach their budget unchecked; "
        f"{len(hv)} high-velocity, reaching it at {clock(int(reached[hv].min(initial=MINUTES)))}-"
        f"{clock(int(reached[hv].max(initial=0)))} unchecked\n"
        f"delays      a spend file every {args.file_every} min; a bucket reaches us {args.report_delay} min after it "
        f"closes; the platform acts {lo}-{hi} min after a command\n"
        f"database    {f'PostgreSQL {make_url(args.db_url).database}' if args.db_url else 'SQLite'} "
        f"(a database per strategy), {'all' if not args.jobs else args.jobs} at a time",
        flush=True,
    )
    strategies: list[tuple[str, str | None, bool]] = [("old rule", None, False), ("reactive", None, False)]
    strategies += [(f"predictive {d}", d, False) for d in args.pause_ahead.split(",") if d]
    strategies += [(f"held {d} (what-if)", d, True) for d in args.held.split(",") if d]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=args.jobs or len(strategies), mp_context=context) as pool:
        futures = [
            pool.submit(run_strategy, name, ahead, settings, args.db_url, held=held) for name, ahead, held in strategies
        ]
        runs = [future.result() for future in futures]
    for played in runs:
        extra = ""
        if played.phases and played.files:
            each = ", ".join(f"{what} {1000 * s / played.files:.0f}" for what, s in played.phases.items())
            extra = f"; {played.files} files, ms per file: {each}"
        extra += f"; {played.predicted} campaigns paused by prediction" if played.predicted else ""
        print(f"  {played.name:<20}{played.seconds:6.1f} s wall, {played.cpu_seconds:5.1f} s CPU{extra}")
    population = (
        "capped = brands whose unchecked day reaches the budget; over = those that ended above it; overspend = "
        "(spend - budget) / budget over all capped brands (0 when held under)\n"
        "early = paused brands that ended below budget; unused = (budget - spend) / budget over them; "
        "not due = paused brands whose unchecked day stays under budget; resumed = campaigns resumed\n"
        "percentiles are nearest-rank; goal = p95 overspend <= 1% and median unused <= 2%"
    )
    print(population)
    table("all brands", day, unchecked, runs, np.arange(day.brands))
    table("high-velocity brands", day, unchecked, runs, hv)
    if args.per_brand:
        write_per_brand(args.per_brand, day, unchecked, reached, runs)
        print(f"\nper brand: {args.per_brand}")
    print(f"\nwall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
