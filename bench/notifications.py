"""Benchmark: what alerts and the notification outbox cost enforcement, and how fast delivery is.

    python bench/notifications.py [--brands 10000] [--per-brand 10] [--records 10000000] [--pairs 3]
                                  [--deliver 10000] [--backends postgresql,sqlite] [--pg-url URL]
    python bench/notifications.py --brands 200 --records 200000 --deliver 1000    # a quick check

The starting state is bench/control.py's, made by its own functions: its catalog (10k brands,
100k campaigns), a month of spend (--records, default 10M as there: the catalog's budgets are set
around that volume, so the first pass pauses ~89% of the campaigns; with fewer records fewer
brands reach their budgets and the first pass makes fewer changes; the count is printed)
ingested with `ingest_file`, the month's aggregates built, VACUUM ANALYZE. No rule has run: no
status log, no alert, an empty outbox. Each side below runs on its own copy of that database (a
PostgreSQL database made with it as template, a copy of the SQLite file), VACUUM ANALYZE first.

1. Enforcement with and without alerts and the outbox, like for like. Both sides time the same
   call, `control.enforce_budgets(engine, AS_OF, run_id, full=True)`, the first pass from the
   starting state, in this same process:
     with     the product as it is: each status change writes its notification in the status
              transaction, and the alerts the spend reached are recorded with theirs.
     without  the same call with two functions replaced by no-ops in this benchmark's process
              only, for that one call (unittest.mock.patch; the product has no such switch):
                budget_pipeline.store.status.write_change_notifications -> nothing written
                  (the change notifications; the campaigns and the status log are written as ever)
                budget_pipeline.control.record_alerts -> 0   (which alerts the spend reached, incl.
                  the look-back over the days of late spend, the alert rows and their notifications)
              Checked after: no notification and no alert on that copy.
   --pairs pairs, each on two fresh copies, the sides in alternating order (with first in even
   pairs, without first in odd ones); each pair's ratio with/without and their median printed,
   with the changes, alerts and notifications written.
   Two starting states, each a template of its own:
     month at once    as above: the whole month ingested at once, so the first pass also records
                      every earlier day's alerts of the month (~213k at the defaults) with theirs.
     earlier alerts   the same, but the month's earlier alerts already recorded, as when the spend
                      came in day by day and each day was enforced: the benchmark records them
                      beforehand with the product's own record_alerts, then deletes today's and
                      this month's alerts and every notification, and clears the brands' late
                      marks (first_day); the first pass then records only today's and this
                      month's alerts. The changes are the same in both states.

2. Delivery: the first --deliver (10k) notifications of a "with" copy left pending (the later ones
   marked delivered beforehand by the benchmark, as if an earlier delivery had sent them), then
   one `delivery.deliver_due(engine, Webhook(url, secret), now)` timed to a local receiver: a
   separate Python process (so it does not compete with the sender for the GIL) running the
   standard library's ThreadingHTTPServer, HTTP/1.1 keep-alive, answering 200 to each POST and
   counting the Idempotency-Key ids it got. Printed: notifications/s, and whether the receiver
   got each pending id exactly once (and the body's id equal to the key), and none other.

The yardstick (bench/reference.py) and the load average are printed first and last.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.control import (  # noqa: E402
    AS_OF,
    PostgresScratch,
    SqliteScratch,
    analyze,
    catalog,
    prepare,
    state_arguments,
    timed,
    write_spend,
)
from bench.reference import describe  # noqa: E402
from bench.sides import load  # noqa: E402
from budget_pipeline import control  # noqa: E402
from budget_pipeline.delivery import Webhook, deliver_due  # noqa: E402
from budget_pipeline.ingest.catalog import parse_catalog  # noqa: E402
from budget_pipeline.rules.calendar import local_date  # noqa: E402
from budget_pipeline.store.alerts import record_alerts  # noqa: E402
from budget_pipeline.store.db import make_engine  # noqa: E402
from budget_pipeline.store.marks import read_marks  # noqa: E402
from budget_pipeline.store.reads import brand_spend, brands  # noqa: E402

SWITCHED_OFF = (
    "budget_pipeline.store.status.write_change_notifications",
    "budget_pipeline.control.record_alerts",
)

# The receiver, run as `python -c RECEIVER`: it prints its port, then answers 200 to every POST
# (keep-alive) and counts the ids; GET returns {id: [times by key, times by body id]}.
RECEIVER = r"""
import json, sys, threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

