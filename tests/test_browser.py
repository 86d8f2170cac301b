"""The driver journey and the talk in a real browser (Debian's Chromium) against a real
`streamlit run`, at projector and phone sizes.

Skipped with a reason where Chromium is missing, unless REQUIRE_BROWSER=1 (CI), where a missing
browser fails. The server runs with a presenter key, as when it is exposed to a room, so every
presenter action here first unlocks it. Screenshots of every page at 1280×720, 1024×768 and
390×844 land in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from riskcore import settings
from riskcore.data.ledger import Ledger
from riskcore.data.store import RiskStore
from riskcore.learning.registry import CHAMPION, Registry
from riskcore.stage import audience, presenter
from riskcore.stage.talk import TEACHING_POINTS
from tests.conftest import heal
from tests.servers import free_port, wait_for_http

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser

ARTIFACTS = settings.REPO_ROOT / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
KEY = "k7dp-x3mr-9wfa"
# Page links read "<icon ligature><label>": match the label at the end.
NAV = [re.compile(rf"{re.escape(label)}$") for label in
       ("Home", "Onboard a driver", "Driver home", "Online features", "Batch jobs", "Monitoring", "Model",
        "Train a model",
        "Talk track", "Join (audience)")]
PAGES = {"": "Driver Risk Studio", "onboarding": "Onboard a driver", "driver_home": "Driver home",
         "online_features": "Online features", "batch_jobs": "Batch jobs & materialization",
         "monitoring": "Monitoring", "model": "Model", "training": "Train a model", "talk_track": "Talk track",
         "join": "Join the demo"}
PROJECTOR = {"width": 1280, "height": 720}
SIZES = {"1280x720": PROJECTOR, "1024x768": {"width": 1024, "height": 768}, "390x844": {"width": 390, "height": 844}}

if not Path(CHROMIUM).exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402
from playwright.async_api import expect as async_expect  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402
from playwright.sync_api import Error as PlaywrightError  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-data")


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh `streamlit run` on an empty data dir (the first page load bootstraps), with a
    presenter key."""
    port = free_port()
    env = {**os.environ, settings.DATA_DIR_ENV: str(data_dir), presenter.PRESENTER_KEY_ENV: KEY}
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
def browser() -> Iterator[Browser]:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def new_page(browser: Browser, size: dict[str, int] = PROJECTOR) -> Page:
    tab = browser.new_context(viewport=size).new_page()
    tab.set_default_timeout(90_000)
    return tab


@pytest.fixture(scope="module")
def page(browser: Browser, server: str) -> Page:
    """The presenter's tab: a projector's size, unlocked with the key."""
    tab = new_page(browser)
    tab.goto(server)
    settle(tab)
    unlock(tab)
    return tab


def settle(page: Page) -> None:
    """Wait until the page has a title, the script run is over (no running indicator) and no
    element is still a loading skeleton."""
    page.wait_for_selector("h1")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=90_000)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=90_000)


def unlock(page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_text("Presenter", exact=True).click()
    page.get_by_label("Presenter key", exact=True).fill(KEY)
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("button", name="Lock")).to_be_visible()


def go(page: Page, label: str) -> None:
    """Navigate like a presenter, through the sidebar: a reload would start a new session, and
    the presenter's unlock lasts for the session."""
    page.get_by_test_id("stSidebar").get_by_role("link", name=re.compile(rf"{re.escape(label)}$")).click()
    settle(page)


def assert_clean(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in page.content()


def in_viewport(page: Page, locator) -> None:  # noqa: ANN001 - a Playwright locator
    """The element is on screen without scrolling: its box lies inside the viewport. A rerun can
    replace the element (or show it twice, stale beside new) between two reads, so the box is read
    again until it settles."""
    expect(locator).to_be_visible()
    size = page.viewport_size
    for _ in range(40):
        try:
            box = locator.bounding_box()
        except PlaywrightError:  # mid-rerun, the stale copy of an element beside its new one
            box = None
        inside = box is not None and 0 <= box["y"] and box["y"] + box["height"] <= size["height"]
        if inside and 0 <= box["x"] and box["x"] + box["width"] <= size["width"]:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"not inside the {size} viewport: {box}")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_deep_link_first_on_a_fresh_server_shows_the_same_navigation(browser: Browser, server: str):
    tab = new_page(browser)
    tab.goto(f"{server}/onboarding")
    settle(tab)
    expect(tab.locator("h1").first).to_have_text("Onboard a driver")
    nav = tab.get_by_test_id("stSidebar").get_by_test_id("stPageLink")
    expect(nav).to_have_text(NAV)
    expect(tab.get_by_test_id("stSidebarNav")).to_have_count(0)  # no auto-generated menu
    tab.goto(server)
    settle(tab)
    expect(tab.get_by_test_id("stSidebar").get_by_test_id("stPageLink")).to_have_text(NAV)
    tab.context.close()


