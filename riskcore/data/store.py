"""The store facade: one Feast ``FeatureStore`` over one data directory, and the locks its
writers share.

Design choices that keep it correct under concurrent sessions and killed jobs:
- every offline source is a directory of parquet parts; a writer adds a part by writing a hidden
  temporary file and renaming it into place, so readers see whole files only and nothing is
  rewritten in place (Feast's file offline store rewrites its parquet on each offline push);
- every write (parts, online pushes, apply, materialize) runs under ``writing()``: a thread lock
  plus a cross-process file lock;
- the offline store is Feast's DuckDB store, which reads each source directory; Feast's DuckDB
  queries in this process take turns (``offline_queries()``), and a historical read that meets a
  part removed by a compaction in another process is run again;
- the registry is a SQL registry in SQLite, safe beside ``materialize``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml
from filelock import FileLock

from riskcore import settings
from riskcore.serving import features as F
from riskcore.settings import Paths

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

PROJECT = "driver_risk"
ONBOARDING_SERVICE = "onboarding"
DAILY_SERVICE = "daily"
ROSTER_FEATURE = "driver_signups:signup_state"
SIGNUPS_PUSH = "signups_push"
STATES_PUSH = "launched_states_push"
SEEDED_STATES = ("CA", "FL", "IL", "NY", "SD", "TX", "WA")
# Where a full rematerialization of never-expiring views (identities, states) starts.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)

_TS = pa.timestamp("us", tz="UTC")
HOURLY_SCHEMA = pa.schema([
    ("driver_id", pa.int64()), ("event_timestamp", _TS), ("created", _TS),
    (F.CONV_RATE, pa.float32()), (F.ACC_RATE, pa.float32()), (F.AVG_DAILY_TRIPS, pa.int64()),
])
YESTERDAYS_SCHEMA = pa.schema([
    ("driver_id", pa.int64()), ("event_timestamp", _TS), ("created", _TS),
    (F.Y_CONV_RATE, pa.float32()), (F.Y_ACC_RATE, pa.float32()), (F.Y_TRIPS, pa.float32()),
    *[(flag, pa.int64()) for flag in F.YESTERDAYS_FLAGS],
])
SIGNUPS_SCHEMA = pa.schema([
    ("driver_id", pa.int64()), ("ssn", pa.string()), ("dl", pa.string()),
    ("signup_state", pa.string()), (F.SSN_DRIVER_ID, pa.int64()), (F.DL_DRIVER_ID, pa.int64()),
    ("event_timestamp", _TS), ("created", _TS),
])
STATES_SCHEMA = pa.schema([
    ("state", pa.string()), (F.IS_LAUNCHED, pa.int64()),
    ("event_timestamp", _TS), ("created", _TS),
])

# One (thread lock, file lock) pair per data directory and process. The FileLock object must be
# shared too: a second FileLock on the same path in the same thread would wait for itself.
_LOCKS: dict[Path, tuple[threading.RLock, FileLock]] = {}
_LOCKS_GUARD = threading.Lock()
# Feast's DuckDB offline store runs every query on ibis's default DuckDB connection, one per
# process, which refuses concurrent calls ("connection is busy with another call"): 57 of 60
# historical reads from 4 threads failed without this lock.
_OFFLINE_QUERIES = threading.Lock()
# A historical read is run again at most this often when a compaction removed a part between
# DuckDB listing a source directory and opening the part.
VANISHED_PART_RETRIES = 5
REQUEST_ROW = "__request_row"


class StoreNotReady(RuntimeError):
    """The store has not been bootstrapped (or part of it is missing): say what to run."""


class OfflineRowsLost(RuntimeError):
    """Feast's offline store answered a historical read with other rows than were asked: the
    answer is refused rather than padded, so a lost row is never shown as a missing value."""


@contextmanager
def offline_queries() -> Iterator[None]:
    """Run Feast offline-store work (historical reads, materialization) one call at a time in
    this process: they share ibis's single DuckDB connection."""
    with _OFFLINE_QUERIES:
        yield


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ViewStatus:
    name: str
    online_rows: int | None
    newest_event: datetime | None
    last_materialized: datetime | None
    ttl: timedelta | None

    @property
    def age(self) -> timedelta | None:
        return utc_now() - self.newest_event if self.newest_event else None

    @property
    def fresh(self) -> bool | None:
        """Whether the newest online value is within the view's TTL (None: no TTL)."""
        if not self.ttl or self.age is None:
            return None
        return self.age <= self.ttl


