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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml
from filelock import FileLock

from riskcore import settings
from riskcore.clock import utc_now
from riskcore.data.errors import DataFileCorrupt, PiiKeyMismatch, StoreNotReady, disk_guard
from riskcore.serving import features as F
from riskcore.settings import Paths

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

    from riskcore.data.health import StoreStatus

PROJECT = "driver_risk"
ONBOARDING_SERVICE = "onboarding"
DAILY_SERVICE = "daily"
HOURLY_VIEW = "driver_hourly_stats"
YESTERDAYS_VIEW = "driver_yesterdays_stats"
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
OUTCOMES_SCHEMA = pa.schema([
    ("driver_id", pa.int64()), ("event_timestamp", _TS), ("created", _TS), (F.LABEL, pa.int64()),
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


class OfflineRowsLost(RuntimeError):
    """Feast's offline store answered a historical read with other rows than were asked: the
    answer is refused rather than padded, so a lost row is never shown as a missing value."""


@contextmanager
def offline_queries() -> Iterator[None]:
    """Run Feast offline-store work (historical reads, materialization) one call at a time in
    this process: they share ibis's single DuckDB connection."""
    with _OFFLINE_QUERIES:
        yield


# New drivers' first days, in parts of their own in the activity sources (riskcore.data.signups).
NEWCOMERS_PREFIX = "newcomers-"


def part_name(prefix: str = "part") -> str:
    """A new part's file name: the prefix, the time it was written (so names sort in time) and a
    random suffix."""
    return f"{prefix}-{utc_now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"


def write_part(
    directory: Path, table: pd.DataFrame, schema: pa.Schema, name: str | None = None, durable: bool = True,
) -> Path:
    """Add one parquet part to a source directory atomically (temp file, fsync, rename). A full
    or read-only disk is ``StoreNotWritable`` and leaves no temporary file behind. ``durable=False``
    skips the fsync, for copies whose source of truth is elsewhere (the ledger's signups)."""
    arrow = pa.Table.from_pandas(table[schema.names], schema=schema, preserve_index=False)
    final = directory / (name or part_name())
    temp = directory / f".{final.name}.{uuid.uuid4().hex}.tmp"
    with disk_guard(directory.parent):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            with open(temp, "wb") as sink:
                pq.write_table(arrow, sink)
                if durable:
                    sink.flush()
                    os.fsync(sink.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    return final


def parts(directory: Path) -> list[Path]:
    """A source directory's parts (hidden temporary files are not parts)."""
    return sorted(directory.glob("*.parquet")) if directory.is_dir() else []


def unreadable_parts(directory: Path) -> list[tuple[Path, str]]:
    """Parts whose footer does not read, with why. Reading footers only keeps this cheap (a
    truncated or overwritten part fails here); a missing part was compacted away meanwhile."""
    bad = []
    for part in parts(directory):
        try:
            pq.read_metadata(part)
        except FileNotFoundError:
            continue
        except (OSError, pa.ArrowException) as exc:
            bad.append((part, str(exc).splitlines()[0][:120]))
    return bad


def read_parts(
    directory: Path, columns: Sequence[str] | None = None, filter: Any = None, only: Sequence[Path] | None = None,
) -> pd.DataFrame:
    """Read a source directory (or ``only`` these parts of it). Retried once if a compaction
    removed a part between listing and reading; a part that does not read is ``DataFileCorrupt``
    naming it (not pyarrow's text)."""
    for attempt in (1, 2):
        if not (parts(directory) if only is None else only):
            return pd.DataFrame(columns=list(columns or []))
        try:
            source = directory if only is None else [str(p) for p in only]
            dataset = ds.dataset(source, format="parquet", exclude_invalid_files=False)
            return dataset.to_table(columns=list(columns) if columns else None, filter=filter).to_pandas()
        except FileNotFoundError:
            if attempt == 2:
                raise
        except (OSError, pa.ArrowException) as exc:
            bad = unreadable_parts(directory)
            if bad:
                raise DataFileCorrupt(*bad[0]) from exc
            raise
    raise AssertionError("unreachable")


def compact(directory: Path, schema: pa.Schema, max_parts: int = 16, pattern: str = "*.parquet") -> int:
    """Merge a directory's parts (those matching ``pattern``) into one when there are many
    (signups arrive in small batches). Exact duplicate rows (a replayed signup) go. The merged
    part is written before the old ones go, so a listing holds every row at least once; a reader
    that listed a part now deleted reads again (``read_parts``, ``RiskStore.historical``).
    Callers hold ``writing()``. Returns the parts merged."""
    found = sorted(directory.glob(pattern))
    if len(found) <= max_parts:
        return 0
    merged = pa.concat_tables([pq.read_table(p, schema=schema) for p in found]).to_pandas().drop_duplicates()
    prefix = pattern.split("*")[0] if pattern != "*.parquet" else ""
    write_part(directory, merged, schema, f"{prefix}compact-{utc_now():%Y%m%dT%H%M%S%f}.parquet")
    for part in found:
        part.unlink()
    return len(found)


class RiskStore:
    """Feast plus our data directory. Thread-safe; create one per process and share it."""

    def __init__(self, paths: Paths | None = None, config_overrides: Mapping[str, Any] | None = None) -> None:
        """``config_overrides`` replaces top-level ``feature_store.yaml`` keys (benchmarks
        compare materialization settings with it)."""
        self.paths = paths or settings.paths()
        settings.prepare_data_dir(self.paths.root)
        self.config_overrides = dict(config_overrides or {})
        self._checked_key: tuple[int, str] | None = None
        self._stores: dict[str, FeatureStore] = {}
        self._fs_generation = -1
        self._push_lock = threading.Lock()
        self._services: dict[str, FeatureService] = {}
        self._push_views: dict[str, list[str]] = {}
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

    def repo_config(self, repo_path: Path = settings.FEATURE_REPO) -> Any:
        """The Feast configuration. ``repo_path`` is where Feast resolves relative paths (ours are
        absolute) and where its monitoring writes its tables."""
        from feast.repo_config import RepoConfig

        config = RepoConfig(**self._raw_config())
        config.repo_path = repo_path
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

    def _feast(self, role: str) -> FeatureStore:
        """The Feast store for one role, created on first use (``import feast`` costs seconds)
        and again when another process has reset and rebuilt the data dir (Feast keeps its
        SQLite connection open, to files that no longer exist).

        Roles: ``reads`` (online reads for decisions, from many threads), ``pushes`` (signup and
        state copies), ``jobs`` (registry, apply, materialize, historical reads), ``monitoring``
        (Feast's data-quality monitoring, whose tables it writes under the repo path: ours points
        into the data dir, never at ``feature_repo/``). Feast's SQLite online store keeps one
        connection per store object and shares it across threads without a lock: a push
        committing on it while another thread read failed with ``SystemError`` under a crowd, so
        each role has its own store object, hence its own connection."""
        generation = self._generation()
        stores = self._stores
        if generation != self._fs_generation or role not in stores:
            with self._fs_guard:
                if generation != self._fs_generation:
                    self._stores.clear()
                    self._services.clear()
                    self._push_views.clear()
                    self._fs_generation = generation
                if role not in self._stores:
                    from feast import FeatureStore

                    repo = self.paths.monitoring_work_dir if role == "monitoring" else settings.FEATURE_REPO
                    self._stores[role] = FeatureStore(config=self.repo_config(repo))
                stores = self._stores
        return stores[role]

    def training_feast(self, mlflow: Mapping[str, Any]) -> FeatureStore:
        """A Feast store for training only, with Feast's MLflow integration (``mlflow:`` in
        ``feature_store.yaml``) switched on: its historical reads tag the active MLflow run and
        archive the entity rows. The stores that serve never get this setting: Feast's auto-log
        looks at every online read, and inside a run made them ~85× slower."""
        from feast import FeatureStore
        from feast.repo_config import RepoConfig

        config = RepoConfig(**{**self._raw_config(), "mlflow": dict(mlflow)})
        config.repo_path = settings.FEATURE_REPO
        return FeatureStore(config=config)

    @property
    def fs(self) -> FeatureStore:
        """Feast for jobs, the registry and historical reads (see ``_feast``)."""
        return self._feast("jobs")

    @property
    def monitoring_fs(self) -> FeatureStore:
        """Feast for data-quality monitoring (see ``_feast``): its tables go to the data dir."""
        return self._feast("monitoring")

    def warm(self) -> None:
        """Create every role's Feast store now (a server's start), not under the first request:
        the first push once stalled every client for seconds while its store was built. One
        read opens the online store, so reads keep working if the disk fills up later."""
        for role in ("jobs", "reads", "pushes"):
            self._feast(role)
        self.online([f"launched_states:{F.IS_LAUNCHED}"], [{"state": SEEDED_STATES[0]}])

    def service(self, name: str) -> FeatureService:
        if name not in self._services:
            self._services[name] = self.fs.get_feature_service(name)
        return self._services[name]

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Serialise writers: threads of this process, then other processes. A disk that will not
        take the write is ``StoreNotWritable``."""
        with disk_guard(self.paths.root), self._thread_lock, self._file_lock:
            yield

    def require_ready(self) -> None:
        """Cheap check (no Feast import) that a bootstrap completed, the ledger is there and the
        PII key in force is the one the store's tokens were made with."""
        generation = self._generation()
        if generation == -1:
            raise StoreNotReady(
                f"the store in {self.paths.root} is not set up (or its bootstrap was interrupted):"
                " run `riskcore bootstrap`"
            )
        if not self.paths.ledger_db.exists():
            raise StoreNotReady("the ledger (signups, decision log) is missing: run `riskcore repair`")
        key = settings.pii_key(self.paths.root)
        if self._checked_key != (generation, key.fingerprint):
            self.check_pii_key()
            self._checked_key = (generation, key.fingerprint)

    def check_pii_key(self) -> None:
        """Refuse a PII key other than the bootstrap's: its tokens would match nobody."""
        key = settings.pii_key(self.paths.root)
        recorded = (self.bootstrap_info() or {}).get("pii_key_fingerprint")
        if recorded != key.fingerprint:
            raise PiiKeyMismatch(
                f"the PII key in force (fingerprint {key.fingerprint}, from {key.source}) is not the"
                f" one this store's tokens were made with ({recorded or 'unknown'}): every known SSN"
                f" would look new. Set {settings.PII_KEY_ENV} to the bootstrap's key, or"
                " `riskcore reset` and bootstrap again"
            )

    def mark_ready(self, drivers: int, seed: int, world_at: datetime | None = None) -> None:
        """The last step of a bootstrap (atomic, so a killed bootstrap never looks complete).
        It records how the world was seeded (and the time its history ends, ``world_at``), so a
        repair can regenerate seeded data exactly, and which
        PII key made the tokens, so a process with another key refuses to run."""
        key = settings.pii_key(self.paths.root)
        temp = self.paths.root / f".{self.paths.ready_marker.name}.tmp"
        world = {"world_at": world_at.isoformat()} if world_at else {}
        temp.write_text(json.dumps({"at": utc_now().isoformat(), **world, "drivers": drivers, "seed": seed,
                                    "pii_key_fingerprint": key.fingerprint, "pii_key_source": key.source}))
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
            self._stores.clear()
            self._services.clear()
            self._push_views.clear()

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
            if self.fs.config.online_store.type == "sqlite":
                # WAL: readers are never blocked by a push or a materialization committing.
                with closing(sqlite3.connect(self.paths.online_db)) as conn:
                    conn.execute("PRAGMA journal_mode=WAL")

    def registry_applied(self) -> bool:
        if not self.paths.registry_db.exists():
            return False
        try:
            return bool(self.fs.registry.list_feature_services(PROJECT, allow_cache=True))
        except Exception:  # noqa: BLE001 - a broken registry is "not applied", reported by status
            return False

    @contextmanager
    def offline_reads(self) -> Iterator[None]:
        """Feast reads the parts itself (materialize, historical reads): a part that does not
        read becomes ``DataFileCorrupt`` naming it, not the reader's own error text."""
        try:
            yield
        except Exception as exc:
            for directory in self.paths.source_dirs():
                bad = unreadable_parts(directory)
                if bad:
                    raise DataFileCorrupt(*bad[0]) from exc
            raise

    def materialize(
        self, end: datetime | None = None, progress: Callable[[int, int, str], None] | None = None,
        skip: Collection[str] = (),
    ) -> list[str]:
        """Incremental materialization view by view, reporting ``(done, total, view)``; views in
        ``skip`` (held back by the quality gate) keep what they serve."""
        end = end or utc_now()
        with self.writing(), offline_queries(), self.offline_reads():
            views = [fv.name for fv in self.fs.list_feature_views() if fv.name not in skip]
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

    def rematerialize(
        self, progress: Callable[[int, int, str], None] | None = None,
        until: Mapping[str, datetime | None] | None = None,
    ) -> list[str]:
        """Rebuild the online store from the offline data, ignoring what was materialized
        before (after the online store or the registry was lost). A view in ``until`` is read
        only up to that time (the newest data it may serve; None: nothing)."""
        now = utc_now()
        until = until or {}
        rebuilt = []
        with self.writing(), offline_queries(), self.offline_reads():
            views = self.fs.list_feature_views()
            for done, view in enumerate(views):
                if progress:
                    progress(done, len(views), view.name)
                end = until.get(view.name, now)
                if end is None:
                    continue
                start = now - view.ttl if view.ttl and view.ttl.total_seconds() else EARLIEST
                if start < end:
                    self.fs.materialize(start_date=start, end_date=end, feature_views=[view.name])
                rebuilt.append(view.name)
        return rebuilt

    # --- Writes -------------------------------------------------------------------------

    def push_online(self, push_source: str, rows: pd.DataFrame) -> None:
        """Feast's push to the online store, view by view, without the precompute step
        ``FeatureStore.push`` ends with: it lists every feature service from the SQL registry,
        bypassing the registry cache (3 ms of a 10 ms push here), to refresh precomputed
        services, and this repo has none. Upserts of the same rows are idempotent."""
        views = self._push_views.get(push_source)
        if views is None:
            views = [fv.name for fv in self.fs.list_feature_views(allow_cache=True)
                     if fv.stream_source is not None and fv.stream_source.name == push_source]
            self._push_views[push_source] = views
        self.write_online(views, rows)

    def write_online(self, views: Sequence[str], rows: pd.DataFrame) -> None:
        """Upsert rows into these views' online tables (the pushes role's own connection)."""
        pushes = self._feast("pushes")
        with disk_guard(self.paths.root), self._push_lock:
            for view in views:
                pushes.write_to_online_store(view, rows, allow_registry_cache=True)

    def push(self, push_source: str, directory: Path, rows: pd.DataFrame, schema: pa.Schema) -> None:
        """Copy rows the ledger already holds into the feature store: an offline part, then the
        online store. Callers hold ``writing()``. Both copies are idempotent, so a push cut short
        by a crash is simply replayed from the ledger."""
        write_part(directory, rows, schema)
        self.push_online(push_source, rows[schema.names])

    # --- Reads --------------------------------------------------------------------------

    def online(
        self,
        features: Sequence[str] | FeatureService,
        entity_rows: Sequence[Mapping[str, Any]],
        with_event_timestamps: bool = False,
    ) -> dict[str, list[Any]]:
        # full_feature_names=False: Feast silently drops python-mode on-demand outputs otherwise.
        with disk_guard(self.paths.root):
            response = self._feast("reads").get_online_features(
                features=features if not isinstance(features, (list, tuple)) else list(features),
                entity_rows=list(entity_rows),
                full_feature_names=False,
            )
        return response.to_dict(include_event_timestamps=with_event_timestamps)

    def historical(
        self, entity_df: pd.DataFrame, features: Sequence[str] | FeatureService, feast: FeatureStore | None = None,
    ) -> pd.DataFrame:
        """Point-in-time correct values as of each row's ``event_timestamp``: Feast's answer, one
        row per requested row, in the requested order, with the request's own columns (Feast
        returns its timestamp column converted to UTC). Raises ``OfflineRowsLost`` if Feast
        returns any other set of rows. ``features`` may be a feature service (what a model
        reads); ``feast`` another Feast store for this data dir (training's, which logs to MLflow)."""
        asked = entity_df.reset_index(drop=True)
        wanted = features if not isinstance(features, (list, tuple)) else list(features)
        with self.offline_reads():
            found = self._point_in_time(asked.assign(**{REQUEST_ROW: range(len(asked))}), wanted, feast or self.fs)
        rows = found[REQUEST_ROW].sort_values(ignore_index=True)
        if len(rows) != len(asked) or not rows.equals(pd.Series(range(len(asked)), dtype=rows.dtype)):
            raise OfflineRowsLost(
                f"Feast's offline store returned {len(found)} rows ({rows.nunique()} distinct) "
                f"for {len(asked)} requested rows"
            )
        values = found.set_index(REQUEST_ROW).sort_index().drop(columns=list(asked.columns))
        return asked.join(values)

    def _point_in_time(self, request: pd.DataFrame, features: Any, feast: FeatureStore) -> pd.DataFrame:
        """Feast's ``get_historical_features``, run again when DuckDB listed a part that was gone
        when it opened it: a compaction in another process merged and deleted it, and the merged
        part holds its rows (compactions in this process wait for ``offline_queries()``)."""
        import duckdb

        for attempt in range(1, VANISHED_PART_RETRIES + 1):
            try:
                with offline_queries():
                    return feast.get_historical_features(entity_df=request, features=features).to_df()
            except duckdb.IOException as error:
                if attempt == VANISHED_PART_RETRIES or "No such file or directory" not in str(error):
                    raise
        raise AssertionError("unreachable")

    def roster(self) -> pd.DataFrame:
        """Every driver (driver_id, signup_state), from the ledger: the source of truth."""
        from riskcore.data.ledger import Ledger

        signups = Ledger(self.paths.ledger_db).signups()
        return signups[["driver_id", "state"]].rename(columns={"state": "signup_state"})

    # --- Status -------------------------------------------------------------------------

    def status(self, deep: bool = True) -> StoreStatus:
        """What is applied, materialized and fresh; ``problems`` says what is wrong and the fix
        (see ``riskcore.data.health``; ``deep`` cross-checks every driver's copies)."""
        from riskcore.data.health import check

        return check(self, deep)
