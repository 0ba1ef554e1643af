"""The Dagster UI in a real browser (Debian's Chromium driven by Playwright): what a person
sees of budget_pipeline, and a backfill of three daily_spend partitions launched from the UI."""

import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect, sync_playwright
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "artifacts"
AUTOMATIONS = [
    "daily_reset_schedule",
    "dayparting_schedule",
    "enforce_on_spend_sensor",
    "monthly_reset_schedule",
    "notifications_sensor",
    "spend_landing_sensor",
    "spend_refresh_schedule",
]
JOBS = [
    "ingest_spend_job",
    "enforce_budgets_job",
    "daily_reset_job",
    "monthly_reset_job",
    "dayparting_job",
    "deliver_notifications_job",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UI_HOME: dict = {}  # the demo's DAGSTER_HOME, environment and database URL, for the tests


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dagster dev` (webserver and daemon) on a fresh SQLite instance loaded with the demo, its
    partitions starting where the demo's spend starts (as scripts/dev demo sets them)."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDGET_")}
    env["DAGSTER_HOME"] = str(home)
    env["BUDGET_START_DATE"] = "2026-11-03"
    UI_HOME.update(home=home, env=env, url=f"sqlite:///{home / 'budget.db'}")
    cli = str(BIN / "budget-pipeline")
    subprocess.run([cli, "init-db"], env=env, check=True, capture_output=True)
    subprocess.run([cli, "demo", "--as-of", "2026-11-25T12:00:00Z"], env=env, check=True, capture_output=True)
    port = free_port()
    log = (home / "dagster-dev.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=2):
                break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                raise AssertionError(f"dagster dev did not start; see {home / 'dagster-dev.log'}") from None
            time.sleep(0.5)
    try:
        yield base
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser_page(ui: str) -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (apt-get install chromium); no browser is downloaded"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def visit(page: Page, url: str) -> None:
    page.goto(url)
    skip = page.get_by_role("button", name="Skip")  # the community dialog of a first visit
    with suppress(PlaywrightError):
        skip.click(timeout=3000)


def shot(page: Page, name: str, show: Locator | None = None) -> None:
    """A screenshot in artifacts/, scrolled to `show` (the UI scrolls inside its main pane)."""
    if show is not None:
        show.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_lineage_shows_campaign_status_downstream_of_the_spend_assets(ui: str, browser_page: Page) -> None:
    page = browser_page
    visit(page, f"{ui}/assets/campaign_status")
    expect(page.get_by_text("Upstream assets")).to_be_visible()
    expect(page.get_by_role("link", name="daily_spend")).to_be_visible()
    expect(page.get_by_role("link", name="monthly_spend")).to_be_visible()
    visit(page, f"{ui}/asset-groups")
    graph = page.locator("main") if page.locator("main").count() else page.locator("body")
    for group in ("spend", "status"):
        expect(graph.get_by_text(group, exact=True).first).to_be_visible()
    shot(page, "lineage")
    visit(page, f"{ui}/assets/daily_spend?view=checks")
    expect(page.get_by_text("daily_spend_within_budget").first).to_be_visible()
    expect(page.get_by_text("daily_spend_reconciles").first).to_be_visible()


def test_jobs_schedules_and_sensors_running(ui: str, browser_page: Page) -> None:
    page = browser_page
    visit(page, f"{ui}/jobs")
    for job in JOBS:
        expect(page.get_by_text(job, exact=True).first).to_be_visible()
    visit(page, f"{ui}/automation")
    for name in AUTOMATIONS:
        expect(page.get_by_text(name, exact=True)).to_be_visible()
    # Each automation row has a running toggle; the selection boxes stay unchecked.
    expect(page.locator("input[type=checkbox]:checked")).to_have_count(len(AUTOMATIONS))


def test_a_backfill_of_three_days_shows_each_days_own_count(ui: str, browser_page: Page) -> None:
    # The demo holds 24 records a campaign a day; one more on the 20th and two more on the 21st.
    extra = [
        "x1,brand-b-search,1.00,2026-11-20T12:00:00Z",
        "x2,brand-b-search,1.00,2026-11-21T12:00:00Z",
        "x3,brand-b-video,1.00,2026-11-21T12:30:00Z",
    ]
    spend = UI_HOME["home"] / "extra.csv"
    spend.write_text("record_id,campaign_id,amount,occurred_at\n" + "\n".join(extra) + "\n")
    subprocess.run([str(BIN / "budget-pipeline"), "ingest", str(spend)], env=UI_HOME["env"], check=True)
    counts = {key: _records(key) for key in ("2026-11-20", "2026-11-21", "2026-11-22")}
    assert len(set(counts.values())) == 3, counts

    page = browser_page
    visit(page, f"{ui}/assets/daily_spend")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Launch runs to materialize daily_spend")).to_be_visible()
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.click()
    partitions.fill("[2026-11-20...2026-11-22]")
    partitions.press("Enter")
    expect(dialog.get_by_text("3 partitions")).to_be_visible()
    dialog.get_by_role("button", name="Launch backfill").click()

    visit(page, f"{ui}/runs?view=backfills")
    expect(page.get_by_text("3 partitions").first).to_be_visible()
    # The list refreshes itself; the backfill daemon works in ~30 s iterations.
    expect(page.get_by_text(re.compile(r"^(Completed|Success)$")).first).to_be_visible(timeout=180_000)
    for key, count in counts.items():
        visit(page, f"{ui}/assets/daily_spend?view=partitions&partition={key}")
        records = page.get_by_role("row").filter(has=page.get_by_role("cell", name="records", exact=True)).first
        expect(records).to_contain_text(str(count), timeout=30_000)
        shot(page, f"daily_spend_partition_{key}", records)


def _records(day: str) -> int:
    engine = create_engine(UI_HOME["url"])
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM raw_spend_records WHERE local_date = :d"), {"d": day}
        ).scalar_one()
    engine.dispose()
    return int(count)


def test_today_over_budget_and_why_a_campaign_is_paused(ui: str, browser_page: Page) -> None:
    # Brand B (London, 75.00 GBP a day) spends 90.00 now: the landing sensor's run pauses it.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    drop = UI_HOME["home"] / "landing" / "over.csv"
    drop.parent.mkdir(exist_ok=True)
    drop.write_text(f"record_id,campaign_id,amount,occurred_at\nover1,brand-b-search,90.00,{now.isoformat()}\n")
    page = browser_page
    deadline = time.time() + 300
    while True:
        visit(page, f"{ui}/assets/campaign_status?view=checks")
        if page.get_by_text(re.compile(r"Brand B [0-9.,]+ / 75\.00 GBP, \+")).count():
            break
        assert time.time() < deadline, "the landing sensor's run never reported Brand B over budget"
        time.sleep(5)
    expect(page.get_by_text("brands_within_budget_today").first).to_be_visible()
    # Reported with every campaign_status: evaluated, and saying what waits in the outbox.
    shot(page, "brands_within_budget_today")
    page.get_by_text("notifications_delivered").first.click()
    said = re.compile(r"no notification has failed for good; \d+ pending, \d+ delivered")
    expect(page.get_by_text(said).first).to_be_visible()
    shot(page, "notifications_delivered")
    visit(page, f"{ui}/assets/campaign_status")
    row = page.locator("tr", has_text="brand-b-search").first
    expect(row).to_contain_text("daily_budget")
    shot(page, "campaign_status", row)
    # When and why, by which run: recent_changes, also after runs that changed nothing.
    change = page.locator("tr", has_text="brand-b-search").filter(has_text=re.compile(r"active\s*daily_budget"))
    expect(change.first).to_be_visible()
    visit(page, f"{ui}/assets/daily_spend?view=checks")
    page.get_by_text("daily_spend_within_budget").first.click()
    page.get_by_text("Partitions", exact=True).last.click()
    expect(page.get_by_text(re.compile(r"^Failed \([1-9][0-9]*\)$")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Passed \([1-9][0-9]*\)$")).first).to_be_visible()
    shot(page, "daily_spend_within_budget_partitions")
