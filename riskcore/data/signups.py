"""The feature store's copies of the ledger's signups: group commit, and replay after a crash.

A signup is committed to the ledger first (the source of truth). Its copies, one offline
parquet part and the online identities (``ssn_identity``, ``dl_identity``, ``driver_signups``),
follow before the answer goes out, in groups: whoever arrives while a group is being written
waits and goes with the next one, so under a crowd one part and one online push carry many
signups and the writer lock is held for a fraction of a millisecond per signup. Both copies are
idempotent, so anything the ledger holds but the store may not (``synced = 0``) is replayed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import pandas as pd

from riskcore.data.ledger import SIGNUP_COLUMNS, Ledger
from riskcore.data.store import SIGNUPS_PUSH, SIGNUPS_SCHEMA, RiskStore, compact
from riskcore.serving import features as F

# More parts than this in the signups source and the group that crosses it compacts them.
COMPACT_OVER = 64


def signup_rows(signups: pd.DataFrame) -> pd.DataFrame:
    """Ledger signups as rows of the signups push source (tokens only)."""
    at = pd.to_datetime(signups["at"], utc=True)
    return pd.DataFrame({
        "driver_id": signups["driver_id"].astype("int64"), "ssn": signups["ssn"], "dl": signups["dl"],
        "signup_state": signups["state"], F.SSN_DRIVER_ID: signups["driver_id"].astype("int64"),
        F.DL_DRIVER_ID: signups["driver_id"].astype("int64"), "event_timestamp": at, "created": at,
    })


@dataclass
class SyncStats:
    """How the group commit behaves (benchmarks report the lock held per signup)."""

    groups: int = 0
    signups: int = 0
    lock_seconds: float = 0.0

    @property
    def lock_ms_per_signup(self) -> float:
        return 1000 * self.lock_seconds / self.signups if self.signups else 0.0


class SignupSync:
    """Copies committed signups into the feature store, in groups. Thread-safe; one per process
    and store (processes serialise on the store's writer lock)."""

    def __init__(self, store: RiskStore) -> None:
        self.store = store
        self.ledger = Ledger(store.paths.ledger_db)
        self.stats = SyncStats()
        self._cond = threading.Condition()
        self._waiting: list[tuple[dict[str, object], Future[None]]] = []
        self._writing = False

    def commit(self, signup: dict[str, object]) -> None:
        """Return once ``signup`` (a ledger row: driver_id, ssn, dl, state, at) is online and in
        an offline part; raises what the write raised (the ledger keeps the signup for replay)."""
        done: Future[None] = Future()
        with self._cond:
            self._waiting.append((signup, done))
            while self._writing and not done.done():
                self._cond.wait()
            if done.done():
                return done.result()
            self._writing = True
            group, self._waiting = self._waiting, []
        try:
            self._write(group)
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
        return done.result()

    def _write(self, group: list[tuple[dict[str, object], Future[None]]]) -> None:
        try:
            self.copy(pd.DataFrame([signup for signup, _ in group], columns=SIGNUP_COLUMNS))
        except BaseException as exc:
            for _, done in group:
                done.set_exception(exc)
            return
        for _, done in group:
            done.set_result(None)

    def copy(self, signups: pd.DataFrame) -> None:
        """One offline part and one online push for these ledger signups, then mark them synced."""
        paths = self.store.paths
        with self.store.writing():
            started = time.perf_counter()
            self.store.push(SIGNUPS_PUSH, paths.signups_dir, signup_rows(signups), SIGNUPS_SCHEMA)
            compact(paths.signups_dir, SIGNUPS_SCHEMA, max_parts=COMPACT_OVER)
            self.stats.lock_seconds += time.perf_counter() - started
            self.stats.groups += 1
            self.stats.signups += len(signups)
        self.ledger.mark_synced(signups["driver_id"].tolist())

    def replay(self) -> int:
        """Copy every signup the ledger holds but the store may not (a crash cut its copy short).
        Returns how many were replayed."""
        pending = self.ledger.unsynced()
        if len(pending):
            self.copy(pending)
        return len(pending)
