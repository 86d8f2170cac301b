"""Serving policy for missing and stale features.

Feast returns ``None`` for a missing value and does not enforce TTLs on online reads (a value
ten days old in a two-day view comes back as PRESENT). Scoring such rows as zeros would decide
about a customer on facts nobody has: instead the row goes to manual review, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from riskcore.features import FEATURE_TTLS

TIMESTAMP_SUFFIX = "__ts"  # feast.online_response.TIMESTAMP_POSTFIX, without importing Feast


def review_reasons(
    values: Mapping[str, Sequence[object]], features: Sequence[str], now: datetime
) -> list[list[str]]:
    """Per row: why it cannot be scored (empty when it can). Vectorised over rows."""
    rows = len(values[features[0]]) if features else 0
    missing_by_feature: dict[str, np.ndarray] = {}
    stale_by_feature: dict[str, np.ndarray] = {}
    for name in features:
        missing = np.fromiter((v is None for v in values[name]), bool, rows)
        missing_by_feature[name] = missing
        stamps = values.get(name + TIMESTAMP_SUFFIX)
        ttl = FEATURE_TTLS.get(name)
        if stamps is not None and ttl is not None:
            age = now.timestamp() - np.asarray(stamps, dtype=np.float64)
            stale_by_feature[name] = ~missing & (age > ttl.total_seconds())
    reasons: list[list[str]] = [[] for _ in range(rows)]
    for label, table in (("missing", missing_by_feature), ("stale", stale_by_feature)):
        for name, mask in table.items():
            for row in np.flatnonzero(mask):
                reasons[row].append(f"{label}: {name}")
    return reasons
