"""Feature quality at a glance: the newest batch's verdict, what is held back and since when,
drift, skew and the feature tests, read from what the jobs stored (no Feast, no lock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from riskcore.clock import utc_now
from riskcore.data.ledger import Ledger
from riskcore.data.store import RiskStore
from riskcore.quality import bugs, feature_tests, gate, monitoring
from riskcore.quality.bugs import Bug
from riskcore.quality.feature_tests import FeatureTestRun


@dataclass(frozen=True)
class HeldBack:
    view: str
    part: str
    serving_since: datetime | None  # event time of what the view still serves

    def age(self) -> str:
        """How old the served values are, in words ("4 min", "3.5 h")."""
        if self.serving_since is None:
            return "nothing served"
        seconds = (utc_now() - self.serving_since).total_seconds()
        return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class QualityStatus:
    checks: pd.DataFrame  # the newest checked batch job's checks
    held_back: tuple[HeldBack, ...]
    armed: Bug | None
    drift: pd.DataFrame  # monitoring.overview
    skew: pd.DataFrame  # the newest skew sample, value by value
    tests: FeatureTestRun | None

    @property
    def latest_job(self) -> int | None:
        return int(self.checks["job_id"].iloc[0]) if len(self.checks) else None

    @property
    def failed_checks(self) -> pd.DataFrame:
        return self.checks[self.checks["passed"] == 0] if len(self.checks) else self.checks

    @property
    def drift_alerts(self) -> int:
        return int((self.drift["drift"] == "alert").sum()) if len(self.drift) else 0

    @property
    def skew_mismatches(self) -> int:
        return int((~self.skew["match"].astype(bool)).sum()) if len(self.skew) else 0


def current(store: RiskStore) -> QualityStatus:
    paths = store.paths
    history = Ledger(paths.ledger_db).check_history(1)
    sources = gate.gated_views(paths)
    held = tuple(HeldBack(view, part.name, gate.served_until(sources[view]))
                 for view, part in gate.blocked_views(paths).items())
    return QualityStatus(history, held, bugs.armed(paths), monitoring.overview(paths),
                         monitoring.latest_skew(paths), feature_tests.latest(paths))
