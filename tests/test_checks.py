"""The batch job's checks, its injectable bugs and the drift score, on hand-made data.

Pure and fast (no Feast): the dashboard runs this file with the feature tests. Every check fails
on a crafted bad batch and passes on a good one; every injectable bug is caught; PSI is ~0 for two
samples of one distribution and large for a shifted one, equal to PSI computed directly.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from riskcore.quality import bugs, checks, drift

AS_OF = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
STATES = ("CA", "FL", "IL", "NY", "SD", "TX", "WA")
# Written out here, not read from the code: 10 % of drivers had the original demo's bad day.
BASELINE_RATES = {"yesterdays_avg_daily_trips_lt_10": 0.1, "yesterdays_acc_rate_lt_01": 0.0,
                  "yesterdays_conv_rate_gt_80": 0.1}


def good_batch(drivers: int = 30, risky: int = 3, seed: int = 0) -> pd.DataFrame:
    """Yesterday's stats as the job should write them: rates near 0.5, ~500 trips, a few bad days."""
    rng = np.random.default_rng(seed)
    conv = rng.uniform(0.35, 0.65, drivers).astype(np.float32)
    acc = rng.uniform(0.35, 0.65, drivers).astype(np.float32)
    trips = rng.uniform(400, 600, drivers).astype(np.float32)
    conv[:risky], acc[:risky], trips[:risky] = 0.99, 0.01, 2
    return pd.DataFrame({
        "driver_id": np.arange(1001, 1001 + drivers, dtype=np.int64),
        "yesterdays_conv_rate": conv, "yesterdays_acc_rate": acc, "yesterdays_avg_daily_trips": trips,
        "yesterdays_avg_daily_trips_lt_10": (trips < 10).astype(np.int64),
        "yesterdays_acc_rate_lt_01": np.zeros(drivers, dtype=np.int64),
        "yesterdays_conv_rate_gt_80": (conv > 0.8).astype(np.int64),
        "event_timestamp": pd.Timestamp(AS_OF),
    })


def evaluate(stats: pd.DataFrame, active: int | None = None, rates: dict | None = None) -> checks.CheckReport:
    return checks.evaluate(stats, as_of=AS_OF, active_drivers=len(stats) if active is None else active,
                           baseline_rates=BASELINE_RATES if rates is None else rates)


def failed(report: checks.CheckReport) -> dict[str, str]:
    return {r.name: r.detail for r in report.failed}


def test_a_good_batch_passes_every_check():
    report = evaluate(good_batch())
    assert report.passed, report.summary()
    assert len(report.results) == 18
    assert report.summary() == "all 18 checks passed"


@pytest.mark.parametrize(("feature", "bad"), [
    ("yesterdays_conv_rate", 1.5), ("yesterdays_acc_rate", -0.2), ("yesterdays_avg_daily_trips", 5000),
    ("yesterdays_conv_rate_gt_80", 2),
])
def test_a_value_outside_its_domain_fails_its_range_check(feature, bad):
    stats = good_batch()
    stats.loc[7, feature] = bad
    found = failed(evaluate(stats))
    assert list(found) == [f"range: {feature}"]
    assert found[f"range: {feature}"].startswith("1 of 30 values outside")


def test_nulls_over_one_percent_fail_and_one_percent_passes():
    stats = good_batch()
    stats.loc[4, "yesterdays_avg_daily_trips"] = np.nan
    assert failed(evaluate(stats)) == {"nulls: yesterdays_avg_daily_trips": "1 of 30 null (3.3%)"}
    hundred = good_batch(drivers=100, risky=10)
    hundred.loc[4, "yesterdays_avg_daily_trips"] = np.nan
    assert evaluate(hundred).passed  # exactly 1 %: the limit itself is allowed


def test_rows_cover_the_active_drivers_once_each():
    stats = good_batch()
    assert failed(evaluate(stats.iloc[1:], active=30)) == {
        "rows: drivers covered": "29 of 30 active drivers (96.7%); 1 missing"}
    hundred = good_batch(drivers=100, risky=10)
    assert evaluate(hundred.iloc[1:], active=100).passed  # 99 %: the limit itself
    doubled = pd.concat([stats, stats.iloc[[5]]], ignore_index=True)
    assert failed(evaluate(doubled, active=30)) == {"rows: one per driver": "1 duplicate rows"}


