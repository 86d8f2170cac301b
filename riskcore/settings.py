"""Where things live and which secrets apply: the one home for paths and settings.

Everything is derived from two environment variables so that tests, benchmarks and the app can
each point at their own data directory without code changes:

- ``RISK_DATA_DIR``: the data directory (default: ``<repo>/data``).
- ``RISK_PII_KEY``: the HMAC key for PII tokens. Unset: the key the first bootstrap generated
  (``<data dir>/pii.key``, 0600). ``demo``: the documented demo key, with a warning everywhere.
- ``RISK_ONLINE_STORE``: ``sqlite`` (default, embedded) or ``redis://HOST:PORT`` for Feast's
  Redis online store (the scale-out profile; same feature repo, no code change).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
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
# The value of RISK_PII_KEY that asks for the documented demo key (anyone can recompute tokens).
DEMO_PII_KEY_CHOICE = "demo"

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
    def outcomes_dir(self) -> Path:
        """Matured outcomes of past decisions (the labels a model learns from)."""
        return self.root / "driver_outcomes"

    @property
    def mlflow_dir(self) -> Path:
        """The model registry: MLflow tracking and registry (SQLite) plus its artifacts."""
        return self.root / "mlflow"

    @property
    def mlflow_db(self) -> Path:
        return self.mlflow_dir / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"

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

    @property
    def pii_key_file(self) -> Path:
        """The generated PII key (0600), used when RISK_PII_KEY is not set."""
        return self.root / "pii.key"

    @property
    def quarantine_dir(self) -> Path:
        """Where `repair` moves unreadable data files aside (never deleted)."""
        return self.root / "quarantine"

    @property
    def quality_dir(self) -> Path:
        """Feature quality: Feast's monitoring tables (``feast_monitoring/``), per-batch profiles,
        skew samples, feature-test reports and the presenter's injected bug."""
        return self.root / "quality"

    @property
    def monitoring_work_dir(self) -> Path:
        """Where Feast's monitoring writes while it runs (its files are rewritten in place); each
        finished file is renamed into ``quality_dir/feast_monitoring``."""
        return self.quality_dir / ".feast-work"

    @property
    def profiles_dir(self) -> Path:
        return self.quality_dir / "profiles"

    @property
    def skew_dir(self) -> Path:
        return self.quality_dir / "skew"

    @property
    def feature_tests_dir(self) -> Path:
        return self.quality_dir / "feature-tests"

    @property
    def armed_bug(self) -> Path:
        return self.quality_dir / "bug.json"

    @property
    def retired_batches_dir(self) -> Path:
        """Blocked batch outputs a later one superseded: kept as evidence, out of the offline store."""
        return self.quality_dir / "blocked"

    def source_dirs(self) -> tuple[Path, ...]:
        return (self.hourly_dir, self.yesterdays_dir, self.signups_dir, self.states_dir, self.outcomes_dir)


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


class PiiKeyMissing(RuntimeError):
    """No PII key: neither RISK_PII_KEY nor a generated key file."""


@dataclass(frozen=True)
class PiiKey:
    """The HMAC key for PII tokens and where it came from (shown as a warning when it is the
    documented demo key, whose tokens anyone can reverse by trying every SSN)."""

    secret: bytes
    source: str  # "environment", "generated" or "demo"

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it: recorded at bootstrap, checked at start."""
        return hmac.new(self.secret, b"driver-risk-studio key fingerprint", hashlib.sha256).hexdigest()[:16]

    @property
    def is_demo(self) -> bool:
        return self.source == "demo"


_KEY_CACHE: dict[tuple[str, Path, int, int], PiiKey] = {}


def pii_key(root: Path | None = None) -> PiiKey:
    """The key in force: RISK_PII_KEY (``demo`` for the documented demo key), else the key file
    the first bootstrap generated. Cached per key file version (a reset makes a new one)."""
    configured = os.environ.get(PII_KEY_ENV, "")
    if configured == DEMO_PII_KEY_CHOICE:
        return PiiKey(DEMO_PII_KEY.encode(), "demo")
    if configured:
        return PiiKey(configured.encode(), "environment")
    key_file = Paths(root).pii_key_file if root else paths().pii_key_file
    try:
        stat = key_file.stat()
    except FileNotFoundError:
        raise PiiKeyMissing(
            f"no PII key: run `riskcore bootstrap` (it generates {key_file}) or set {PII_KEY_ENV}"
        ) from None
    cache_key = (configured, key_file, stat.st_ino, stat.st_mtime_ns)
    if cache_key not in _KEY_CACHE:
        _KEY_CACHE[cache_key] = PiiKey(key_file.read_bytes().strip(), "generated")
    return _KEY_CACHE[cache_key]


def ensure_pii_key(root: Path) -> PiiKey:
    """The key for a new bootstrap: the configured one, else a new random key written 0600."""
    if os.environ.get(PII_KEY_ENV):
        return pii_key(root)
    key_file = Paths(root).pii_key_file
    if not key_file.exists():
        temp = key_file.with_name(f".{key_file.name}.tmp")
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as sink:
            sink.write(secrets.token_urlsafe(32))
        os.replace(temp, key_file)
    return pii_key(root)


def prepare_data_dir(root: Path) -> None:
    """Create the data dir private to its owner (0700) and make every file this process creates
    0600: tokens, the decision log and the key are nobody else's business."""
    os.umask(0o077)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if root.stat().st_mode & 0o077:
        root.chmod(0o700)


METRICS_ENV = "PROMETHEUS_MULTIPROCESS_DIR"
_METRICS_PARENT = "driver-risk-studio-metrics"


def isolate_feast_metrics() -> None:
    """Give Feast's Prometheus files a per-process directory that this package removes.

    Importing Feast creates ``feast_metrics_*`` in the temp dir and removes it only at a clean
    exit, so every killed process left one behind. Ours live under one parent folder: removed
    at exit, and the folders of processes that are gone are swept at the next start. A value
    someone else set is left alone."""
    import atexit
    import shutil
    import tempfile

    parent = Path(tempfile.gettempdir()) / f"{_METRICS_PARENT}-{os.getuid()}"
    inherited = os.environ.get(METRICS_ENV)
    if inherited and Path(inherited).parent != parent:
        return
    parent.mkdir(mode=0o700, exist_ok=True)
    for folder in parent.glob("pid-*"):
        pid = folder.name.removeprefix("pid-")
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    mine = parent / f"pid-{os.getpid()}"
    mine.mkdir(mode=0o700, exist_ok=True)
    os.environ[METRICS_ENV] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mine)
    atexit.register(shutil.rmtree, mine, True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
