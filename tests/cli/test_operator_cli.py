"""The operator's commands through a real subprocess on both databases: `quarantine`,
`status --brand/--paused`, `catalog export`, and progress shown only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from budget_pipeline.report import table_text
from tests.cli.conftest import CLI, cli
from tests.conftest import ACME, write_csv
from tests.store.test_catalog_store import writes_nothing

AS_OF = "2026-11-25T18:00:00Z"


def test_quarantine_lists_rejected_rows_newest_first(ready: str, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "first.csv", ["r1,ghost,1,2026-11-25T15:00:00Z", "r2,acme-search,1,2026-11-25T15:00:00Z"]
    )
    second = write_csv(tmp_path / "second.csv", ["r3,acme-search,-5,2026-11-25T15:00:00Z"])
    assert cli(ready, "ingest", str(first)).returncode == 0
    done = cli(ready, "ingest", str(second))
    assert done.stderr.splitlines()[-1] == "rejected rows, with file, line and reason: budget-pipeline quarantine"

    rows = json.loads(cli(ready, "quarantine", "--json").stdout)
    assert [{k: v for k, v in row.items() if k != "at"} for row in rows] == [
        {
            "file_name": "second.csv",
            "line": 2,
            "reason": "amount '-5' is negative",
            "row": "r3,acme-search,-5,2026-11-25T15:00:00Z",
        },
        {
            "file_name": "first.csv",
            "line": 2,
            "reason": "unknown campaign_id 'ghost'",
            "row": "r1,ghost,1,2026-11-25T15:00:00Z",
        },
    ]
    assert [list(row) for row in rows] == [["file_name", "line", "reason", "row", "at"]] * 2
    assert rows[0]["at"] >= rows[1]["at"] and rows[1]["at"].endswith("+00:00")

    newest = json.loads(cli(ready, "quarantine", "--limit", "1", "--json").stdout)
    assert newest == rows[:1]
    bad_limit = cli(ready, "quarantine", "--limit", "0")
    assert bad_limit.returncode == 2
    assert bad_limit.stderr.splitlines() == ["error: --limit: '0' is not a whole number from 1 to 1,000,000,000"]
    only_first = json.loads(cli(ready, "quarantine", "--file", "first.csv", "--json").stdout)
    assert [row["file_name"] for row in only_first] == ["first.csv"]
    table = cli(ready, "quarantine").stdout.splitlines()
    assert table[0].split() == ["quarantined", "at", "(UTC)", "file", "line", "reason", "row"]
    assert table[1].split()[2:] == [
        "second.csv",
        "2",
        "amount",
        "'-5'",
        "is",
        "negative",
        "r3,acme-search,-5,2026-11-25T15:00:00Z",
    ]
    assert len(table) == 3


def test_quarantine_of_a_file_with_no_rejections_is_an_empty_list(ready: str) -> None:
    done = cli(ready, "quarantine", "--file", "nothing.csv", "--json")
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (0, [], "")
    assert cli(ready, "quarantine", "--file", "nothing.csv").stdout == "no rejected rows of nothing.csv\n"


def test_table_text_fits_a_terminal_by_cutting_the_long_columns() -> None:
    rows = [("2026-11-25 15:00:00", "spend.csv", "7", "unknown campaign_id '" + "x" * 80 + "'", "r1," + "y" * 90)]
    full = table_text(("at", "file", "line", "reason", "row"), rows, None, shrink=(1, 3, 4))
    assert full.splitlines()[1].endswith("y" * 90)
    fitted = table_text(("at", "file", "line", "reason", "row"), rows, 80, shrink=(1, 3, 4))
    assert max(len(line) for line in fitted.splitlines()) <= 80
    assert "…" in fitted.splitlines()[1] and "spend.csv" in fitted


def test_table_text_keeps_a_row_with_line_breaks_on_one_line() -> None:
    rows = [("2026-11-25 15:00:00", "mac.csv", "2", "malformed row", 'r1,c1,"a\r\nb\rc\nd",x')]
    table = table_text(("at", "file", "line", "reason", "row"), rows, None, shrink=(1, 3, 4))
    assert len(table.splitlines()) == 2 and "\r" not in table
    assert table.splitlines()[1].endswith('r1,c1,"a b c d",x')


def set_status(db_url: str, campaign: str, reasons: str) -> None:
    """Put a campaign in a state a control run would have written (the rules have their own tests)."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE campaigns SET active = :active, pause_reasons = :reasons WHERE id = :id"),
            {"active": reasons == "", "reasons": reasons, "id": campaign},
        )
    engine.dispose()


def test_status_of_one_brand_and_of_paused_campaigns(ready: str) -> None:
    set_status(ready, "tokyo-display", "daily_budget,manual")
    one = json.loads(cli(ready, "status", "--brand", "Acme", "--json", "--as-of", AS_OF).stdout)
    assert [b["name"] for b in one["brands"]] == ["Acme"]
    assert [c["id"] for c in one["brands"][0]["campaigns"]] == ["acme-search", "acme-social"]

    paused = json.loads(cli(ready, "status", "--paused", "--json", "--as-of", AS_OF).stdout)
    assert [(b["name"], [c["id"] for c in b["campaigns"]]) for b in paused["brands"]] == [
        ("Tokyo Foods", ["tokyo-display"])
    ]
    assert paused["brands"][0]["campaigns"][0]["pause_reasons"] == ["manual", "daily_budget"]  # contract order
    acme_paused = json.loads(cli(ready, "status", "--brand", "Acme", "--paused", "--json", "--as-of", AS_OF).stdout)
    assert [(b["name"], b["campaigns"]) for b in acme_paused["brands"]] == [("Acme", [])]

    shown = cli(ready, "status", "--paused", "--as-of", AS_OF).stdout.splitlines()
    assert shown[1].startswith("Tokyo Foods (Asia/Tokyo, 2026-11-26): day 0.00 USD / 50.00 USD")
    assert shown[2].startswith("  pace: day 0.00, month 0.00;")
    assert shown[3].split() == ["tokyo-display", "paused:", "manual,", "daily_budget"]
    assert len(shown) == 4


