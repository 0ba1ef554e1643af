"""`alerts` and `notifications` through the real CLI on both databases, and `tick` delivering to
a real receiver without ever printing the secret."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.cli.conftest import cli
from tests.conftest import write_csv
from tests.receiver import receiver

SECRET = "cli-s3cr3t-never-printed"


def test_alerts_and_notifications_text_and_json(ready: str, tmp_path: Path) -> None:
    spend = write_csv(tmp_path / "s.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"])
    home = tmp_path / "home"
    (home / "landing").mkdir(parents=True)
    spend.rename(home / "landing" / "s.csv")
    first = cli(ready, "tick", "--as-of", "2026-11-25T18:00:00Z", home=home)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1].endswith("not sent: BUDGET_WEBHOOK_URL is not set (4 kept)")

    listed = json.loads(cli(ready, "alerts", "--json").stdout)
    assert [(a["period"], a["percent"]) for a in listed] == [("daily", 100), ("daily", 80)]
    assert listed[0] == {
        "brand": "Acme",
        "period": "daily",
        "period_start": "2026-11-25",
        "percent": 100,
        "spend": "120.00",
        "budget": "100.00",
        "currency": "USD",
        "at": "2026-11-25T18:00:00+00:00",
        "run_id": listed[0]["run_id"],
    }
    assert json.loads(cli(ready, "alerts", "--json", "--brand", "Tokyo Foods").stdout) == []
    text = cli(ready, "alerts", "--brand", "Acme").stdout
    assert "Acme" in text and "daily 2026-11-25" in text and "100%" in text and "120.00 USD / 100.00 USD" in text
    unknown = cli(ready, "alerts", "--brand", "Nobody")
    assert unknown.returncode == 2 and unknown.stderr.strip().count("\n") == 0 and "Nobody" in unknown.stderr

    notes = json.loads(cli(ready, "notifications", "--json").stdout)
    assert [n["type"] for n in notes] == ["budget.alert", "budget.alert", "campaign.paused", "campaign.paused"]
    assert set(notes[0]) == {"id", "type", "created_at", "status", "attempts", "next_attempt_at", "last_error"}
    assert {(n["status"], n["attempts"], n["last_error"]) for n in notes} == {
        ("pending", 0, "not sent: BUDGET_WEBHOOK_URL is not set")
    }
    table = cli(ready, "notifications", "--pending").stdout
    assert "BUDGET_WEBHOOK_URL is not set" in table and "Acme: campaign Acme Search (acme-search) paused" in table

    with receiver(503) as hook:
        before = dt.datetime.now(dt.UTC)
        done = cli(
            ready,
            "tick",
            "--as-of",
            "2026-11-25T18:01:00Z",
            home=home,
            BUDGET_WEBHOOK_URL=hook.url,
            BUDGET_WEBHOOK_SECRET=SECRET,
        )
        after = dt.datetime.now(dt.UTC)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith("3 sent, 1 to retry, 0 failed, 0 waiting")
    assert SECRET not in done.stdout + done.stderr
    listed = json.loads(cli(ready, "notifications", "--json").stdout)
    assert sorted(n["status"] for n in listed) == ["delivered", "delivered", "delivered", "pending"]
    retrying = next(n for n in listed if n["status"] == "pending")
    assert (retrying["attempts"], retrying["last_error"]) == (1, "HTTP 503")
    # Retried 30 s after the attempt, on the wall clock: not at --as-of's instant plus 30 s
    # (days ago, so due at once; or years off, for a --as-of years ahead).
    retry = dt.datetime.fromisoformat(retrying["next_attempt_at"])
    assert before + dt.timedelta(seconds=30) <= retry <= after + dt.timedelta(seconds=30)
    assert [n["id"] for n in json.loads(cli(ready, "notifications", "--pending", "--json").stdout)] == [retrying["id"]]
    assert len(hook.delivered) == 3 and all(SECRET not in g.body.decode() for g in hook.received)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUDGET_WEBHOOK_URL", "ftp://user:hunter2@example.com/x"),
        ("BUDGET_WEBHOOK_URL", "http://user:hunter2@a b.example.com/x"),  # no request can carry it
        ("BUDGET_WEBHOOK_SECRET", "hunter2\udcff"),  # a byte that is not UTF-8, as Python reads it
    ],
    ids=["not http", "a space", "not UTF-8"],
)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # settings are read before any database
def test_a_bad_webhook_setting_is_one_line_that_keeps_its_secret(
    ready: str, tmp_path: Path, name: str, value: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = cli(ready, "tick", home=home, **{name: value})
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: {name}: ") and "hunter2" not in done.stderr + done.stdout


@pytest.mark.parametrize("command", ["alerts", "notifications", "history", "quarantine"])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # read before any database
def test_a_limit_out_of_range_is_one_line(ready: str, command: str) -> None:
    """0, a negative number (every row on SQLite, an error on PostgreSQL) and one past what
    SQLite's LIMIT takes (a traceback) are each one line; every command reads --limit alike."""
    values = ("0", "-1", "99999999999999999999", "ten") if command == "alerts" else ("99999999999999999999",)
    for value in values:
        done = cli(ready, command, "--limit", value)
        assert done.returncode == 2
        assert done.stderr.splitlines() == [f"error: --limit: {value!r} is not a whole number from 1 to 1,000,000,000"]
    assert cli(ready, command, "--limit", "1000000000").returncode == 0
