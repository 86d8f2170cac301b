"""Training/serving skew: what the online store serves a driver now, against the point-in-time
value the offline store (what a training set is built from) holds for the same moment.

For a fixed sample of drivers, every feature of the views the daily model reads is read online
and through ``RiskStore.historical`` as of the same instant and compared value by value. On a
healthy store they are equal: materialization copies the offline rows as they are. They differ
when the offline store holds what is not served: a batch output the checks blocked (a model
trained now would learn from values production never sees), a batch not materialized yet, or an
online value past its TTL (Feast returns it; the point-in-time join does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from riskcore.clock import utc_now
from riskcore.data.store import RiskStore
from riskcore.serving import features as F

VIEWS = {F.HOURLY_VIEW: F.HOURLY_FEATURES, F.YESTERDAYS_VIEW: F.YESTERDAYS_FEATURES}
# Online values are float32 protos, offline values float32 parquet: equal means equal to this.
RELATIVE_TOLERANCE = 1e-6
SAMPLE_SEED = 0


@dataclass(frozen=True)
class SkewReport:
    measured_at: datetime
    drivers: int
    values: pd.DataFrame  # driver_id, view, feature, online, offline, match

    @property
    def compared(self) -> int:
        return len(self.values)

    @property
    def mismatches(self) -> int:
        return int((~self.values["match"]).sum()) if len(self.values) else 0

    def causes(self, blocked: set[str]) -> dict[str, str]:
        return causes(self.values, blocked)


def causes(values: pd.DataFrame, blocked: set[str]) -> dict[str, str]:
    """For each view with values that differ, how many and the likely reason, in words."""
    differ = values[~values["match"].astype(bool)] if len(values) else values
    found = {}
    for view in sorted(set(differ["view"])):
        why = ("the offline store holds a batch output the checks blocked; the online store keeps serving "
               "the previous one" if view in blocked else
               "the online store is behind the offline store (not materialized yet) or a value is past its TTL")
        found[view] = f"{int((differ['view'] == view).sum())} values differ: {why}"
    return found


def sample(store: RiskStore, drivers: int) -> np.ndarray:
    """The same drivers every time (seeded), so runs compare like with like."""
    roster = store.roster()["driver_id"].to_numpy(np.int64)
    if len(roster) <= drivers:
        return roster
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(roster, drivers, replace=False))


def _same(online: object, offline: object) -> bool:
    if online is None or offline is None or pd.isna(offline):
        return (online is None) and (offline is None or pd.isna(offline))
    a, b = float(online), float(offline)  # type: ignore[arg-type]
    return abs(a - b) <= RELATIVE_TOLERANCE * max(1.0, abs(a), abs(b))


def measure(store: RiskStore, drivers: int) -> SkewReport:
    """Compare the sample's online and point-in-time offline values, feature by feature."""
    ids = sample(store, drivers)
    refs = [f"{view}:{name}" for view, names in VIEWS.items() for name in names]
    now = utc_now()
    if not len(ids):
        return SkewReport(now, 0, pd.DataFrame(columns=["driver_id", "view", "feature", "online", "offline", "match"]))
    online = store.online(refs, [{"driver_id": int(d)} for d in ids])
    offline = store.historical(pd.DataFrame({"driver_id": ids, "event_timestamp": pd.Timestamp(now)}), refs)
    rows = []
    for view, names in VIEWS.items():
        for name in names:
            for row, driver in enumerate(ids):
                on, off = online[name][row], offline[name].iloc[row]
                off = None if pd.isna(off) else float(off)
                rows.append({"driver_id": int(driver), "view": view, "feature": name,
                             "online": None if on is None else float(on), "offline": off,
                             "match": _same(on, off)})
    return SkewReport(now, len(ids), pd.DataFrame(rows))
