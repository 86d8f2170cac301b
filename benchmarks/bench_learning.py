"""Learning benchmarks: each path beside its baseline, measured in the same run.

    .venv/bin/python benchmarks/bench_learning.py            # 1k and 100k drivers (~10 min on 2 cores)
    .venv/bin/python benchmarks/bench_learning.py --quick    # 1k only

Rows: the training set's point-in-time read (DuckDB store, the product's path) beside Feast's
dask store and the merge_asof oracle, each checked row for row against the oracle; `riskcore
train` end to end at the default population; the daily decision served by the registry's
champion beside the hand-set v1, without and with a challenger scored in shadow; the cost of
the champion check alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import DASK_OFFLINE_STORE, Row, report, store_at, table, timed  # noqa: E402
from riskcore import settings  # noqa: E402
from riskcore.data import world  # noqa: E402
from riskcore.data.store import DAILY_SERVICE, REQUEST_ROW  # noqa: E402
from riskcore.learning import job, outcomes, registry  # noqa: E402
from riskcore.serving import features as F  # noqa: E402
from riskcore.serving.decisions import Decisions  # noqa: E402
from tests.test_historical import HOURLY, TWO_DAYS, View, oracle, source_rows  # noqa: E402

DAILY_VIEWS = (HOURLY, View("driver_yesterdays_stats", "yesterdays_dir", ("driver_id",), F.YESTERDAYS_FLAGS, TWO_DAYS))


def same(got: pd.DataFrame, want: pd.DataFrame) -> int:
    """Rows whose every daily feature equals the oracle's (both missing counts as equal)."""
    ok = np.ones(len(want), bool)
    for f in F.DAILY_FEATURES:
        g, w = got[f].astype("float64").to_numpy(), want[f].astype("float64").to_numpy()
        ok &= (np.isnan(g) & np.isnan(w)) | (g == w)
    return int(ok.sum())


def bench_training_set(root: Path, drivers: int, max_rows: int) -> Row:
    """One point-in-time read of the training rows over the ``daily`` service."""
    duck, dask = store_at(root), store_at(root, DASK_OFFLINE_STORE)
    rows = outcomes.matured(duck.paths, pd.Timestamp.now(tz="UTC"))
    if len(rows) > max_rows:
        rows = rows.sample(max_rows, random_state=0).sort_values("event_timestamp", ignore_index=True)
    request = rows.assign(event_timestamp=rows["event_timestamp"].astype("datetime64[ns, UTC]"))
    service = duck.service(DAILY_SERVICE)
    start = time.perf_counter()
    want = oracle(request, DAILY_VIEWS, source_rows(duck, DAILY_VIEWS))
    oracle_s = time.perf_counter() - start
    duck.historical(request.head(10), service)  # DuckDB and Feast warmed up, as in a running app
    start = time.perf_counter()
    ours = duck.historical(request, service)
    ours_s = time.perf_counter() - start
    right = same(ours, want)
    tagged = request.assign(**{REQUEST_ROW: np.arange(len(request))})
    try:
        start = time.perf_counter()
        theirs = dask.fs.get_historical_features(entity_df=tagged, features=dask.service(DAILY_SERVICE)).to_df()
        dask_s = time.perf_counter() - start
        theirs = theirs.sort_values(REQUEST_ROW)
        expected = want.iloc[theirs[REQUEST_ROW].to_numpy()].reset_index(drop=True)
        dask_right = same(theirs.reset_index(drop=True), expected)
        base = f"dask store: {len(theirs):,} rows returned, {dask_right:,} correct"
    except Exception as error:  # noqa: BLE001 - the dask store's failure is the measurement
        dask_s, base = None, f"dask store: raised {type(error).__name__}"
    print(f"  oracle (merge_asof over the raw parts): {oracle_s:.2f} s", flush=True)
    return Row(f"Training set read at {drivers:,} drivers: {len(request):,} labelled decisions × `daily` service "
               f"(oracle: merge_asof {oracle_s * 1000:,.0f} ms)",
               f"DuckDB store, RiskStore.historical: {len(ours):,} rows, {right:,} equal to the oracle",
               ours_s * 1000, None, base, None if dask_s is None else dask_s * 1000, None, "ms",
               "every row correct, faster than dask", right == len(request) and (dask_s is None or ours_s < dask_s))


