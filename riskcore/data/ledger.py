"""The ledger: the source of truth for signups, and the decision log, job history and scores.

SQLite in WAL mode. A signup is one transaction: the decision, the identity claim (SSN and
licence tokens) and the new driver id are committed together before the answer goes out, so a
process killed at any point either has the whole signup or none of it. The feature store's
copies (online identities, offline signup parts) follow and are replayed from here after a
crash: rows stay ``synced = 0`` until both copies hold them. Only tokens are stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from riskcore.data.errors import StoreNotReady, disk_guard
from riskcore.settings import FIRST_DRIVER_ID, process_alive

# Bumped when the schema changes incompatibly; an older ledger asks for a reset.
SCHEMA_VERSION = 2
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    score REAL,
    decision TEXT NOT NULL,
    driver_id INTEGER,
    what_if INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signups (
    driver_id INTEGER PRIMARY KEY,
    application TEXT UNIQUE,          -- idempotency key (NULL for the seeded population)
    ssn TEXT NOT NULL UNIQUE,         -- at most one driver per SSN token, ever
    dl TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL,                 -- the signup's event time in the feature store
    decision_id INTEGER,
    synced INTEGER NOT NULL DEFAULT 0 -- 1 once the online store and the offline parts hold it
);
CREATE INDEX IF NOT EXISTS signups_dl ON signups (dl);
CREATE INDEX IF NOT EXISTS signups_unsynced ON signups (synced) WHERE synced = 0;
CREATE TABLE IF NOT EXISTS state_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    launched INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    pid INTEGER,
    started TEXT NOT NULL,
    finished TEXT,
    outcome TEXT NOT NULL,
    rows INTEGER,
    seconds REAL,
    message TEXT
);
CREATE TABLE IF NOT EXISTS scores (
    run_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    driver_id INTEGER NOT NULL,
    version TEXT NOT NULL,
    score REAL,
    decision TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_driver ON scores (driver_id, at);
CREATE TABLE IF NOT EXISTS shadow (
    decision_id INTEGER,              -- the logged decision (NULL for a batch-scoring run)
    run_id INTEGER,                   -- the batch-scoring job (NULL for a single decision)
    at TEXT NOT NULL,
    driver_id INTEGER NOT NULL,
    champion TEXT NOT NULL,           -- "daily-risk v3": what decided
    champion_score REAL NOT NULL,
    champion_decision TEXT NOT NULL,
    challenger TEXT NOT NULL,         -- "daily-risk v4": scored in shadow on the same vector
    challenger_score REAL NOT NULL,
    challenger_decision TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (  -- the quality checks each batch job's output met or failed
    job_id INTEGER NOT NULL,
    view TEXT NOT NULL,
    part TEXT NOT NULL,               -- the output they judged (blocked-… when it failed)
    name TEXT NOT NULL,
    passed INTEGER NOT NULL,
    observed REAL,
    expected TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checks_job ON checks (job_id);
PRAGMA user_version = {SCHEMA_VERSION};
"""
SIGNUP_COLUMNS = ["driver_id", "ssn", "dl", "state", "at"]


class LedgerOutdated(RuntimeError):
    """The ledger was written by an older version of the schema."""


# Per ledger file: the inode whose schema this process has checked, an idle connection, and
# the lock that serialises this process's writers (SQLite's own busy wait sleeps for
# milliseconds at a time, which under a crowd costs far more than waiting on a thread lock).
_SCHEMA_READY: dict[Path, int] = {}
_KEEPERS: dict[Path, tuple[sqlite3.Connection, int]] = {}
_WRITERS: dict[Path, threading.Lock] = {}
_GUARD = threading.Lock()
# Jobs running in this process right now (a 'running' row of ours not in here was interrupted).
_ACTIVE: set[int] = set()


