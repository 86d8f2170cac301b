"""Store status: what is applied, materialized and fresh, and everything that is wrong, each
with its fix. The ledger is the source of truth for drivers; the offline signup parts and the
online identities are its copies, and a deep check names every disagreement between them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskcore import settings
from riskcore.clock import utc_now
from riskcore.data.errors import StoreNotReady, StoreNotWritable, unwritable_reason
from riskcore.data.ledger import Ledger, LedgerOutdated
from riskcore.data.store import PROJECT, parts, read_parts, unreadable_parts
from riskcore.serving import features as F

if TYPE_CHECKING:
    from riskcore.data.store import RiskStore

# A signup still unsynced after this long was interrupted (in flight ones take milliseconds).
SYNC_GRACE = timedelta(seconds=5)
ONLINE_CHUNK = 5000
EXAMPLES = 3


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
        """Whether the newest online value is within the view's TTL (None: it never expires)."""
        if not self.ttl or self.age is None:
            return None
        return self.age <= self.ttl


@dataclass(frozen=True)
class StoreStatus:
    data_dir: Any
    registry_applied: bool
    views: tuple[ViewStatus, ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    writable: bool = True

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
             "freshness": {True: "fresh", False: "STALE", None: "never expires"}[v.fresh],
             "newest event": v.newest_event, "last materialized": v.last_materialized}
            for v in self.views
        ])


def demo_key_warning(root: Path) -> str | None:
    """The warning shown wherever the documented demo PII key is in force."""
    try:
        key = settings.pii_key(root)
    except settings.PiiKeyMissing:
        return None
    if not key.is_demo:
        return None
    return (f"the documented demo PII key is in use ({settings.PII_KEY_ENV}=demo): anyone can turn a "
            "token back into its SSN by trying every number. Unset it to use a generated key.")


def check(store: RiskStore, deep: bool = True) -> StoreStatus:
    """Everything wrong with the store, each with its fix. ``deep`` also cross-checks every
    driver in the ledger against the offline signups and the online identities."""
    root = store.paths.root
    warnings = tuple(w for w in (demo_key_warning(root),) if w)
    unwritable = unwritable_reason(root) if root.is_dir() else None
    problems: list[str] = []
    if unwritable:
        problems.append(f"the data directory is not writable ({unwritable}): free some disk space or "
                        "make it writable; until then no signup or decision can be recorded")
    if not store.paths.ready_marker.exists():
        problems.append("not set up, or its bootstrap was interrupted (run `riskcore bootstrap`)")
        return StoreStatus(root, store.registry_applied(), (), tuple(problems), warnings, not unwritable)
    try:
        store.require_ready()
    except (StoreNotReady, settings.PiiKeyMissing, LedgerOutdated) as exc:
        problems.append(str(exc))
    problems += _data_file_problems(store)
    ledger = Ledger(store.paths.ledger_db)
    if store.paths.ledger_db.exists():
        try:
            problems += _ledger_problems(ledger)
        except LedgerOutdated as exc:
            problems.append(str(exc))
        except StoreNotWritable:
            pass  # the unwritable data dir is the problem already named
    applied = store.registry_applied()
    if not applied:
        problems.append("registry missing or empty (run `riskcore repair`)")
        return StoreStatus(root, False, (), tuple(dict.fromkeys(problems)), warnings, not unwritable)
    if store.fs.config.online_store.type == "sqlite" and not store.paths.online_db.exists():
        problems.append("online store missing (run `riskcore repair`)")
    views = tuple(_view_status(store, fv) for fv in store.fs.registry.list_feature_views(PROJECT, allow_cache=True))
    if not unwritable and store.paths.online_db.exists() and any(v.online_rows is None for v in views):
        problems.append("online store tables missing (run `riskcore repair`)")
    if deep and not problems:  # the copies are compared once the store itself is whole
        problems += _copies_disagree(store, ledger)
    return StoreStatus(root, True, views, tuple(dict.fromkeys(problems)), warnings, not unwritable)


def _data_file_problems(store: RiskStore) -> list[str]:
    problems = []
    missing = [d.name for d in store.paths.source_dirs() if not parts(d)]
    if missing:
        problems.append(f"data files missing: {', '.join(missing)} (run `riskcore repair`)")
    for directory in store.paths.source_dirs():
        for part, why in unreadable_parts(directory):
            problems.append(f"data file unreadable: {directory.name}/{part.name} ({why}); run "
                            "`riskcore repair` (it is moved aside and rebuilt)")
    return problems


