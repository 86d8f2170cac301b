"""Outcomes: a seeded simulation of driver history, with incidents that follow from a latent
risk and labels that mature after a delay.

Why it is shaped this way (each choice is what makes the lesson real, not decoration):
- every driver has a latent risk that drives both activity (risky drivers convert more, accept
  less and drive more: exposure) and incidents, so the daily features carry real signal;
- an incident changes behaviour from the next day on: the driver almost stops driving and
  accepts nearly nothing (both of yesterday's flags fire). With less exposure, fewer incidents
  follow. A label joined to the *latest* feature values therefore sees the consequence of the
  incident it is meant to predict: the naive join leaks the future by construction;
- an outcome ("an incident within the horizon after a decision") is known only once the horizon
  has passed and the report is in: ``created`` is that maturity time, and only matured rows are
  written.

Old history is daily (one activity row and one "yesterday's stats" row per driver per day: the
hourly view's TTL still holds); today is hourly, like every other day the cadence simulates.
Vectorised over drivers (one loop over days), written in chunks of days, so 100k drivers stay
within a few hundred MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from riskcore.data.store import HOURLY_SCHEMA, OUTCOMES_SCHEMA, YESTERDAYS_SCHEMA, read_parts, write_part
from riskcore.serving import features as F
from riskcore.settings import Paths

HISTORY_DAYS = 60
HORIZON_DAYS = 14      # the label: an incident within this many days after a decision
MATURITY_DAYS = 7      # an incident is confirmed (the outcome known) this long after the horizon
DECISION_HOUR = 6      # daily decisions are taken six hours into each simulated day
DAYS_PER_PART = 10     # history is written in parts of this many days (bounded memory)
# Daily incident hazard of an average driver at the average exposure.
BASE_HAZARD = 0.006
AVERAGE_TRIPS = 350.0
RISK_EFFECT = 0.9      # log hazard per standard deviation of latent risk
# After an incident: trips and acceptance collapse to these shares of the driver's habit.
AFTER_INCIDENT_TRIPS = 0.015
AFTER_INCIDENT_ACC = 0.01
# Seeds the world differently from the population's identities (same seed, other stream).
_STREAM = 0x0C0FFEE


@dataclass(frozen=True)
class History:
    """A simulated world up to ``now``: daily activity per driver (``days`` × drivers), the
    incidents, and today's activity levels (what the last day's hourly rows are drawn around)."""

    driver_ids: np.ndarray
    now: datetime
    conv_rate: np.ndarray       # days × drivers
    acc_rate: np.ndarray
    trips: np.ndarray
    incidents: np.ndarray       # days × drivers, bool: an incident that day
    risk: np.ndarray            # drivers: the latent risk (never written: the model must not see it)

    @property
    def days(self) -> int:
        return self.incidents.shape[0]

    def day_start(self, day: int | np.ndarray) -> pd.Timestamp | pd.DatetimeIndex:
        """Day ``days - 1`` is today: the 24 hours ending at ``now``."""
        return pd.Timestamp(self.now) - pd.to_timedelta(self.days - np.asarray(day), unit="D")

    def today(self) -> dict[str, np.ndarray]:
        """Today's activity levels per driver."""
        return {F.CONV_RATE: self.conv_rate[-1], F.ACC_RATE: self.acc_rate[-1], F.AVG_DAILY_TRIPS: self.trips[-1]}


def simulate(driver_ids: np.ndarray, now: datetime, seed: int, days: int = HISTORY_DAYS) -> History:
    """The seeded world: same ids, seed and ``now`` give the same history."""
    rng = np.random.default_rng([seed, _STREAM])
    n = len(driver_ids)
    risk = rng.standard_normal(n)
    trips_habit = np.clip(AVERAGE_TRIPS + 120 * risk + 60 * rng.standard_normal(n), 20, 990)
    conv_habit = _expit(0.9 * risk - 0.3 + 0.3 * rng.standard_normal(n))
    acc_habit = _expit(-0.9 * risk + 0.6 + 0.3 * rng.standard_normal(n))
    shape = (days, n)
    conv, acc, trips = (np.empty(shape, np.float32) for _ in range(3))
    incidents = np.zeros(shape, bool)
    changed = np.zeros(n, bool)
    for day in range(days):
        trips[day] = np.where(changed, AFTER_INCIDENT_TRIPS, 1.0) * trips_habit * rng.lognormal(0, 0.25, n)
        conv[day] = np.clip(conv_habit + rng.normal(0, 0.06, n), 0, 1)
        acc[day] = np.where(changed, AFTER_INCIDENT_ACC, 1.0) * np.clip(acc_habit + rng.normal(0, 0.06, n), 0, 1)
        hazard = BASE_HAZARD * np.exp(RISK_EFFECT * risk) * trips[day] / AVERAGE_TRIPS
        incidents[day] = rng.random(n) < -np.expm1(-hazard)
        changed |= incidents[day]  # behaviour changes from the next day on
    return History(np.asarray(driver_ids, np.int64), now, conv, acc, trips, incidents, risk)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def activity_rows(history: History, days: range) -> pd.DataFrame:
    """Daily-granularity rows of the hourly source (one per driver per day, at noon)."""
    index = np.array(days)
    stamps = history.day_start(index) + pd.Timedelta(hours=12)
    frame = _per_day(history, index, stamps, {
        F.CONV_RATE: history.conv_rate, F.ACC_RATE: history.acc_rate,
        F.AVG_DAILY_TRIPS: np.rint(history.trips).astype(np.int64)})
    return frame.assign(created=frame["event_timestamp"])


