"""Spend whose sums pass what an integer or a NUMERIC(20, 6) column holds must not stop
enforcement: sums are held at rules.money.MONEY_CEILING, over every budget, and shown as such."""

import json
from pathlib import Path

from budget_pipeline.rules.money import MONEY_CEILING
from tests.cli.conftest import cli
from tests.conftest import write_csv

TOP = "999999999.999999"  # the largest amount a record may carry


def test_huge_valid_spend_does_not_stop_enforcement(ready: str, tmp_path: Path) -> None:
    # 12,000 records: 1.2 * 10^13 in one campaign's day (Acme), and in one brand's month over ten
    # days (Tokyo); a plain SUM overflowed SQLite at 9.2 * 10^12 and failed every run.
    rows = [f"h{i},acme-search,{TOP},2026-11-25T15:00:00Z" for i in range(12_000)]
    rows += [f"t{i},tokyo-display,{TOP},2026-11-{10 + i % 10}T03:00:00Z" for i in range(12_000)]
    write_csv(tmp_path / "huge.csv", rows)
    assert cli(ready, "ingest", str(tmp_path / "huge.csv")).returncode == 0
    home = tmp_path / "home"
    home.mkdir()
    as_of = "2026-11-25T18:00:00Z"
    for _ in range(2):
        done = cli(ready, "tick", "--as-of", as_of, home=home)
        assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(cli(ready, "status", "--json", "--as-of", as_of).stdout)
    brands = {brand["name"]: brand for brand in status["brands"]}
    acme, tokyo = brands["Acme"], brands["Tokyo Foods"]
    assert (acme["daily_spend"], acme["monthly_spend"]) == (str(MONEY_CEILING), str(MONEY_CEILING))
    assert (tokyo["daily_spend"], tokyo["monthly_spend"]) == ("0.00", str(MONEY_CEILING))
    reasons = {c["id"]: (c["active"], c["pause_reasons"]) for brand in brands.values() for c in brand["campaigns"]}
    assert reasons == {
        "acme-search": (False, ["daily_budget", "monthly_budget"]),
        "acme-social": (False, ["daily_budget", "monthly_budget"]),
        "tokyo-display": (False, ["monthly_budget"]),
    }
    text = cli(ready, "status", "--as-of", as_of).stdout
    assert "at least 9,223,372,036,854.78 USD" in text, text
