"""The Dagster UI in a real browser (Debian's Chromium driven by Playwright): what a person
sees of budget_pipeline, and a backfill of three daily_spend partitions launched from the UI."""

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
from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "artifacts"
AUTOMATIONS = [
    "daily_reset_schedule",
    "dayparting_schedule",
    "enforce_on_spend_sensor",
    "monthly_reset_schedule",
    "spend_landing_sensor",
    "spend_refresh_schedule",
]
JOBS = ["ingest_spend_job", "enforce_budgets_job", "daily_reset_job", "monthly_reset_job", "dayparting_job"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dagster dev` (webserver and daemon) on a fresh SQLite instance loaded with the demo."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDGET_")}
    env["DAGSTER_HOME"] = str(home)
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
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def visit(page: Page, url: str) -> None:
    page.goto(url)
    skip = page.get_by_role("button", name="Skip")  # the community dialog of a first visit
    with suppress(PlaywrightError):
        skip.click(timeout=3000)


def test_asset_lineage_and_checks(ui: str, browser_page: Page) -> None:
    page = browser_page
    visit(page, f"{ui}/asset-groups")
    graph = page.locator("main") if page.locator("main").count() else page.locator("body")
    for name in ("raw_spend_records", "daily_spend", "monthly_spend"):
        expect(graph.get_by_text(name, exact=True).first).to_be_visible()
    visit(page, f"{ui}/assets/daily_spend")
    expect(page.get_by_text("Upstream assets")).to_be_visible()
    expect(page.get_by_role("link", name="raw_spend_records")).to_be_visible()
    expect(page.get_by_role("link", name="monthly_spend")).to_be_visible()
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


def test_backfill_three_daily_partitions_from_the_ui(ui: str, browser_page: Page) -> None:
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
    visit(page, f"{ui}/assets/daily_spend?view=partitions")
    materialized = page.get_by_text(re.compile(r"^Materialized \(\d+\)$")).first
    expect(materialized).to_be_visible()
    # The three backfilled days, plus any that enforce_on_spend_sensor's run refreshed since.
    assert int(re.findall(r"\d+", materialized.inner_text())[0]) >= 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "daily_spend_partitions.png"), full_page=True)
