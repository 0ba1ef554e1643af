"""What the benchmarks that compare this checkout with another share: the starting state as a
template database, sides run in processes of their own in alternating order, and the load
average printed beside each figure.

A side is Python source run as `python -c SIDE CHECKOUT URL [ARG…]` after SIDE_PREAMBLE, which
puts CHECKOUT first on `sys.path`: it works on the database at URL (its own copy of the
template) and prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.control import PostgresScratch, catalog, prepare, write_spend
from budget_pipeline.ingest.catalog import parse_catalog

TEMPLATE = "prepared"

# Before every side: its checkout's code, and no other installed copy of it.
SIDE_PREAMBLE = """
import sys
sys.path.insert(0, sys.argv[1])
import budget_pipeline
assert budget_pipeline.__file__.startswith(sys.argv[1]), budget_pipeline.__file__
"""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def prepare_template(scratch: PostgresScratch, args: argparse.Namespace, work: Path) -> None:
    """bench/control.py's starting state (catalog, a month of spend ingested, its aggregates
    built, no rule run) as the database TEMPLATE, from `state_arguments`' options."""
    data = catalog(args.brands, args.per_brand)
    spend = work / "spend.csv"
    write_spend(spend, [c["id"] for b in data["brands"] for c in b["campaigns"]], args.records)
    prepare(scratch.create(TEMPLATE), parse_catalog(data), spend, args.records)


@contextmanager
def template_state(args: argparse.Namespace) -> Iterator[PostgresScratch]:
    """A scratch PostgreSQL server area holding the TEMPLATE database (prepare_template); its
    databases, and the spend file, are dropped after."""
    work = Path(tempfile.mkdtemp(prefix="budget-bench-sides-"))
    scratch = PostgresScratch(args.pg_url)
    try:
        prepare_template(scratch, args, work)
        yield scratch
    finally:
        scratch.close()
        shutil.rmtree(work, ignore_errors=True)


def alternating(this: Path, other: Path, pairs: int) -> Iterator[tuple[int, str, Path]]:
    """(pair, "this" or "other", checkout) in turn, the first side of each pair alternating."""
    for pair in range(pairs):
        order = (("this", this), ("other", other)) if pair % 2 == 0 else (("other", other), ("this", this))
        for name, checkout in order:
            yield pair, name, checkout


def run_side(side: str, checkout: Path, url: str, *args: str) -> Any:
    """Run one side on `url` with `checkout`'s code; the JSON object it printed last."""
    done = subprocess.run(
        [sys.executable, "-c", SIDE_PREAMBLE + side, str(checkout), url, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
