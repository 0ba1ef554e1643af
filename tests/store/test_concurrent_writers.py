"""Two processes enforcing at the same moment: every change is written and logged exactly once."""

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, func, select

from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import Campaign, StatusLog
from budget_pipeline.store.spend import rebuild_daily, rebuild_monthly
from tests.conftest import apply_yaml, write_csv

BRANDS = 40
PER_BRAND = 25
WORKER = """
import datetime as dt, sys, time
from budget_pipeline.control import enforce_budgets
from budget_pipeline.store.db import make_engine
url, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
engine = make_engine(url)
engine.connect().close()
time.sleep(max(0.0, start - time.time()))
outcome = enforce_budgets(engine, dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC), name)
print(len(outcome.changes))
"""


def test_two_enforcers_neither_lose_nor_double_an_update(engine: Engine, db_url: str, tmp_path: Path) -> None:
    import datetime as dt

    lines = ["brands:"]
    rows = []
    for b in range(BRANDS):
        lines += [f"  - name: B{b}", '    daily_budget: "10.00"', '    monthly_budget: "1000.00"', "    campaigns:"]
        for c in range(PER_BRAND):
            lines.append(f"      - {{id: c{b}-{c}, name: C}}")
        rows.append(f"r{b},c{b}-0,10,2026-11-25T12:00:00Z")
    apply_yaml(engine, "\n".join(lines))
    from budget_pipeline.ingest.pipeline import ingest_file

    ingest_file(engine, write_csv(tmp_path / "s.csv", rows))
    with writing(engine) as conn:
        rebuild_daily(conn, dt.date(2026, 11, 25), dt.date(2026, 11, 26))
        rebuild_monthly(conn, dt.date(2026, 11, 1), dt.date(2026, 12, 1))

    start = time.time() + 3
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url, str(start), f"run-{n}"], stdout=subprocess.PIPE, text=True
        )
        for n in range(2)
    ]
    changed = sorted(int(w.communicate(timeout=120)[0].strip()) for w in workers)
    assert all(w.returncode == 0 for w in workers)
    total = BRANDS * PER_BRAND
    assert changed == [0, total], "one writer made every change, the other found nothing left to do"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(StatusLog)).scalar_one() == total
        paused = conn.execute(select(func.count()).select_from(Campaign).where(Campaign.active.is_(False))).scalar_one()
    assert paused == total