def _keep_open(path: Path, inode: int) -> None:
    """Hold one idle connection per ledger file for the life of the process. Closing the *last*
    connection makes SQLite checkpoint the WAL (a millisecond per logged decision); with this
    one open, the short-lived connections close cheaply. Replaced when a reset swaps the file."""
    with _GUARD:
        kept = _KEEPERS.get(path)
        if kept is None or kept[1] != inode:
            if kept is not None:
                kept[0].close()
            keeper = sqlite3.connect(path, check_same_thread=False)
            keeper.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # joins the WAL
            _KEEPERS[path] = (keeper, inode)


def _writer_lock(path: Path) -> threading.Lock:
    with _GUARD:
        return _WRITERS.setdefault(path, threading.Lock())


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Claim:
    """What the ledger knows about an application's identities, read inside its transaction."""

    driver_id: int | None  # this very application already became this driver (a retry) …
    decision_id: int | None
    synced: bool  # … whose copies in the feature store are complete
    state: str | None
    at: str | None
    ssn_holder: int | None
    dl_holder: int | None


class SignupTransaction:
    """One signup's reads and writes, inside a single ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def claim(self, application: str, ssn: str, dl: str) -> Claim:
        same = self._conn.execute(
            "SELECT driver_id, decision_id, synced, state, at FROM signups WHERE application = ?",
            (application,)).fetchone() or (None, None, 1, None, None)
        ssn_holder = self._conn.execute("SELECT driver_id FROM signups WHERE ssn = ?", (ssn,)).fetchone()
        dl_holder = self._conn.execute(
            "SELECT MAX(driver_id) FROM signups WHERE dl = ?", (dl,)).fetchone()
        return Claim(
            driver_id=same[0], decision_id=same[1], synced=bool(same[2]), state=same[3], at=same[4],
            ssn_holder=ssn_holder[0] if ssn_holder else None, dl_holder=dl_holder[0],
        )

    def original_decision(self, decision_id: int) -> dict[str, Any]:
        (detail,) = self._conn.execute("SELECT detail FROM decisions WHERE id = ?", (decision_id,)).fetchone()
        return json.loads(detail)

    def log(self, entry: DecisionEntry, driver_id: int | None = None) -> int:
        return _insert_decision(self._conn, entry, driver_id)

    def register(self, application: str, ssn: str, dl: str, state: str, at: str, entry: DecisionEntry) -> int:
        """A new driver: id, decision and identity claim, in this transaction."""
        (highest,) = self._conn.execute("SELECT COALESCE(MAX(driver_id), 0) FROM signups").fetchone()
        driver_id = max(int(highest), FIRST_DRIVER_ID - 1) + 1
        decision_id = _insert_decision(self._conn, entry, driver_id)
        self._conn.execute(
            "INSERT INTO signups (driver_id, application, ssn, dl, state, at, decision_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (driver_id, application, ssn, dl, state, at, decision_id))
        return driver_id


@dataclass(frozen=True)
class ShadowRow:
    """A challenger's score beside the champion's, for one driver: logged, never acted on."""

    driver_id: int | None
    champion: str
    champion_score: float
    champion_decision: str
    challenger: str
    challenger_score: float
    challenger_decision: str


_SHADOW_INSERT = (
    "INSERT INTO shadow (decision_id, run_id, at, driver_id, champion, champion_score, champion_decision,"
    " challenger, challenger_score, challenger_decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class DecisionEntry:
    """One line of the decision log (tokens and masked values only)."""

    kind: str
    subject: str
    model: str
    version: str
    score: float | None
    decision: str
    detail: dict[str, Any]
    what_if: bool = False


def _insert_decision(conn: sqlite3.Connection, entry: DecisionEntry, driver_id: int | None) -> int:
    return int(conn.execute(
        "INSERT INTO decisions (at, kind, subject, model, version, score, decision, driver_id,"
        " what_if, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (now_iso(), entry.kind, entry.subject, entry.model, entry.version, entry.score,
         entry.decision, driver_id, int(entry.what_if), json.dumps(entry.detail, default=str)),
    ).lastrowid)


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self, write: bool = False, create: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction on a fresh connection (safe across threads, processes and resets).
        Writers of this process queue on a thread lock; other processes on SQLite's lock. A
        full or read-only disk is ``StoreNotWritable``. Only ``create`` (a bootstrap, a restore)
        makes a missing ledger: a read that made an empty one would make every driver a stranger."""
        if not create and not self.path.exists():
            raise StoreNotReady(f"the ledger {self.path} (signups, decision log) is missing: run `riskcore repair`")
        lock = _writer_lock(self.path) if write else nullcontext()
        uri = f"file:{self.path}?mode={'rwc' if create else 'rw'}"
        with (lock, disk_guard(self.path.parent),
              closing(sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)) as conn):
            inode = os.stat(self.path).st_ino
            if write or create:
                self._ensure_schema(conn, inode)
            else:
                self._check_schema(conn, inode)
            # A commit survives a killed process (the threat here) without an fsync per
            # decision; only an OS crash can lose the last few entries.
            conn.execute("PRAGMA synchronous=NORMAL")
            _keep_open(self.path, inode)
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _ensure_schema(self, conn: sqlite3.Connection, inode: int) -> None:
        """A writer's first connection to this file: WAL mode (persistent, set once), then the
        tables, created or completed in one locked transaction, so a reader sees no ledger or a
        whole one."""
        if _SCHEMA_READY.get(self.path) == inode:
            return
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._refuse_outdated(conn, allow_new=True)
            for statement in _SCHEMA.split(";"):  # IF NOT EXISTS: tables added since are created
                if statement.strip():
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        _SCHEMA_READY[self.path] = inode

    def _check_schema(self, conn: sqlite3.Connection, inode: int) -> None:
        """A reader never creates or changes the schema: a ledger still being created is not
        ready yet, an older one asks for a reset."""
        if _SCHEMA_READY.get(self.path) != inode:
            self._refuse_outdated(conn, allow_new=False)

    def _refuse_outdated(self, conn: sqlite3.Connection, allow_new: bool) -> None:
        # One statement, so both come from the same snapshot (a creator may commit in between).
        version, tables = conn.execute(
            "SELECT user_version, (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table')"
            " FROM pragma_user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        if version == 0 and not tables:  # a new file
            if allow_new:
                return
            raise StoreNotReady(f"the ledger {self.path} is being created: try again in a moment")
        raise LedgerOutdated(f"the ledger {self.path} was written by an older version of Driver Risk Studio:"
                             " run `riskcore reset` (the demo data is rebuilt)")

    # --- signups: the source of truth ---------------------------------------------------------

    @contextmanager
    def signup_transaction(self) -> Iterator[SignupTransaction]:
        with self._connect(write=True) as conn:
            yield SignupTransaction(conn)

    def add_seeded(self, signups: pd.DataFrame) -> None:
        """Drivers already in the feature store, so synced: the seeded population (a bootstrap),
        or what a restore finds in the signups data. Creates the ledger if it is missing; an SSN
        the ledger already holds stays with its driver."""
        rows = signups[SIGNUP_COLUMNS].astype({"driver_id": int}).itertuples(index=False)
        with self._connect(write=True, create=True) as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO signups (driver_id, ssn, dl, state, at, synced)"
                " VALUES (?, ?, ?, ?, ?, 1)", [(int(d), s, l, st, str(a)) for d, s, l, st, a in rows])

    def signups(self) -> pd.DataFrame:
        """Every driver the ledger knows (driver_id, ssn, dl, state, at, synced)."""
        with self._connect() as conn:
            return pd.read_sql_query(
                f"SELECT {', '.join(SIGNUP_COLUMNS)}, synced FROM signups ORDER BY driver_id", conn)

    def unsynced(self) -> pd.DataFrame:
        """Signups the feature store may not hold yet (in flight, or left by a crash)."""
        with self._connect() as conn:
            return pd.read_sql_query(
                f"SELECT {', '.join(SIGNUP_COLUMNS)} FROM signups WHERE synced = 0 ORDER BY driver_id", conn)

    def mark_synced(self, driver_ids: Sequence[int]) -> None:
        with self._connect(write=True) as conn:
            conn.executemany("UPDATE signups SET synced = 1 WHERE driver_id = ?", [(int(d),) for d in driver_ids])

    # --- launched states ----------------------------------------------------------------------

    def record_state(self, state: str, launched: bool, at: str) -> None:
        with self._connect(write=True) as conn:
            conn.execute("INSERT INTO state_events (state, launched, at) VALUES (?, ?, ?)",
                         (state, int(launched), at))

    def state_events(self) -> pd.DataFrame:
        with self._connect() as conn:
            return pd.read_sql_query("SELECT state, launched, at FROM state_events ORDER BY id", conn)

    # --- the decision log ---------------------------------------------------------------------

    def log_decision(self, entry: DecisionEntry, driver_id: int | None = None, shadow: ShadowRow | None = None) -> None:
        """One decision, and its challenger's shadow score if there is one, in one transaction."""
        with self._connect(write=True) as conn:
            decision_id = _insert_decision(conn, entry, driver_id)
            if shadow is not None:
                conn.execute(_SHADOW_INSERT, (decision_id, None, now_iso(), shadow.driver_id, shadow.champion,
                                              shadow.champion_score, shadow.champion_decision, shadow.challenger,
                                              shadow.challenger_score, shadow.challenger_decision))

    def record_shadow(self, run_id: int, rows: Sequence[ShadowRow]) -> None:
        """A batch-scoring run's challenger scores beside the champion's."""
        at = now_iso()
        with self._connect(write=True) as conn:
            conn.executemany(_SHADOW_INSERT, [
                (None, run_id, at, r.driver_id, r.champion, r.champion_score, r.champion_decision, r.challenger,
                 r.challenger_score, r.challenger_decision) for r in rows])

    def shadow(self, limit: int = 1000) -> pd.DataFrame:
        """The newest shadow scores, newest first."""
        with self._connect() as conn:
            return pd.read_sql_query(
                "SELECT at, decision_id, run_id, driver_id, champion, champion_score, champion_decision, challenger,"
                " challenger_score, challenger_decision FROM shadow ORDER BY rowid DESC LIMIT ?", conn, params=(limit,))

    def decisions(self, limit: int = 100, kind: str | None = None, channel: str | None = None) -> pd.DataFrame:
        """The newest decisions first; ``channel`` picks those made through one front end (the
        audience's Join page logs ``join``)."""
        with self._connect() as conn:
            return pd.read_sql_query(
                "SELECT * FROM decisions WHERE (? IS NULL OR kind = ?)"
                " AND (? IS NULL OR json_extract(detail, '$.inputs.channel') = ?) ORDER BY id DESC LIMIT ?",
                conn, params=(kind, kind, channel, channel, limit),
            )

    # --- job history --------------------------------------------------------------------------

    def start_job(self, job: str) -> int:
        with self._connect(write=True) as conn:
            job_id = int(conn.execute(
                "INSERT INTO jobs (job, pid, started, outcome) VALUES (?, ?, ?, 'running')",
                (job, os.getpid(), now_iso()),
            ).lastrowid)
        _ACTIVE.add(job_id)
        return job_id

    def finish_job(self, job_id: int, outcome: str, rows: int | None, seconds: float, message: str = "") -> None:
        _ACTIVE.discard(job_id)
        with self._connect(write=True) as conn:
            conn.execute(
                "UPDATE jobs SET finished = ?, outcome = ?, rows = ?, seconds = ?, message = ?"
                " WHERE id = ?",
                (now_iso(), outcome, rows, round(seconds, 3), message, job_id),
            )

    def interrupted_jobs(self) -> pd.DataFrame:
        """Jobs marked running whose process is gone (killed, crashed, laptop closed)."""
        running, gone = self._running_jobs()
        return running[gone].drop(columns=["pid"]) if len(running) else running

    def job_in_progress(self) -> bool:
        """Whether a job of a live process is running now (it may hold the writer lock)."""
        running, gone = self._running_jobs()
        return not all(gone)

    def _running_jobs(self) -> tuple[pd.DataFrame, list[bool]]:
        """Jobs marked running, and for each whether its process is gone."""
        if not self.path.exists():
            return pd.DataFrame(columns=["id", "job", "pid", "started"]), []
        with self._connect() as conn:
            running = pd.read_sql_query("SELECT id, job, pid, started FROM jobs WHERE outcome = 'running'", conn)
        gone = [not process_alive(int(pid)) if pid != os.getpid() else job_id not in _ACTIVE
                for job_id, pid in zip(running["id"], running["pid"])]
        return running, gone

    def mark_interrupted(self, job_ids: list[int]) -> None:
        with self._connect(write=True) as conn:
            conn.executemany("UPDATE jobs SET outcome = 'interrupted', finished = ? WHERE id = ?",
                             [(now_iso(), int(i)) for i in job_ids])

    def jobs(self, limit: int = 50) -> pd.DataFrame:
        with self._connect() as conn:
            return pd.read_sql_query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", conn, params=(limit,))

    # --- batch scores -------------------------------------------------------------------------

    def record_scores(
        self, run_id: int, version: str, driver_ids: Sequence[int],
        scores: Sequence[float | None], decisions: Sequence[str],
    ) -> None:
        at = now_iso()
        with self._connect(write=True) as conn:
            conn.executemany(
                "INSERT INTO scores (run_id, at, driver_id, version, score, decision)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, at, int(d), version, None if s != s else s, c)  # NaN -> NULL
                 for d, s, c in zip(driver_ids, scores, decisions)],
            )

    # --- quality checks ------------------------------------------------------------------------

    def record_checks(self, job_id: int, view: str, part: str, results: Sequence[Any]) -> None:
        """The checks of one batch output (``riskcore.quality.checks.CheckResult``s)."""
        with self._connect(write=True) as conn:
            conn.executemany(
                "INSERT INTO checks (job_id, view, part, name, passed, observed, expected, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(job_id, view, part, r.name, int(r.passed), r.observed, r.expected, r.detail) for r in results])

    def check_history(self, runs: int = 30) -> pd.DataFrame:
        """The checks of the latest ``runs`` checked batch jobs, newest first, with when each ran
        and its outcome."""
        with self._connect() as conn:
            return pd.read_sql_query(
                "SELECT c.job_id, j.started, j.outcome, c.view, c.part, c.name, c.passed, c.observed,"
                " c.expected, c.detail FROM checks c JOIN jobs j ON j.id = c.job_id"
                " WHERE c.job_id IN (SELECT DISTINCT job_id FROM checks ORDER BY job_id DESC LIMIT ?)"
                " ORDER BY c.job_id DESC, c.rowid", conn, params=(runs,))

    def latest_scores(self) -> pd.DataFrame:
        """The newest batch-scoring run, one row per driver."""
        with self._connect() as conn:
            return pd.read_sql_query(
                "SELECT driver_id, score, decision, version, at FROM scores"
                " WHERE run_id = (SELECT MAX(run_id) FROM scores) ORDER BY driver_id", conn,
            )

    def score_history(self, driver_id: int) -> pd.DataFrame:
        with self._connect() as conn:
            return pd.read_sql_query(
                "SELECT at, score, decision, version FROM scores WHERE driver_id = ? ORDER BY at",
                conn, params=(driver_id,),
            )