def test_an_audience_session_cannot_reset_or_run_jobs(browser: Browser, server: str, page: Page):
    phone = new_page(browser, SIZES["390x844"])
    for path, hidden in (("", "Reset demo"), ("batch_jobs", "Run batch job"), ("talk_track", TEACHING_POINTS[0].action)):
        phone.goto(f"{server}/{path}")
        settle(phone)
        expect(phone.get_by_role("button", name=hidden)).to_have_count(0)
        assert_clean(phone)
    phone.context.close()
    go(page, "Home")  # the presenter, unlocked, does see it
    expect(page.get_by_role("button", name="Reset demo")).to_be_visible()


def serve_hand_set(paths: settings.Paths) -> None:
    """Roll the registry back to no champion: the hand-set v1 serves the tests that follow."""
    registry = Registry(paths)
    while registry.exists() and CHAMPION in registry.aliases():
        registry.rollback()


@pytest.mark.parametrize("number", range(1, len(TEACHING_POINTS) + 1))
def test_each_talk_track_point_lands_with_its_result_on_screen(
    request: pytest.FixtureRequest, page: Page, server: str, data_dir: Path, number: int,
):
    point = TEACHING_POINTS[number - 1]
    # Undone even when an assertion fails, so one failure does not cascade into the tests after.
    if point.then is not None and point.then.scenario == "bug_caught":
        request.addfinalizer(lambda: heal(RiskStore(settings.Paths(data_dir))))
    if point.scenario == "leak":
        request.addfinalizer(lambda: serve_hand_set(settings.Paths(data_dir)))
    drivers = len(Ledger(settings.Paths(data_dir).ledger_db).signups())
    go(page, "Talk track")
    page.get_by_role("button", name=point.action).click()
    settle(page)
    in_viewport(page, page.get_by_text(f"{number}/{len(TEACHING_POINTS)} · {point.title}"))
    if point.scenario == "happy_path":
        in_viewport(page, page.get_by_role("heading", name=re.compile(r"^Approved · score 0\.15")))
        in_viewport(page, page.get_by_text(re.compile(r"retrieval \d+\.\d+ ms")))
    elif point.scenario == "original_vs_served":
        in_viewport(page, page.get_by_role("heading", name=re.compile(r"^What-if · Approved · score 0\.03")))
        in_viewport(page, page.get_by_role("heading", name=re.compile(r"^What-if · Declined · score 0\.95 — under 18")))
        in_viewport(page, page.get_by_text("onboarding v0", exact=False).first)
        assert len(Ledger(settings.Paths(data_dir).ledger_db).signups()) == drivers  # nobody registered
    elif point.scenario == "bad_day":
        in_viewport(page, page.get_by_text(re.compile(r"^Before the bad day: Approved")))
        heading = page.get_by_role("heading", name=re.compile(r"^Declined · score 0\.70"))
        expect(heading).to_be_visible(timeout=120_000)  # the live fragment picks up the jobs
        in_viewport(page, heading)
    elif point.scenario == "launch_state":
        in_viewport(page, page.get_by_text("Approved if launched"))
        in_viewport(page, page.get_by_role("button", name=re.compile(r"^Launch [A-Z]{2}$")))
    elif point.scenario == "registry":
        in_viewport(page, page.get_by_role("tab", name="Feature views"))
    elif point.scenario == "leak":  # trains first (no model yet), then the comparison is at the top
        naive = page.get_by_text("Naive join, future AUC")
        expect(naive).to_be_visible(timeout=120_000)
        in_viewport(page, naive)
    assert_clean(page)
    shot(page, f"talk-point-{number}-1280x720")
    if point.then is None:
        return
    page.get_by_role("button", name=point.then.action).click()  # the point's second step
    settle(page)
    in_viewport(page, page.get_by_text(f"{number}/{len(TEACHING_POINTS)} · {point.title}"))
    if point.then.scenario == "bug_caught":
        blocked = page.get_by_text(re.compile(r"was blocked by its checks"))
        expect(blocked).to_be_visible(timeout=120_000)
        in_viewport(page, blocked)
    elif point.then.scenario == "feature_tests":
        expect(page.get_by_text(re.compile(r"\d+ passed in \d")).first).to_be_visible(timeout=120_000)
    assert_clean(page)
    shot(page, f"talk-point-{number}-then-1280x720")


