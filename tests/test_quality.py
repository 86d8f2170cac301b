"""Feature quality on a real Feast store: checks that gate materialization, injected bugs caught
live, Feast's monitoring written to the data dir under the writer lock, drift and skew.

One bootstrapped world is shared by the module (a copy of the session world, 20 drivers); each
test leaves no bug armed. Expected values come from the raw parquet parts, read with pyarrow.
"""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from filelock import FileLock, Timeout

from riskcore import settings
from riskcore.clock import utc_now
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.ledger import Ledger
from riskcore.data.store import YESTERDAYS_SCHEMA, RiskStore, write_part
from riskcore.quality import bugs, feature_tests, gate, monitoring
from riskcore.serving import features as F
from riskcore.validation import InvalidInput
from tests.conftest import copy_world, run_cli

YESTERDAY = [f"{F.YESTERDAYS_VIEW}:{name}" for name in F.YESTERDAYS_FEATURES]
HOURLY = [f"{F.HOURLY_VIEW}:{name}" for name in F.HOURLY_FEATURES]


@pytest.fixture(scope="module")
def store(world_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    destination = tmp_path_factory.mktemp("quality") / "world"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(settings.DATA_DIR_ENV, str(destination))
        yield copy_world(world_dir, destination)


def drivers(store: RiskStore) -> list[int]:
    return store.roster()["driver_id"].astype(int).tolist()


def online(store: RiskStore, refs: list[str]) -> pd.DataFrame:
    """Every driver's online values with their event times."""
    ids = drivers(store)
    values = store.online(refs, [{"driver_id": d} for d in ids], with_event_timestamps=True)
    return pd.DataFrame(values).drop(columns=["driver_id"], errors="ignore").assign(driver_id=ids)


def job_rows(store: RiskStore) -> pd.DataFrame:
    return Ledger(store.paths.ledger_db).jobs(500)


def newest_part(directory: Path) -> pd.DataFrame:
    part = max(directory.glob("*.parquet"), key=lambda p: p.name.split("-", 1)[1])
    return pq.read_table(part).to_pandas()


def first_part(directory: Path) -> Path:
    return min(directory.glob("*.parquet"), key=lambda p: p.name.split("-", 1)[1])


# --- monitoring through Feast ----------------------------------------------------------------

def test_the_bootstrap_sets_feasts_baseline_from_the_data_then(store, world_dir):
    base = monitoring.baseline(store.paths).set_index(["feature_view_name", "feature_name"])
    assert set(base.index) == {(F.HOURLY_VIEW, f) for f in F.HOURLY_FEATURES} | {
        (F.YESTERDAYS_VIEW, f) for f in F.YESTERDAYS_FEATURES}
    # Everything the bootstrap wrote (the session's world, untouched by tests): 60 days of 20 drivers.
    raw = pq.read_table(settings.Paths(world_dir).yesterdays_dir).to_pandas()
    row = base.loc[(F.YESTERDAYS_VIEW, F.Y_CONV_RATE)]
    assert row["row_count"] == len(raw) == 20 * 60
    assert row["mean"] == pytest.approx(raw[F.Y_CONV_RATE].astype(float).mean(), rel=1e-6)
    assert sum(row["histogram"]["counts"]) == len(raw)
    assert row["max_val"] == pytest.approx(float(raw[F.Y_CONV_RATE].max()), rel=1e-6)


def test_a_healthy_store_has_no_skew_and_no_drift_against_itself(store):
    result = jobs.monitor(store)
    assert result.detail["skew"]["mismatches"] == 0
    assert result.detail["skew"]["compared"] == 20 * len(F.HOURLY_FEATURES + F.YESTERDAYS_FEATURES)
    # Profiled: the bootstrap's batch output per view (3 + 6 features), not its 60 days of history,
    # which are the baseline: a fresh world shows no drift.
    profiles = monitoring.profiles(store.paths)
    assert sorted(profiles["part"].unique()) == sorted(
        p.name for d in (store.paths.hourly_dir, store.paths.yesterdays_dir) for p in d.glob("part-*.parquet"))
    assert len(profiles) == 9 and result.detail["drift_alerts"] == []
    # A day without bad days continues the world: it passes its checks and does not drift.
    _, batch, _, watched, _ = jobs.cadence_tick(store, tick=7, risky_ids=[])
    assert not batch.detail["blocked"] and watched.detail["drift_alerts"] == [], watched.detail["drift_alerts"]


def test_monitoring_writes_to_the_data_dir_never_the_checkout(store):
    from feast.monitoring.monitoring_utils import MONITORING_DIR, MONITORING_PARQUET_FILES

    def checkout() -> tuple[str, list[str]]:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=settings.REPO_ROOT,
                                capture_output=True, text=True, check=True).stdout
        files = sorted(str(p) for p in settings.FEATURE_REPO.rglob("*") if "__pycache__" not in p.parts)
        return status, files

    before = checkout()
    jobs.monitor(store)
    assert checkout() == before
    assert not (settings.FEATURE_REPO / MONITORING_DIR).exists()
    # Feast's own layout, in the data dir; nothing left in its work dir.
    assert monitoring.FEAST_DIR == MONITORING_DIR
    assert monitoring.FEAST_FEATURE_TABLE == MONITORING_PARQUET_FILES["feature"]
    published = store.paths.quality_dir / MONITORING_DIR
    assert {p.name for p in published.glob("*.parquet")} == set(MONITORING_PARQUET_FILES.values())
    assert not list(store.paths.monitoring_work_dir.rglob("*.parquet"))
    daily = monitoring.feast_daily(store.paths)
    assert len(daily) == len(F.HOURLY_FEATURES + F.YESTERDAYS_FEATURES)


