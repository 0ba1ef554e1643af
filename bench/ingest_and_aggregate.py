"""Benchmark: ingestion throughput and spend-partition build times on SQLite and PostgreSQL.

    python bench/ingest_and_aggregate.py [--brands 1000] [--campaigns 10000] [--records 1000000]

Generates a catalog and one month of spend as a CSV file, then for each backend, in a fresh
process: ingests the file (records/s and peak RSS), materializes one day's daily_spend partition
and backfills the whole month (daily_spend for every day, then monthly_spend). Prints figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
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


def make_spend(path: Path, campaign_ids: list[str], records: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(MONTH, tz="UTC").value // 1000  # microseconds
    span = DAYS * 86_400 * 1_000_000
    instants = pd.to_datetime(start + rng.integers(0, span, records), unit="us", utc=True)
    micros = rng.integers(1, 50_000_000, records)
    frame = pd.DataFrame(
        {
            "record_id": [f"rec-{i}" for i in range(records)],
            "campaign_id": np.array(campaign_ids)[rng.integers(0, len(campaign_ids), records)],
            "amount": [f"{m // 1_000_000}.{m % 1_000_000:06d}" for m in micros.tolist()],
            "occurred_at": instants.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    )
    frame.to_csv(path, index=False)


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


def run_backend(url: str, spend_path: Path) -> dict:
    """Ingest and aggregate in this fresh process (the catalog is already applied), so its peak
    RSS is the ingestion's own plus the imports."""
    from budget_pipeline.defs.assets import build_daily, build_monthly
    from budget_pipeline.ingest.pipeline import ingest_file
    from budget_pipeline.rules.calendar import next_month_start
    from budget_pipeline.store.db import make_engine

    engine = make_engine(url)
    rss_before = peak_rss_mb()
    seconds, result = timed(ingest_file, engine, spend_path)
    rss_peak = peak_rss_mb()
    day = MONTH + dt.timedelta(days=14)
    day_seconds, day_report = timed(build_daily, engine, day, day + dt.timedelta(days=1))
    daily_seconds, _ = timed(build_daily, engine, MONTH, MONTH + dt.timedelta(days=DAYS + 1))
    monthly_seconds, month_report = timed(build_monthly, engine, MONTH, next_month_start(MONTH))
    return {
        "accepted": result.accepted,
        "ingest_seconds": seconds,
        "records_per_second": result.accepted / seconds,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "day_records": day_report.totals.records,
        "day_seconds": day_seconds,
        "month_backfill_seconds": daily_seconds + monthly_seconds,
        "month_daily_seconds": daily_seconds,
        "month_monthly_seconds": monthly_seconds,
        "month_records": month_report.totals.records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BUDGET_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/budget_test"),
    )
    parser.add_argument("--child", nargs=2, metavar=("URL", "SPEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, spend = args.child
        print(json.dumps(run_backend(url, Path(spend))))
        return

    import yaml

    work = Path(tempfile.mkdtemp(prefix="budget-bench-"))
    catalog = make_catalog(args.brands, args.campaigns)
    catalog_path = work / "catalog.yaml"
    catalog_path.write_text(yaml.safe_dump(catalog))
    ids = [c["id"] for b in catalog["brands"] for c in b["campaigns"]]
    spend_path = work / "spend.csv"
    print(f"generating {args.records:,} records for {len(ids):,} campaigns of {args.brands:,} brands ...", flush=True)
    make_spend(spend_path, ids, args.records)
    print(f"spend file: {spend_path.stat().st_size / 2**20:.0f} MiB; {describe()}\n")

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
                [sys.executable, __file__, "--child", url, str(spend_path)], capture_output=True, text=True
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
        print(f"  one day     {r['day_records']:>10,} records in {r['day_seconds']:.3f} s")
        print(
            f"  month       {r['month_records']:>10,} records in {r['month_backfill_seconds']:.3f} s "
            f"(daily_spend {r['month_daily_seconds']:.3f} s + monthly_spend {r['month_monthly_seconds']:.3f} s)"
        )


if __name__ == "__main__":
    main()