def test_a_new_drivers_home_shows_approved_then_the_bad_day_declines(page: Page, server: str):
    go(page, "Onboard a driver")
    page.get_by_role("button", name="Happy path").click()
    expect(page.get_by_text("Preset Happy path filled in")).to_be_visible()
    page.get_by_role("button", name="Decide").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Approved · score 0\.15"))).to_be_visible()
    settle(page)
    # Same SSN, a new licence: declined, and the reason is on screen.
    page.get_by_label("Licence", exact=True).fill("D9999999")
    page.get_by_role("button", name="Decide", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Declined · score 0\.65 — previously seen SSN"))).to_be_visible()
    settle(page)
    page.get_by_role("button", name="Happy path").click()
    settle(page)
    expect(page.get_by_role("heading", name=re.compile(r"^Declined"))).to_have_count(0)  # the preset cleared it
    page.get_by_role("button", name="Decide", exact=True).click()
    settle(page)
    link = page.get_by_role("link", name=re.compile(r"Open driver \d+'s home"))
    driver = re.search(r"\d+", link.inner_text()).group(0)
    link.click()
    settle(page)
    expect(page.get_by_text(f"Driver {driver} · refreshed")).to_be_visible()
    # A brand-new driver has a first day: approved at once, no batch job needed.
    expect(page.get_by_role("heading", name=re.compile(r"^Approved · score"))).to_be_visible()
    page.get_by_role("button", name="Give this driver a bad day").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Declined · score 0\.70"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text("fewer than 10 trips yesterday (+0.30)")).to_be_visible()
    assert_clean(page)
    shot(page, "driver-home-after-bad-day-1280x720")


def test_ten_phones_join_at_once_and_land_in_the_presenters_feed(page: Page, server: str, data_dir: Path):
    # `page`: the presenter's tab is open first (on a fresh server its load builds the world).
    ledger = Ledger(settings.Paths(data_dir).ledger_db)
    before = audience.turnout(ledger).joined

    async def join(browser, number: int) -> None:  # noqa: ANN001 - a Playwright browser
        context = await browser.new_context(viewport=SIZES["390x844"], is_mobile=True, has_touch=True)
        phone = await context.new_page()
        phone.set_default_timeout(30_000)  # the whole room must be in within 30 s
        await phone.goto(f"{server}/join")
        await phone.get_by_role("button", name="Make me a fake identity").click()
        await async_expect(phone.get_by_label("SSN (invented)", exact=True)).not_to_have_value("")
        await phone.get_by_role("button", name="Decide").click()
        await phone.get_by_role("heading", name=re.compile(r"^(Approved|Declined) · score")).wait_for()
        assert "Traceback" not in await phone.content()
        if number == 0:
            await phone.screenshot(path=str(ARTIFACTS / "join-decided-390x844.png"))
        await context.close()

    async def room() -> None:
        async with async_playwright() as p:
            chromium = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            await asyncio.wait_for(asyncio.gather(*(join(chromium, n) for n in range(10))), timeout=30)
            await chromium.close()

    with ThreadPoolExecutor(1) as own_loop:  # this thread's loop belongs to the sync Playwright
        own_loop.submit(asyncio.run, room()).result()
    assert audience.turnout(ledger).joined == before + 10


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize(("path", "title"), list(PAGES.items()))
def test_every_page_renders_cleanly_at_every_size(browser: Browser, server: str, path: str, title: str, size: str):
    tab = new_page(browser, SIZES[size])
    tab.goto(f"{server}/{path}")
    settle(tab)
    expect(tab.locator("h1").first).to_have_text(title)
    assert_clean(tab)
    shot(tab, f"{path or 'home'}-{size}")
    tab.context.close()


def test_online_vs_offline_comparison(page: Page, server: str):
    go(page, "Online features")
    page.get_by_text("Compare with the offline store").click()
    expect(page.locator("th", has_text="offline (as of now)")).to_have_count(1, timeout=90_000)
    settle(page)
    assert_clean(page)
    shot(page, "online_features-compare-1280x720")


def test_train_a_model_build_train_compare_and_roll_back(page: Page, server: str):
    """Runs last: it registers a champion in this server's world, and rolls it back at the end."""
    go(page, "Train a model")
    expect(page.get_by_text("hand-set: the registry has no champion")).to_be_visible()
    page.get_by_role("button", name="Build the training set").click()
    expect(page.get_by_text("How each join sees the same rows")).to_be_visible(timeout=90_000)
    page.get_by_role("button", name="Train and register").click()
    expect(page.get_by_text(re.compile(r"^Trained in [\d.]+ s"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Naive join, future AUC")).to_be_visible()  # the page reran by itself
    settle(page)
    expect(page.get_by_text("registered in MLflow")).to_be_visible()
    assert_clean(page)
    shot(page, "training-trained-1280x720")
    page.get_by_role("button", name="Roll back the champion").click()
    settle(page)
    expect(page.get_by_text("hand-set: the registry has no champion")).to_be_visible()


def monitoring_shots(page: Page, name: str) -> None:
    """The Monitoring page at a laptop projector's and a phone's size (first screen), then whole."""
    for width, height in ((1280, 720), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / f"monitoring-{name}-{width}x{height}.png"))
    page.set_viewport_size(PROJECTOR)


def test_monitoring_catches_an_injected_bug_live_and_goes_green_again(page: Page, server: str):
    go(page, "Monitoring")
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