def test_feast_writes_only_while_the_writer_lock_is_held(store, monkeypatch):
    from feast.monitoring.monitoring_service import MonitoringService

    held: list[bool] = []
    compute = MonitoringService.compute_metrics

    def probe(self, *args, **kwargs):
        def try_lock() -> None:
            try:
                FileLock(str(store.paths.write_lock)).acquire(timeout=0)
            except Timeout:
                held.append(True)
            else:
                held.append(False)
        other = threading.Thread(target=try_lock)
        other.start()
        other.join()
        return compute(self, *args, **kwargs)

    monkeypatch.setattr(MonitoringService, "compute_metrics", probe)
    jobs.monitor(store)
    assert held == [True]


def test_drift_through_feast_is_zero_for_one_distribution_and_large_for_a_shift(store, tmp_path):
    def part(name: str, seed: int, scale: float = 1.0) -> Path:
        rng = np.random.default_rng(seed)
        rates = rng.random((2000, 24)).mean(axis=1) * scale
        frame = pd.DataFrame({
            "driver_id": np.arange(2000), "event_timestamp": pd.Timestamp("2026-03-01", tz="UTC"),
            "created": pd.Timestamp("2026-03-01", tz="UTC"), F.Y_CONV_RATE: rates, F.Y_ACC_RATE: rates,
            F.Y_TRIPS: rates * 1000, **{flag: (rates > 0.6).astype(int) for flag in F.YESTERDAYS_FLAGS}})
        return write_part(tmp_path / name, frame, YESTERDAYS_SCHEMA)

    columns = [(name, "numeric") for name in (F.Y_CONV_RATE,)]
    _, (base,) = monitoring.feast_profile(store, part("a", 1), columns)
    _, (same,) = monitoring.feast_profile(store, part("b", 2), columns)
    _, (shifted,) = monitoring.feast_profile(store, part("c", 3, scale=1.2), columns)
    from riskcore.quality import drift

    assert base["row_count"] == 2000 and base["null_rate"] == 0
    assert drift.psi(base["histogram"], same["histogram"]) < 0.05
    assert drift.psi(base["histogram"], shifted["histogram"]) > 1.0


# --- checks that gate materialization, and injected bugs ------------------------------------------