def _ledger_problems(ledger: Ledger) -> list[str]:
    problems = [f"{job.job} started {job.started} was interrupted (run `riskcore repair`)"
                for job in ledger.interrupted_jobs().itertuples()]
    if ledger.job_in_progress():  # a job holds the writer lock: signups' offline copies wait for it
        return problems
    pending = ledger.unsynced()
    stuck = pending[pd.to_datetime(pending["at"], utc=True) < pd.Timestamp(utc_now() - SYNC_GRACE)]
    if len(stuck):
        problems.append(f"{len(stuck)} signup(s) are in the ledger but not yet in the feature store (an "
                        f"interrupted signup, e.g. driver {_examples(stuck['driver_id'])}): run `riskcore repair`")
    return problems


def _copies_disagree(store: RiskStore, ledger: Ledger) -> list[str]:
    """Every driver of the ledger (settled signups only) in the offline parts and online."""
    truth = ledger.signups()
    settled = truth[truth["synced"] == 1]
    offline = read_parts(store.paths.signups_dir, ["driver_id"])["driver_id"].astype(int)
    problems = []
    lost = sorted(set(settled["driver_id"]) - set(offline))
    if lost:
        problems.append(f"{len(lost)} driver(s) of the ledger are missing from the signups data (e.g. "
                        f"{_examples(lost)}): run `riskcore repair`")
    strangers = sorted(set(offline) - set(truth["driver_id"]))
    if strangers:
        problems.append(f"{len(strangers)} driver(s) in the signups data are not in the ledger (e.g. "
                        f"{_examples(strangers)}): run `riskcore repair`")
    if settled.empty:
        return problems
    online_ssn = _online(store, f"ssn_identity:{F.SSN_DRIVER_ID}", "ssn", settled["ssn"].tolist())
    wrong_ssn = settled["driver_id"].to_numpy() != pd.array(online_ssn, dtype="Int64").to_numpy(na_value=-1)
    latest_dl = settled.groupby("dl")["driver_id"].max()
    online_dl = _online(store, f"dl_identity:{F.DL_DRIVER_ID}", "dl", latest_dl.index.tolist())
    wrong_dl = latest_dl.to_numpy() != pd.array(online_dl, dtype="Int64").to_numpy(na_value=-1)
    if wrong_ssn.any() or wrong_dl.any():
        drivers = sorted(set(settled["driver_id"][wrong_ssn]) | set(latest_dl[wrong_dl]))
        problems.append(f"the online identities disagree with the ledger for {len(drivers)} driver(s) (e.g. "
                        f"{_examples(drivers)}): run `riskcore repair`")
    return problems


def _online(store: RiskStore, ref: str, key: str, values: list[str]) -> list[Any]:
    name = ref.split(":")[1]
    found: list[Any] = []
    for start in range(0, len(values), ONLINE_CHUNK):
        rows = [{key: v} for v in values[start:start + ONLINE_CHUNK]]
        found += store.online([ref], rows)[name]
    return found


def _examples(ids: Any) -> str:
    shown = [str(int(i)) for i in list(ids)[:EXAMPLES]]
    return ", ".join(shown) + (" …" if len(list(ids)) > EXAMPLES else "")


def _view_status(store: RiskStore, fv: Any) -> ViewStatus:
    rows, newest = _online_table_stats(store, fv.name)
    return ViewStatus(
        name=fv.name, online_rows=rows, newest_event=newest, last_materialized=fv.most_recent_end_time,
        ttl=fv.ttl if fv.ttl and fv.ttl.total_seconds() > 0 else None,
    )


def _online_table_stats(store: RiskStore, view: str) -> tuple[int | None, datetime | None]:
    """Row count and newest event time of a view in the SQLite online store."""
    if not store.paths.online_db.exists():
        return None, None
    table = f"{PROJECT}_{view}"
    with sqlite3.connect(f"file:{store.paths.online_db}?mode=ro", uri=True) as conn:
        try:
            rows, newest = conn.execute(
                f'SELECT COUNT(DISTINCT entity_key), MAX(event_ts) FROM "{table}"'  # noqa: S608
            ).fetchone()
        except sqlite3.OperationalError:
            return None, None
    stamp = pd.Timestamp(newest, unit="s", tz="UTC").to_pydatetime() if newest else None
    return int(rows), stamp
