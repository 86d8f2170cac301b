"""Expectations on the batch job's output, checked before it may reach the online store.

Each check turns one property of the batch into a number and compares it with a limit defined
here, once: value ranges (the domains in ``riskcore.serving.features``), null rates, rows against
the drivers who were active, freshness of the event times, and population-level sanity of the
red flags (one that fires for half the drivers, or never fires where the baseline says it
should). A batch that fails any check is held back from the online store (``quality.gate``).
Pure pandas, no Feast: cheap enough to run on every batch, testable on a hand-made frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from riskcore.serving import features as F

# The limits (the page and the README show these same numbers).
MAX_NULL_RATE = 0.01
MIN_COVERAGE = 0.99  # output rows per driver active in the job's window
MAX_STAMP_LAG = timedelta(hours=1)  # rows are stamped with the run's time, give or take
MIN_POPULATION = 20  # below this many drivers, flag rates say nothing about the pipeline
MAX_FLAG_RATE = 0.5  # a red flag for half the drivers or more is a bug, not a bad day
MIN_EXPECTED_FIRINGS = 10  # "never fires" counts only where the baseline expects this many

CHECKED_FEATURES = F.YESTERDAYS_FEATURES


@dataclass(frozen=True)
class CheckResult:
    """One expectation: what was measured, the limit, and by how much it held or failed."""

    name: str
    passed: bool
    observed: float | None
    expected: str
    detail: str


@dataclass(frozen=True)
class CheckReport:
    """Every check on one batch output."""

    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def summary(self) -> str:
        """The failures in one line, for the job history."""
        if self.passed:
            return f"all {len(self.results)} checks passed"
        return (f"{len(self.failed)} of {len(self.results)} checks failed: "
                + "; ".join(f"{r.name}: {r.detail}" for r in self.failed))


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def value_ranges(stats: pd.DataFrame) -> list[CheckResult]:
    """Every value inside its feature's domain (a rate between 0 and 1, a flag 0 or 1)."""
    results = []
    for name in CHECKED_FEATURES:
        low, high = F.FEATURE_DOMAINS[name]
        values = stats[name].dropna().to_numpy(np.float64)
        outside = int(((values < low) | (values > high)).sum())
        span = f"min {values.min():g}, max {values.max():g}" if len(values) else "no values"
        results.append(CheckResult(
            f"range: {name}", outside == 0, _share(outside, len(values)), f"within [{low:g}, {high:g}]",
            f"{outside:,} of {len(values):,} values outside ({span})"))
    return results


def null_rates(stats: pd.DataFrame) -> list[CheckResult]:
    """No feature mostly missing: a null scores as nothing and hides the driver's day."""
    results = []
    for name in CHECKED_FEATURES:
        nulls = int(stats[name].isna().sum())
        rate = _share(nulls, len(stats))
        results.append(CheckResult(
            f"nulls: {name}", rate <= MAX_NULL_RATE, rate, f"≤ {MAX_NULL_RATE:.0%} null",
            f"{nulls:,} of {len(stats):,} null ({rate:.1%})"))
    return results


def coverage(stats: pd.DataFrame, active_drivers: int) -> list[CheckResult]:
    """One row for every driver who was active in the job's window, and only one."""
    drivers = int(stats["driver_id"].nunique())
    share = _share(drivers, active_drivers)
    duplicates = len(stats) - drivers
    return [
        CheckResult("rows: drivers covered", share >= MIN_COVERAGE, share,
                    f"≥ {MIN_COVERAGE:.0%} of active drivers",
                    f"{drivers:,} of {active_drivers:,} active drivers ({share:.1%}); "
                    f"{max(active_drivers - drivers, 0):,} missing"),
        CheckResult("rows: one per driver", duplicates == 0, float(duplicates), "no duplicate drivers",
                    f"{duplicates:,} duplicate rows"),
    ]


def freshness(stats: pd.DataFrame, as_of: datetime) -> list[CheckResult]:
    """Rows stamped with the run's time: a stamp in the past ages the features before they are
    served (and incremental materialization skips it); one in the future is not yet true."""
    stamps = pd.to_datetime(stats["event_timestamp"], utc=True)
    if stamps.empty:
        return [CheckResult("freshness: event time", True, 0.0, "", "no rows")]
    lag = (pd.Timestamp(as_of) - stamps).abs().max()
    hours = lag.total_seconds() / 3600
    limit = MAX_STAMP_LAG.total_seconds() / 3600
    return [CheckResult(
        "freshness: event time", lag <= MAX_STAMP_LAG, hours, f"within {limit:g} h of the run",
        f"stamped up to {hours:.1f} h from the run's time ({stamps.min():%Y-%m-%d %H:%M} to "
        f"{stamps.max():%Y-%m-%d %H:%M} UTC)")]


def flag_rates(stats: pd.DataFrame, baseline_rates: Mapping[str, float]) -> list[CheckResult]:
    """Red flags that fire for (nearly) everyone, or for no one where the baseline expects many:
    a threshold applied to the wrong unit does one or the other. Skipped for tiny populations."""
    drivers = len(stats)
    results = []
    for flag in F.YESTERDAYS_FLAGS:
        rate = float(stats[flag].fillna(0).mean()) if drivers else 0.0
        expected = baseline_rates.get(flag, 0.0) * drivers
        if drivers < MIN_POPULATION:
            passed, why = True, f"{drivers} drivers: too few to judge (needs {MIN_POPULATION})"
        elif rate >= MAX_FLAG_RATE:
            passed, why = False, f"fires for {rate:.0%} of {drivers:,} drivers"
        elif rate == 0 and expected >= MIN_EXPECTED_FIRINGS:
            passed, why = False, f"never fires; the baseline expects ~{expected:.0f} of {drivers:,}"
        else:
            passed, why = True, f"fires for {rate:.1%} of {drivers:,} drivers"
        results.append(CheckResult(
            f"flag rate: {flag}", passed, rate,
            f"< {MAX_FLAG_RATE:.0%}, and not 0 where ≥ {MIN_EXPECTED_FIRINGS} are expected", why))
    return results


def evaluate(
    stats: pd.DataFrame, *, as_of: datetime, active_drivers: int, baseline_rates: Mapping[str, float],
) -> CheckReport:
    """Every check on one output of the batch job. ``active_drivers``: drivers with activity in the
    job's window; ``baseline_rates``: each flag's firing rate in the monitoring baseline."""
    return CheckReport(tuple(
        value_ranges(stats) + null_rates(stats) + coverage(stats, active_drivers)
        + freshness(stats, as_of) + flag_rates(stats, baseline_rates)
    ))


def limits() -> pd.DataFrame:
    """The checks and their limits, in words (for the page and the README)."""
    return pd.DataFrame([
        {"check": "range", "limit": "every value inside its feature's domain (rates 0–1, flags 0/1, "
                                    f"trips 0–{F.MAX_DAILY_TRIPS:,})"},
        {"check": "nulls", "limit": f"≤ {MAX_NULL_RATE:.0%} null per feature"},
        {"check": "rows", "limit": f"≥ {MIN_COVERAGE:.0%} of the drivers active in the window, one row each"},
        {"check": "freshness", "limit": f"stamped within {MAX_STAMP_LAG.total_seconds() / 3600:g} h of the run"},
        {"check": "flag rate", "limit": f"below {MAX_FLAG_RATE:.0%} of drivers; not 0 where the baseline expects "
                                        f"≥ {MIN_EXPECTED_FIRINGS} (from {MIN_POPULATION} drivers on)"},
    ])
