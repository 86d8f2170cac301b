"""Serving policy for missing and stale features.

Feast returns ``None`` for a missing value and does not enforce TTLs on online reads (a value
ten days old in a two-day view comes back as PRESENT). Scoring such rows as zeros would decide
about a customer on facts nobody has: instead the row goes to manual review, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from riskcore.serving.features import FEATURE_TTLS

TIMESTAMP_SUFFIX = "__ts"  # feast.online_response.TIMESTAMP_POSTFIX, without importing Feast


def review_reasons(
    values: Mapping[str, Sequence[object]], features: Sequence[str], now: datetime
) -> list[list[str]]:
    """Per row: why it cannot be scored (empty when it can). Plain Python: decisions ask for
    one row, and numpy's per-call overhead would cost more than the loop."""
    rows = len(values[features[0]]) if features else 0
    now_s = now.timestamp()
    reasons: list[list[str]] = [[] for _ in range(rows)]
    stale: list[list[str]] = [[] for _ in range(rows)]
    for name in features:
        column = values[name]
        stamps = values.get(name + TIMESTAMP_SUFFIX)
        ttl = FEATURE_TTLS.get(name)
        for row in range(rows):
            if column[row] is None:
                reasons[row].append(f"missing: {name}")
            elif stamps is not None and ttl is not None and now_s - stamps[row] > ttl.total_seconds():
                stale[row].append(f"stale: {name}")
    return [r + s for r, s in zip(reasons, stale)]
