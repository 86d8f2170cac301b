"""The daily model that serves: the registry's champion (with its challenger, scored in shadow),
or the hand-set v1 when no champion is registered, saying so.

Loaded once per process and reloaded only when the registry changes: each decision stats the
registry's SQLite file (about a microsecond); a changed file makes it read the aliases again
(milliseconds, once per change), and only a version it has not loaded yet is loaded. Without a
registry file MLflow is never imported, so a fresh demo serves v1 at full speed. Nothing here
starts an MLflow run: serving never runs inside one.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from riskcore.serving.model import DAILY_V1, Model
from riskcore.settings import Paths

log = logging.getLogger(__name__)

NO_CHAMPION = "no champion registered: the hand-set v1 serves (train a model to change that)"


@dataclass(frozen=True)
class Serving:
    """What decides today: the champion, the challenger (if any) and why the hand-set model
    serves (None when the champion is a registered model)."""

    champion: Model
    challenger: Any = None          # a Model or a registry.EstimatorScorer
    fallback: str | None = None


class ServedDaily:
    """Thread-safe; one per data dir and process (``served_daily``)."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._lock = threading.Lock()
        self._seen: object = object()           # the registry file's stamp last resolved
        self._serving = Serving(DAILY_V1, None, NO_CHAMPION)
        self._loaded: dict[tuple[int, int], Any] = {}   # (registry inode, version) -> model
        self._registry: Any = None

    def current(self) -> Serving:
        stamp = _stamp(self.paths.mlflow_db)
        if stamp != self._seen:
            with self._lock:
                if stamp != self._seen:
                    self._serving = self._resolve(stamp)
                    self._seen = stamp
        return self._serving

    def _resolve(self, stamp: tuple[int, ...] | None) -> Serving:
        if stamp is None:
            self._loaded.clear()
            return Serving(DAILY_V1, None, NO_CHAMPION)
        from riskcore.learning import registry as R

        if self._registry is None:
            self._registry = R.Registry(self.paths)
        try:
            aliases = self._registry.aliases()
            champion = self._load(stamp[0], aliases.get(R.CHAMPION), R.CHAMPION)
            challenger = self._load(stamp[0], aliases.get(R.CHALLENGER), R.CHALLENGER)
        except Exception as exc:  # noqa: BLE001 - a registry being written or broken must not stop decisions
            log.warning("model registry not readable, keeping what serves: %s", exc)
            return self._serving if self._serving.fallback is None else Serving(
                DAILY_V1, None, f"the model registry could not be read ({type(exc).__name__}): the hand-set v1 serves")
        if champion is None:
            return Serving(DAILY_V1, challenger, NO_CHAMPION)
        return Serving(champion, challenger)

    def _load(self, inode: int, version: int | None, alias: str) -> Any:
        if version is None:
            return None
        key = (inode, version)
        if key not in self._loaded:
            self._loaded[key] = self._registry.load(version, alias)
        model = self._loaded[key]
        if model.registry.alias == alias:
            return model
        ref = replace(model.registry, alias=alias)
        if isinstance(model, Model):
            return replace(model, registry=ref)
        return type(model)(model.estimator, model.threshold, ref)


def _stamp(path: Path) -> tuple[int, ...] | None:
    """Identity and last change of the registry file (and of its write-ahead log, if any)."""
    try:
        main = os.stat(path)
    except FileNotFoundError:
        return None
    try:
        wal = os.stat(f"{path}-wal")
        extra: tuple[int, ...] = (wal.st_mtime_ns, wal.st_size)
    except FileNotFoundError:
        extra = ()
    return (main.st_ino, main.st_mtime_ns, main.st_size, *extra)


_SERVED: dict[Path, ServedDaily] = {}
_SERVED_GUARD = threading.Lock()


def served_daily(paths: Paths) -> ServedDaily:
    """The process's one ``ServedDaily`` for a data dir (batch scoring and every decision
    service share it, so a model is loaded once)."""
    with _SERVED_GUARD:
        if paths.root not in _SERVED:
            _SERVED[paths.root] = ServedDaily(paths)
        return _SERVED[paths.root]
