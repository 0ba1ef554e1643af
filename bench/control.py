"""Benchmark: the control jobs' work at scale beside the old system's algorithm, like for like.

    python bench/control.py [--brands 10000] [--per-brand 10] [--records 10000000] [--old-sample 2000]
                            [--runs 5] [--backends postgresql,sqlite] [--wider 300,1000] [--pg-url URL]
    python bench/control.py --brands 100 --records 100000      # a quick check

The starting state. Per backend one database is prepared: a catalog (brands in six zones, a third
of the campaigns with dayparting windows, a fifth with caps of their own), a month of spend
ingested with `ingest_file` from a generated spend file, the month's aggregates built
(`build_daily`, which rebuilds their months too), then VACUUM ANALYZE. No rule has run yet: every campaign is
active without a reason and the status log is empty. Every side below starts from that state on
its own copy of the prepared database, all copies made before any side runs: on PostgreSQL a
database created with the prepared one as its template (CREATE DATABASE ... TEMPLATE ... STRATEGY
FILE_COPY), on SQLite a copy of the file through SQLite's backup API. So nothing one side writes
(campaigns, the status log, or any table a later version writes beside them) reaches another
side's start. Each copy gets VACUUM ANALYZE before it is used and after each bulk change, as
autovacuum would.

The sides, each on its own copy:
  new  `control.enforce_budgets`: its first pass (it pauses most campaigns), then its steady state
       as a full pass over every campaign (the median of --runs; nothing changes). Then, --runs
       times, a small spend file (10 records on each of 100 random brands) ingested, the bare
       refresh, and the incremental enforcement that follows it (only the brands the file
       touched), each timed; then --runs more such files, each followed by one
       enforce_budgets_job run. Then, for each further count of --wider (default 300 and
       1,000, the most brands an incremental pass takes), --runs files touching that many
       brands, each ingested, refreshed and enforced (bare only): how the incremental pass grows
       with the brands a file touches. `apply_dayparting` first and steady. Then the refresh that
       every enforcement run does before it enforces, as `refresh_spend_partitions` does it:
       today's daily_spend partitions (the local dates of as_of in the brands' zones, and any
       dirty day) one by one, then their month. Then `enforce_budgets_job` as a full pass through
       Dagster (`execute_in_process` on an ephemeral instance, with the code location's own
       resources, as_of and full_pass in run config): one warm-up run, then --runs runs, each
       after a bare refresh; a full pass after the small files also checks that the incremental
       passes left nothing for it to change.
  job  one `enforce_budgets_job` run from the starting state: the first pass as a user waits for
       it, beside the bare refresh + first pass. (A run launched by a deployment also starts a
       run worker process and loads the code first; bench/latency.py measures that path.)
  old  the replaced algorithm: per campaign two aggregate queries over its raw records (its
       brand's local day and month), then an update and a commit if its `active` changed. It
       compares each campaign's own spend with its brand's budget (the defect the new rules
       fix), so from the starting state it pauses next to nothing: its writes are counted and
       printed beside its time. Its first pass, then a second pass over what the first left (its
       steady state). It has an index on (campaign_id, occurred_at), which the new code has no
       use for, created on its copy only. It is timed on --old-sample campaigns (a seeded random
       sample; 0 = all of them), which start in the same state as every other campaign, and
       scaled to all campaigns. Last, for the record, one more pass after `enforce_budgets` has
       run on its copy: the old loop then resumes most campaigns (an update and a commit each),
       and that pass is what earlier versions of this benchmark divided by the new steady state.

Printed: first pass vs first pass (old first / enforce_budgets first), steady state vs steady
state (old second / enforce_budgets steady), each with its inputs; then the old passes against
one enforce_budgets_job run, which is what a user waits for.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from dagster import DagsterInstance
from sqlalchemy import Engine, bindparam, create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ingest  # noqa: E402
from bench.reference import describe  # noqa: E402
from budget_pipeline import control  # noqa: E402
from budget_pipeline.definitions import defs  # noqa: E402
from budget_pipeline.defs.reporting import build_daily, build_days_and_months  # noqa: E402
from budget_pipeline.defs.schedules import full_pass_config  # noqa: E402
from budget_pipeline.ingest.catalog import parse_catalog  # noqa: E402
from budget_pipeline.rules.calendar import (  # noqa: E402
    current_days,
    local_date,
    month_start,
)
from budget_pipeline.store.catalog import apply_catalog  # noqa: E402
from budget_pipeline.store.db import make_engine, upgrade  # noqa: E402
from budget_pipeline.store.types import Money, UTCDateTime  # noqa: E402
from budget_pipeline.store.upkeep import dirty_days  # noqa: E402

MONTH = dt.date(2026, 11, 1)
DAYS = 30
AS_OF = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)
# The moment of ingestion, after the month: every generated record is in the past, whatever the date.
INGESTED_AT = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
# A control job's run config: as_of in the contract's words; the console log at WARNING keeps this
# output readable (the run's events are stored in the instance as in any run).
RUN_CONFIG = {
    "resources": {"clock": {"config": {"as_of": AS_OF.isoformat()}}},
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
}
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "Asia/Kathmandu", "Pacific/Chatham"]
FILE_CHUNK = 1_000_000
T = TypeVar("T")
Campaign = tuple[str, str, Decimal, Decimal]  # id, brand zone, brand daily budget, brand monthly budget


def day_bounds_utc(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [start, end) of local `day`: what the old algorithm queried by."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def catalog(brands: int, per_brand: int) -> dict:
    out = []
    for b in range(brands):
        campaigns = []
        for c in range(per_brand):
            campaign: dict = {"id": f"c{b:05d}-{c:02d}", "name": f"Campaign {b}/{c}"}
            if c % 3 == 0:
                campaign["dayparting"] = [
                    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}
                ]
            if c % 5 == 0:
                campaign["daily_budget"] = "6.00"
            campaigns.append(campaign)
        out.append(
            {
                "name": f"brand-{b:05d}",
                "timezone": ZONES[b % len(ZONES)],
                # Budgets around the generated spend, so that some brands are over and some not.
                "daily_budget": f"{40 + (b % 10) * 10}.00",
                "monthly_budget": f"{1200 + (b % 7) * 150}.00",
                "campaigns": campaigns,
            }
        )
    return {"brands": out}


def write_spend(path: Path, campaign_ids: list[str], records: int) -> None:
    """A month of random spend as a spend file: amounts 0.000001-3.999999, instants uniform over
    the month, campaigns uniform."""
    rng = np.random.default_rng(3)
    ids = pa.array(campaign_ids)
    start = int(dt.datetime.combine(MONTH, dt.time(), dt.UTC).timestamp()) * 1_000_000
    span = DAYS * 86_400 * 1_000_000
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with path.open("wb") as out:
        out.write(b"record_id,campaign_id,amount,occurred_at\n")
        for offset in range(0, records, FILE_CHUNK):
            n = min(FILE_CHUNK, records - offset)
            micros = rng.integers(1, 4_000_000, n)
            amounts = pc.binary_join_element_wise(
                pa.array(micros // 1_000_000).cast(pa.string()),
                pc.utf8_lpad(pa.array(micros % 1_000_000).cast(pa.string()), 6, "0"),
                ".",
            )
            instants = pa.array(start + rng.integers(0, span, n), pa.timestamp("us", tz="UTC"))
            table = pa.table(
                {
                    "record_id": pc.binary_join_element_wise(
                        "r", pa.array(np.arange(offset, offset + n)).cast(pa.string()), ""
                    ),
                    "campaign_id": ids.take(pa.array(rng.integers(0, len(ids), n))),
                    "amount": amounts,
                    "occurred_at": pc.strftime(instants, format="%Y-%m-%dT%H:%M:%SZ"),
                }
            )
            pacsv.write_csv(table, out, options)


class PostgresScratch:
    """Scratch databases on the server of `server_url`, named by label; all dropped by close()."""

    def __init__(self, server_url: str) -> None:
        self.base = make_url(server_url)
        self.admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.prefix = f"bench_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []

    def _name(self, label: str) -> str:
        return f"{self.prefix}_{label}"

    def url(self, label: str) -> str:
        return self.base.set(database=self._name(label)).render_as_string(hide_password=False)

    def create(self, label: str, template: str | None = None) -> str:
        statement = f'CREATE DATABASE "{self._name(label)}"'
        if template is not None:
            # A file copy of the template: the same pages, the same planner statistics.
            statement += f' TEMPLATE "{self._name(template)}" STRATEGY FILE_COPY'
        with self.admin.connect() as conn:
            conn.exec_driver_sql(statement)
        self.created.append(self._name(label))
        return self.url(label)

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in reversed(self.created):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


class SqliteScratch:
    """Scratch SQLite files in a temporary folder, named by label; removed by close()."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="budget-bench-control-"))

    def url(self, label: str) -> str:
        return f"sqlite:///{self.folder / label}.db"

    def create(self, label: str, template: str | None = None) -> str:
        if template is not None:
            source = sqlite3.connect(self.folder / f"{template}.db")
            copy = sqlite3.connect(self.folder / f"{label}.db")
            with contextlib.closing(source), contextlib.closing(copy):
                source.backup(copy)
        return self.url(label)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def timed(fn: Callable[..., T], *args: Any) -> tuple[float, T]:
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def median(seconds: list[float]) -> str:
    """The median of `seconds` with their spread."""
    return f"{statistics.median(seconds):.3f} s (median of {len(seconds)}, {min(seconds):.3f}..{max(seconds):.3f})"


