"""Realistic batch-job bugs a presenter can inject, live: named, documented, each caught by a check.

A bug is armed in the data directory (so the dashboard and the CLI share it) and stays armed
until it is turned off: every batch job meanwhile passes its output through the bug's
``inject`` at one explicit point, after the business logic and before the checks
(``riskcore.data.jobs.batch_job``). Each bug is a mistake real pipelines make.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskcore.serving import features as F
from riskcore.settings import Paths

if TYPE_CHECKING:
    from riskcore.data.store import RiskStore


@dataclass(frozen=True)
class BatchContext:
    """What a bug may use besides the batch output: the run's time and the roster (read only
    if a bug asks for it)."""

    as_of: datetime
    roster: Callable[[], pd.DataFrame]


@dataclass(frozen=True)
class Bug:
    name: str
    title: str
    story: str
    caught_by: str  # the check family that must catch it
    inject: Callable[[pd.DataFrame, BatchContext], pd.DataFrame]


def _with_flags(stats: pd.DataFrame) -> pd.DataFrame:
    """Recompute the red flags from the (now wrong) values, as the job does downstream."""
    return stats.assign(**F.yesterdays_flags(stats[F.Y_CONV_RATE], stats[F.Y_ACC_RATE], stats[F.Y_TRIPS]))


def _rate_as_percentage(stats: pd.DataFrame, _: BatchContext) -> pd.DataFrame:
    scaled = stats.assign(**{name: (stats[name] * 100).astype(np.float32) for name in (F.Y_CONV_RATE, F.Y_ACC_RATE)})
    return _with_flags(scaled)


# The local time zone the timezone bug believes it is in.
LOCAL_UTC_OFFSET = timedelta(hours=-8)


def _day_shifted_by_timezone(stats: pd.DataFrame, context: BatchContext) -> pd.DataFrame:
    # The local wall-clock time, still labelled UTC, cut to its midnight.
    return stats.assign(event_timestamp=(pd.Timestamp(context.as_of) + LOCAL_UTC_OFFSET).normalize())


def _upstream_column_renamed(stats: pd.DataFrame, _: BatchContext) -> pd.DataFrame:
    return _with_flags(stats.assign(**{F.Y_TRIPS: np.float32("nan")}))


# The states whose partition of the driver table had landed when the buggy join ran.
LANDED_STATES = ("CA", "FL", "IL")


def _join_drops_drivers(stats: pd.DataFrame, context: BatchContext) -> pd.DataFrame:
    roster = context.roster()
    landed = roster.loc[roster["signup_state"].isin(LANDED_STATES), ["driver_id"]]
    return stats.merge(landed, on="driver_id", how="inner")


BUGS: dict[str, Bug] = {bug.name: bug for bug in (
    Bug("rate_as_percentage", "A rate written as a percentage",
        "A reporting habit leaks into the pipeline: yesterday's conversion and acceptance rates are "
        "multiplied by 100, and the red flags are computed from them, so 'conversion over 80%' fires "
        "for everyone and 'acceptance under 1%' for no one.",
        "range", _rate_as_percentage),
    Bug("day_shifted_by_timezone", "A day shifted by a timezone mistake",
        "The job turns its run time into a calendar day in local time (UTC−8) and stamps the rows with "
        "that day's midnight as if it were UTC: the stats are dated hours to a day early, so they age "
        "before they are served and incremental materialization skips them.",
        "freshness", _day_shifted_by_timezone),
    Bug("upstream_column_renamed", "An upstream column renamed",
        "Upstream renamed avg_daily_trips; the job's column selection fills the missing column with "
        "nulls, so yesterday's trips are empty and the low-trips flag can no longer fire.",
        "nulls", _upstream_column_renamed),
    Bug("join_drops_drivers", "A join that drops drivers",
        "The stats are inner-joined with a driver table whose partitions for most states had not "
        f"landed yet (only {', '.join(LANDED_STATES)}): every driver from another state vanishes from "
        "the output.",
        "rows", _join_drops_drivers),
)}


def armed(paths: Paths) -> Bug | None:
    """The bug the next batch job will inject, or None. An unreadable or unknown entry is no bug."""
    try:
        name = json.loads(paths.armed_bug.read_text()).get("bug")
    except (FileNotFoundError, ValueError, AttributeError):
        return None
    return BUGS.get(name)


def arm(store: RiskStore, name: str | None) -> Bug | None:
    """Arm a bug by name for every batch job from now on, or turn it off with None. Raises
    ``KeyError`` for an unknown name (nothing written)."""
    bug = BUGS[name] if name is not None else None
    paths = store.paths
    with store.writing():
        if bug is None:
            paths.armed_bug.unlink(missing_ok=True)
            return None
        paths.quality_dir.mkdir(parents=True, exist_ok=True)
        temp = paths.armed_bug.with_name(f".{paths.armed_bug.name}.tmp")
        temp.write_text(json.dumps({"bug": bug.name}))
        os.replace(temp, paths.armed_bug)
    return bug