@pytest.mark.parametrize(("name", "seed"), [(name, 100 + i) for i, name in enumerate(bugs.BUGS)])
def test_an_injected_bug_is_blocked_and_yesterdays_values_keep_serving(store, name, seed):
    bug = bugs.BUGS[name]
    before, hourly_before = online(store, YESTERDAY), online(store, HOURLY)
    jobs.inject_bug(store, name)
    try:
        _, batch, mat, _, scored = jobs.cadence_tick(store, tick=seed)
    finally:
        jobs.inject_bug(store, None)
    # The checks caught it, on the record: which check failed and by how much.
    assert batch.detail["blocked"] and batch.detail["injected_bug"] == name
    row = job_rows(store).query("job == 'batch_job'").iloc[0]
    assert row["outcome"] == "blocked" and f"injected bug: {name}" in row["message"]
    failed = Ledger(store.paths.ledger_db).check_history(1).query("passed == 0")
    assert any(n.startswith(bug.caught_by) for n in failed["name"]), failed
    assert all(d for d in failed["detail"])
    # The output is in the offline store, named blocked, and was not materialized.
    assert gate.blocked_views(store.paths) == {F.YESTERDAYS_VIEW: store.paths.yesterdays_dir / batch.detail["part"]}
    assert mat.detail["held_back"] == [F.YESTERDAYS_VIEW]
    pd.testing.assert_frame_equal(online(store, YESTERDAY), before)
    assert (online(store, HOURLY)[F.CONV_RATE] != hourly_before[F.CONV_RATE]).any()  # the new day is served
    # The batch model read what is served, not the blocked output.
    served = jobs.latest_daily_features(store, np.array(drivers(store)), pd.Timestamp.now(tz="UTC"))
    assert served[list(F.YESTERDAYS_FLAGS)].to_numpy().tolist() == before[list(F.YESTERDAYS_FLAGS)].to_numpy().tolist()
    assert scored.detail["decisions"]
    # Monitoring profiled the blocked output too.
    profiles = monitoring.profiles(store.paths)
    assert profiles.loc[profiles["batch"] == monitoring.batch_of(Path(batch.detail["part"])), "blocked"].all()


def test_the_newest_job_output_decides_whatever_the_bootstrap_named_its_parts(tmp_path):
    # The bootstrap's parts carry no time in their name and are older than any job's output.
    for name in ("history-000.parquet", "history-050.parquet", "seed.parquet",
                 "part-20261127T010000000000-aaaa.parquet", "blocked-20261127T020000000000-bbbb.parquet"):
        (tmp_path / name).touch()
    assert gate.blocked_part(tmp_path) == tmp_path / "blocked-20261127T020000000000-bbbb.parquet"
    (tmp_path / "part-20261127T030000000000-cccc.parquet").touch()  # a later batch passed
    assert gate.blocked_part(tmp_path) is None


def test_a_drivers_usual_day_is_the_median_of_last_weeks_daily_means_even_a_month_later(world_dir):
    store = RiskStore(settings.Paths(world_dir))  # the session's world, only read
    now = utc_now()
    levels = jobs.activity_levels(store, now)
    # The oracle, by hand from the raw rows: the 7 days up to the newest row, a mean per calendar
    # day, the median of those means.
    raw = pq.read_table(store.paths.hourly_dir).to_pandas()
    raw = raw[raw["event_timestamp"] > raw["event_timestamp"].max() - pd.Timedelta(days=7)]
    for driver in (1001, 1020):
        days = raw[raw["driver_id"] == driver].groupby(raw["event_timestamp"].dt.date)[F.ACC_RATE].mean()
        assert levels.loc[driver, F.ACC_RATE] == pytest.approx(float(np.median(days.to_numpy())), rel=1e-6)
    assert len(levels) == 20
    # A world rehearsed a month ago continues as it was, not from Feast's generator.
    pd.testing.assert_frame_equal(jobs.activity_levels(store, now + timedelta(days=30)), levels)


def test_a_rebuild_of_a_blocked_view_reads_no_further_than_its_published_batches(tmp_path):
    # A new driver's first day, stamped at the signup (after the blocked batch), must not let a
    # rebuild read as far as the blocked rows.
    stamp = pd.Timestamp("2026-11-27T01:00", tz="UTC")
    for name, hours in (("history-000.parquet", 0), ("part-20261127T010000000000-aaaa.parquet", 1),
                        ("blocked-20261127T020000000000-bbbb.parquet", 2), ("newcomers-1001-1001-5.parquet", 3)):
        write_part(tmp_path, pd.DataFrame({"driver_id": [1001], "event_timestamp": [stamp + pd.Timedelta(hours=hours)]}),
                   pa.schema([YESTERDAYS_SCHEMA.field("driver_id"), YESTERDAYS_SCHEMA.field("event_timestamp")]), name)
    assert gate.served_until(tmp_path) == stamp + pd.Timedelta(hours=1)


def test_an_injected_bug_shows_up_as_skew(store):
    jobs.inject_bug(store, "rate_as_percentage")
    try:
        results = jobs.cadence_tick(store, tick=200)
    finally:
        jobs.inject_bug(store, None)
    watched = results[3].detail
    assert watched["skew"]["mismatches"] > 0
    assert "blocked" in watched["skew"]["causes"][F.YESTERDAYS_VIEW]
    values = monitoring.latest_skew(store.paths)
    rates = values[(values["feature"] == F.Y_CONV_RATE)]
    assert (rates["offline"] > 1).all() and (rates["online"] <= 1).all()  # ×100 offline, a share online