@pytest.mark.parametrize(("shift", "passes"), [
    (timedelta(0), True), (timedelta(minutes=-30), True), (timedelta(hours=-2), False), (timedelta(hours=2), False),
])
def test_rows_must_be_stamped_with_the_run_time(shift, passes):
    stats = good_batch().assign(event_timestamp=pd.Timestamp(AS_OF + shift))
    report = evaluate(stats)
    assert report.passed is passes
    if not passes:
        assert failed(report)["freshness: event time"].startswith("stamped up to 2.0 h from the run's time")


def test_a_flag_for_half_the_drivers_fails():
    stats = good_batch().assign(yesterdays_conv_rate_gt_80=1)
    assert failed(evaluate(stats)) == {"flag rate: yesterdays_conv_rate_gt_80": "fires for 100% of 30 drivers"}


def test_a_flag_that_never_fires_fails_only_where_the_baseline_expects_it_to():
    quiet = good_batch(risky=0)
    assert evaluate(quiet).passed  # 10 % of 30 drivers: 3 expected, a quiet day is possible
    report = evaluate(quiet, rates={**BASELINE_RATES, "yesterdays_conv_rate_gt_80": 0.5})
    assert failed(report) == {"flag rate: yesterdays_conv_rate_gt_80": "never fires; the baseline expects ~15 of 30"}


def test_flag_rates_are_not_judged_on_a_handful_of_drivers():
    tiny = good_batch(drivers=10, risky=10)  # everyone flagged, but 10 drivers say nothing
    report = evaluate(tiny)
    assert report.passed
    assert "too few to judge" in next(r.detail for r in report.results if r.name.startswith("flag rate"))


def test_the_summary_names_each_failure_and_by_how_much():
    stats = good_batch()
    stats.loc[0, "yesterdays_conv_rate"] = 99.0
    summary = evaluate(stats).summary()
    assert summary.startswith("1 of 18 checks failed: range: yesterdays_conv_rate: 1 of 30 values outside (min ")
    assert summary.endswith(", max 99)")


# --- every injectable bug is caught --------------------------------------------------------------

def roster(stats: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"driver_id": stats["driver_id"],
                         "signup_state": [STATES[i % len(STATES)] for i in range(len(stats))]})


@pytest.mark.parametrize("name", list(bugs.BUGS))
def test_every_injectable_bug_is_caught_by_its_check(name):
    bug = bugs.BUGS[name]
    stats = good_batch()
    assert evaluate(stats).passed
    broken = bug.inject(stats.copy(), bugs.BatchContext(AS_OF, lambda: roster(stats)))
    report = evaluate(broken, active=len(stats))
    assert not report.passed, f"{name} slipped through"
    assert any(r.name.startswith(bug.caught_by) for r in report.failed), report.summary()


def test_the_percentage_bug_breaks_the_flags_as_well():
    stats = good_batch()
    broken = bugs.BUGS["rate_as_percentage"].inject(stats.copy(), bugs.BatchContext(AS_OF, lambda: roster(stats)))
    names = set(failed(evaluate(broken)))
    assert {"range: yesterdays_conv_rate", "range: yesterdays_acc_rate",
            "flag rate: yesterdays_conv_rate_gt_80"} <= names


def test_the_timezone_bug_stamps_local_midnight_as_utc():
    stats = good_batch()
    broken = bugs.BUGS["day_shifted_by_timezone"].inject(stats.copy(), bugs.BatchContext(AS_OF, lambda: None))
    # 12:00 UTC is 04:00 at UTC-8; that day's midnight, read as UTC: 12 hours early.
    assert set(broken["event_timestamp"]) == {pd.Timestamp("2026-03-01 00:00", tz="UTC")}


def test_the_join_bug_keeps_only_drivers_from_states_whose_partition_landed():
    stats = good_batch()
    broken = bugs.BUGS["join_drops_drivers"].inject(stats.copy(), bugs.BatchContext(AS_OF, lambda: roster(stats)))
    kept = roster(stats).set_index("driver_id").loc[broken["driver_id"], "signup_state"]
    assert set(kept) == {"CA", "FL", "IL"} and len(broken) == 14  # 5 + 5 + 4 of 30, states in turn


# --- drift ------------------------------------------------------------------------------------

