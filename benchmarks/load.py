"""Load on the HTTP API with a real load tool (Locust, headless, on loopback): ours beside the
code before the closed-loop rework (a git worktree of ``--baseline``), measured the same way in
one run.

    .venv/bin/pip install -e ".[bench]"            # Locust: not needed by the app or the tests
    .venv/bin/python benchmarks/load.py            # ~6 minutes on 2 cores
    .venv/bin/python benchmarks/load.py --quick    # shorter runs

Scenarios: (a) a crowd of 50 users, ~1 s think time, 1 signup for 3 daily decisions; (b)
saturation, signups only (ours also with one worker process); (c) saturation, daily decisions
only. Both servers get the same warm-up requests first. Plus the writer lock held per
signup, from a burst of in-process signups (8 threads) with the lock timed in both versions.
Prints a markdown table with the machine and versions. Locust runs on the same 2 cores as the
server: read medians and ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.servers import free_port, wait_for_http  # noqa: E402

BASELINE = "3382e14"  # main before the ledger became the source of truth (issue 9)
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"

# Run inside each version's own process: time every hold of the store's writer lock during a
# burst of concurrent signups through that version's decision service.
LOCK_PROBE = r"""
import json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
try:
    from riskcore.data.store import RiskStore
    from riskcore.serving.decisions import Decisions
except ImportError:  # the baseline's flat layout
    from riskcore.store import RiskStore
    from riskcore.decisions import Decisions
from riskcore.validation import OnboardingApplication
from riskcore import settings

held, guard = [0.0], threading.Lock()
original = RiskStore.writing
@contextmanager
def timed_writing(self):
    with original(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            with guard:
                held[0] += time.perf_counter() - start
RiskStore.writing = timed_writing
store = RiskStore(settings.Paths(Path(sys.argv[1])))
service = Decisions(store)
service.onboard(OnboardingApplication.parse(date_of_birth="1985-05-05", ssn="599-10-1000", licence="WARM1",
                                            state="CA"))  # Feast built and warm before timing
held[0] = 0.0
def session(s):
    for n in range(50):
        app = OnboardingApplication.parse(date_of_birth="1985-05-05", ssn=f"{600 + s:03d}-{10 + n:02d}-{1000 + n:04d}",
                                          licence=f"LOCK{s}X{n}", state="CA")
        assert service.onboard(app).decision == "Approved"
start = time.perf_counter()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(session, range(8)))
elapsed = time.perf_counter() - start
if hasattr(service, "signups"):
    service.signups.flush()
