"""Where things live and which secrets apply: the one home for paths and settings.

Everything is derived from two environment variables so that tests, benchmarks and the app can
each point at their own data directory without code changes:

- ``RISK_DATA_DIR``: the data directory (default: ``<repo>/data``).
- ``RISK_PII_KEY``: the HMAC key for PII tokens (default: a documented demo key).
- ``RISK_ONLINE_STORE``: ``sqlite`` (default, embedded) or ``redis://HOST:PORT`` for Feast's
  Redis online store (the scale-out profile; same feature repo, no code change).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FEATURE_REPO = REPO_ROOT / "feature_repo"
FEATURE_DEFINITIONS = FEATURE_REPO / "feature_definitions.py"
FEATURE_STORE_YAML = FEATURE_REPO / "feature_store.yaml"

DATA_DIR_ENV = "RISK_DATA_DIR"
PII_KEY_ENV = "RISK_PII_KEY"
ONLINE_STORE_ENV = "RISK_ONLINE_STORE"
DEMO_PII_KEY = "driver-risk-studio-demo-key-change-me"

DEFAULT_DRIVERS = 50
DEFAULT_SEED = 42
FIRST_DRIVER_ID = 1001
# Above this many drivers, mock data is drawn vectorised instead of with Feast's generator.
FEAST_GENERATOR_MAX_DRIVERS = 2000


@dataclass(frozen=True)
class Paths:
    """Every file the product writes, under one data directory."""

    root: Path

    @property
    def registry_db(self) -> Path:
        return self.root / "registry.db"

    @property
    def online_db(self) -> Path:
        return self.root / "online_store.db"

    @property
    def hourly_dir(self) -> Path:
        return self.root / "driver_hourly_stats"

    @property
    def yesterdays_dir(self) -> Path:
        return self.root / "driver_yesterdays_stats"

    @property
    def signups_dir(self) -> Path:
        return self.root / "signups"

    @property
    def states_dir(self) -> Path:
        return self.root / "launched_states"

    @property
    def ledger_db(self) -> Path:
        return self.root / "ledger.db"

    @property
    def write_lock(self) -> Path:
        return self.root / ".write.lock"

    @property
    def ready_marker(self) -> Path:
        """Written last by a bootstrap: without it the store is not (fully) set up."""
        return self.root / "BOOTSTRAPPED"

    @property
    def log_file(self) -> Path:
        return self.root / "riskcore.log"

    def source_dirs(self) -> tuple[Path, ...]:
        return (self.hourly_dir, self.yesterdays_dir, self.signups_dir, self.states_dir)


# Set while riskcore loads the feature definitions for a given store (per thread, unlike the
# environment), so the definitions' source paths are that store's.
DEFINITIONS_PATHS: ContextVar[Paths | None] = ContextVar("definitions_paths", default=None)


def data_dir() -> Path:
    """The data directory in force now (read each call so tests can switch it)."""
    return Path(os.environ.get(DATA_DIR_ENV) or REPO_ROOT / "data").resolve()


def paths() -> Paths:
    return DEFINITIONS_PATHS.get() or Paths(data_dir())


def online_store() -> dict[str, str] | None:
    """The online-store override for ``feature_store.yaml``, or None for its SQLite default."""
    value = os.environ.get(ONLINE_STORE_ENV, "sqlite").strip()
    if value in ("", "sqlite"):
        return None
    if value.startswith("redis://"):
        return {"type": "redis", "connection_string": value.removeprefix("redis://").rstrip("/")}
    raise ValueError(f"{ONLINE_STORE_ENV}: expected 'sqlite' or 'redis://HOST:PORT', got {value!r}")


def pii_key() -> bytes:
    """The HMAC key: the environment wins, else the demo default (documented in the README)."""
    return (os.environ.get(PII_KEY_ENV) or DEMO_PII_KEY).encode()