def feast_histogram(values: np.ndarray, bins: int = 20) -> dict:
    """Feast's DuckDB histogram, written out: ``bins`` equal bins from min to max, the last one
    closed; one value gives a zero-width histogram."""
    low, high = float(values.min()), float(values.max())
    if low == high:
        return {"bins": [low, high], "counts": [len(values)], "bin_width": 0.0}
    width = (high - low) / bins
    index = np.minimum(np.floor((values - low) / width), bins - 1).astype(int)
    return {"bins": [low + i * width for i in range(bins + 1)],
            "counts": np.bincount(index, minlength=bins).tolist(), "bin_width": width}


def direct_psi(baseline: np.ndarray, current: np.ndarray) -> float:
    """PSI from the raw values on the baseline's deciles: the textbook computation."""
    edges = np.quantile(baseline, np.linspace(0, 1, 11))[1:-1]
    expected = np.bincount(np.searchsorted(edges, baseline, side="right"), minlength=10) / len(baseline)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=10) / len(current)
    expected, actual = np.maximum(expected, 1e-4), np.maximum(actual, 1e-4)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def test_drift_is_about_zero_between_two_seeded_windows_of_one_distribution():
    rng = np.random.default_rng(7)
    first, second = rng.random(5000), rng.random(5000)
    value = drift.psi(feast_histogram(first), feast_histogram(second))
    assert value < 0.02
    assert drift.verdict(value, drift.noise(feast_histogram(first), feast_histogram(second))) == "stable"


@pytest.mark.parametrize(("name", "shift"), [
    ("shifted by 0.2", lambda x: x + 0.2), ("squeezed", lambda x: 0.3 + x * 0.4), ("as a percentage", lambda x: x * 100),
])
def test_drift_is_large_for_a_shifted_window_and_matches_psi_computed_directly(name, shift):
    rng = np.random.default_rng(8)
    baseline, current = rng.random(5000), shift(rng.random(5000))
    value = drift.psi(feast_histogram(baseline), feast_histogram(current))
    assert value > drift.PSI_ALERT, name
    assert drift.verdict(value, drift.noise(feast_histogram(baseline), feast_histogram(current))) == "alert"
    assert value == pytest.approx(direct_psi(baseline, current), rel=0.15), name


def test_small_samples_of_one_distribution_are_not_an_alert():
    rng = np.random.default_rng(9)
    alerts = 0
    for _ in range(200):
        first, second = rng.random((50, 24)).mean(axis=1), rng.random((50, 24)).mean(axis=1)
        value = drift.psi(feast_histogram(first), feast_histogram(second))
        alerts += drift.verdict(value, drift.noise(feast_histogram(first), feast_histogram(second))) == "alert"
    assert alerts <= 4  # chance alone crosses the bound once in a thousand


def test_a_drivers_hours_count_once_when_judging_chance():
    # 20 drivers from the baseline's distribution, each with 24 hours close to its own level:
    # 480 rows but 20 independent draws. Judged on rows, chance alone looks like drift.
    rng = np.random.default_rng(11)
    baseline = rng.random(5000)
    on_rows = on_drivers = 0
    for _ in range(100):
        hours = np.repeat(rng.random(20), 24) + rng.normal(0, 0.01, 20 * 24)
        value = drift.psi(feast_histogram(baseline), feast_histogram(hours))
        on_rows += drift.verdict(value, drift.noise(feast_histogram(baseline), feast_histogram(hours))) == "alert"
        chance = drift.noise(feast_histogram(baseline), feast_histogram(hours), independent=20)
        on_drivers += drift.verdict(value, chance) == "alert"
    assert on_rows > 20 and on_drivers <= 2, (on_rows, on_drivers)


def test_a_flag_that_starts_firing_or_stops_is_drift():
    rng = np.random.default_rng(10)
    sometimes = (rng.random(500) < 0.1).astype(float)
    never, always = np.zeros(500), np.ones(500)
    assert drift.psi(feast_histogram(never), feast_histogram(never)) == 0.0
    assert drift.psi(feast_histogram(never), feast_histogram(always)) > 5
    assert drift.psi(feast_histogram(sometimes), feast_histogram(never)) > drift.PSI_ALERT
    assert drift.psi(feast_histogram(sometimes), feast_histogram((rng.random(500) < 0.1).astype(float))) < 0.05


def test_no_baseline_means_no_drift_score():
    assert drift.psi(None, feast_histogram(np.arange(10.0))) is None
    assert drift.verdict(None) == "no baseline"
