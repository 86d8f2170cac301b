"""Background jobs for interactive front ends: one job at a time, with visible progress.

Long work (bootstrap, batch job, materialize, the cadence) runs in a worker thread so the UI
stays responsive; a second start while one runs is refused instead of overlapping. One runner
is shared by every session of a process (it is thread-safe).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


# The name a cadence tick runs under, whoever starts it (the cadence, a button, a talk point).
TICK_JOB = "cadence tick"


@dataclass(frozen=True)
class JobState:
    name: str
    started: float
    done: int = 0
    total: int = 1
    message: str = "starting"
    finished: float | None = None
    error: str | None = None
    result: Any = None

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started


class JobRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: JobState | None = None
        self._cadence: threading.Thread | None = None
        self._stop = threading.Event()
        self.cadence_ticks = 0

    @property
    def state(self) -> JobState | None:
        return self._state

    @property
    def busy(self) -> bool:
        state = self._state
        return state is not None and state.running

    def start(self, name: str, work: Callable[[Progress], Any]) -> bool:
        """Run ``work(progress)`` in the background; False if a job is already running."""
        with self._lock:
            if self.busy:
                return False
            self._state = JobState(name=name, started=time.time())
        threading.Thread(target=self._run, args=(work,), name=f"job-{name}", daemon=True).start()
        return True

    def wait(self, timeout: float = 600) -> JobState | None:
        """Block until the current job ends (tests and scripts)."""
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        return self._state

    def _progress(self, done: int, total: int, message: str) -> None:
        with self._lock:
            if self._state is not None:
                self._state = replace(self._state, done=done, total=total, message=message)

    def _run(self, work: Callable[[Progress], Any]) -> None:
        try:
            result = work(self._progress)
        except Exception as exc:  # noqa: BLE001 - reported on screen as a message, not a traceback
            log.exception("job %s failed", self._state.name if self._state else "?")
            self._finish(error=f"{type(exc).__name__}: {exc}")
        else:
            self._finish(result=result)

    def _finish(self, error: str | None = None, result: Any = None) -> None:
        with self._lock:
            assert self._state is not None
            self._state = replace(self._state, finished=time.time(), error=error, result=result,
                                  done=self._state.total if error is None else self._state.done,
                                  message="failed" if error else "done")

    # --- the cadence ------------------------------------------------------------------------

    @property
    def cadence_running(self) -> bool:
        return self._cadence is not None and self._cadence.is_alive()

    def start_cadence(self, tick: Callable[[int, Progress], Any], every_seconds: float) -> bool:
        """Run ``tick`` every ``every_seconds`` (as a normal job each time) until stopped."""
        with self._lock:
            if self.cadence_running:
                return False
            self._stop.clear()
            self.cadence_ticks = 0
            self._cadence = threading.Thread(target=self._cadence_loop, args=(tick, every_seconds),
                                             name="cadence", daemon=True)
            self._cadence.start()
        return True

    def stop_cadence(self) -> None:
        self._stop.set()

    def _cadence_loop(self, tick: Callable[[int, Progress], Any], every_seconds: float) -> None:
        while not self._stop.is_set():
            self.cadence_ticks += 1
            number = self.cadence_ticks
            if self.start(TICK_JOB, lambda progress: tick(number, progress)):
                self.wait()
            self._stop.wait(every_seconds)
