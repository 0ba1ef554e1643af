"""Benchmark: seconds from a spend file landing to its campaign paused, under `dagster dev`.

    python bench/latency.py [--drops 10] [--port 3999]

Starts `dagster dev` (webserver + daemon) on a fresh DAGSTER_HOME with the SQLite defaults,
applies a catalog of one-campaign brands, then drops one spend file at a time that takes a
brand over its daily budget and polls the budget database until that campaign is paused.
Prints each latency, the median and the 95th percentile. Nothing is mocked: the landing
sensor, the run launcher and ingest_spend_job do the work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.reference import describe  # noqa: E402


def wait_for(url: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drops", type=int, default=10)
    parser.add_argument("--port", type=int, default=3999)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="budget-latency-"))
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("BUDGET_DATABASE_URL", None)
    env.pop("BUDGET_LANDING_DIR", None)
    catalog = home / "catalog.yaml"
    catalog.write_text(
        "brands:\n"
        + "".join(
            f'  - {{name: B{i}, daily_budget: "10.00", monthly_budget: "1000.00", '
            f"campaigns: [{{id: c{i}, name: C{i}}}]}}\n"
            for i in range(args.drops)
        )
    )
    cli = str(BIN / "budget-pipeline")
    subprocess.run([cli, "init-db"], env=env, check=True, capture_output=True)
    subprocess.run([cli, "catalog", "apply", str(catalog)], env=env, check=True, capture_output=True)
    landing = home / "landing"
    landing.mkdir()

    log = (home / "dagster-dev.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(args.port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    latencies = []
    try:
        wait_for(f"http://127.0.0.1:{args.port}/server_info", 120)
        time.sleep(15)  # let the daemon start its sensor loop
        db = sqlite3.connect(home / "budget.db")
        for i in range(args.drops):
            now = dt.datetime.now(dt.UTC).isoformat()
            part = landing / f".spend-{i}.part"
            part.write_text(f"record_id,campaign_id,amount,occurred_at\nlat-{i},c{i},10.00,{now}\n")
            started = time.perf_counter()
            part.rename(landing / f"spend-{i}.csv")
            while True:
                (active,) = db.execute("SELECT active FROM campaigns WHERE id = ?", (f"c{i}",)).fetchone()
                elapsed = time.perf_counter() - started
                if not active:
                    break
                if elapsed > args.timeout:
                    raise SystemExit(
                        f"campaign c{i} not paused after {args.timeout:.0f} s; see {home / 'dagster-dev.log'}"
                    )
                time.sleep(0.1)
            latencies.append(elapsed)
            print(f"drop {i + 1:>2}: paused after {elapsed:5.1f} s", flush=True)
            time.sleep(2)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18] if len(latencies) > 1 else latencies[0]
    median = statistics.median(latencies)
    print(f"median {median:.1f} s, p95 {p95:.1f} s, max {max(latencies):.1f} s over {len(latencies)} drops")
    print(describe())


if __name__ == "__main__":
    main()