keys, bodies, lock = Counter(), Counter(), threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small answer waits for the client's delayed ACK

    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            keys[self.headers.get("Idempotency-Key")] += 1
            bodies[json.loads(data)["id"]] += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self):
        with lock:
            out = json.dumps({k: [keys[k], bodies[k]] for k in set(keys) | set(bodies)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def count(engine: Engine, table: str, run_id: str | None = None) -> int:
    """The rows of `table` (written by the run `run_id`)."""
    where = "" if run_id is None else " WHERE run_id = :run"
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}{where}"), {"run": run_id}).scalar_one())  # noqa: S608


@contextmanager
def without_alerts_and_outbox() -> Iterator[None]:
    """The comparison's "without" side: the outbox and alert writes as no-ops (this process only)."""
    with ExitStack() as stack:
        stack.enter_context(mock.patch(SWITCHED_OFF[0], lambda *args, **kwargs: None))
        stack.enter_context(mock.patch(SWITCHED_OFF[1], lambda *args, **kwargs: 0))
        yield


@contextmanager
def timing_parts(spent: dict[str, float]) -> Iterator[None]:
    """The "with" side: the same two functions, called through, their seconds added up in `spent`."""

    def timer(name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return call

    with ExitStack() as stack:
        for target in SWITCHED_OFF:
            module, name = target.rsplit(".", 1)
            stack.enter_context(mock.patch(target, timer(name, getattr(sys.modules[module], name))))
        yield


def first_pass(url: str, side: str, run_id: str) -> dict[str, Any]:
    """One side's timed first pass on its copy: seconds, changes, alerts, notifications written."""
    engine = make_engine(url)
    try:
        analyze(engine)
        spent: dict[str, float] = {}
        switch = timing_parts(spent) if side == "with" else without_alerts_and_outbox()
        with switch:
            seconds, outcome = timed(functools.partial(control.enforce_budgets, full=True), engine, AS_OF, run_id)
        return {
            "seconds": seconds,
            "parts": spent,
            "changes": len(outcome.changes),
            "evaluated": outcome.evaluated,
            "alerts": count(engine, "alerts", run_id),
            "notifications": count(engine, "notifications"),
            "logged": count(engine, "campaign_status_log"),
        }
    finally:
        engine.dispose()


def parts(spent: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in spent.items())


def drop(scratch: PostgresScratch | SqliteScratch, label: str) -> None:
    """Drop one scratch copy now (disk: each holds the month's records)."""
    if isinstance(scratch, PostgresScratch):
        name = f"{scratch.prefix}_{label}"
        with scratch.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        scratch.created.remove(name)
    else:
        for suffix in ("", "-wal", "-shm", ".delivery-lock"):
            Path(f"{scratch.folder / label}.db{suffix}").unlink(missing_ok=True)


def record_earlier_alerts(url: str) -> None:
    """The "earlier alerts" state (see the docstring) made from a copy of the prepared one."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            rows = brands(conn)
            record_alerts(conn, rows, brand_spend(conn, AS_OF, rows), read_marks(conn).first_days, AS_OF, "earlier")
            today = min(local_date(AS_OF, zone) for zone in {row.timezone for row in rows.values()})
            conn.execute(
                text(
                    "DELETE FROM alerts WHERE (period = 'daily' AND period_start >= :today)"
                    " OR (period = 'monthly' AND period_start >= :month)"
                ),
                {"today": today, "month": today.replace(day=1)},
            )
            conn.execute(text("DELETE FROM notifications"))
            conn.execute(text("UPDATE brands_to_enforce SET first_day = NULL"))
        recorded = count(engine, "alerts")
        print(f"  state       earlier alerts: {recorded:,} alerts of days before today recorded", flush=True)
        analyze(engine)
    finally:
        engine.dispose()


def enforcement_pairs(
    scratch: PostgresScratch | SqliteScratch, pairs: int, template: str = "prepared"
) -> tuple[list[float], str]:
    """--pairs pairs of first passes with and without; the ratios, and a "with" copy kept for delivery."""
    ratios: list[float] = []
    kept = ""
    state = {"prepared": "month at once", "earlier": "earlier alerts"}[template]
    for pair in range(pairs):
        order = ("with", "without") if pair % 2 == 0 else ("without", "with")
        started = time.perf_counter()
        urls = {side: scratch.create(f"{template}_p{pair}_{side}", template=template) for side in order}
        copy_s = time.perf_counter() - started
        got = {side: first_pass(urls[side], side, f"bench-notify-{pair}-{side}") for side in order}
        w, wo = got["with"], got["without"]
        ratio = w["seconds"] / wo["seconds"]
        ratios.append(ratio)
        print(
            f"  pair {pair + 1}      [{state}] {' then '.join(order)} (copies made in {copy_s:.1f} s): "
            f"with {w['seconds']:.3f} s / without {wo['seconds']:.3f} s = {ratio:.2f}x; {load()}\n"
            f"              with:    {w['changes']:,} changes of {w['evaluated']:,} campaigns, "
            f"{w['logged']:,} status-log rows, {w['alerts']:,} alerts, {w['notifications']:,} notifications\n"
            f"              with, inside it: {parts(w['parts'])}\n"
            f"              without: {wo['changes']:,} changes of {wo['evaluated']:,} campaigns, "
            f"{wo['logged']:,} status-log rows, {wo['alerts']:,} alerts, {wo['notifications']:,} notifications",
            flush=True,
        )
        if wo["alerts"] or wo["notifications"]:
            print("  WARNING     the without side wrote alerts or notifications: the switch did not hold")
        if w["changes"] != wo["changes"] or w["notifications"] != w["changes"] + w["alerts"]:
            print("  WARNING     the sides differ in changes, or notifications != changes + alerts")
        if pair == pairs - 1:
            kept = f"{template}_p{pair}_with"
            drop(scratch, f"{template}_p{pair}_without")
        else:
            for side in order:
                drop(scratch, f"{template}_p{pair}_{side}")
    print(
        f"  ratio       [{state}] with / without, first pass: "
        f"median {statistics.median(ratios):.2f}x of {pairs} pairs "
        f"({', '.join(f'{r:.2f}' for r in ratios)}); target <= 1.3x on PostgreSQL",
        flush=True,
    )
    return ratios, kept


def leave_pending(engine: Engine, wanted: int) -> list[str]:
    """Leave the first `wanted` notifications (by seq) pending, mark the later ones delivered; the
    pending ids."""
    with engine.begin() as conn:
        first = conn.execute(text("SELECT seq, id FROM notifications ORDER BY seq LIMIT :n"), {"n": wanted}).all()
        ids, last = [i for _, i in first], first[-1][0]
        conn.execute(
            text("UPDATE notifications SET status = 'delivered', delivered_at = created_at WHERE seq > :s"),
            {"s": last},
        )
    analyze(engine)
    return ids


@contextmanager
def receiver() -> Iterator[str]:
    """The receiver process; its URL."""
    process = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.wait(timeout=10)


def delivery(url: str, wanted: int) -> None:
    engine = make_engine(url)
    try:
        ids = leave_pending(engine, wanted)
        with receiver() as hook:
            now = AS_OF + dt.timedelta(minutes=1)
            seconds, done = timed(deliver_due, engine, Webhook(hook, "bench-secret"), now)
            with urllib.request.urlopen(hook) as response:  # noqa: S310 - our own local receiver
                got: dict[str, list[int]] = json.loads(response.read())
        with engine.connect() as conn:
            left = int(conn.execute(text("SELECT count(*) FROM notifications WHERE status = 'pending'")).scalar_one())
    finally:
        engine.dispose()
    once = all(got.get(i) == [1, 1] for i in ids)
    extra = len(set(got) - set(ids))
    print(
        f"  delivery    deliver_due of {len(ids):,} pending notifications to a receiver process (HTTP/1.1 "
        f"keep-alive, 200 each): {seconds:.2f} s = {len(ids) / seconds:,.0f} notifications/s; target >= 500/s\n"
        f"              {done.summary()}; {left} left pending; the receiver got "
        f"{sum(k for k, _ in got.values()):,} POSTs, each pending id exactly once (key and body): "
        f"{'yes' if once else 'NO'}, ids not pending: {extra}; {load()}",
        flush=True,
    )


def bench(backend: str, args: argparse.Namespace, parsed: Any, spend: Path) -> None:
    scratch: PostgresScratch | SqliteScratch
    scratch = PostgresScratch(args.pg_url) if backend == "postgresql" else SqliteScratch()
    try:
        prepared = scratch.create("prepared")
        prepare(prepared, parsed, spend, args.records)
        record_earlier_alerts(scratch.create("earlier", template="prepared"))
        _, month_at_once = enforcement_pairs(scratch, args.pairs)
        drop(scratch, month_at_once)
        _, kept = enforcement_pairs(scratch, args.pairs, "earlier")
        delivery(scratch.url(kept), args.deliver)
    finally:
        scratch.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    state_arguments(parser)
    parser.add_argument("--pairs", type=int, default=3, help="pairs of first passes, with and without")
    parser.add_argument("--deliver", type=int, default=10_000, help="pending notifications delivered")
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    print(f"{describe()}; {load()}; as_of {AS_OF.isoformat()}", flush=True)
    print(f"switched off on the without side (this process only): {', '.join(SWITCHED_OFF)}")
    data = catalog(args.brands, args.per_brand)
    parsed = parse_catalog(data)
    work = Path(tempfile.mkdtemp(prefix="budget-bench-notify-"))
    try:
        spend = work / "spend.csv"
        ids = [c["id"] for b in data["brands"] for c in b["campaigns"]]
        seconds, _ = timed(write_spend, spend, ids, args.records)
        print(f"spend file  {args.records:,} records for {len(ids):,} campaigns, written in {seconds:.1f} s")
        for backend in args.backends.split(","):
            print(f"[{backend}]", flush=True)
            bench(backend, args, parsed, spend)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"after: {describe()}; {load()}")


if __name__ == "__main__":
    main()
