"""Benchmark: the refresh every enforcement run does first, with this code and with another
checkout of it, like for like, on PostgreSQL.

    python bench/refresh.py --vs /path/to/other/checkout [--pairs 3] [--brands 10000] [--records 10000000]
    python bench/refresh.py --vs /tmp/old --brands 200 --records 200000 --pairs 1     # a quick check

The starting state is bench/control.py's, made by its own functions (catalog, a month of spend
ingested with `ingest_file`, the month's aggregates built, no rule run), as a template database.
Each side then runs in a process of its own, with its checkout first on `sys.path`, on its own
copy of the template (ANALYZE first), and times:
  1. `build_days_and_months` of the days `days_to_refresh` gives at AS_OF (today's in the
     brands' zones: two days), as `refresh_spend_partitions` calls it;
  2. after a spend file touching 100 brands (1,000 records, ingested with `ingest_file`), the
     same again: the refresh an enforcement run after a small file waits for.
The sides run in alternating order, --pairs pairs; each prints its seconds and the months'
records and spend after each refresh (the two checkouts must agree). The yardstick
(bench/reference.py) and the load average are printed first and last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.control import state_arguments  # noqa: E402
from bench.reference import describe  # noqa: E402
from bench.sides import TEMPLATE, alternating, load, run_side, template_state  # noqa: E402

# One side (bench/sides.py runs it): its checkout's code on its own copy of the template.
SIDE = r"""
import datetime as dt, json, sys, tempfile, time
from pathlib import Path
from budget_pipeline.defs.reporting import build_days_and_months
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.store.db import make_engine
from budget_pipeline.store.upkeep import days_to_refresh

AS_OF = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
engine = make_engine(sys.argv[2])
with engine.connect() as conn:
    conn.exec_driver_sql("ANALYZE")
    conn.commit()


def refresh():
    with engine.connect() as conn:
        days = days_to_refresh(conn, AS_OF)
    started = time.perf_counter()
    reports = build_days_and_months(engine, days, AS_OF)
    seconds = time.perf_counter() - started
    months = [[r.key, r.totals.records, str(r.totals.spend)] for r in reports if r.asset == "monthly_spend"]
    return seconds, len(days), months


first = refresh()
brands = int(sys.argv[3])
rows = [f"bench{i},c{(i % 100) * (brands // 100):05d}-00,1.25,2026-11-25T13:{i % 60:02d}:00Z" for i in range(1000)]
path = Path(tempfile.mkdtemp()) / "touch.csv"
path.write_text("record_id,campaign_id,amount,occurred_at\n" + "\n".join(rows) + "\n")
ingest_file(engine, path, now=AS_OF)
after = refresh()
print(json.dumps({"first": first, "after_file": after}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    state_arguments(parser)
    parser.add_argument("--vs", type=Path, required=True, help="the other checkout of budget_pipeline")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    if args.brands < 100:
        parser.error("--brands must be at least 100 (the spend file touches 100 of them)")
    this, other = Path(__file__).resolve().parents[1], args.vs.resolve()
    print(f"{describe()}; {load()}", flush=True)
    seconds: dict[str, dict[str, list[float]]] = {"this": {}, "other": {}}
    with template_state(args) as scratch:
        for pair, name, checkout in alternating(this, other, args.pairs):
            url = scratch.create(f"p{pair}_{name}", template=TEMPLATE)
            got = run_side(SIDE, checkout, url, str(args.brands))
            for step in ("first", "after_file"):
                seconds[name].setdefault(step, []).append(got[step][0])
            print(
                f"  pair {pair + 1} {name:5} ({checkout}): "
                f"refresh of {got['first'][1]} days {got['first'][0]:.3f} s, "
                f"after a 100-brand file {got['after_file'][0]:.3f} s; months {got['first'][2]} -> "
                f"{got['after_file'][2]}; {load()}",
                flush=True,
            )
    for step in ("first", "after_file"):
        a, b = statistics.median(seconds["this"][step]), statistics.median(seconds["other"][step])
        print(f"  median {step:10} this {a:.3f} s, other {b:.3f} s: this / other = {a / b:.2f}")
    print(f"after: {describe()}; {load()}")


if __name__ == "__main__":
    main()
