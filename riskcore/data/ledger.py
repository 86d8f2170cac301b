"""The durable ledger: decision log, job history, batch scores and driver-id allocation.

SQLite in WAL mode: appends from many threads and processes are atomic and durable, and a
killed writer leaves the previous rows intact. Only tokens and masked values are stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

_SCHEMA = """
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
    detail TEXT NOT NULL
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
CREATE TABLE IF NOT EXISTS driver_ids (
    driver_id INTEGER PRIMARY KEY AUTOINCREMENT
);
"""


# Per ledger file: the inode whose schema this process has created, and an idle connection.
_SCHEMA_READY: dict[Path, int] = {}
_KEEPERS: dict[Path, tuple[sqlite3.Connection, int]] = {}
_KEEPERS_GUARD = threading.Lock()
# Jobs running in this process right now (a 'running' row of ours not in here was interrupted).
_ACTIVE: set[int] = set()


def _keep_open(path: Path) -> None:
    """Hold one idle connection per ledger file for the life of the process. Closing the *last*
    connection makes SQLite checkpoint the WAL (a millisecond per logged decision); with this
    one open, the short-lived connections close cheaply. Replaced when a reset swaps the file."""
    inode = os.stat(path).st_ino
    with _KEEPERS_GUARD:
        kept = _KEEPERS.get(path)
        if kept is None or kept[1] != inode:
            if kept is not None:
                kept[0].close()
            keeper = sqlite3.connect(path, check_same_thread=False)
            keeper.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # joins the WAL
            _KEEPERS[path] = (keeper, inode)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction on a fresh connection (safe across threads, processes and resets)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # A commit survives a killed process (the threat here) without an fsync per
            # decision; only an OS crash can lose the last few entries.
            conn.execute("PRAGMA synchronous=NORMAL")
            if self.path not in _SCHEMA_READY or _SCHEMA_READY[self.path] != os.stat(self.path).st_ino:
                conn.executescript(_SCHEMA)
                _SCHEMA_READY[self.path] = os.stat(self.path).st_ino
            _keep_open(self.path)
            with conn:
                yield conn
        finally:
            conn.close()

    def next_driver_id(self, floor: Callable[[], int]) -> int:
        """A new driver id, never reused, even across processes. ``floor()`` (the highest id in
        use) is consulted only when the ledger has no ids, e.g. after it was lost."""
        with self._connect() as conn:
            if conn.execute("SELECT MAX(driver_id) FROM driver_ids").fetchone()[0] is None:
                conn.execute("INSERT OR IGNORE INTO driver_ids (driver_id) VALUES (?)", (floor(),))
            return int(conn.execute("INSERT INTO driver_ids DEFAULT VALUES").lastrowid)

    def approved_signups(self) -> pd.DataFrame:
        """Approved onboarding decisions (tokens, state, driver id): enough to rebuild signups."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT driver_id, at, detail FROM decisions WHERE kind = 'onboarding'"
                " AND driver_id IS NOT NULL ORDER BY id").fetchall()
        inputs = [(d, at, json.loads(detail)["inputs"]) for d, at, detail in rows]
        return pd.DataFrame({
            "driver_id": [d for d, _, _ in inputs], "ssn": [i["ssn"] for _, _, i in inputs],
            "dl": [i["dl"] for _, _, i in inputs], "signup_state": [i["state"] for _, _, i in inputs],
            "event_timestamp": pd.to_datetime([at for _, at, _ in inputs], utc=True),
        })

    def log_decision(
        self, *, kind: str, subject: str, model: str, version: str, score: float | None,
        decision: str, driver_id: int | None, detail: dict[str, Any],
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO decisions (at, kind, subject, model, version, score, decision,"
                " driver_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), kind, subject, model, version, score, decision, driver_id,
                 json.dumps(detail, default=str)),
            )

    def decisions(self, limit: int = 100, kind: str | None = None) -> pd.DataFrame:
        with self._connect() as conn:
            return pd.read_sql_query(
                "SELECT * FROM decisions WHERE ? IS NULL OR kind = ? ORDER BY id DESC LIMIT ?",
                conn, params=(kind, kind, limit),
            )

    def start_job(self, job: str) -> int:
        with self._connect() as conn:
            job_id = int(conn.execute(
                "INSERT INTO jobs (job, pid, started, outcome) VALUES (?, ?, ?, 'running')",
                (job, os.getpid(), _now()),
            ).lastrowid)
        _ACTIVE.add(job_id)
        return job_id

    def finish_job(self, job_id: int, outcome: str, rows: int | None, seconds: float, message: str = "") -> None:
        _ACTIVE.discard(job_id)
        with self._connect() as conn:
            conn.execute(
                "UPDATE jobs SET finished = ?, outcome = ?, rows = ?, seconds = ?, message = ?"
                " WHERE id = ?",
                (_now(), outcome, rows, round(seconds, 3), message, job_id),
            )

    def interrupted_jobs(self) -> pd.DataFrame:
        """Jobs marked running whose process is gone (killed, crashed, laptop closed)."""
        if not self.path.exists():
            return pd.DataFrame(columns=["id", "job", "started"])
        with self._connect() as conn:
            running = pd.read_sql_query("SELECT id, job, pid, started FROM jobs WHERE outcome = 'running'", conn)
        gone = [not _alive(int(pid)) if pid != os.getpid() else job_id not in _ACTIVE
                for job_id, pid in zip(running["id"], running["pid"])]
        return running[gone].drop(columns=["pid"]) if len(running) else running

    def mark_interrupted(self, job_ids: list[int]) -> None:
        with self._connect() as conn:
            conn.executemany("UPDATE jobs SET outcome = 'interrupted', finished = ? WHERE id = ?",
                             [(_now(), int(i)) for i in job_ids])

    def jobs(self, limit: int = 50) -> pd.DataFrame:
        with self._connect() as conn:
            return pd.read_sql_query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", conn, params=(limit,))

    def record_scores(
        self, run_id: int, version: str, driver_ids: Sequence[int],
        scores: Sequence[float | None], decisions: Sequence[str],
    ) -> None:
        at = _now()
        with self._connect() as conn:
            conn.executemany(
                "INSERT INTO scores (run_id, at, driver_id, version, score, decision)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, at, int(d), version, None if s != s else s, c)  # NaN -> NULL
                 for d, s, c in zip(driver_ids, scores, decisions)],
            )

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
