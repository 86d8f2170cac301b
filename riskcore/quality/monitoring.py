"""Feature monitoring through Feast: the driver features' distributions, nulls and drift against
the bootstrap's baseline, per batch output and per day, plus training/serving skew.

Feast 0.67's monitoring (``feast monitor run``; in Python ``feast.monitoring.MonitoringService``)
computes per feature and window, with the offline store's own SQL (DuckDB here): row count,
nulls, mean, stddev, min/max, p50–p99 and a 20-bin histogram, and keeps a baseline. It has no
drift score: ``quality.drift`` computes PSI from its histograms. Each pass
- keeps Feast's own tables current: the baseline (computed once, at the bootstrap, from the data
  then: the first pass) and today's daily window, exactly what
  ``feast monitor run --set-baseline`` and ``feast monitor run --granularity daily`` store;
- profiles every batch output not profiled yet (the batch job's and each simulated day's part,
  blocked ones too) with the same Feast computation on that one part: a demo runs many batches a
  day, and Feast's tables keep one row per day;
- measures skew on a fixed sample of drivers (``quality.skew``).

Where it writes: Feast writes its tables under its repo path and rewrites each file in place.
Ours is ``<data>/quality/.feast-work`` (never ``feature_repo/``), seeded with the published
tables; when Feast is done each file is renamed into ``<data>/quality/feast_monitoring/``, so
a reader never sees half a file. Profiles and skew samples are parquet parts beside it. Feast's
work and every write run under the store's writer lock; the skew sample only reads.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskcore.clock import today, utc_now
from riskcore.data.store import PROJECT, RiskStore, parts, read_parts, write_part
from riskcore.quality import drift, gate
from riskcore.quality.skew import SkewReport
from riskcore.quality.skew import measure as measure_skew
from riskcore.serving import features as F
from riskcore.settings import Paths

MONITORED_VIEWS = (F.HOURLY_VIEW, F.YESTERDAYS_VIEW)
HISTOGRAM_BINS = 20  # Feast's default
SKEW_DRIVERS = 20
# Feast's file layout under a repo path (feast.monitoring.monitoring_utils; read here without
# importing Feast, which costs seconds).
FEAST_DIR = "feast_monitoring"
FEAST_FEATURE_TABLE = "feast_monitoring_feature_metrics.parquet"

_TS = pa.timestamp("us", tz="UTC")
_STATS = ("mean", "stddev", "min_val", "max_val", "p50", "p75", "p90", "p95", "p99")
PROFILE_SCHEMA = pa.schema([
    ("view", pa.string()), ("batch", pa.string()), ("part", pa.string()), ("event_time", _TS),
    ("profiled_at", _TS), ("feature", pa.string()), ("row_count", pa.int64()), ("null_rate", pa.float64()),
    *[(name, pa.float64()) for name in _STATS], ("histogram", pa.string()), ("psi", pa.float64()),
    ("psi_noise", pa.float64()),
])
SKEW_SCHEMA = pa.schema([
    ("measured_at", _TS), ("driver_id", pa.int64()), ("view", pa.string()), ("feature", pa.string()),
    ("online", pa.float64()), ("offline", pa.float64()), ("match", pa.bool_()),
])


class MonitoringFailed(RuntimeError):
    """Feast computed fewer views than asked (its errors go to the log): say which."""


@dataclass(frozen=True)
class MonitoringReport:
    profiled: int
    alerts: tuple[tuple[str, str, float], ...]  # (view, feature, psi) of newly profiled outputs
    skew: SkewReport
    blocked: tuple[str, ...]
    feast: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        drifted = ", ".join(f"{feature} PSI {value:.2f}" for _, feature, value in self.alerts) or "none"
        held = f"; held back: {', '.join(self.blocked)}" if self.blocked else ""
        return (f"profiled {self.profiled} batch output(s); drift alerts: {drifted}; skew: "
                f"{self.skew.mismatches} of {self.skew.compared} values differ{held}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "profiled": self.profiled,
            "drift_alerts": [{"view": v, "feature": f, "psi": round(p, 4)} for v, f, p in self.alerts],
            "psi_alert": drift.PSI_ALERT,
            "skew": {"drivers": self.skew.drivers, "compared": self.skew.compared,
                     "mismatches": self.skew.mismatches, "causes": self.skew.causes(set(self.blocked))},
            "held_back": list(self.blocked),
            "feast": self.feast,
        }


# --- the monitoring pass ------------------------------------------------------------------------

def run(store: RiskStore, skew_drivers: int = SKEW_DRIVERS) -> MonitoringReport:
    """Feast's metrics (baseline once, today's window), a profile of each new batch output with
    its drift, and a skew sample. Results land in ``<data>/quality/``."""
    with store.writing():
        feast_result = _feast_tables(store)
        profiles = _profile_new_outputs(store, baseline(store.paths))
        if len(profiles):
            write_part(store.paths.profiles_dir, profiles, PROFILE_SCHEMA)
    measured = measure_skew(store, skew_drivers)
    if len(measured.values):
        with store.writing():
            write_part(store.paths.skew_dir, measured.values.assign(measured_at=pd.Timestamp(measured.measured_at)),
                       SKEW_SCHEMA)
    alerts = tuple((r.view, r.feature, float(r.psi)) for r in profiles.itertuples()
                   if drift.verdict(_number(r.psi), _number(r.psi_noise)) == "alert")
    return MonitoringReport(int(profiles["batch"].nunique()) if len(profiles) else 0, alerts, measured,
                            tuple(sorted(gate.blocked_views(store.paths))), feast_result)


def _feast_tables(store: RiskStore) -> dict[str, Any]:
    """Feast's own monitoring: the baseline if there is none yet, and today's daily metrics."""
    from feast.monitoring.monitoring_service import MonitoringService

    work = store.paths.monitoring_work_dir / FEAST_DIR
    published = store.paths.quality_dir / FEAST_DIR
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    published.mkdir(parents=True, exist_ok=True)
    for table in published.glob("*.parquet"):
        shutil.copy2(table, work / table.name)
    service = MonitoringService(store.monitoring_fs)
    views = list(MONITORED_VIEWS)
    started = time.perf_counter()
    base = service.compute_baseline(project=PROJECT, allowed_feature_view_names=views)
    day = today()
    daily = service.compute_metrics(project=PROJECT, start_date=day, end_date=day, granularity="daily",
                                    allowed_feature_view_names=views)
    if daily["computed_feature_views"] < len(views):
        raise MonitoringFailed(f"Feast's monitoring computed {daily['computed_feature_views']} of {len(views)} "
                               "feature views (its error is in the log)")
    for table in work.glob("*.parquet"):
        os.replace(table, published / table.name)
    return {"baseline_features": base["computed_features"], "daily_features": daily["computed_features"],
            "seconds": round(time.perf_counter() - started, 3), "tables": str(published)}


def _profile_new_outputs(store: RiskStore, base: pd.DataFrame) -> pd.DataFrame:
    """Feast's metrics of each batch output not profiled yet, with PSI against the baseline (the
    bootstrap's history is the baseline, not a batch)."""
    from feast.monitoring.metrics_calculator import MetricsCalculator

    done = read_parts(store.paths.profiles_dir, ["view", "batch"])
    seen = set(zip(done["view"], done["batch"]))
    sources = {F.HOURLY_VIEW: store.paths.hourly_dir, F.YESTERDAYS_VIEW: store.paths.yesterdays_dir}
    baseline_hist = {(r.feature_view_name, r.feature_name): r.histogram for r in base.itertuples()}
    now = pd.Timestamp(utc_now())
    rows = []
    for view in MONITORED_VIEWS:
        fv = store.fs.get_feature_view(view)
        columns = [(f.name, kind) for f in fv.features if (kind := MetricsCalculator.classify_feature(f.dtype))]
        for part in filter(gate.is_job_output, parts(sources[view])):
            batch = batch_of(part)
            if (view, batch) in seen:
                continue
            newest, metrics = feast_profile(store, part, columns)
            # A driver's 24 hours move together: chance is judged on drivers, not rows.
            drivers = pc.count_distinct(pq.read_table(part, columns=["driver_id"])["driver_id"]).as_py()
            for m in metrics:
                reference = baseline_hist.get((view, m["feature_name"]))
                rows.append({
                    "view": view, "batch": batch, "part": part.name, "event_time": newest, "profiled_at": now,
                    "feature": m["feature_name"], "row_count": m["row_count"], "null_rate": m["null_rate"],
                    **{name: m[name] for name in _STATS},
                    "histogram": json.dumps(m["histogram"]) if m["histogram"] else None,
                    "psi": drift.psi(reference, m["histogram"]), "psi_noise": drift.noise(reference, m["histogram"], drivers),
                })
    return pd.DataFrame(rows, columns=PROFILE_SCHEMA.names)


