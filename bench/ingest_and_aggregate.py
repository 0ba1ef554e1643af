"""Benchmark: ingestion throughput and spend-partition build times on SQLite and PostgreSQL.

    python bench/ingest_and_aggregate.py [--brands 1000] [--campaigns 10000] [--records 1000000]
                                         [--repeat-records N] [--backends sqlite,postgresql]

Generates a catalog, one month of spend as a CSV file (every record_id new), and a second file of
--repeat-records rows (default a quarter of --records) in which record_ids repeat: a tenth are
exact copies of records of the first file (duplicates), a twentieth carry a first-file record_id
with another amount (conflicting duplicates), a tenth are pairs of new record_ids that appear
twice in the file (the second line half the time the same, half the time with another amount),
the rest are new; all shuffled, so every chunk of the file meets stored or repeated ids and takes
the staging path of `insert_records`, which the first file never does. Then for each backend, in
a fresh process:
  - ingests the first file (records/s and peak RSS);
  - rebuilds one day's daily_spend partition with `build_daily`, then the same partition through
    Dagster (`materialize()` of daily_spend on an ephemeral instance, as a backfill of one day
    runs it, its asset checks included) beside the bare `build_daily`, pair by pair;
  - backfills the whole month (daily_spend for every day, then monthly_spend);
  - ingests the second file (rows/s) and checks its counts against the ones it was built with.
Ingestion is given the benchmark's own instant (bench/common.py). Prints figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reference import describe  # noqa: E402

MONTH = dt.date(2026, 11, 1)
DAYS = 30
# The moment of ingestion, after the month: every generated record is in the past, whatever the date.
INGESTED_AT = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
DAGSTER_RUNS = 3
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "Asia/Kathmandu", "Pacific/Chatham"]


def make_catalog(brands: int, campaigns: int) -> dict:
    per_brand = campaigns // brands
    return {
        "brands": [
            {
                "name": f"brand-{b:05d}",
                "timezone": ZONES[b % len(ZONES)],
                "daily_budget": "500.00",
                "monthly_budget": "12000.00",
                "campaigns": [{"id": f"c-{b:05d}-{c:03d}", "name": f"Campaign {b}/{c}"} for c in range(per_brand)],
            }
            for b in range(brands)
        ]
    }


def spend_frame(campaign_ids: list[str], records: int, seed: int, prefix: str = "rec") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(MONTH, tz="UTC").value // 1000  # microseconds
    span = DAYS * 86_400 * 1_000_000
    instants = pd.to_datetime(start + rng.integers(0, span, records), unit="us", utc=True)
    micros = rng.integers(1, 50_000_000, records)
    return pd.DataFrame(
        {
            "record_id": [f"{prefix}-{i}" for i in range(records)],
            "campaign_id": np.array(campaign_ids)[rng.integers(0, len(campaign_ids), records)],
            "amount": [f"{m // 1_000_000}.{m % 1_000_000:06d}" for m in micros.tolist()],
            "occurred_at": instants.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    )


def make_spend(path: Path, campaign_ids: list[str], records: int, seed: int = 1) -> pd.DataFrame:
    frame = spend_frame(campaign_ids, records, seed)
    frame.to_csv(path, index=False)
    return frame


OTHER_AMOUNT = "99.999999"  # never generated (amounts stay below 50), so a line with it always conflicts


def make_repeats(path: Path, stored: pd.DataFrame, campaign_ids: list[str], rows: int, seed: int = 2) -> dict:
    """A spend file of `rows` lines whose record_ids repeat (see the module docstring), and the
    counts ingesting it after `stored` must give."""
    rng = np.random.default_rng(seed)
    exact, conflicting, pairs = rows // 10, rows // 20, rows // 20
    new = rows - exact - conflicting - 2 * pairs
    picked = rng.choice(len(stored), exact + conflicting, replace=False)
    copies = stored.iloc[picked[:exact]]
    conflicts = stored.iloc[picked[exact:]].assign(amount=OTHER_AMOUNT)
    fresh = spend_frame(campaign_ids, new + pairs, seed, prefix="rep")
    seconds = fresh.iloc[new:].copy()
    conflicting_seconds = pairs // 2
    seconds.iloc[:conflicting_seconds, seconds.columns.get_loc("amount")] = OTHER_AMOUNT
    frame = pd.concat([copies, conflicts, fresh, seconds], ignore_index=True)
    frame.iloc[rng.permutation(len(frame))].to_csv(path, index=False)
    return {
        "rows": len(frame),
        "accepted": new + pairs,
        "duplicate": exact + pairs - conflicting_seconds,
        "rejected": conflicting + conflicting_seconds,
    }


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM); unlike ru_maxrss it does not carry over exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def prepare(url: str, catalog_path: Path) -> None:
    import yaml

    from budget_pipeline.ingest.catalog import parse_catalog
    from budget_pipeline.store.catalog import apply_catalog
    from budget_pipeline.store.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    apply_catalog(engine, parse_catalog(yaml.safe_load(catalog_path.read_text())))
    engine.dispose()


def run_backend(url: str, spend_path: Path, repeats_path: Path) -> dict:
    """Ingest and aggregate in this fresh process (the catalog is already applied), so its peak
    RSS is the ingestion's own plus the imports."""
    from dagster import DagsterInstance, materialize

    from bench.common import ingest
    from budget_pipeline.defs.assets import build_daily, build_monthly, daily_spend, monthly_spend, raw_spend_records
    from budget_pipeline.defs.resources import BudgetDatabase, Clock
    from budget_pipeline.rules.calendar import next_month_start
    from budget_pipeline.store.db import make_engine

    engine = make_engine(url)
    rss_before = peak_rss_mb()
    seconds, result = timed(ingest, engine, spend_path, INGESTED_AT)
    rss_peak = peak_rss_mb()
    day = MONTH + dt.timedelta(days=14)
    day_seconds, day_report = timed(build_daily, engine, day, day + dt.timedelta(days=1))

    def through_dagster() -> None:
        outcome = materialize(
            [raw_spend_records, daily_spend, monthly_spend],
            selection=[daily_spend],
            partition_key=day.isoformat(),
            resources={"database": BudgetDatabase(url=url), "clock": Clock(as_of=INGESTED_AT.isoformat())},
            instance=DagsterInstance.ephemeral(),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        if not outcome.success:
            raise SystemExit("materialize() of daily_spend failed")

    # The first materialization of a process pays for Dagster's first use; then bare and
    # Dagster builds of the same partition in turn, so that a drift of the machine hits both.
    first_dagster_seconds, _ = timed(through_dagster)
    bare, dagster = [], []
    for _ in range(DAGSTER_RUNS):
        bare.append(timed(build_daily, engine, day, day + dt.timedelta(days=1))[0])
        dagster.append(timed(through_dagster)[0])
    daily_seconds, _ = timed(build_daily, engine, MONTH, MONTH + dt.timedelta(days=DAYS + 1))
    monthly_seconds, month_report = timed(build_monthly, engine, MONTH, next_month_start(MONTH))
    repeat_seconds, repeated = timed(ingest, engine, repeats_path, INGESTED_AT)
    return {
        "accepted": result.accepted,
        "ingest_seconds": seconds,
        "records_per_second": result.accepted / seconds,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "day_records": day_report[0].totals.records,
        "day_seconds": day_seconds,
        "day_bare_seconds": bare,
        "day_dagster_seconds": dagster,
        "day_first_dagster_seconds": first_dagster_seconds,
        "month_backfill_seconds": daily_seconds + monthly_seconds,
        "month_daily_seconds": daily_seconds,
        "month_monthly_seconds": monthly_seconds,
        "month_records": month_report[0].totals.records,
        "repeat_seconds": repeat_seconds,
        "repeat_counts": {
            "accepted": repeated.accepted,
            "duplicate": repeated.duplicate,
            "rejected": repeated.rejected,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat-records", type=int, help="rows of the file with repeated record_ids")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BUDGET_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/budget_test"),
    )
    parser.add_argument("--child", nargs=3, metavar=("URL", "SPEND", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, spend, repeats = args.child
        print(json.dumps(run_backend(url, Path(spend), Path(repeats))))
        return

    work = Path(tempfile.mkdtemp(prefix="budget-bench-"))
    try:
        run_all(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(args: argparse.Namespace, work: Path) -> None:
    import yaml

    catalog = make_catalog(args.brands, args.campaigns)
    catalog_path = work / "catalog.yaml"
    catalog_path.write_text(yaml.safe_dump(catalog))
    ids = [c["id"] for b in catalog["brands"] for c in b["campaigns"]]
    spend_path = work / "spend.csv"
    repeats_path = work / "repeats.csv"
    repeat_rows = args.repeat_records if args.repeat_records is not None else args.records // 4
    print(f"generating {args.records:,} records for {len(ids):,} campaigns of {args.brands:,} brands ...", flush=True)
    stored = make_spend(spend_path, ids, args.records)
    expected = make_repeats(repeats_path, stored, ids, repeat_rows)
    del stored
    print(
        f"spend file: {spend_path.stat().st_size / 2**20:.0f} MiB; file with repeated record_ids: "
        f"{expected['rows']:,} rows; {describe()}\n"
    )

    for backend in args.backends.split(","):
        schema = None
        if backend == "sqlite":
            url = f"sqlite:///{work / 'bench.db'}"
        else:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with create_engine(args.pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            url = f"{args.pg_url}?options=-csearch_path%3D{schema}"
        try:
            prepare(url, catalog_path)
            out = subprocess.run(
                [sys.executable, __file__, "--child", url, str(spend_path), str(repeats_path)],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                sys.exit(f"[{backend}] the benchmark run failed:\n{out.stderr}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            if schema:
                with create_engine(args.pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        print(f"[{backend}]")
        rate = f"{r['records_per_second']:,.0f} records/s"
        print(f"  ingest      {r['accepted']:>10,} records in {r['ingest_seconds']:.2f} s = {rate}")
        print(f"              peak RSS {r['rss_peak_mb']:.0f} MiB (after imports {r['rss_before_mb']:.0f} MiB)")
        repeat_rate = expected["rows"] / r["repeat_seconds"]
        counts = r["repeat_counts"]
        built = counts == {key: expected[key] for key in counts}
        print(
            f"  repeats     {expected['rows']:>10,} rows in {r['repeat_seconds']:.2f} s = {repeat_rate:,.0f} rows/s, "
            f"{repeat_rate / r['records_per_second']:.2f}x the first file's rate\n"
            f"              accepted {counts['accepted']:,}, duplicate {counts['duplicate']:,}, "
            f"rejected {counts['rejected']:,}" + (", as built" if built else f"; WARNING: built to give {expected}")
        )
        print(f"  one day     {r['day_records']:>10,} records in {r['day_seconds']:.3f} s")
        bare, dagster = r["day_bare_seconds"], r["day_dagster_seconds"]
        print(
            f"              again: build_daily {statistics.median(bare):.3f} s, through Dagster (materialize()) "
            f"{statistics.median(dagster):.3f} s;\n"
            f"              medians of {len(bare)} in turn; the process's first materialize() "
            f"{r['day_first_dagster_seconds']:.3f} s"
        )
        print(
            f"  month       {r['month_records']:>10,} records in {r['month_backfill_seconds']:.3f} s "
            f"(daily_spend {r['month_daily_seconds']:.3f} s + monthly_spend {r['month_monthly_seconds']:.3f} s)"
        )
    print(f"after: {describe()}")


if __name__ == "__main__":
    main()