print(json.dumps({"lock_ms_per_signup": 1000 * held[0] / 400, "signups_per_s": 400 / elapsed}))
"""


@dataclass(frozen=True)
class Version:
    label: str
    source: Path

    def run(self, *args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=self.source, env=self.env(env), capture_output=True,
                              text=True, check=False, **kwargs)

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        """This version's package first on the path (the venv's editable install points at ours)."""
        return {**os.environ, "PYTHONPATH": str(self.source), **extra}


def locust(host: str, users: int, seconds: int, signup: int, daily: int, think: float, drivers: int,
           out: Path) -> dict[str, dict[str, float]]:
    """One headless Locust run; per request name (and "Aggregated"): req/s, p50, p99, failures.
    Users arrive 10 a second (a crowd walking in, not one synchronised volley)."""
    env = {**os.environ, "RISK_LOAD_SIGNUP_WEIGHT": str(signup), "RISK_LOAD_DAILY_WEIGHT": str(daily),
           "RISK_LOAD_THINK": str(think), "RISK_LOAD_DRIVERS": str(drivers)}
    prefix = out / f"locust-{users}-{signup}-{daily}-{think}"
    subprocess.run([str(Path(sys.executable).with_name("locust")), "-f", str(LOCUSTFILE), "--headless",
                    "-u", str(users), "-r", "10", "-t", f"{seconds}s", "--host", host,
                    "--csv", str(prefix), "--only-summary"], env=env, capture_output=True, check=True)
    with open(f"{prefix}_stats.csv") as source:
        return {row["Name"]: {"rps": float(row["Requests/s"]), "p50": float(row["50%"]), "p99": float(row["99%"]),
                              "requests": int(row["Request Count"]), "failures": int(row["Failure Count"])}
                for row in csv.DictReader(source)}


def warm_up(host: str) -> None:
    """A few requests of each kind first: the first of each pays one-off costs in both versions."""
    for n in range(20):
        httpx.get(f"{host}/daily/{1001 + n}/decision", timeout=60)
        httpx.post(f"{host}/onboarding/decision", timeout=60, json={
            "date_of_birth": "1985-05-05", "ssn": f"598-{10 + n:02d}-1000", "licence": f"WARM{n}", "state": "CA"})


def serve(version: Version, data: Path, api_args: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "riskcore", "api", "--port", str(port), *api_args],
                              cwd=version.source, env=version.env({"RISK_DATA_DIR": str(data)}),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"http://127.0.0.1:{port}"
    wait_for_http(f"{host}/health", server)
    warm_up(host)
    return server, host


def measure(version: Version, work: Path, drivers: int, seconds: int, api_args: list[str]) -> dict[str, object]:
    data = work / f"data-{version.label}"
    booted = version.run("-m", "riskcore", "bootstrap", "--drivers", str(drivers),
                         env={"RISK_DATA_DIR": str(data)}, timeout=600)
    assert booted.returncode == 0, booted.stderr[-2000:]
    results: dict[str, object] = {}
    server, host = serve(version, data, api_args)
    try:
        results["crowd"] = locust(host, 50, seconds, 1, 3, 1.0, drivers, work)
        results["signups"] = locust(host, 32, seconds, 1, 0, 0.0, drivers, work)
        results["daily"] = locust(host, 32, seconds, 0, 1, 0.0, drivers, work)
    finally:
        server.terminate()
        server.wait(timeout=60)
    if api_args:  # ours also with one worker, for the saturation of signups
        server, host = serve(version, data, [])
        try:
            results["signups_1_worker"] = locust(host, 32, seconds, 1, 0, 0.0, drivers, work)
        finally:
            server.terminate()
            server.wait(timeout=60)
    probe = version.run("-c", LOCK_PROBE, str(data), env={"RISK_DATA_DIR": str(data)}, timeout=600)
    assert probe.returncode == 0, probe.stderr[-2000:]
    results["lock"] = json.loads(probe.stdout.strip().splitlines()[-1])
    return results


def environment() -> str:
    from importlib.metadata import version  # importing locust here would monkey-patch this process

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}, Feast {version('feast')}, Locust {version('locust')}")


def table(ours: dict, base: dict) -> str:
    def ratio(a: float, b: float, higher_is_better: bool) -> str:
        if not a or not b:
            return ""
        return f"{a / b:.1f}×" if higher_is_better else f"{b / a:.1f}× faster" if a <= b else f"{a / b:.1f}× slower"

    lines = ["| measurement | ours | before | ratio | target | met |", "|---|---|---|---|---|---|"]
    crowd_o, crowd_b = ours["crowd"]["Aggregated"], base["crowd"]["Aggregated"]
    lines.append(f"| (a) 50 users, ~1 s think, 1 signup : 3 daily — p99 (p50), errors | {crowd_o['p99']:.0f} ms "
                 f"({crowd_o['p50']:.0f} ms), {crowd_o['failures']} of {crowd_o['requests']} | {crowd_b['p99']:.0f} ms "
                 f"({crowd_b['p50']:.0f} ms), {crowd_b['failures']} of {crowd_b['requests']} | "
                 f"{ratio(crowd_o['p99'], crowd_b['p99'], False)} | p99 < 50 ms, 0 errors | "
                 f"{'yes' if crowd_o['p99'] < 50 and crowd_o['failures'] == 0 else '**no**'} |")
    for kind in ("signup", "daily decision"):
        o, b = ours["crowd"][kind], base["crowd"][kind]
        lines.append(f"| … of which {kind}: p99 (p50) | {o['p99']:.0f} ms ({o['p50']:.0f} ms) | {b['p99']:.0f} ms "
                     f"({b['p50']:.0f} ms) | {ratio(o['p99'], b['p99'], False)} | | |")
    so, sb = ours["signups"]["signup"], base["signups"]["signup"]
    lines.append(f"| (b) saturation, signups/s (32 users, no think; p50) | {so['rps']:.0f}/s ({so['p50']:.0f} ms), "
                 f"{so['failures']} errors | {sb['rps']:.0f}/s ({sb['p50']:.0f} ms), {sb['failures']} errors | "
                 f"{ratio(so['rps'], sb['rps'], True)} | ≥ 250/s (10× the issue's 25/s) | "
                 f"{'yes' if so['rps'] >= 250 else '**no**'} |")
    one = ours["signups_1_worker"]["signup"]
    lines.append(f"| … ours with one worker process | {one['rps']:.0f}/s ({one['p50']:.0f} ms) | | "
                 f"{ratio(one['rps'], sb['rps'], True)} | | |")
    do, db = ours["daily"]["daily decision"], base["daily"]["daily decision"]
    lines.append(f"| (c) saturation, daily decisions/s (32 users; p50) | {do['rps']:.0f}/s ({do['p50']:.0f} ms) | "
                 f"{db['rps']:.0f}/s ({db['p50']:.0f} ms) | {ratio(do['rps'], db['rps'], True)} | | |")
    lo, lb = ours["lock"], base["lock"]
    lines.append(f"| writer lock held per signup (8 threads × 50 in-process signups) | "
                 f"{lo['lock_ms_per_signup']:.3f} ms | {lb['lock_ms_per_signup']:.1f} ms | "
                 f"{ratio(lo['lock_ms_per_signup'], lb['lock_ms_per_signup'], False)} | well under 1 ms | "
                 f"{'yes' if lo['lock_ms_per_signup'] < 0.5 else '**no**'} |")
    lines.append(f"| … in-process signups/s in that burst | {lo['signups_per_s']:.0f}/s | {lb['signups_per_s']:.0f}/s | "
                 f"{ratio(lo['signups_per_s'], lb['signups_per_s'], True)} | | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15-second Locust runs instead of 40")
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    parser.add_argument("--drivers", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="our API's worker processes (the baseline has one)")
    args = parser.parse_args()
    seconds = 15 if args.quick else 40
    with tempfile.TemporaryDirectory(prefix="risk-load-") as temp:
        work = Path(temp)
        baseline_tree = work / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline_tree), args.baseline],
                       capture_output=True, check=True)
        try:
            base = measure(Version("before", baseline_tree), work, args.drivers, seconds, [])
            ours = measure(Version("ours", ROOT), work, args.drivers, seconds, ["--workers", str(args.workers)])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline_tree)],
                           capture_output=True, check=False)
            shutil.rmtree(baseline_tree, ignore_errors=True)
    print(f"{environment()}; {args.drivers:,} drivers; baseline {args.baseline} (one process), ours with "
          f"--workers {args.workers}; {seconds} s per Locust run\n")
    print(table(ours, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