def feast_profile(store: RiskStore, part: Path, columns: list[tuple[str, str]]) -> tuple[Any, list[dict[str, Any]]]:
    """Feast's monitoring metrics of one parquet part, computed by the offline store (the SQL
    ``feast monitor run`` uses), and its newest event time."""
    from feast import FileSource
    from feast.data_format import ParquetFormat
    from feast.infra.offline_stores.offline_utils import get_offline_store_from_config

    config = store.monitoring_fs.config
    offline = get_offline_store_from_config(config.offline_store)
    source = FileSource(name=part.name, path=str(part), timestamp_field="event_timestamp", file_format=ParquetFormat())
    metrics = offline.compute_monitoring_metrics(config=config, data_source=source, feature_columns=columns,
                                                 timestamp_field="event_timestamp", histogram_bins=HISTOGRAM_BINS)
    newest = offline.get_monitoring_max_timestamp(config=config, data_source=source, timestamp_field="event_timestamp")
    return newest, metrics


def histogram(profile: Any) -> dict[str, Any] | None:
    """A profile row's Feast histogram (stored as JSON)."""
    raw = profile["histogram"]
    return json.loads(raw) if isinstance(raw, str) else None


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def batch_of(part: Path) -> str:
    """A batch output's identity, the same before and after an override renames its part."""
    return part.name.removeprefix(gate.BLOCKED_PREFIX).removeprefix(gate.PUBLISHED_PREFIX)