def test_turn_it_off_rerun_green(store):
    assert bugs.armed(store.paths) is None
    _, batch, mat, watched, _ = jobs.cadence_tick(store, tick=300)
    assert not batch.detail["blocked"] and mat.detail["held_back"] == []
    assert gate.blocked_views(store.paths) == {}
    # The blocked outputs left the offline store when this one was published: nothing can serve them.
    assert not list(store.paths.yesterdays_dir.glob("blocked-*.parquet"))
    assert all(p.parent.parent == store.paths.retired_batches_dir for p in gate.retired_parts(store.paths))
    newest = newest_part(store.paths.yesterdays_dir).set_index("driver_id")
    served = online(store, YESTERDAY).set_index("driver_id")
    assert np.allclose(served[F.Y_CONV_RATE], newest.loc[served.index, F.Y_CONV_RATE], rtol=1e-6)
    assert watched.detail["skew"]["mismatches"] == 0


def test_the_override_is_explicit_and_logged(store):
    with pytest.raises(InvalidInput, match="nothing to override"):
        jobs.override(store, "no reason to")
    jobs.inject_bug(store, "rate_as_percentage")
    try:
        batch = jobs.cadence_tick(store, tick=400)[1]
    finally:
        jobs.inject_bug(store, None)
    rows = len(job_rows(store))
    with pytest.raises(InvalidInput, match="say why"):
        jobs.override(store, "   ")
    assert len(job_rows(store)) == rows  # a refused override writes nothing
    done = jobs.override(store, "the presenter shows what the bug does")
    row = job_rows(store).iloc[0]
    assert (row["job"], row["outcome"]) == ("override", "ok")
    assert "the presenter shows what the bug does" in row["message"] and "range: yesterdays_conv_rate" in row["message"]
    assert done.detail["released"] == [batch.detail["part"].replace("blocked-", "part-")]
    served = online(store, YESTERDAY).set_index("driver_id")
    raw = newest_part(store.paths.yesterdays_dir).set_index("driver_id")
    assert np.allclose(served[F.Y_CONV_RATE], raw.loc[served.index, F.Y_CONV_RATE], rtol=1e-6)
    assert (served[F.Y_CONV_RATE] > 1).all()  # what the presenter chose to serve
    jobs.cadence_tick(store, tick=401)
    assert (online(store, YESTERDAY)[F.Y_CONV_RATE] <= 1).all()


def test_an_override_serves_only_the_batch_it_releases(store):
    before = online(store, YESTERDAY)
    for seed, name in ((410, "rate_as_percentage"), (411, "day_shifted_by_timezone")):
        jobs.inject_bug(store, name)
        try:
            jobs.cadence_tick(store, tick=seed)
        finally:
            jobs.inject_bug(store, None)
    shifted = gate.blocked_part(store.paths.yesterdays_dir).name  # the newer one holds the view
    (percentage,) = {p.name for p in store.paths.yesterdays_dir.glob("blocked-*.parquet")} - {shifted}
    jobs.override(store, "show that a shifted day is skipped even when forced through")
    assert (store.paths.yesterdays_dir / shifted.replace("blocked-", "part-")).exists()
    assert not list(store.paths.yesterdays_dir.glob("blocked-*.parquet"))
    assert percentage in {p.name for p in gate.retired_parts(store.paths)}
    # The released rows are dated a day early: incremental materialization passes them by, and the
    # older ×100 output, retired, cannot be picked up either.
    pd.testing.assert_frame_equal(online(store, YESTERDAY)[["driver_id", *F.YESTERDAYS_FEATURES]],
                                  before[["driver_id", *F.YESTERDAYS_FEATURES]])
    jobs.cadence_tick(store, tick=412)
    assert (online(store, YESTERDAY)[F.Y_CONV_RATE] <= 1).all()


def test_repair_rebuilds_a_blocked_view_from_what_was_published(store):
    before = online(store, YESTERDAY)
    jobs.inject_bug(store, "upstream_column_renamed")
    try:
        jobs.cadence_tick(store, tick=500)
    finally:
        jobs.inject_bug(store, None)
    store.paths.online_db.unlink()
    demo_world.repair(store)  # the process that repairs drops its cached Feast objects
    rebuilt = online(store, YESTERDAY)
    assert rebuilt[F.Y_TRIPS].notna().all()
    pd.testing.assert_frame_equal(rebuilt[["driver_id", *F.YESTERDAYS_FEATURES]],
                                  before[["driver_id", *F.YESTERDAYS_FEATURES]])
    jobs.cadence_tick(store, tick=501)
    assert gate.blocked_views(store.paths) == {}


