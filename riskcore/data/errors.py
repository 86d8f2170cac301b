"""What can go wrong with the store, as exceptions that carry a sentence a user can act on.

Every front end (CLI, API, dashboard) turns these into one clear line; none is a bug.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StoreNotReady(RuntimeError):
    """The store has not been bootstrapped (or part of it is missing): say what to run."""


class DataFileCorrupt(StoreNotReady):
    """A parquet part does not read (truncated, overwritten): name it and the fix."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"data file unreadable: {path.parent.name}/{path.name} ({why});"
                         " run `riskcore repair` (it is moved aside and rebuilt)")
        self.path = path


class PiiKeyMismatch(StoreNotReady):
    """The PII key in force is not the one the store's tokens were made with."""


class StoreNotWritable(RuntimeError):
    """The data directory cannot be written (disk full, read-only, permissions)."""

    def __init__(self, root: Path, cause: BaseException | None = None) -> None:
        why = f" ({_short(cause)})" if cause else ""
        super().__init__(f"the data directory {root} is not writable{why}: free some disk space or "
                         "make it writable, then try again (nothing was half-written)")
        self.root = root


_SQLITE_WRITE_FAILURES = ("disk is full", "readonly database", "disk i/o error", "unable to open database")
_OS_WRITE_FAILURES = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


def is_write_failure(exc: BaseException) -> bool:
    """Whether an exception means "the disk would not take the write"."""
    if isinstance(exc, sqlite3.Error):
        return any(text in str(exc).lower() for text in _SQLITE_WRITE_FAILURES)
    if isinstance(exc, OSError):
        return exc.errno in _OS_WRITE_FAILURES
    cause = exc.__cause__ or exc.__context__
    return cause is not None and is_write_failure(cause)


@contextmanager
def disk_guard(root: Path) -> Iterator[None]:
    """Turn a full or read-only disk into ``StoreNotWritable`` (a sentence, not a traceback).
    Reads need it too: SQLite in WAL mode cannot open a database whose directory is read-only."""
    try:
        yield
    except (StoreNotWritable, StoreNotReady):
        raise
    except Exception as exc:
        if not is_write_failure(exc):
            raise
        if "disk i/o error" in str(exc).lower() and unwritable_reason(root) is None:
            # The disk takes writes: SQLite lost its file under an open connection (a ledger or
            # store deleted while a server still had it open), not a full disk.
            raise StoreNotReady(
                f"a database in {root} was deleted or replaced while another process had it open: stop "
                "the dashboard and the API, then run `riskcore repair`") from exc
        raise StoreNotWritable(root, exc) from exc


MIN_FREE_BYTES = 1 << 20


def unwritable_reason(root: Path) -> str | None:
    """Why the data directory cannot take writes now, or None. A real probe (a file is created,
    written and removed), since permission bits do not stop root and free inodes are not bytes."""
    try:
        if shutil.disk_usage(root).free < MIN_FREE_BYTES:
            return "disk full"
        probe = root / f".probe-{uuid.uuid4().hex}"
        try:
            with open(probe, "wb") as sink:
                sink.write(b"x" * 4096)
                sink.flush()
                os.fsync(sink.fileno())
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        return _short(exc)
    return None


def _short(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
