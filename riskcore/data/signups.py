"""The feature store's copies of the ledger's signups: group commit, and replay after a crash.

A signup is committed to the ledger first (the source of truth). Its online copy (the
``ssn_identity``, ``dl_identity`` and ``driver_signups`` views, and the new driver's first
simulated day of activity, ``jobs.first_day``) is written before the answer
goes out, so the next signup with that SSN is flagged by the feature store itself; whoever
arrives while a group is being pushed waits and goes with the next group. The offline copy is
group-committed: signups are gathered into one parquet part every ``OFFLINE_EVERY`` seconds (or
``OFFLINE_BATCH`` signups), so the writer lock is held for a fraction of a millisecond per signup.
A signup is ``synced`` in the ledger once both copies hold it; both are idempotent, so anything
unsynced (a process killed in between) is replayed.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from concurrent.futures import Future

import pandas as pd

from riskcore.data.jobs import first_day
from riskcore.data.ledger import SIGNUP_COLUMNS, Ledger
from riskcore.data.store import (
    HOURLY_SCHEMA,
    HOURLY_VIEW,
    NEWCOMERS_PREFIX,
    SIGNUPS_PUSH,
    SIGNUPS_SCHEMA,
    YESTERDAYS_SCHEMA,
    YESTERDAYS_VIEW,
    RiskStore,
    compact,
    write_part,
)
from riskcore.serving import features as F

log = logging.getLogger(__name__)
OFFLINE_EVERY = 0.25
OFFLINE_BATCH = 512
# More parts than this in the signups source and the next part compacts them.
COMPACT_OVER = 64
# New drivers' first days go to parts of their own in the activity sources, compacted alike.
NEWCOMERS = f"{NEWCOMERS_PREFIX}*.parquet"


def signup_rows(signups: pd.DataFrame) -> pd.DataFrame:
    """Ledger signups as rows of the signups push source (tokens only)."""
    at = pd.to_datetime(signups["at"], utc=True)
    ids = signups["driver_id"].astype("int64")
    return pd.DataFrame({
        "driver_id": ids, "ssn": signups["ssn"], "dl": signups["dl"], "signup_state": signups["state"],
        F.SSN_DRIVER_ID: ids, F.DL_DRIVER_ID: ids, "event_timestamp": at, "created": at,
    })[SIGNUPS_SCHEMA.names]


class SignupSync:
    """Copies committed signups into the feature store. Thread-safe; one per process and store
    (processes serialise their offline parts on the store's writer lock)."""

    def __init__(self, store: RiskStore) -> None:
        self.store = store
        self.ledger = Ledger(store.paths.ledger_db)
        self._online = threading.Condition()
        self._waiting: list[tuple[dict[str, object], Future[None]]] = []
        self._pushing = False
        self._offline = threading.Condition()
        self._pending: list[dict[str, object]] = []
        self._flusher: threading.Thread | None = None
        self._exit_hook = False

    def commit(self, signup: dict[str, object]) -> None:
        """Return once ``signup`` (a ledger row: driver_id, ssn, dl, state, at) is online; its
        offline part follows within ``OFFLINE_EVERY``. Raises what the online write raised (the
        ledger keeps the signup for replay)."""
        done: Future[None] = Future()
        with self._online:
            self._waiting.append((signup, done))
            while self._pushing and not done.done():
                self._online.wait()
            if not done.done():
                self._pushing = True
                group, self._waiting = self._waiting, []
        if not done.done():
            try:
                self._push(group)
            finally:
                with self._online:
                    self._pushing = False
                    self._online.notify_all()
        done.result()

    def _push(self, group: list[tuple[dict[str, object], Future[None]]]) -> None:
        signups = [signup for signup, _ in group]
        try:
            self._copy_online(pd.DataFrame(signups, columns=SIGNUP_COLUMNS))
        except BaseException as exc:
            for _, done in group:
                done.set_exception(exc)
            return
        try:
            with self._offline:
                self._pending += signups
                self._start_flusher()
                if len(self._pending) >= OFFLINE_BATCH:
                    self._offline.notify()
        finally:  # online and in the ledger: answered, whatever happens to the offline queue
            for _, done in group:
                done.set_result(None)

    def _start_flusher(self) -> None:
        """Called holding ``_offline``. The flusher runs while there is work, then ends."""
        if self._flusher is None:
            if not self._exit_hook:
                atexit.register(self._flush_at_exit)
                self._exit_hook = True
            self._flusher = threading.Thread(target=self._flush_while_busy, name="signups-offline", daemon=True)
            self._flusher.start()

    def _flush_while_busy(self) -> None:
        while True:
            with self._offline:
                self._offline.wait(OFFLINE_EVERY)
                if not self._pending:
                    self._flusher = None
                    return
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the ledger keeps them unsynced; replay and status see them
                log.warning("signups' offline copy not written yet (retrying)", exc_info=True)
                time.sleep(OFFLINE_EVERY)

    def _flush_at_exit(self) -> None:
        """The last group at a clean exit; if it cannot be written, the ledger keeps it for replay."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - no traceback at exit: the next start replays it
            log.warning("signups' offline copy left to the next start's replay", exc_info=True)

    def flush(self) -> None:
        """Write the gathered signups as one offline part now (at exit, and for tests)."""
        with self._offline:
            batch, self._pending = self._pending, []
        if batch:
            try:
                self._write_offline(pd.DataFrame(batch, columns=SIGNUP_COLUMNS))
            except BaseException:
                with self._offline:
                    self._pending = batch + self._pending
                raise

    def _copy_online(self, signups: pd.DataFrame) -> None:
        """The signups' identities and their first day (its newest hourly row, the day's stats)."""
        self.store.push_online(SIGNUPS_PUSH, signup_rows(signups))
        hourly, stats = first_day(signups["driver_id"].tolist(), pd.to_datetime(signups["at"], utc=True))
        newest = hourly.sort_values("event_timestamp").drop_duplicates("driver_id", keep="last")
        self.store.write_online([HOURLY_VIEW], newest[HOURLY_SCHEMA.names])
        self.store.write_online([YESTERDAYS_VIEW], stats[YESTERDAYS_SCHEMA.names])

    def _write_offline(self, signups: pd.DataFrame) -> None:
        """One parquet part for these signups and one per activity source for their first days
        (no fsync: the ledger is the durable copy, and the first days are seeded from it), then
        mark them synced."""
        paths = self.store.paths
        hourly, stats = first_day(signups["driver_id"].tolist(), pd.to_datetime(signups["at"], utc=True))
        name = f"{NEWCOMERS_PREFIX}{signups['driver_id'].min()}-{signups['driver_id'].max()}-{time.time_ns()}.parquet"
        with self.store.writing():
            write_part(paths.signups_dir, signup_rows(signups), SIGNUPS_SCHEMA, durable=False)
            write_part(paths.hourly_dir, hourly, HOURLY_SCHEMA, name, durable=False)
            write_part(paths.yesterdays_dir, stats, YESTERDAYS_SCHEMA, name, durable=False)
        self.ledger.mark_synced(signups["driver_id"].tolist())
        self._compact()

    def _compact(self) -> None:
        """Merge small parts once there are many. A failure (an unreadable part: status names it,
        repair moves it aside) is logged and changes nothing: the signups are already written."""
        paths = self.store.paths
        try:
            with self.store.writing():
                compact(paths.signups_dir, SIGNUPS_SCHEMA, max_parts=COMPACT_OVER)
                compact(paths.hourly_dir, HOURLY_SCHEMA, max_parts=COMPACT_OVER, pattern=NEWCOMERS)
                compact(paths.yesterdays_dir, YESTERDAYS_SCHEMA, max_parts=COMPACT_OVER, pattern=NEWCOMERS)
        except Exception:  # noqa: BLE001 - see the docstring
            log.warning("compaction of signup parts skipped", exc_info=True)

    def replay(self) -> int:
        """Copy every signup the ledger holds but the store may not (a crash cut its copies
        short), online and offline. Returns how many were replayed."""
        self.flush()
        pending = self.ledger.unsynced()
        if len(pending):
            self._copy_online(pending)
            self._write_offline(pending)
        return len(pending)