def test_status_of_an_unknown_brand_is_one_line_and_exit_2(ready: str) -> None:
    done = cli(ready, "status", "--brand", "Nobody", "--as-of", AS_OF)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: --brand: no brand named 'Nobody' in the catalog\n"


def test_catalog_export_then_apply_changes_nothing(ready: str, tmp_path: Path) -> None:
    rich = ACME.replace(
        "        name: Acme Search\n",
        '        name: Acme Search\n        enabled: false\n        monthly_budget: "900.50"\n'
        '        dayparting: [{days: [sat], start: "22:00", end: "02:00"}, {start: "09:00", end: "24:00"}]\n',
    ).replace(
        "    timezone: Asia/Tokyo\n",
        "    timezone: Asia/Tokyo\n    currency: JPY\n    alerts: [50]\n    pause_ahead: 90m\n",
    )
    source = tmp_path / "rich.yaml"
    source.write_text(rich)
    assert cli(ready, "catalog", "apply", str(source)).returncode == 0
    printed = cli(ready, "catalog", "export")
    assert printed.returncode == 0 and printed.stderr == ""
    assert (
        'dayparting:\n    - days: [sat]\n      start: "22:00"\n      end: "02:00"\n'
        '    - start: "09:00"\n      end: "24:00"\n' in printed.stdout
    )
    assert "  currency: JPY\n" in printed.stdout and "  pause_ahead: 90m\n" in printed.stdout

    exported = tmp_path / "exported.yaml"
    done = cli(ready, "catalog", "export", str(exported))
    assert done.returncode == 0 and done.stdout == ""
    assert exported.read_text() == printed.stdout
    engine: Engine = create_engine(ready)
    with writes_nothing(engine):
        again = cli(ready, "catalog", "apply", str(exported))
    engine.dispose()
    assert again.stdout == "brands: 0 created, 0 updated; campaigns: 0 created, 0 updated\n"


def test_catalog_export_to_an_unwritable_place_is_one_line_and_exit_2(ready: str, tmp_path: Path) -> None:
    done = cli(ready, "catalog", "export", str(tmp_path / "missing" / "catalog.yaml"))
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: {tmp_path / 'missing' / 'catalog.yaml'}: cannot write the file:")


def big_catalog(path: Path, brands: int = 300, per_brand: int = 10) -> Path:
    lines = ["brands:"]
    for b in range(brands):
        lines += [f"  - name: brand-{b}", '    daily_budget: "10.00"', '    monthly_budget: "100.00"', "    campaigns:"]
        lines += [f"      - {{id: c{b}-{c}, name: C {c}}}" for c in range(per_brand)]
    path.write_text("\n".join(lines) + "\n")
    return path


def spend_file(path: Path, rows: int = 60_000) -> Path:
    return write_csv(path, [f"p{n},acme-search,0.01,2026-11-25T15:00:00Z" for n in range(rows)])


PROGRESS_WORDS = ("reading", "validating", "applying", "ingesting", "%", "\r")


def test_no_progress_when_output_is_not_a_terminal(ready: str, tmp_path: Path) -> None:
    applied = cli(ready, "catalog", "apply", str(big_catalog(tmp_path / "big.yaml")))
    ingested = cli(ready, "ingest", str(spend_file(tmp_path / "spend.csv")))
    for done in (applied, ingested):
        assert done.returncode == 0, done.stderr
        assert not any(word in done.stderr + done.stdout for word in PROGRESS_WORDS), done.stderr
    assert applied.stderr == ""
    assert ingested.stdout.splitlines()[-1] == "accepted 60000, duplicate 0, rejected 0"


def on_a_terminal(db_url: str, *args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout on a pipe): (status, stdout, terminal)."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "BUDGET_DATABASE_URL": db_url}
    process = subprocess.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    seen: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:
                return
            if not data:
                return
            seen.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(controller)
    return process.returncode, stdout, b"".join(seen).decode("utf-8", "replace")


def test_progress_on_a_terminal(ready: str, tmp_path: Path) -> None:
    code, stdout, terminal = on_a_terminal(ready, "catalog", "apply", str(big_catalog(tmp_path / "big.yaml")))
    assert code == 0, terminal
    assert stdout == "brands: 300 created, 0 updated; campaigns: 3000 created, 0 updated\n"
    assert "reading big.yaml" in terminal and "applying" in terminal and "100%" in terminal
    assert "Traceback" not in terminal
    code, stdout, terminal = on_a_terminal(ready, "ingest", str(spend_file(tmp_path / "spend.csv")))
    assert code == 0, terminal
    assert stdout.splitlines()[-1] == "accepted 60000, duplicate 0, rejected 0"
    assert "ingesting spend.csv" in terminal and "100%" in terminal
