"""Server CPU per audience join: the Join page beside the Onboard page, on one real `streamlit run`.

    .venv/bin/python benchmarks/join_cpu.py            # 20 joins of each kind
    .venv/bin/python benchmarks/join_cpu.py --joins 5

A join is what a phone does: open the page, get an identity (the Join page's "make me a fake
identity"; the Onboard page's happy-path preset), decide, see the result. The server process's
own CPU time (user + system, from /proc) is read before and after each kind, so the browser —
Debian's Chromium, on the same machine — is not counted. Joins alternate kinds, so a noisy
neighbour hits both alike; the table gives the mean CPU per join and the median wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.servers import free_port, wait_for_http  # noqa: E402

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
TICKS = os.sysconf("SC_CLK_TCK")
TARGET_MS = 150


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def join_page(page: Page, base: str) -> None:
    page.goto(f"{base}/join")
    page.get_by_role("button", name="Make me a fake identity").click()
    expect(page.get_by_label("SSN (invented)", exact=True)).not_to_have_value("")
    page.get_by_role("button", name="Decide").click()
    page.get_by_role("heading", name=re.compile(r"^(Approved|Declined) · score")).wait_for()


def onboard_page(page: Page, base: str) -> None:
    page.goto(f"{base}/onboarding")
    page.get_by_role("button", name="Happy path").click()
    expect(page.get_by_text("Preset Happy path filled in")).to_be_visible()
    page.get_by_role("button", name="Decide", exact=True).click()
    page.get_by_role("heading", name=re.compile(r"^(Approved|Declined) · score")).wait_for()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="risk-join-") as data:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env={**os.environ, "RISK_DATA_DIR": data}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        cpu = {"join": [], "onboard": []}
        wall = {"join": [], "onboard": []}
        try:
            wait_for_http(f"{base}/_stcore/health", server)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                for kind, flow in (("join", join_page), ("onboard", onboard_page)):  # warm both paths
                    context = browser.new_context(viewport=PHONE)
                    flow(context.new_page(), base)
                    context.close()
                for _ in range(args.joins):
                    for kind, flow in (("join", join_page), ("onboard", onboard_page)):
                        context = browser.new_context(viewport=PHONE)
                        page = context.new_page()
                        page.set_default_timeout(60_000)
                        before, started = cpu_seconds(server.pid), time.perf_counter()
                        flow(page, base)
                        time.sleep(0.3)  # the last rerun's tail (sending, session bookkeeping)
                        cpu[kind].append(cpu_seconds(server.pid) - before)
                        wall[kind].append(time.perf_counter() - started - 0.3)
                        context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    join_ms, onboard_ms = (1000 * statistics.mean(cpu[k]) for k in ("join", "onboard"))
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.joins} joins of each kind, alternating\n")
    print("| path | server CPU per join (mean) | wall time (median) | target | met |")
    print("|---|---|---|---|---|")
    print(f"| Join page: load, fake identity, decide | {join_ms:.0f} ms | {statistics.median(wall['join']):.2f} s "
          f"| ≤ {TARGET_MS} ms | {'yes' if join_ms <= TARGET_MS else '**no**'} |")
    print(f"| Onboard page: load, happy-path preset, decide | {onboard_ms:.0f} ms | "
          f"{statistics.median(wall['onboard']):.2f} s | | |")
    print(f"| ratio | {onboard_ms / join_ms:.1f}× less CPU on the Join page | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
