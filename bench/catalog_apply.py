"""Benchmark: `catalog apply` of a large catalog, first apply and a no-op re-apply.

    python bench/catalog_apply.py [--brands 10000] [--per-brand 10] [--backends sqlite,postgresql]

Builds the catalog of bench/control.py (brands in six zones, a third of the campaigns with a
dayparting window, a fifth with caps of their own) and, on each backend, from an empty schema:
  - through `store.catalog.apply_catalog`, the function the CLI calls, on the parsed catalog:
    the first apply, then the same catalog again (which must write nothing);
  - through the CLI process, `budget-pipeline catalog apply FILE.yaml` on a fresh schema, first
    and again: what a user waits for, reading and validating the YAML file included.
Prints campaigns per second for each (target: >= 50,000 for apply_catalog at 100k campaigns).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.control import catalog  # noqa: E402
from bench.reference import describe  # noqa: E402
from budget_pipeline.ingest.catalog import load_catalog  # noqa: E402
from budget_pipeline.store.catalog import apply_catalog  # noqa: E402
from budget_pipeline.store.db import make_engine, upgrade  # noqa: E402

CLI = str(Path(sys.executable).with_name("budget-pipeline"))


def fresh_databases(backend: str, pg_url: str, folder: Path):  # type: ignore[no-untyped-def]
    """Yield URLs of empty databases of `backend`, dropping each PostgreSQL schema after use."""
    if backend == "sqlite":
        while True:
            yield f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    schemas = []
    try:
        while True:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            schemas.append(schema)
            yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            for schema in schemas:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def rate(campaigns: int, seconds: float) -> str:
    return f"{seconds:6.2f} s  {campaigns / seconds:9,.0f} campaigns/s"


def through_function(url: str, path: Path, campaigns: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    parsed = load_catalog(path)
    print(f"    read + validate the file        {rate(campaigns, time.perf_counter() - started)}")
    for label in ("first apply", "no-op re-apply"):
        started = time.perf_counter()
        summary = apply_catalog(engine, parsed)
        seconds = time.perf_counter() - started
        print(f"    apply_catalog, {label:<16} {rate(campaigns, seconds)}   ({summary})")
    engine.dispose()


def through_cli(url: str, path: Path, campaigns: int) -> None:
    env = {**os.environ, "BUDGET_DATABASE_URL": url}
    subprocess.run([CLI, "init-db"], env=env, check=True, capture_output=True)
    for label in ("first apply", "no-op re-apply"):
        started = time.perf_counter()
        done = subprocess.run([CLI, "catalog", "apply", str(path)], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        print(f"    CLI process, {label:<18} {rate(campaigns, seconds)}   ({done.stdout.strip()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brands", type=int, default=10_000)
    parser.add_argument("--per-brand", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BUDGET_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/budget_test"),
    )
    args = parser.parse_args()
    print(describe())
    campaigns = args.brands * args.per_brand
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        folder = Path(tmp)
        path = folder / "catalog.yaml"
        path.write_text(yaml.safe_dump(catalog(args.brands, args.per_brand), sort_keys=False), encoding="utf-8")
        print(f"catalog: {args.brands:,} brands, {campaigns:,} campaigns, {path.stat().st_size / 1e6:.1f} MB of YAML")
        for backend in args.backends.split(","):
            print(f"  {backend}")
            databases = fresh_databases(backend, args.pg_url, folder)
            through_function(next(databases), path, campaigns)
            through_cli(next(databases), path, campaigns)
            databases.close()


if __name__ == "__main__":
    main()