def analyze(engine: Engine) -> None:
    """Vacuumed tables and fresh planner statistics after bulk changes, as autovacuum soon gives them."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


def prepare(url: str, parsed: Any, spend: Path, records: int) -> None:
    """The starting state: schema, catalog, the month's spend ingested, the aggregates built."""
    engine = make_engine(url)
    upgrade(engine)
    seconds, _ = timed(apply_catalog, engine, parsed)
    campaigns = sum(len(brand.campaigns) for brand in parsed.brands)
    print(f"  catalog     {len(parsed.brands):,} brands / {campaigns:,} campaigns applied in {seconds:.1f} s")
    seconds, result = timed(ingest, engine, spend, INGESTED_AT)
    print(
        f"  raw spend   {result.accepted:,} records ingested in {seconds:.1f} s "
        f"({result.accepted / seconds:,.0f} records/s; duplicate {result.duplicate}, rejected {result.rejected})"
    )
    if result.accepted != records:
        print(f"  WARNING     {records:,} records generated, {result.accepted:,} stored: the figures are for fewer")
    # build_daily rebuilds the months of its days in the same transaction: monthly_spend with them.
    seconds, _ = timed(build_daily, engine, MONTH - dt.timedelta(days=1), MONTH + dt.timedelta(days=DAYS + 1))
    print(f"  aggregates  daily_spend month and its months' monthly_spend {seconds:.2f} s")
    analyze(engine)
    engine.dispose()  # a PostgreSQL template takes no connections while it is copied


