"""The driver journey in a real browser (Debian's Chromium) against a real `streamlit run`.

Skipped with a reason where Chromium is missing, unless REQUIRE_BROWSER=1 (CI), where a missing
browser fails. Screenshots of every page land in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskcore import settings
from tests.servers import free_port, wait_for_http

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = settings.REPO_ROOT / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
# Page links read "<icon ligature><label>": match the label at the end.
NAV = [re.compile(rf"{label}$") for label in
       ("Home", "Onboard a driver", "Driver home", "Online features", "Batch jobs", "Monitoring", "Model",
        "Talk track")]
PAGES = {"": "Driver Risk Studio", "onboarding": "Onboard a driver", "driver_home": "Driver home",
         "online_features": "Online features", "batch_jobs": "Batch jobs & materialization",
         "monitoring": "Monitoring", "model": "Model", "talk_track": "Talk track"}

if not Path(CHROMIUM).exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh `streamlit run` on an empty data dir: the first page load bootstraps."""
    data = tmp_path_factory.mktemp("browser-data")
    port = free_port()
    env = {**os.environ, settings.DATA_DIR_ENV: str(data)}
    log = (tmp_path_factory.mktemp("logs") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(settings.REPO_ROOT / "streamlit_app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=settings.REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_http(f"{base}/_stcore/health", proc).status_code == 200
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1600, "height": 2400})
        tab.set_default_timeout(90_000)
        yield tab
        browser.close()


def settle(page: Page) -> None:
    """Wait until the page has a title, the script run is over (no running indicator) and no
    element is still a loading skeleton."""
    page.wait_for_selector("h1")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=90_000)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=90_000)


def assert_clean(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in page.content()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_deep_link_first_on_a_fresh_server_shows_the_same_navigation(page: Page, server: str):
    page.goto(f"{server}/onboarding")
    settle(page)
    expect(page.locator("h1").first).to_have_text("Onboard a driver")
    nav = page.get_by_test_id("stSidebar").get_by_test_id("stPageLink")
    expect(nav).to_have_text(NAV)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no auto-generated menu
    page.goto(server)
    settle(page)
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stPageLink")).to_have_text(NAV)


def onboard_happy_path(page: Page, server: str) -> str:
    """A fresh session submits the happy-path preset; returns the new driver's id."""
    page.goto(f"{server}/onboarding")
    settle(page)
    page.get_by_role("button", name="Happy path").click()
    expect(page.get_by_text("Preset Happy path filled in")).to_be_visible()
    page.get_by_role("button", name="Decide").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Approved · score 0\.15"))).to_be_visible()
    settle(page)
    link = page.get_by_role("link", name=re.compile(r"Open driver \d+'s home"))
    return re.search(r"\d+", link.inner_text()).group(0)


def test_onboard_repeat_and_driver_home_journey(page: Page, server: str):
    driver = onboard_happy_path(page, server)
    expect(page.get_by_text("np.array([")).to_be_visible()
    assert_clean(page)
    shot(page, "onboarding-approved")

    # Same SSN, a new licence: declined, and the reason is on screen.
    page.get_by_label("Driver's licence").fill("D9999999")
    page.get_by_role("button", name="Decide").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Declined · score 0\.65 — previously seen SSN"))).to_be_visible()
    settle(page)
    shot(page, "onboarding-repeat-ssn")

    new_driver = onboard_happy_path(page, server)
    assert new_driver != driver
    page.get_by_role("link", name=re.compile(r"Open driver \d+'s home")).click()
    settle(page)
    expect(page.get_by_text(f"Driver {new_driver} · daily model")).to_be_visible()
    # A brand-new driver has no activity: review, not a score of zeros.
    expect(page.get_by_role("heading", name=re.compile(r"^Review"))).to_be_visible()
    page.get_by_role("button", name=re.compile("Give this driver a bad day")).click()
    # The live fragment picks up the batch job + materialization on its own.
    expect(page.get_by_role("heading", name=re.compile(r"^Declined · score 0\.70"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text("fewer than 10 trips yesterday (+0.30)")).to_be_visible()
    assert_clean(page)
    shot(page, "driver-home-after-batch")


@pytest.mark.parametrize(("path", "title"), list(PAGES.items()))
def test_every_page_renders_cleanly(page: Page, server: str, path: str, title: str):
    page.goto(f"{server}/{path}")
    settle(page)
    expect(page.locator("h1").first).to_have_text(title)
    assert_clean(page)
    shot(page, path or "home")


def test_online_vs_offline_comparison(page: Page, server: str):
    page.goto(f"{server}/online_features")
    settle(page)
    page.get_by_text("Compare with the offline store").click()
    expect(page.locator("th", has_text="offline (as of now)")).to_have_count(1, timeout=90_000)
    settle(page)
    assert_clean(page)
    shot(page, "online_features-compare")


def monitoring_shots(page: Page, name: str) -> None:
    """The Monitoring page at a laptop projector's and a phone's size (first screen), then whole."""
    for width, height in ((1280, 720), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / f"monitoring-{name}-{width}x{height}.png"))
    page.set_viewport_size({"width": 1600, "height": 2400})
    page.wait_for_timeout(800)
    shot(page, f"monitoring-{name}")


def test_monitoring_catches_an_injected_bug_live_and_goes_green_again(page: Page, server: str):
    page.goto(f"{server}/monitoring")
    settle(page)
    expect(page.get_by_text(re.compile(r"passed all 18 checks and was served"))).to_be_visible()
    assert_clean(page)
    monitoring_shots(page, "healthy")

    page.get_by_role("button", name="Inject this bug").click()  # the first bug: a rate written as a percentage
    expect(page.get_by_text("Bug injected: A rate written as a percentage")).to_be_visible()
    page.get_by_role("button", name="Run a cadence tick").click()
    expect(page.get_by_text(re.compile(r"was blocked by its checks"))).to_be_visible(timeout=120_000)
    settle(page)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("blocked")
    expect(page.get_by_text(re.compile(r"values differ: the offline store holds a batch output the checks blocked")))\
        .to_be_visible()
    assert_clean(page)
    monitoring_shots(page, "bug")

    page.get_by_role("button", name="Turn the bug off").click()
    settle(page)
    page.get_by_role("button", name="Run a cadence tick").click()
    expect(page.get_by_text(re.compile(r"passed all 18 checks and was served"))).to_be_visible(timeout=120_000)
    settle(page)
    assert_clean(page)