def yesterdays_rows(history: History, days: range) -> pd.DataFrame:
    """Yesterday's stats and flags for each day in ``days`` (summarising the day before), stamped
    at the day's start, as the batch job would have written them."""
    index = np.array(days)
    frame = _per_day(history, index, history.day_start(index), {
        F.Y_CONV_RATE: np.roll(history.conv_rate, 1, axis=0), F.Y_ACC_RATE: np.roll(history.acc_rate, 1, axis=0),
        F.Y_TRIPS: np.roll(history.trips, 1, axis=0)})
    flags = F.yesterdays_flags(frame[F.Y_CONV_RATE], frame[F.Y_ACC_RATE], frame[F.Y_TRIPS])
    return frame.assign(**flags, created=frame["event_timestamp"] + pd.Timedelta(minutes=30))


def _per_day(
    history: History, index: np.ndarray, stamps: pd.DatetimeIndex, columns: dict[str, np.ndarray],
) -> pd.DataFrame:
    n = len(history.driver_ids)
    return pd.DataFrame({
        "driver_id": np.tile(history.driver_ids, len(index)),
        "event_timestamp": np.repeat(stamps.values, n),
        **{name: values[index].reshape(-1) for name, values in columns.items()},
    }).assign(event_timestamp=lambda f: pd.to_datetime(f["event_timestamp"], utc=True))


def outcome_rows(history: History, every_days: int = 1) -> pd.DataFrame:
    """One labelled row per driver per decision day whose outcome has matured by ``now``:
    ``event_timestamp`` is the decision time, ``created`` the maturity time."""
    first = 2  # the first day with a day of activity and yesterday's stats behind it
    last = history.days - 1 - HORIZON_DAYS - MATURITY_DAYS
    days = np.arange(first, last + 1, every_days)
    if len(days) == 0:
        return pd.DataFrame(columns=OUTCOMES_SCHEMA.names)
    window = np.lib.stride_tricks.sliding_window_view(history.incidents, HORIZON_DAYS, axis=0)[days]
    labels = window.any(axis=-1).astype(np.int64)  # days × drivers
    decided = history.day_start(days) + pd.Timedelta(hours=DECISION_HOUR)
    frame = _per_day(history, np.arange(len(days)), decided, {F.LABEL: labels})
    return frame.assign(created=frame["event_timestamp"] + pd.Timedelta(days=HORIZON_DAYS + MATURITY_DAYS))


def hourly_today(history: History, seed: int) -> pd.DataFrame:
    """Today's hourly rows (the 24 hours ending at ``now``), drawn around each driver's level:
    what serving reads, and the latest values a naive join would use."""
    return hourly_around(history.driver_ids, history.today(), history.now,
                         np.random.default_rng([seed, _STREAM, 1]))


def hourly_around(
    driver_ids: np.ndarray, levels: dict[str, np.ndarray], now: datetime, rng: np.random.Generator,
) -> pd.DataFrame:
    """24 hourly rows per driver ending at ``now``, each hour a small draw around the driver's
    level (``levels``: an array per hourly feature, aligned with ``driver_ids``)."""
    hours = pd.date_range(end=pd.Timestamp(now), periods=24, freq="1h")
    n, h = len(driver_ids), len(hours)
    return pd.DataFrame({
        "driver_id": np.repeat(np.asarray(driver_ids, np.int64), h),
        "event_timestamp": np.tile(hours.values, n),
        F.CONV_RATE: np.clip(np.repeat(levels[F.CONV_RATE], h) + rng.normal(0, 0.03, n * h), 0, 1).astype(np.float32),
        F.ACC_RATE: np.clip(np.repeat(levels[F.ACC_RATE], h) * rng.lognormal(0, 0.05, n * h), 0, 1).astype(np.float32),
        F.AVG_DAILY_TRIPS: np.rint(np.repeat(levels[F.AVG_DAILY_TRIPS], h)
                                   * rng.lognormal(0, 0.05, n * h)).astype(np.int64),
    }).assign(event_timestamp=lambda f: pd.to_datetime(f["event_timestamp"], utc=True))


def write_history(paths: Paths, history: History, every_days: int = 1) -> int:
    """Write the days before today to the hourly and yesterday's sources, and the matured
    outcomes to the outcomes source, in parts of ``DAYS_PER_PART`` days with fixed names (a
    rewrite replaces them atomically). Callers hold the store's ``writing()``. Returns the
    outcome rows written."""
    past = history.days - 1
    for start in range(0, past, DAYS_PER_PART):
        days = range(start, min(start + DAYS_PER_PART, past))
        write_part(paths.hourly_dir, activity_rows(history, days), HOURLY_SCHEMA, f"history-{start:03d}.parquet")
        stats = range(max(days.start, 1), days.stop + (days.stop == past))
        write_part(paths.yesterdays_dir, yesterdays_rows(history, stats), YESTERDAYS_SCHEMA,
                   f"history-{start:03d}.parquet")
    outcomes = outcome_rows(history, every_days)
    write_part(paths.outcomes_dir, outcomes, OUTCOMES_SCHEMA, "history.parquet")
    return len(outcomes)


def matured(paths: Paths, as_of: datetime) -> pd.DataFrame:
    """The entity rows a model can learn from at ``as_of``: (driver_id, decision time, label)
    for every outcome known by then, oldest first."""
    import pyarrow.compute as pc

    rows = read_parts(paths.outcomes_dir, ["driver_id", "event_timestamp", "created", F.LABEL],
                      pc.field("created") <= pd.Timestamp(as_of))
    rows = rows.sort_values(["event_timestamp", "driver_id"], kind="stable", ignore_index=True)
    return rows[["driver_id", "event_timestamp", F.LABEL]].astype({"driver_id": np.int64, F.LABEL: np.int64})


def label_rate(rows: pd.DataFrame) -> float:
    return float(rows[F.LABEL].mean()) if len(rows) else 0.0

