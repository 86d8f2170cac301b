"""The gate between the batch job and the online store: which batch outputs are held back.

A batch output that fails its checks is still written to the offline store (it is what the job
produced, and skew monitoring must be able to see it), but under a name that says so:
``blocked-….parquet``. While a view's newest batch output is blocked, materialization skips that
view, so yesterday's values keep serving (and go stale honestly), and batch scoring reads only
published parts. A presenter's override renames the part to ``part-…`` (an atomic rename): it
is then materialized like any other. Once a newer output is published (a passing batch, or an
override), every other blocked part leaves the offline store for ``<data>/quality/blocked/``:
Feast materializes the newest row per driver in its window, so a bad row left behind could be
served later (a driver missing from the new batch, or a published batch dated earlier), and a
training set would read it. The name is the state, so it survives a lost ledger and reads at a
glance in a directory listing.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskcore.data.store import NEWCOMERS_PREFIX, part_name
from riskcore.serving import features as F
from riskcore.settings import Paths

BLOCKED_PREFIX = "blocked-"
PUBLISHED_PREFIX = "part-"


def blocked_name() -> str:
    """The file name of a batch output that failed its checks."""
    return part_name(BLOCKED_PREFIX.rstrip("-"))


def gated_views(paths: Paths) -> dict[str, Path]:
    """The views a batch job produces, each with its source directory."""
    return {F.YESTERDAYS_VIEW: paths.yesterdays_dir}


def is_blocked(part: Path) -> bool:
    return part.name.startswith(BLOCKED_PREFIX)


def is_job_output(part: Path) -> bool:
    """A part a job wrote (``part-…``/``blocked-…``), not the bootstrap's history or a new
    driver's first day."""
    return part.name.startswith((BLOCKED_PREFIX, PUBLISHED_PREFIX))


def _written(part: Path) -> tuple[bool, str]:
    """Jobs' parts sort by the time in their name (``part-20250101T…``), blocked or not, after
    the bootstrap's history parts (``history-000``), which carry no time and are the oldest."""
    if is_job_output(part):
        return True, part.name.removeprefix(BLOCKED_PREFIX).removeprefix(PUBLISHED_PREFIX)
    return False, part.name


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.parquet"), key=_written) if directory.is_dir() else []


def published_parts(directory: Path) -> list[Path]:
    """The parts that may be served: everything but blocked batch outputs."""
    return [p for p in _parts(directory) if not is_blocked(p)]


def blocked_part(directory: Path) -> Path | None:
    """The view's newest batch output, if it is blocked (an older blocked part was superseded
    by a published one and holds nothing back)."""
    found = _parts(directory)
    return found[-1] if found and is_blocked(found[-1]) else None


def blocked_views(paths: Paths) -> dict[str, Path]:
    """Views whose newest batch output failed its checks: ``{view: blocked part}``."""
    return {view: part for view, directory in gated_views(paths).items()
            if (part := blocked_part(directory)) is not None}


def served_until(directory: Path) -> datetime | None:
    """The newest event time among published batch outputs and history: how far a rebuild of
    the online store may read a view whose newest output is blocked. New drivers' first days do
    not count: stamped at their signup, after the blocked batch, they would let the rebuild read
    the blocked rows too."""
    newest = [pc.max(pq.read_table(p, columns=["event_timestamp"])["event_timestamp"]).as_py()
              for p in published_parts(directory) if not p.name.startswith(NEWCOMERS_PREFIX)]
    newest = [t for t in newest if t is not None]
    return max(newest) if newest else None


def publish(part: Path) -> Path:
    """Release a blocked part (the presenter's override). Callers hold ``RiskStore.writing()``."""
    released = part.with_name(PUBLISHED_PREFIX + part.name.removeprefix(BLOCKED_PREFIX))
    os.replace(part, released)
    return released


def retire_blocked(paths: Paths) -> list[str]:
    """Move every blocked part of the gated views out of the offline store (a newer output was
    just published). Callers hold ``RiskStore.writing()``. Returns what moved."""
    moved = []
    for directory in gated_views(paths).values():
        for part in [p for p in _parts(directory) if is_blocked(p)]:
            target = paths.retired_batches_dir / directory.name
            target.mkdir(parents=True, exist_ok=True)
            os.replace(part, target / part.name)
            moved.append(part.name)
    return moved


def retired_parts(paths: Paths) -> list[Path]:
    """Blocked outputs moved out of the offline store, oldest first."""
    return sorted(paths.retired_batches_dir.glob("*/*.parquet"), key=_written)
