"""Feature quality's cost per batch run, beside the same batch run without it, in one run.

    .venv/bin/python benchmarks/quality.py           # 1,000 and 100,000 drivers (~10 min on 2 cores)
    .venv/bin/python benchmarks/quality.py --quick   # 1,000 drivers only

The baseline is a batch run without checks: a new simulated day, then the batch job and the
incremental materialization (timed), then the monitoring pass that follows it (timed: Feast's
daily metrics, a Feast profile of the new hourly and batch outputs with PSI, skew on 20
drivers). What the checks add is measured on the batch job alone, with and without them, on the
same input, interleaved (materialization, ~95 % of a run at 100k, is the same work either way and
its run-to-run noise is larger than the checks). Medians; the table says what each adds to the run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import report, store_at  # noqa: E402
from riskcore.clock import utc_now  # noqa: E402
from riskcore.data import jobs, world  # noqa: E402
from riskcore.data.store import YESTERDAYS_SCHEMA, RiskStore, read_parts  # noqa: E402
from riskcore.quality import checks, monitoring  # noqa: E402
from riskcore.serving import features as F  # noqa: E402

CHECKS_TARGET = 0.10  # the checks may add at most 10 % to a batch run at 100k drivers


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def new_day(store: RiskStore, seed: int) -> None:
    ids = store.roster()["driver_id"].to_numpy(np.int64)
    jobs.simulate_day(store, utc_now(), ids, jobs.pick_risky(ids, seed), seed)


def measure(store: RiskStore, rounds: int, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"run": [], "monitor": [], "plain job": [], "checked job": []}
    for n in range(rounds):
        new_day(store, 1000 + n)
        times["run"].append(seconds(lambda: (jobs.batch_job(store, gated=False), jobs.materialize(store))))
        times["monitor"].append(seconds(lambda: jobs.monitor(store)))
        print(f"    round {n + 1}: batch job + materialize {times['run'][-1]:.2f} s, "
              f"monitoring {times['monitor'][-1]:.2f} s", flush=True)
    for n in range(repeats):  # the order alternates, so neither side always runs warm
        order = (True, False) if n % 2 else (False, True)
        for gated in order:
            times["checked job" if gated else "plain job"].append(
                seconds(lambda: jobs.batch_job(store, gated=gated)))
    return times


def checks_alone(store: RiskStore, repeat: int = 20) -> float:
    """The checks on the newest batch output, nothing else (median seconds)."""
    stats = read_parts(store.paths.yesterdays_dir, YESTERDAYS_SCHEMA.names)
    stats = stats.sort_values("event_timestamp").drop_duplicates("driver_id", keep="last")
    rates = monitoring.baseline_rates(store.paths, F.YESTERDAYS_VIEW)
    as_of = stats["event_timestamp"].max().to_pydatetime()
    return statistics.median(seconds(lambda: checks.evaluate(stats, as_of=as_of, active_drivers=len(stats),
                                                              baseline_rates=rates)) for _ in range(repeat))


def day_generation(store: RiskStore, repeat: int) -> tuple[float, float]:
    """A simulated day's activity, not written: the world continued (each driver's usual day of
    the last week, read from the offline store, then drawn around) beside the generator alone
    (Feast's, or its vectorised twin above 2,000 drivers), interleaved. Median seconds."""
    ids = store.roster()["driver_id"].to_numpy(np.int64)
    now = utc_now()
    continued, generated = [], []
    for n in range(repeat):
        continued.append(seconds(lambda: jobs.continued_activity(store, ids, now, n)))
        generated.append(seconds(lambda: jobs.hourly_activity(ids, now - timedelta(hours=23), now + timedelta(hours=1), n)))
    return statistics.median(continued), statistics.median(generated)


def ratio(ours: float, baseline: float) -> str:
    return f"{baseline / ours:.1f}× faster" if ours < baseline else f"{ours / baseline:.1f}× slower"


def rows_for(drivers: int, times: dict[str, list[float]], alone: float, day: tuple[float, float]) -> list[str]:
    run, watch, plain, checked = (statistics.median(times[k]) for k in ("run", "monitor", "plain job", "checked job"))
    added = (checked - plain) / run
    target = f"≤ {CHECKS_TARGET:.0%}" if drivers >= 100_000 else ""
    met = ("yes" if added <= CHECKS_TARGET else "**no**") if target else ""
    return [
        f"| {drivers:,} | batch run: batch job + incremental materialization, no checks | {run:.2f} s | | | | | |",
        f"| {drivers:,} | batch job with the checks (bug lookup, 18 checks, baseline read, ledger rows) "
        f"| {checked:.3f} s | the batch job without them | {plain:.3f} s | {added:+.1%} of the run | {target} "
        f"| {met} |",
        f"| {drivers:,} | … the 18 checks alone | {alone * 1000:.1f} ms | | | {alone / run:+.2%} of the run | | |",
        f"| {drivers:,} | monitoring pass after the run (Feast daily metrics, profiles + PSI, skew) | {watch:.2f} s "
        f"| the batch run | {run:.2f} s | {watch / run:+.0%} of the run | | |",
        f"| {drivers:,} | a simulated day's activity: the world continued (last week's usual day per driver) "
        f"| {day[0]:.3f} s | the generator alone (uniform, no history) | {day[1]:.3f} s | {ratio(*day)} | | |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 drivers only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="risk-quality-bench-"))
    lines = ["| drivers | measurement | p50 | beside | p50 | adds | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    try:
        for drivers, rounds, repeats in ((1_000, 5, 20),) if args.quick else ((1_000, 5, 20), (100_000, 3, 8)):
            root = work / f"world-{drivers}"
            root.mkdir()
            store = store_at(root)
            print(f"bootstrapping {drivers:,} drivers…", flush=True)
            print(f"  {seconds(lambda: world.bootstrap(store, drivers=drivers)):.1f} s", flush=True)
            print(f"  {rounds} batch runs, then the batch job {repeats} times with and without checks…", flush=True)
            times = measure(store, rounds, repeats)
            lines += rows_for(drivers, times, checks_alone(store), day_generation(store, repeats))
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("\n".join(lines), peak_rss=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