def refresh(engine: Engine, zones: set[str]) -> int:
    """What `refresh_spend_partitions` rebuilds before each enforcement, with the product's own
    function: the dirty days and the local dates of as_of, each as its own partition, then
    their months. How many days."""
    with engine.connect() as conn:
        days = sorted(set(dirty_days(conn)) | current_days(AS_OF, zones))
    build_days_and_months(engine, days, AS_OF)
    return len(days)


def run_job(url: str, *, full: bool = True) -> tuple[float, str]:
    """One enforce_budgets_job run through Dagster on an ephemeral instance: (seconds, run id).
    With `full` its enforcement looks at every brand (as the spend refresh schedule asks), like
    the old loop; without, at the brands that changed (as after a spend file)."""
    os.environ["BUDGET_DATABASE_URL"] = url  # the code location's own database resource reads it
    job = defs.resolve_job_def("enforce_budgets_job")
    config = {**RUN_CONFIG, **full_pass_config()} if full else RUN_CONFIG
    with DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        result = job.execute_in_process(run_config=config, instance=instance)
        seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit("enforce_budgets_job failed")
    return seconds, result.run_id


def logged(engine: Engine, run_id: str) -> int:
    """Status-log rows (changes) of one run."""
    with engine.connect() as conn:
        query = text("SELECT count(*) FROM campaign_status_log WHERE run_id = :r")
        return int(conn.execute(query, {"r": run_id}).scalar_one())


def full_pass(engine: Engine, run_id: str) -> control.Outcome:
    """`enforce_budgets` over every campaign, as the spend refresh schedule asks for it: with no
    spend file since the last pass the default (incremental) pass would look at no brand at all."""
    return control.enforce_budgets(engine, AS_OF, run_id, full=True)