def bench_train_cli(work: Path) -> Row:
    """`riskcore train` as a user runs it: a fresh process on a fresh default bootstrap."""
    root = work / "default"
    world.bootstrap(store_at(root), drivers=settings.DEFAULT_DRIVERS)
    env = {**os.environ, settings.DATA_DIR_ENV: str(root)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "riskcore", "train"], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "riskcore", "status"], env=env, check=True, capture_output=True)
    status = time.perf_counter() - start
    return Row(f"`riskcore train` end to end, {settings.DEFAULT_DRIVERS} drivers (new process: imports, Feast reads, "
               "3 fits, MLflow run, 2 registrations)", "riskcore train", seconds * 1000, None,
               "`riskcore status` (a new process importing Feast)", status * 1000, None, "ms", "≤ 20 s", seconds <= 20)


def bench_decisions(root: Path, repeat: int) -> list[Row]:
    """The daily decision by the champion beside the hand-set v1, interleaved, same driver."""
    store = store_at(root)
    job.train(store)
    decisions = Decisions(store)
    driver = int(store.roster()["driver_id"].iloc[3])
    assert decisions.daily(driver, record=False).model.registry is not None
    rows = []
    (shadowed, base) = timed(lambda: decisions.daily(driver), lambda: decisions.daily(driver, version="v1"),
                             repeat=repeat // 2)
    challenger = decisions.served.current().challenger
    rows.append(Row(f"Daily decision, logged, with a challenger ({challenger.registry.kind}) scored in shadow",
                    "champion + shadow score + shadow row", *shadowed, "hand-set v1, logged", *base, "ms", "", None))
    reg = registry.Registry(store.paths)
    reg.client.delete_registered_model_alias(registry.MODEL_NAME, registry.CHALLENGER)
    assert decisions.served.current().challenger is None
    (ours, base) = timed(lambda: decisions.daily(driver, record=False),
                         lambda: decisions.daily(driver, version="v1", record=False), repeat=repeat)
    rows.insert(0, Row("Daily decision (read + policy + vector + score + reasons), not logged",
                       "registry champion (logistic regression)", *ours, "hand-set v1", *base, "ms",
                       "within 10 %", ours[0] <= 1.10 * base[0]))
    (ours, base) = timed(lambda: decisions.daily(driver), lambda: decisions.daily(driver, version="v1"),
                         repeat=repeat // 2)
    rows.insert(1, Row("Daily decision, logged, no challenger", "registry champion", *ours, "hand-set v1", *base,
                       "ms", "no measurable cost", ours[0] <= 1.10 * base[0]))
    (check,) = timed(decisions.served.current, repeat=repeat * 5)
    rows.append(Row("Champion check per decision (stat of the registry file)", "ServedDaily.current()", *check,
                    "", None, None, "ms", "", None))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 drivers only")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="risk-bench-learning-"))
    rows: list[Row] = []
    import feast.driver_test_data  # noqa: F401 - imports are not part of any measured path
    try:
        print("riskcore train end to end…", flush=True)
        rows.append(bench_train_cli(work))
        for drivers in (1_000,) if args.quick else (1_000, 100_000):
            root = work / f"world-{drivers}"
            print(f"bootstrapping {drivers:,} drivers…", flush=True)
            start = time.perf_counter()
            world.bootstrap(store_at(root), drivers=drivers)
            print(f"  {time.perf_counter() - start:.1f} s", flush=True)
            print("training set read…", flush=True)
            rows.append(bench_training_set(root, drivers, max_rows=100_000))
            if drivers == 1_000:
                print("daily decisions…", flush=True)
                rows.extend(bench_decisions(root, args.repeat))
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
