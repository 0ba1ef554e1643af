"""Benchmark: the steady full enforcement pass (every brand, nothing changes), with this code and
with another checkout of it, like for like, on PostgreSQL.

    python bench/full_pass.py --vs /path/to/other/checkout [--pairs 2] [--brands 10000] [--records 2000000]

The starting state is bench/control.py's, made by its own functions, as a template database. Each
side runs in a process of its own, with its checkout first on `sys.path`, on its own copy of the
template: it refreshes today's partitions, runs a first full pass (which writes), then times nine
full passes that change nothing and prints their median (the first left out as a warm-up). The
sides run in alternating order. The yardstick (bench/reference.py) is printed first and last.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.control import state_arguments  # noqa: E402
from bench.reference import describe  # noqa: E402
from bench.sides import TEMPLATE, alternating, load, run_side, template_state  # noqa: E402

# One side (bench/sides.py runs it): its checkout's code on its own copy of the template.
SIDE = r"""
import datetime as dt, json, statistics, sys, time
from budget_pipeline.control import enforce_budgets
from budget_pipeline.defs.reporting import build_days_and_months
from budget_pipeline.store.db import make_engine
from budget_pipeline.store.upkeep import days_to_refresh

AS_OF = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
engine = make_engine(sys.argv[2])
with engine.connect() as conn:
    days = days_to_refresh(conn, AS_OF)
build_days_and_months(engine, days, AS_OF)
first = enforce_budgets(engine, AS_OF, "first", full=True)
seconds = []
for n in range(9):
    started = time.perf_counter()
    outcome = enforce_budgets(engine, AS_OF, f"steady-{n}", full=True)
    seconds.append(time.perf_counter() - started)
    assert not outcome.changes
print(json.dumps({"first_changes": len(first.changes), "median": statistics.median(seconds[1:]), "all": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    state_arguments(parser, records=2_000_000)
    parser.add_argument("--vs", type=Path, required=True, help="the other checkout of budget_pipeline")
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    this, other = Path(__file__).resolve().parents[1], args.vs.resolve()
    print(f"{describe()}; {load()}", flush=True)
    medians: dict[str, list[float]] = {"this": [], "other": []}
    with template_state(args) as scratch:
        for pair, name, checkout in alternating(this, other, args.pairs):
            got = run_side(SIDE, checkout, scratch.create(f"p{pair}_{name}", template=TEMPLATE))
            medians[name].append(got["median"])
            passes = ", ".join(f"{s * 1000:.0f}" for s in got["all"])
            print(
                f"  pair {pair + 1} {name:5} ({checkout}): first pass {got['first_changes']} changes; "
                f"steady full pass median {got['median'] * 1000:.1f} ms ({passes}); {load()}",
                flush=True,
            )
    for name, values in medians.items():
        print(f"  {name:5} medians: " + ", ".join(f"{v * 1000:.1f} ms" for v in values))
    print(f"after: {describe()}; {load()}")


if __name__ == "__main__":
    main()