# --- the defect the monitoring found ------------------------------------------------------------

@pytest.mark.parametrize("microsecond", [250_001, 250_999])  # Feast's generator rounds to ms: down, then up
def test_a_simulated_day_has_every_hour_and_the_batch_job_averages_all_of_them(store, microsecond):
    now = utc_now().replace(microsecond=microsecond)
    ids = np.array(drivers(store))
    jobs.simulate_day(store, now, ids, ids[:0], seed=microsecond)
    day = newest_part(store.paths.hourly_dir)
    assert day.groupby("driver_id").size().eq(24).all(), "a simulated day lost an hour"
    assert day["event_timestamp"].max() <= now and day["event_timestamp"].min() > now - timedelta(hours=24)
    jobs.batch_job(store, now)
    stats = newest_part(store.paths.yesterdays_dir).set_index("driver_id")
    expected = day.groupby("driver_id")[list(F.HOURLY_FEATURES)].mean()
    for hourly, daily in zip(F.HOURLY_FEATURES, (F.Y_CONV_RATE, F.Y_ACC_RATE, F.Y_TRIPS)):
        assert np.allclose(stats.loc[expected.index, daily], expected[hourly], rtol=1e-5), daily
    jobs.materialize(store)


# --- the CLI --------------------------------------------------------------------------------

def test_cli_bugs_monitor_and_override(store, capsys):
    code, listed, _ = run_cli(capsys, "bugs")
    assert code == 0 and listed["armed"] is None and [b["name"] for b in listed["bugs"]] == list(bugs.BUGS)
    rows = len(job_rows(store))
    for bad in (["bugs", "inject", "no_such_bug"], ["bugs", "inject"], ["monitor", "--skew-drivers", "0"],
                ["override", "--reason", "nothing is blocked"], ["override", "--reason", ""]):
        code, _, err = run_cli(capsys, *bad)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (bad, err)
    assert len(job_rows(store)) == rows and not store.paths.armed_bug.exists()
    code, armed, _ = run_cli(capsys, "bugs", "inject", "join_drops_drivers")
    assert code == 0 and armed["armed"] == "join_drops_drivers"
    code, results, _ = run_cli(capsys, "batch-job")
    assert code == 0 and [r["job"] for r in results] == ["batch_job", "monitor"] and results[0]["detail"]["blocked"]
    assert run_cli(capsys, "bugs", "off")[1]["armed"] is None
    code, report, _ = run_cli(capsys, "monitor", "--skew-drivers", "5")
    assert code == 0 and report["skew"]["drivers"] == 5 and report["output"] == str(store.paths.quality_dir)
    assert {f["feature"] for f in report["features"]} == set(F.HOURLY_FEATURES + F.YESTERDAYS_FEATURES)
    assert report["held_back"] == [F.YESTERDAYS_VIEW]
    assert run_cli(capsys, "override", "--reason", "release it")[0] == 0
    assert run_cli(capsys, "tick", "--seed", "9")[0] == 0 and gate.blocked_views(store.paths) == {}


# --- the feature tests, run as the dashboard runs them ----------------------------------------------

def test_feature_tests_run_in_pytest_and_report_each_test(store, tmp_path):
    run = feature_tests.run(store.paths, ("tests/test_features.py",))
    assert run.passed and len(run.cases) >= 20
    assert {c.file for c in run.cases} == {"tests/test_features.py"}
    assert all(c.outcome == "passed" and c.seconds >= 0 for c in run.cases)
    assert feature_tests.latest(store.paths) == run
    failing = tmp_path / "test_failing.py"
    failing.write_text("def test_holds():\n    assert 1 + 1 == 2\n\n\ndef test_breaks():\n    assert 1 + 1 == 3\n")
    broken = feature_tests.run(store.paths, (str(failing),))
    assert not broken.passed
    assert {c.name: c.outcome for c in broken.cases} == {"test_holds": "passed", "test_breaks": "failed"}
    assert next(c.message for c in broken.cases if c.outcome == "failed") == "assert (1 + 1) == 3"
