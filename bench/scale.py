"""Benchmark: the control cycle at 1M campaigns on PostgreSQL (issue 14.5).

    python bench/scale.py [--brands 100000] [--per-brand 10] [--records 3000000] [--runs 3] [--pg-url URL]

The starting state is bench/control.py's, ten times larger: a catalog of --brands brands in six
zones (a third of the campaigns with dayparting windows, a fifth with caps of their own), a
month of --records spend records ingested with `ingest_file`, the month's aggregates built, then
VACUUM ANALYZE, in a scratch database created and dropped beside --pg-url. Then, in a fresh
process (so that its peak RSS is that of the control cycle, not of the preparation):

  refresh       what every enforcement run rebuilds first: today's daily_spend partitions (the
                local dates of as_of in the six zones, and any dirty day), then their month
  full pass     `enforce_budgets(full=True)` after a first pass: every brand, nothing changes
  dayparting    `apply_dayparting` steady (nothing changes), then at as_of + 6 h (windows close)
  incremental   a spend file touching 100 brands ingested, the bare refresh, then the
                incremental `enforce_budgets` that follows it (the figure of issue 14.4)

Each step's median of --runs, and the measuring process's peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import control as bc  # noqa: E402
from bench.common import ingest  # noqa: E402
from bench.reference import describe  # noqa: E402
from budget_pipeline import control  # noqa: E402
from budget_pipeline.ingest.catalog import parse_catalog  # noqa: E402
from budget_pipeline.store.db import make_engine  # noqa: E402


def median(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.3f} s (median of {len(seconds)}, {min(seconds):.3f}..{max(seconds):.3f})"


def measure(url: str, brands: int, per_brand: int, runs: int) -> None:
    engine = make_engine(url)
    zones = set(bc.ZONES)
    refresh = [bc.timed(bc.refresh, engine, zones)[0] for _ in range(runs)]
    print(f"  refresh     today's partitions and their month: {median(refresh)}", flush=True)
    first_s, first = bc.timed(control.enforce_budgets, engine, bc.AS_OF, "scale-first")
    bc.analyze(engine)
    print(f"  full pass   first {first_s:.3f} s ({len(first.changes):,} changes of {first.evaluated:,})", flush=True)
    full = [bc.timed(bc.full_pass, engine, f"scale-full-{i}")[0] for i in range(runs)]
    print(f"              steady {median(full)}", flush=True)
    control.apply_dayparting(engine, bc.AS_OF, "scale-dayparting-first")
    bc.analyze(engine)
    steady = [bc.timed(control.apply_dayparting, engine, bc.AS_OF, f"scale-dayparting-{i}")[0] for i in range(runs)]
    edge_s, edge = bc.timed(control.apply_dayparting, engine, bc.AS_OF + dt.timedelta(hours=6), "scale-dayparting-edge")
    print(
        f"  dayparting  steady {median(steady)}\n"
        f"              as_of + 6 h: {edge_s:.3f} s ({len(edge.changes):,} changes)",
        flush=True,
    )
    campaigns: list[bc.Campaign] = [
        (f"c{b:05d}-{c:02d}", "", Decimal(0), Decimal(0)) for b in range(brands) for c in range(per_brand)
    ]
    work = Path(tempfile.mkdtemp(prefix="budget-bench-scale-"))
    incremental, refresh_after = [], []
    try:
        for run in range(runs):
            path = work / f"small-{run}.csv"
            bc.small_file(path, campaigns, 100, run)
            ingest(engine, path, bc.INGESTED_AT)
            refresh_after.append(bc.timed(bc.refresh, engine, zones)[0])
            seconds, outcome = bc.timed(control.enforce_budgets, engine, bc.AS_OF, f"inc-{run}")
            if not outcome.incremental:
                print("  WARNING     an enforcement after a small file was a full pass")
            incremental.append(seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"  incremental after a file touching 100 brands: bare refresh {median(refresh_after)},\n"
        f"              enforce_budgets {median(incremental)}",
        flush=True,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  memory      peak RSS of this measuring process {peak:,.0f} MiB")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bc.state_arguments(parser, brands=100_000, records=3_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the measuring process: a prepared database's URL
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.brands, args.per_brand, args.runs)
        return
    print(f"{describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    data = bc.catalog(args.brands, args.per_brand)
    scratch = bc.PostgresScratch(args.pg_url)
    work = Path(tempfile.mkdtemp(prefix="budget-bench-scale-spend-"))
    try:
        spend = work / "spend.csv"
        ids = [c["id"] for b in data["brands"] for c in b["campaigns"]]
        seconds, _ = bc.timed(bc.write_spend, spend, ids, args.records)
        print(f"spend file  {args.records:,} records written in {seconds:.1f} s", flush=True)
        url = scratch.create("scale")
        bc.prepare(url, parse_catalog(data), spend, args.records)
        started = time.perf_counter()
        command = [sys.executable, __file__, "--measure", url, "--brands", str(args.brands)]
        command += ["--per-brand", str(args.per_brand), "--runs", str(args.runs)]
        subprocess.run(command, check=True)
        print(f"  (measured in {time.perf_counter() - started:.0f} s)")
    finally:
        scratch.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"after: {describe()}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
