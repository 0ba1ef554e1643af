"""Benchmark: the control jobs' work at scale, against the old system's algorithm.

    python bench/control.py [--brands 10000] [--per-brand 10] [--records 10000000] [--backends sqlite,postgresql]

Builds a catalog (brands in six zones, a third of the campaigns with dayparting windows, a fifth
with caps of their own) and a month of raw spend written straight into the store (ingestion has
its own benchmark), builds the aggregates, runs VACUUM ANALYZE after each bulk change (as
autovacuum would), then times on each backend:
  - enforce_budgets (the enforce op's work) and apply_dayparting, first run and steady state;
  - the old system's algorithm on the same data: for each campaign two aggregate queries over
    its raw spend (day and month), then an update and a commit if its state changed. It is
    timed on --old-sample campaigns and scaled to all of them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reference import describe  # noqa: E402
from budget_pipeline import control  # noqa: E402
from budget_pipeline.defs.assets import build_daily, build_monthly  # noqa: E402
from budget_pipeline.ingest.catalog import parse_catalog  # noqa: E402
from budget_pipeline.ingest.spendfile import UTC_MICROS, VALID_SCHEMA, CampaignZones  # noqa: E402
from budget_pipeline.rules.calendar import day_bounds_utc, local_date, month_start  # noqa: E402
from budget_pipeline.store.catalog import apply_catalog  # noqa: E402
from budget_pipeline.store.db import make_engine, upgrade, writing  # noqa: E402
from budget_pipeline.store.spend import PreparedRecords, insert_records  # noqa: E402

MONTH = dt.date(2026, 11, 1)
AS_OF = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "Asia/Kathmandu", "Pacific/Chatham"]
CHUNK = 500_000
OLD_SUM = text(
    "SELECT COALESCE(SUM(amount), 0) FROM raw_spend_records "
    "WHERE campaign_id = :c AND occurred_at >= :s AND occurred_at < :e"
)


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


def load_spend(engine: Engine, zones: dict[str, str], records: int) -> float:
    """Write `records` random records of the month straight through the store's bulk insert."""
    rng = np.random.default_rng(3)
    known = CampaignZones(zones)
    start = pd.Timestamp(MONTH, tz="UTC").value // 1000
    span = 30 * 86_400 * 1_000_000
    started = time.perf_counter()
    for offset in range(0, records, CHUNK):
        n = min(CHUNK, records - offset)
        positions = rng.integers(0, len(zones), n)
        micros = rng.integers(1, 4_000_000, n)
        occurred = pa.array(start + rng.integers(0, span, n), UTC_MICROS)
        amounts = pa.array([f"{m // 1_000_000}.{m % 1_000_000:06d}" for m in micros.tolist()])
        chunk = pa.table(
            [
                pa.array(np.arange(offset, offset + n)),
                pa.array([f"r{i}" for i in range(offset, offset + n)]),
                known.ids.take(pa.array(positions)),
                amounts,
                pa.array(micros),
                occurred,
                known.local_dates(positions, occurred),
            ],
            schema=VALID_SCHEMA,
        )
        with writing(engine) as conn:
            insert_records(conn, PreparedRecords(engine.dialect.name, 1, chunk))
        print(f"\r  loaded {offset + n:,} records", end="", flush=True)
    print()
    return time.perf_counter() - started


def old_algorithm(engine: Engine, sample: list[tuple[str, str, Decimal, Decimal]]) -> float:
    """The replaced system, per campaign: two aggregate queries, then update + commit if changed.
    It compared one campaign's spend with the brand's budget, in its own (server-local) day."""
    started = time.perf_counter()
    with engine.connect() as conn:
        for campaign_id, zone, daily_budget, monthly_budget in sample:
            day = local_date(AS_OF, zone)
            day_start, day_end = day_bounds_utc(day, zone)
            month_begin = day_bounds_utc(month_start(day), zone)[0]
            daily = conn.execute(
                OLD_SUM,
                {"c": campaign_id, "s": _instant(conn, day_start), "e": _instant(conn, day_end)},
            ).scalar_one()
            monthly = conn.execute(
                OLD_SUM,
                {"c": campaign_id, "s": _instant(conn, month_begin), "e": _instant(conn, day_end)},
            ).scalar_one()
            over = Decimal(daily) >= daily_budget or Decimal(monthly) >= monthly_budget
            active = conn.execute(text("SELECT active FROM campaigns WHERE id = :c"), {"c": campaign_id}).scalar_one()
            if bool(active) == over:
                conn.execute(text("UPDATE campaigns SET active = :a WHERE id = :c"), {"a": not over, "c": campaign_id})
                conn.commit()
            else:
                conn.rollback()
    return time.perf_counter() - started