# --- reading what monitoring stored (no lock, no Feast import) --------------------------------

def _feast_feature_table(paths: Paths) -> pd.DataFrame:
    table = paths.quality_dir / FEAST_DIR / FEAST_FEATURE_TABLE
    if not table.exists():
        return pd.DataFrame(columns=["feature_view_name", "feature_name", "is_baseline", "granularity", "histogram"])
    frame = pd.read_parquet(table)
    frame = frame[frame["project_id"] == PROJECT]
    return frame.assign(histogram=frame["histogram"].map(lambda h: json.loads(h) if isinstance(h, str) else None))


def baseline(paths: Paths) -> pd.DataFrame:
    """Feast's baseline metrics, one row per monitored feature (empty before the first pass)."""
    frame = _feast_feature_table(paths)
    return frame[frame["is_baseline"].astype(bool)].reset_index(drop=True)


def baseline_rates(paths: Paths, view: str) -> dict[str, float]:
    """Each flag's share of drivers flagged in the baseline (the mean of a 0/1 feature)."""
    base = baseline(paths)
    base = base[(base["feature_view_name"] == view) & base["feature_name"].isin(F.YESTERDAYS_FLAGS)]
    return {r.feature_name: float(r.mean) for r in base.itertuples() if pd.notna(r.mean)}


def feast_daily(paths: Paths) -> pd.DataFrame:
    """Feast's stored daily metrics (one row per feature and day), newest day first."""
    frame = _feast_feature_table(paths)
    frame = frame[(frame["granularity"] == "daily") & ~frame["is_baseline"].astype(bool)]
    return frame.sort_values(["metric_date", "feature_view_name"], ascending=[False, True]).reset_index(drop=True)


def profiles(paths: Paths) -> pd.DataFrame:
    """Every profiled batch output in the order it was written, with whether its checks
    blocked it (held back now, or retired since)."""
    frame = read_parts(paths.profiles_dir)
    if frame.empty:
        return pd.DataFrame(columns=[*PROFILE_SCHEMA.names, "blocked"])
    held = {batch_of(p) for p in [*paths.yesterdays_dir.glob(f"{gate.BLOCKED_PREFIX}*.parquet"),
                                  *gate.retired_parts(paths)]}
    frame = frame.assign(blocked=frame["batch"].isin(held) & (frame["view"] == F.YESTERDAYS_VIEW))
    return frame.sort_values("batch", kind="stable").reset_index(drop=True)


def skew_history(paths: Paths) -> pd.DataFrame:
    """Mismatches per skew measurement (measured_at, compared, mismatches), oldest first."""
    frame = read_parts(paths.skew_dir, ["measured_at", "match"])
    if frame.empty:
        return pd.DataFrame(columns=["measured_at", "compared", "mismatches"])
    return (frame.assign(mismatch=~frame["match"].astype(bool)).groupby("measured_at")
            .agg(compared=("match", "size"), mismatches=("mismatch", "sum")).reset_index())


def latest_skew(paths: Paths) -> pd.DataFrame:
    """The newest skew measurement, value by value."""
    frame = read_parts(paths.skew_dir)
    if frame.empty:
        return pd.DataFrame(columns=SKEW_SCHEMA.names)
    newest = frame["measured_at"].max()
    return frame[frame["measured_at"] == newest].drop(columns=["measured_at"]).reset_index(drop=True)


def overview(paths: Paths) -> pd.DataFrame:
    """Per monitored feature: its newest batch output beside the baseline, with drift."""
    latest = profiles(paths).groupby(["view", "feature"], sort=False).tail(1)
    base = baseline(paths).set_index(["feature_view_name", "feature_name"])
    rows = []
    for r in latest.itertuples():
        mean = base["mean"].get((r.view, r.feature)) if len(base) else None
        rows.append({"view": r.view, "feature": r.feature, "batch time": r.event_time,
                     "blocked": bool(r.blocked), "rows": int(r.row_count), "null rate": r.null_rate,
                     "min": r.min_val, "mean": r.mean, "max": r.max_val, "baseline mean": mean,
                     "PSI": _number(r.psi), "PSI by chance": _number(r.psi_noise),
                     "drift": drift.verdict(_number(r.psi), _number(r.psi_noise))})
    return pd.DataFrame(rows)