def small_file(path: Path, campaigns: list[Campaign], touched: int, run: int) -> None:
    """A spend file of 10 records on each of `touched` random brands (their campaigns at random),
    in the half hour before as_of: what a reporting platform sends every few minutes."""
    rng = random.Random(run)
    by_brand: dict[str, list[str]] = {}
    for campaign_id, *_ in campaigns:
        by_brand.setdefault(campaign_id.split("-")[0], []).append(campaign_id)
    brands = rng.sample(sorted(by_brand), min(touched, len(by_brand)))
    with path.open("w") as out:
        out.write("record_id,campaign_id,amount,occurred_at\n")
        for b, brand in enumerate(brands):
            for i in range(10):
                instant = AS_OF - dt.timedelta(seconds=rng.randrange(1, 1800))
                out.write(
                    f"inc-{run}-{b}-{i},{rng.choice(by_brand[brand])},{rng.randrange(1, 300) / 100:.2f},"
                    f"{instant.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
                )


def incremental(
    url: str,
    engine: Engine,
    campaigns: list[Campaign],
    zones: set[str],
    runs: int,
    touched: int = 100,
    *,
    job: bool = True,
    first: int = 0,
) -> int:
    """After a spend file that touches `touched` brands: its ingestion, the bare refresh, and the
    (incremental) enforce_budgets that follows, each timed; then, with `job`, the same with the
    refresh and enforcement as one enforce_budgets_job run. --runs files each, medians printed.
    The files are numbered (and seeded) from `first`; the number after the last is returned."""
    ingest_s, refresh_s, enforce_s, job_s = [], [], [], []
    outcomes = []
    work = Path(tempfile.mkdtemp(prefix="budget-bench-small-"))
    bare, jobs = range(first, first + runs), range(first + runs, first + 2 * runs if job else first + runs)
    try:
        for run in bare:
            path = work / f"small-{run}.csv"
            small_file(path, campaigns, touched, run)
            ingest_s.append(timed(ingest, engine, path, INGESTED_AT)[0])
            refresh_s.append(timed(refresh, engine, zones)[0])
            seconds, outcome = timed(control.enforce_budgets, engine, AS_OF, f"bench-new-incremental-{run}")
            enforce_s.append(seconds)
            outcomes.append(outcome)
        for run in jobs:
            path = work / f"small-{run}.csv"
            small_file(path, campaigns, touched, run)
            ingest(engine, path, INGESTED_AT)
            job_s.append(run_job(url, full=False)[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not all(outcome.incremental for outcome in outcomes):
        print("  WARNING     an enforcement after a small file was a full pass")
    files_touch = min(touched, len({campaign_id.split("-")[0] for campaign_id, *_ in campaigns}))  # as small_file
    job_line = ""
    if job:
        job_line = f"\n                enforce_budgets_job    {median(job_s)} (its refresh and incremental enforcement)"
    print(
        f"              after a file touching {files_touch} brands ({files_touch * 10} records):\n"
        f"                ingest_file            {median(ingest_s)}\n"
        f"                bare refresh           {median(refresh_s)}\n"
        f"                enforce_budgets        {median(enforce_s)} (incremental: "
        f"{statistics.median(o.brands for o in outcomes):,.0f} brands, "
        f"{statistics.median(o.evaluated for o in outcomes):,.0f} campaigns evaluated, "
        f"{sum(len(o.changes) for o in outcomes)} changes)" + job_line
    )
    return jobs.stop


def side_new(url: str, campaigns: list[Campaign], zones: set[str], runs: int, wider: list[int]) -> dict[str, Any]:
    engine = make_engine(url)
    analyze(engine)
    first_s, first = timed(control.enforce_budgets, engine, AS_OF, "bench-new-first")
    analyze(engine)
    steady = [timed(full_pass, engine, f"bench-new-steady-{i}") for i in range(runs)]
    steady_s = [s for s, _ in steady]
    print(
        f"  new         enforce_budgets first pass {first_s:.3f} s ({len(first.changes):,} changes of "
        f"{first.evaluated:,} campaigns)\n"
        f"              enforce_budgets steady     {median(steady_s)} "
        f"({sum(len(o.changes) for _, o in steady)} changes; full passes)"
    )
    files = incremental(url, engine, campaigns, zones, runs)
    for touched in wider:
        files = incremental(url, engine, campaigns, zones, runs, touched, job=False, first=files)
    dp_first_s, dp_first = timed(control.apply_dayparting, engine, AS_OF, "bench-dayparting-first")
    analyze(engine)
    dp_steady = [timed(control.apply_dayparting, engine, AS_OF, f"bench-dayparting-{i}")[0] for i in range(runs)]
    print(
        f"              apply_dayparting first     {dp_first_s:.3f} s ({len(dp_first.changes):,} changes)\n"
        f"              apply_dayparting steady    {median(dp_steady)}"
    )
    warm_s, run_id = run_job(url)
    run_ids = [run_id]
    refresh_s, job_s = [], []
    days = 0
    for _ in range(runs):
        seconds, days = timed(refresh, engine, zones)
        refresh_s.append(seconds)
        seconds, run_id = run_job(url)
        job_s.append(seconds)
        run_ids.append(run_id)
    if changed := sum(logged(engine, run_id) for run_id in run_ids):
        print(f"  WARNING     steady enforce_budgets_job runs changed {changed} campaigns")
    bare = statistics.median(refresh_s) + statistics.median(steady_s)
    print(
        f"  refresh     {days} days + their month, bare (build_days_and_months): {median(refresh_s)}\n"
        f"  dagster     enforce_budgets_job, steady full pass: {median(job_s)} after a warm-up run of {warm_s:.3f} s;\n"
        f"              bare refresh + enforce_budgets steady: {bare:.3f} s"
    )
    engine.dispose()
    return {
        "first_s": first_s,
        "first_changes": len(first.changes),
        "steady_s": statistics.median(steady_s),
        "refresh_s": statistics.median(refresh_s),
        "job_s": statistics.median(job_s),
        "campaigns": first.evaluated,
    }


def side_job(url: str, new: dict[str, Any]) -> dict[str, Any]:
    engine = make_engine(url)
    analyze(engine)
    seconds, run_id = run_job(url)
    changes = logged(engine, run_id)
    engine.dispose()
    print(
        f"  dagster     enforce_budgets_job, first run from the starting state: {seconds:.3f} s "
        f"({changes:,} changes);\n"
        f"              bare refresh + enforce_budgets first pass: {new['refresh_s'] + new['first_s']:.3f} s"
    )
    return {"first_job_s": seconds, "first_job_changes": changes}


# The old system's statements, as plain SQL; typed binds and results so that instants and money
# read the same on both databases (money is integer micro-units on SQLite: store.types.Money).
OLD_SUM = (
    text(
        "SELECT COALESCE(SUM(amount), 0) AS spend FROM raw_spend_records "
        "WHERE campaign_id = :c AND occurred_at >= :s AND occurred_at < :e"
    )
    .bindparams(bindparam("s", type_=UTCDateTime()), bindparam("e", type_=UTCDateTime()))
    .columns(spend=Money())
)
OLD_ACTIVE = text("SELECT active FROM campaigns WHERE id = :c")
OLD_UPDATE = text("UPDATE campaigns SET active = :a WHERE id = :c")


def old_algorithm(engine: Engine, sample: list[Campaign]) -> tuple[float, int]:
    """The replaced system, per campaign: two aggregate queries, then update + commit if changed.
    It compared one campaign's spend with the brand's budget, in the brand's local day and month.
    (seconds, campaigns written)."""
    writes = 0
    started = time.perf_counter()
    with engine.connect() as conn:
        for campaign_id, zone, daily_budget, monthly_budget in sample:
            day = local_date(AS_OF, zone)
            day_start, day_end = day_bounds_utc(day, zone)
            month_begin = day_bounds_utc(month_start(day), zone)[0]
            daily = conn.execute(OLD_SUM, {"c": campaign_id, "s": day_start, "e": day_end}).scalar_one()
            monthly = conn.execute(OLD_SUM, {"c": campaign_id, "s": month_begin, "e": day_end}).scalar_one()
            over = daily >= daily_budget or monthly >= monthly_budget
            active = conn.execute(OLD_ACTIVE, {"c": campaign_id}).scalar_one()
            if bool(active) == over:
                conn.execute(OLD_UPDATE, {"a": not over, "c": campaign_id})
                conn.commit()
                writes += 1
            else:
                conn.rollback()
    return time.perf_counter() - started, writes


def side_old(url: str, campaigns: list[Campaign], args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_bench_old_campaign_time ON raw_spend_records (campaign_id, occurred_at)"))
    analyze(engine)
    size = len(campaigns) if args.old_sample <= 0 else min(args.old_sample, len(campaigns))
    sample = sorted(random.Random(7).sample(campaigns, size))
    scale = len(campaigns) / len(sample)

    def scaled(label: str, seconds: float, writes: int) -> str:
        return (
            f"{label} {seconds:.2f} s for {len(sample):,} campaigns ({writes:,} written) "
            f"-> {seconds * scale:.1f} s for {len(campaigns):,}"
        )

    first_s, first_w = old_algorithm(engine, sample)
    analyze(engine)
    second_s, second_w = old_algorithm(engine, sample)
    control.enforce_budgets(engine, AS_OF, "bench-old-after-new")
    analyze(engine)
    undo_s, undo_w = old_algorithm(engine, sample)
    engine.dispose()
    print(
        f"  old         {scaled('first pass ', first_s, first_w)}\n"
        f"              {scaled('second pass', second_s, second_w)}\n"
        f"              {scaled('after enforce_budgets', undo_s, undo_w)} (the earlier pairing)\n"
        f"              (a seeded random sample, scaled by {scale:,.0f}; "
        "with an index on campaign_id, occurred_at it did not have to share)"
    )
    return {"old_first_s": first_s * scale, "old_second_s": second_s * scale, "old_first_writes": first_w}


def bench(backend: str, args: argparse.Namespace, parsed: Any, spend: Path, campaigns: list[Campaign]) -> None:
    scratch: PostgresScratch | SqliteScratch
    scratch = PostgresScratch(args.pg_url) if backend == "postgresql" else SqliteScratch()
    try:
        prepared = scratch.create("prepared")
        prepare(prepared, parsed, spend, args.records)
        started = time.perf_counter()
        sides = {label: scratch.create(label, template="prepared") for label in ("new", "job", "old")}
        print(f"  copies      3 copies of the prepared database in {time.perf_counter() - started:.1f} s")
        zones = {zone for _, zone, _, _ in campaigns}
        new = side_new(sides["new"], campaigns, zones, args.runs, args.wider)
        job = side_job(sides["job"], new)
        old = side_old(sides["old"], campaigns, args)
    finally:
        os.environ.pop("BUDGET_DATABASE_URL", None)
        scratch.close()
    print(
        f"  ratio       first pass vs first pass:  old {old['old_first_s']:.2f} s / "
        f"enforce_budgets {new['first_s']:.3f} s = {old['old_first_s'] / new['first_s']:,.1f}x\n"
        f"              steady vs steady state:    old {old['old_second_s']:.2f} s / "
        f"enforce_budgets {new['steady_s']:.3f} s = {old['old_second_s'] / new['steady_s']:,.1f}x\n"
        f"  user waits  first run:   old {old['old_first_s']:.2f} s / "
        f"enforce_budgets_job {job['first_job_s']:.3f} s = {old['old_first_s'] / job['first_job_s']:,.1f}x\n"
        f"              steady run:  old {old['old_second_s']:.2f} s / "
        f"enforce_budgets_job {new['job_s']:.3f} s = {old['old_second_s'] / new['job_s']:,.1f}x"
    )


def state_arguments(parser: argparse.ArgumentParser, brands: int = 10_000, records: int = 10_000_000) -> None:
    """The starting state's options (catalog, month of spend) and where to build it, shared by
    the benchmarks that start from this one's state."""
    parser.add_argument("--brands", type=int, default=brands)
    parser.add_argument("--per-brand", type=int, default=10)
    parser.add_argument("--records", type=int, default=records)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BUDGET_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/budget_test"),
        help="a database on the PostgreSQL server; the benchmark creates and drops its own databases beside it",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    state_arguments(parser)
    parser.add_argument("--old-sample", type=int, default=2_000, help="campaigns the old loop is timed on; 0 = all")
    parser.add_argument("--runs", type=int, default=5, help="runs of each steady-state figure")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument(
        "--wider",
        type=lambda value: [int(count) for count in value.split(",") if count],
        default=[300, 1000],
        help="brands touched by the further small files, comma separated ('' for none)",
    )
    args = parser.parse_args()
    print(f"{describe()}; as_of {AS_OF.isoformat()}", flush=True)
    data = catalog(args.brands, args.per_brand)
    parsed = parse_catalog(data)
    campaigns = [
        (c["id"], b["timezone"], Decimal(b["daily_budget"]), Decimal(b["monthly_budget"]))
        for b in data["brands"]
        for c in b["campaigns"]
    ]
    work = Path(tempfile.mkdtemp(prefix="budget-bench-spend-"))
    try:
        spend = work / "spend.csv"
        seconds, _ = timed(write_spend, spend, [c[0] for c in campaigns], args.records)
        size = spend.stat().st_size / 2**20
        print(f"spend file  {args.records:,} records, {size:,.0f} MiB, written in {seconds:.1f} s")
        for backend in args.backends.split(","):
            print(f"[{backend}]", flush=True)
            bench(backend, args, parsed, spend, campaigns)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"after: {describe()}")


if __name__ == "__main__":
    main()