@dataclass(frozen=True)
class StoreStatus:
    data_dir: Path
    registry_applied: bool
    views: tuple[ViewStatus, ...]
    problems: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return self.registry_applied and not self.problems

    @property
    def stale_views(self) -> list[str]:
        return [v.name for v in self.views if v.fresh is False]

    def table(self) -> pd.DataFrame:
        """One row per feature view, for screens and the CLI."""
        return pd.DataFrame([
            {"feature view": v.name, "online rows": v.online_rows,
             "age (h)": None if v.age is None else round(v.age.total_seconds() / 3600, 2),
             "ttl (h)": v.ttl.total_seconds() / 3600 if v.ttl else None,
             "freshness": {True: "fresh", False: "STALE", None: "no TTL"}[v.fresh],
             "newest event": v.newest_event, "last materialized": v.last_materialized}
            for v in self.views
        ])


def write_part(directory: Path, table: pd.DataFrame, schema: pa.Schema, name: str | None = None) -> Path:
    """Add one parquet part to a source directory atomically (temp file, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(table[schema.names], schema=schema, preserve_index=False)
    final = directory / (name or f"part-{utc_now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet")
    temp = directory / f".{final.name}.{uuid.uuid4().hex}.tmp"
    with open(temp, "wb") as sink:
        pq.write_table(arrow, sink)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(temp, final)
    return final


def read_parts(directory: Path, columns: Sequence[str] | None = None, filter: Any = None) -> pd.DataFrame:
    """Read a source directory (hidden temporary files are ignored by pyarrow). Retried once if
    a compaction removed a part between listing and reading."""
    for attempt in (1, 2):
        if not directory.is_dir() or not any(directory.glob("*.parquet")):
            return pd.DataFrame(columns=list(columns or []))
        try:
            dataset = ds.dataset(directory, format="parquet", exclude_invalid_files=False)
            return dataset.to_table(columns=list(columns) if columns else None, filter=filter).to_pandas()
        except FileNotFoundError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def compact(directory: Path, schema: pa.Schema, max_parts: int = 16) -> int:
    """Merge a directory's parts into one when there are many (each signup adds one). The merged
    part is written before the old ones go, so a listing holds every row at least once (Feast
    keeps one of equal rows); a reader that listed a part now deleted fails and reads again
    (``read_parts``, ``RiskStore.historical``). Callers hold ``writing()``. Returns the parts
    merged."""
    parts = sorted(directory.glob("*.parquet"))
    if len(parts) <= max_parts:
        return 0
    merged = pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])
    write_part(directory, merged.to_pandas(), schema, f"compact-{utc_now():%Y%m%dT%H%M%S%f}.parquet")
    for part in parts:
        part.unlink()
    return len(parts)


class RiskStore:
    """Feast plus our data directory. Thread-safe; create one per process and share it."""

    def __init__(self, paths: Paths | None = None, config_overrides: Mapping[str, Any] | None = None) -> None:
        """``config_overrides`` replaces top-level ``feature_store.yaml`` keys (benchmarks
        compare materialization settings with it)."""
        self.paths = paths or settings.paths()
        self.config_overrides = dict(config_overrides or {})
        self._fs: FeatureStore | None = None
        self._fs_generation = -1
        self._services: dict[str, FeatureService] = {}
        self._fs_guard = threading.Lock()
        with _LOCKS_GUARD:
            if self.paths.root not in _LOCKS:
                _LOCKS[self.paths.root] = (threading.RLock(), FileLock(str(self.paths.write_lock)))
            self._thread_lock, self._file_lock = _LOCKS[self.paths.root]

    # --- Feast objects ------------------------------------------------------------------

    def _raw_config(self) -> dict[str, Any]:
        """``feature_store.yaml``, with the registry and online store moved to our data dir."""
        raw = yaml.safe_load(os.path.expandvars(settings.FEATURE_STORE_YAML.read_text()))
        raw["registry"]["path"] = f"sqlite:///{self.paths.registry_db}"
        raw["online_store"] = settings.online_store() or {**raw["online_store"], "path": str(self.paths.online_db)}
        raw.update(self.config_overrides)
        return raw

    def repo_config(self) -> Any:
        from feast.repo_config import RepoConfig

        config = RepoConfig(**self._raw_config())
        config.repo_path = settings.FEATURE_REPO
        return config

    def write_cli_config(self, path: Path) -> Path:
        """This store's effective ``feature_store.yaml``, for Feast's own CLI on this data dir:
        ``feast -c feature_repo -f PATH apply | materialize-incremental | ui | serve``."""
        path.write_text(yaml.safe_dump(self._raw_config()))
        return path

    def _generation(self) -> int:
        """Which bootstrap the data dir holds: the ready marker's inode (a new file each time)."""
        try:
            return os.stat(self.paths.ready_marker).st_ino
        except FileNotFoundError:
            return -1

    @property
    def fs(self) -> FeatureStore:
        """The Feast store, created on first use (``import feast`` costs seconds) and again when
        another process has reset and rebuilt the data dir (Feast keeps its SQLite connection
        open, to files that no longer exist)."""
        generation = self._generation()
        if self._fs is None or generation != self._fs_generation:
            with self._fs_guard:
                if self._fs is None or generation != self._fs_generation:
                    from feast import FeatureStore

                    self.paths.root.mkdir(parents=True, exist_ok=True)
                    self._services.clear()
                    self._fs = FeatureStore(config=self.repo_config())
                    self._fs_generation = generation
        return self._fs

    def service(self, name: str) -> FeatureService:
        if name not in self._services:
            self._services[name] = self.fs.get_feature_service(name)
        return self._services[name]

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Serialise writers: threads of this process, then other processes."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, self._file_lock:
            yield

    def require_ready(self) -> None:
        """Cheap check (no Feast import) that a bootstrap has completed."""
        if not self.paths.ready_marker.exists():
            raise StoreNotReady(
                f"the store in {self.paths.root} is not set up (or its bootstrap was interrupted):"
                " run `riskcore bootstrap`"
            )

    def mark_ready(self, drivers: int, seed: int) -> None:
        """The last step of a bootstrap (atomic, so a killed bootstrap never looks complete).
        It records how the world was seeded, so a repair can regenerate seeded data."""
        temp = self.paths.root / f".{self.paths.ready_marker.name}.tmp"
        temp.write_text(json.dumps({"at": utc_now().isoformat(), "drivers": drivers, "seed": seed}))
        os.replace(temp, self.paths.ready_marker)

    def bootstrap_info(self) -> dict[str, Any] | None:
        """What the completed bootstrap recorded, or None if there is none."""
        try:
            return json.loads(self.paths.ready_marker.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def forget(self) -> None:
        """Drop the cached Feast objects (after a reset deleted the registry)."""
        with self._fs_guard:
            self._fs = None
            self._services.clear()

    # --- Registry and materialization -----------------------------------------------------

    def definitions(self) -> list[Any]:
        """Every Feast object in ``feature_repo/feature_definitions.py``."""
        from feast import Entity, FeatureService, FeatureView
        from feast.data_source import DataSource
        from feast.on_demand_feature_view import OnDemandFeatureView

        spec = importlib.util.spec_from_file_location("feature_definitions", settings.FEATURE_DEFINITIONS)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        # The definitions take their source paths from the settings: point them at this store.
        token = settings.DEFINITIONS_PATHS.set(self.paths)
        try:
            spec.loader.exec_module(module)
        finally:
            settings.DEFINITIONS_PATHS.reset(token)
        kinds = (Entity, FeatureView, OnDemandFeatureView, FeatureService, DataSource)
        return [obj for obj in vars(module).values() if isinstance(obj, kinds)]

    def apply(self) -> None:
        """Register the definitions and create the online tables (as ``feast apply``)."""
        with self.writing():
            self.fs.apply(self.definitions())
            self._services.clear()

    def registry_applied(self) -> bool:
        if not self.paths.registry_db.exists():
            return False
        try:
            return bool(self.fs.registry.list_feature_services(PROJECT, allow_cache=True))
        except Exception:  # noqa: BLE001 - a broken registry is "not applied", reported by status
            return False

    def materialize(
        self, end: datetime | None = None, progress: Callable[[int, int, str], None] | None = None
    ) -> list[str]:
        """Incremental materialization view by view, reporting ``(done, total, view)``."""
        end = end or utc_now()
        with self.writing(), offline_queries():
            views = [fv.name for fv in self.fs.list_feature_views()]
            for done, name in enumerate(views):
                if progress:
                    progress(done, len(views), name)
                self.fs.materialize_incremental(end_date=end, feature_views=[name])
            if progress:
                progress(len(views), len(views), "done")
            compact(self.paths.signups_dir, SIGNUPS_SCHEMA)
            compact(self.paths.states_dir, STATES_SCHEMA)
            self.fs.refresh_registry()  # status reads the cached registry: show this run
        return views

    def rematerialize(self, progress: Callable[[int, int, str], None] | None = None) -> list[str]:
        """Rebuild the online store from the offline data, ignoring what was materialized
        before (after the online store or the registry was lost)."""
        end = utc_now()
        with self.writing(), offline_queries():
            views = self.fs.list_feature_views()
            for done, view in enumerate(views):
                if progress:
                    progress(done, len(views), view.name)
                start = end - view.ttl if view.ttl and view.ttl.total_seconds() else EARLIEST
                self.fs.materialize(start_date=start, end_date=end, feature_views=[view.name])
        return [v.name for v in views]

    # --- Writes -------------------------------------------------------------------------

    def push(self, push_source: str, directory: Path, rows: pd.DataFrame, schema: pa.Schema) -> None:
        """The closed loop: offline part first (durable), then the online store.

        Callers hold ``writing()``. If the process dies between the two, the row is offline
        and the next materialization brings it online.
        """
        from feast.data_source import PushMode

        part = write_part(directory, rows, schema)
        try:
            self.fs.push(push_source, rows[schema.names], to=PushMode.ONLINE)
        except BaseException:
            part.unlink(missing_ok=True)  # not online, so not offline either: a retry is clean
            raise

    # --- Reads --------------------------------------------------------------------------

    def online(
        self,
        features: Sequence[str] | FeatureService,
        entity_rows: Sequence[Mapping[str, Any]],
        with_event_timestamps: bool = False,
    ) -> dict[str, list[Any]]:
        # full_feature_names=False: Feast silently drops python-mode on-demand outputs otherwise.
        response = self.fs.get_online_features(
            features=features if not isinstance(features, (list, tuple)) else list(features),
            entity_rows=list(entity_rows),
            full_feature_names=False,
        )
        return response.to_dict(include_event_timestamps=with_event_timestamps)

    def historical(self, entity_df: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
        """Point-in-time correct values as of each row's ``event_timestamp``: Feast's answer, one
        row per requested row, in the requested order, with the request's own columns (Feast
        returns its timestamp column converted to UTC). Raises ``OfflineRowsLost`` if Feast
        returns any other set of rows."""
        asked = entity_df.reset_index(drop=True)
        found = self._point_in_time(asked.assign(**{REQUEST_ROW: range(len(asked))}), list(features))
        rows = found[REQUEST_ROW].sort_values(ignore_index=True)
        if len(rows) != len(asked) or not rows.equals(pd.Series(range(len(asked)), dtype=rows.dtype)):
            raise OfflineRowsLost(
                f"Feast's offline store returned {len(found)} rows ({rows.nunique()} distinct) "
                f"for {len(asked)} requested rows"
            )
        values = found.set_index(REQUEST_ROW).sort_index().drop(columns=list(asked.columns))
        return asked.join(values)

    def _point_in_time(self, request: pd.DataFrame, features: list[str]) -> pd.DataFrame:
        """Feast's ``get_historical_features``, run again when DuckDB listed a part that was gone
        when it opened it: a compaction in another process merged and deleted it, and the merged
        part holds its rows (compactions in this process wait for ``offline_queries()``)."""
        import duckdb

        for attempt in range(1, VANISHED_PART_RETRIES + 1):
            try:
                with offline_queries():
                    return self.fs.get_historical_features(entity_df=request, features=features).to_df()
            except duckdb.IOException as error:
                if attempt == VANISHED_PART_RETRIES or "No such file or directory" not in str(error):
                    raise
        raise AssertionError("unreachable")

    def roster(self) -> pd.DataFrame:
        """Every approved driver (driver_id, signup_state), from the signups source."""
        table = read_parts(self.paths.signups_dir, ["driver_id", "signup_state"])
        return table.drop_duplicates("driver_id").sort_values("driver_id").reset_index(drop=True)

    # --- Status -------------------------------------------------------------------------

    def status(self) -> StoreStatus:
        """What is applied, materialized and fresh; ``problems`` says what is wrong and the fix."""
        from riskcore.data.ledger import Ledger

        if not self.paths.ready_marker.exists():
            problem = "not set up, or its bootstrap was interrupted (run `riskcore bootstrap`)"
            return StoreStatus(self.paths.root, self.registry_applied(), (), (problem,))
        problems: list[str] = []
        missing = [d.name for d in self.paths.source_dirs() if not any(d.glob("*.parquet"))]
        if missing:
            problems.append(f"data files missing: {', '.join(missing)} (run `riskcore repair`)")
        if not self.paths.ledger_db.exists():
            problems.append("decision log and job history missing (run `riskcore repair`; the "
                            "history is lost, new decisions are logged again)")
        for job in Ledger(self.paths.ledger_db).interrupted_jobs().itertuples():
            problems.append(f"{job.job} started {job.started} was interrupted (run `riskcore repair`)")
        applied = self.registry_applied()
        if not applied:
            problems.append("registry missing or empty (run `riskcore repair`)")
            return StoreStatus(self.paths.root, False, (), tuple(problems))
        if self.fs.config.online_store.type == "sqlite" and not self.paths.online_db.exists():
            problems.append("online store missing (run `riskcore repair`)")
        views = tuple(self._view_status(fv) for fv in self.fs.registry.list_feature_views(PROJECT, allow_cache=True))
        if self.paths.online_db.exists() and any(v.online_rows is None for v in views):
            problems.append("online store tables missing (run `riskcore repair`)")
        return StoreStatus(self.paths.root, True, views, tuple(problems))

    def _view_status(self, fv: Any) -> ViewStatus:
        rows, newest = self._online_table_stats(fv.name)
        return ViewStatus(
            name=fv.name,
            online_rows=rows,
            newest_event=newest,
            last_materialized=fv.most_recent_end_time,
            ttl=fv.ttl if fv.ttl and fv.ttl.total_seconds() > 0 else None,
        )

    def _online_table_stats(self, view: str) -> tuple[int | None, datetime | None]:
        """Row count and newest event time of a view in the SQLite online store."""
        if not self.paths.online_db.exists():
            return None, None
        table = f"{PROJECT}_{view}"
        with sqlite3.connect(f"file:{self.paths.online_db}?mode=ro", uri=True) as conn:
            try:
                rows, newest = conn.execute(
                    f'SELECT COUNT(DISTINCT entity_key), MAX(event_ts) FROM "{table}"'  # noqa: S608
                ).fetchone()
            except sqlite3.OperationalError:
                return None, None
        stamp = pd.Timestamp(newest, unit="s", tz="UTC").to_pydatetime() if newest else None
        return int(rows), stamp