def _instant(conn, value: dt.datetime):  # type: ignore[no-untyped-def]
    if conn.dialect.name == "sqlite":
        return value.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def analyze(engine: Engine) -> None:
    """Vacuumed tables and fresh planner statistics after bulk changes, as autovacuum soon gives them."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


def timed(fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


STEADY_RUNS = 5


def spread(runs: list[tuple[float, object]]) -> str:
    seconds = [s for s, _ in runs]
    return f"{min(seconds):.3f}..{max(seconds):.3f} s"


def bench(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    upgrade(engine)
    parsed = parse_catalog(catalog(args.brands, args.per_brand))
    seconds, _ = timed(apply_catalog, engine, parsed)
    print(
        f"  catalog     {args.brands:,} brands / {args.brands * args.per_brand:,} campaigns applied in {seconds:.1f} s"
    )
    zones = {c.id: b.timezone for b in parsed.brands for c in b.campaigns}
    seconds = load_spend(engine, zones, args.records)
    print(f"  raw spend   {args.records:,} records loaded in {seconds:.1f} s")
    daily_s, _ = timed(build_daily, engine, MONTH - dt.timedelta(days=1), MONTH + dt.timedelta(days=31))
    monthly_s, _ = timed(build_monthly, engine, MONTH, dt.date(2026, 12, 1))
    print(f"  aggregates  daily_spend month {daily_s:.2f} s, monthly_spend {monthly_s:.2f} s")

    analyze(engine)
    first_s, first = timed(control.enforce_budgets, engine, AS_OF, "bench-1")
    analyze(engine)
    runs = [timed(control.enforce_budgets, engine, AS_OF, f"bench-2.{i}") for i in range(STEADY_RUNS)]
    steady_s, steady = statistics.median(s for s, _ in runs), runs[-1][1]
    print(
        f"  enforce     first {first_s:.3f} s ({len(first.changes):,} changes), "
        f"steady {steady_s:.3f} s (median of {STEADY_RUNS}, {spread(runs)}; {len(steady.changes)} changes) "
        f"over {steady.evaluated:,} campaigns"
    )
    dp_first_s, dp_first = timed(control.apply_dayparting, engine, AS_OF, "bench-3")
    dp_runs = [timed(control.apply_dayparting, engine, AS_OF, f"bench-4.{i}") for i in range(STEADY_RUNS)]
    print(
        f"  dayparting  first {dp_first_s:.3f} s ({len(dp_first.changes):,} changes), "
        f"steady {statistics.median(s for s, _ in dp_runs):.3f} s (median of {STEADY_RUNS}, {spread(dp_runs)})"
    )

    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_bench_old_campaign_time ON raw_spend_records (campaign_id, occurred_at)"))
        rows = conn.execute(
            text(
                "SELECT c.id, b.timezone, b.daily_budget, b.monthly_budget "
                "FROM campaigns c JOIN brands b ON b.id = c.brand_id ORDER BY c.id"
            )
        ).all()
    from budget_pipeline.store.types import from_micros

    def money(value: object) -> Decimal:
        return from_micros(int(value)) if engine.dialect.name == "sqlite" else Decimal(value)  # type: ignore[arg-type]

    step = max(1, len(rows) // args.old_sample)
    sample = [(r[0], r[1], money(r[2]), money(r[3])) for r in rows[::step]][: args.old_sample]
    old_s = old_algorithm(engine, sample)
    scaled = old_s * len(rows) / len(sample)
    print(
        f"  old system  {old_s:.2f} s for {len(sample):,} campaigns -> {scaled:.1f} s for {len(rows):,} "
        f"(with an index on campaign_id, occurred_at it did not have to share)"
    )
    print(f"  ratio       old / new enforcement (steady state) = {scaled / steady_s:,.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brands", type=int, default=10_000)
    parser.add_argument("--per-brand", type=int, default=10)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--old-sample", type=int, default=2_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BUDGET_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/budget_test"),
    )
    args = parser.parse_args()
    print(f"{describe()}; as_of {AS_OF.isoformat()}")
    for backend in args.backends.split(","):
        print(f"[{backend}]")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as work:
                bench(f"sqlite:///{Path(work) / 'bench.db'}", args)
            continue
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            bench(f"{args.pg_url}?options=-csearch_path%3D{schema}", args)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
