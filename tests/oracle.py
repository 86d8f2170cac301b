"""An independent oracle for daily decisions: the raw parquet parts read with pyarrow, the
newest value within each view's TTL picked by hand, and the SPEC's v1 weights typed in here, not
imported from the code under test."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

TTL = timedelta(days=2)
# SPEC §3, daily v1: intercept 0.05; each yesterday's flag +0.30; conv_rate +0.05;
# acc_rate -0.05; avg_daily_trips -0.0001. Approved below 0.5.
INTERCEPT = 0.05
WEIGHTS = {"conv_rate": 0.05, "acc_rate": -0.05, "avg_daily_trips": -0.0001,
           "yesterdays_avg_daily_trips_lt_10": 0.30, "yesterdays_acc_rate_lt_01": 0.30,
           "yesterdays_conv_rate_gt_80": 0.30}
HOURLY = ("conv_rate", "acc_rate", "avg_daily_trips")
FLAGS = ("yesterdays_avg_daily_trips_lt_10", "yesterdays_acc_rate_lt_01", "yesterdays_conv_rate_gt_80")


def _newest(directory: Path, driver: int, now: datetime, columns: tuple[str, ...]) -> dict[str, float] | None:
    frames = [pq.read_table(part).to_pandas() for part in sorted(directory.glob("*.parquet"))]
    rows = pd.concat(frames) if frames else pd.DataFrame()
    if rows.empty:
        return None
    stamp = pd.Timestamp(now)
    rows = rows[(rows["driver_id"] == driver) & (rows["event_timestamp"] <= stamp)
                & (rows["event_timestamp"] > stamp - TTL)]
    if rows.empty:
        return None
    newest = rows.sort_values(["event_timestamp", "created"]).iloc[-1]
    return {name: float(newest[name]) for name in columns}


def daily_decision(root: Path, driver: int, now: datetime) -> tuple[str, float | None]:
    """(decision, score) the served daily model should give ``driver`` as of ``now``."""
    hourly = _newest(root / "driver_hourly_stats", driver, now, HOURLY)
    flags = _newest(root / "driver_yesterdays_stats", driver, now, FLAGS)
    if hourly is None or flags is None:
        return "Review", None
    values = {**hourly, **flags}
    score = min(1.0, max(0.0, INTERCEPT + sum(WEIGHTS[name] * values[name] for name in WEIGHTS)))
    return ("Approved" if score < 0.5 else "Declined"), score
