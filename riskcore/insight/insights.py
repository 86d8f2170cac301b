"""Model insights over the population: approval rate against the threshold, and the
"launch a new state" what-if (teaching point 3: a model lives inside a product)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskcore.data.ledger import Ledger
from riskcore.serving import features as F
from riskcore.serving.model import APPROVED, Model


def approval_curve(scores: np.ndarray, thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Share of the population approved (score < threshold) at each threshold."""
    thresholds = np.linspace(0, 1, 101) if thresholds is None else thresholds
    scores = np.sort(np.asarray(scores, dtype=float)[~np.isnan(scores)])
    approved = np.searchsorted(scores, thresholds, side="left") / max(len(scores), 1)
    return pd.DataFrame({"threshold": thresholds, "approval_rate": approved})


def approval_rate(scores: np.ndarray, threshold: float) -> float:
    """Share of scored drivers approved at ``threshold``."""
    return float(approval_curve(scores, np.array([threshold]))["approval_rate"].iloc[0])


@dataclass(frozen=True)
class LaunchWhatIf:
    state: str
    applications: int
    declined_now: int
    approved_if_launched: int


def launch_what_if(ledger: Ledger, state: str, model: Model, limit: int = 5000) -> LaunchWhatIf:
    """Re-score this state's logged applications as if ``is_valid_state`` were 1."""
    log = ledger.decisions(limit, kind="onboarding")
    details = [json.loads(d) for d in log["detail"]]
    rows = [d for d in details if d.get("inputs", {}).get("state") == state]
    if not rows:
        return LaunchWhatIf(state, 0, 0, 0)
    matrix = np.array([[float(d["features"][f] or 0) for f in model.features] for d in rows])
    now = np.array([d["decision"] != APPROVED for d in rows])
    launched = matrix.copy()
    launched[:, model.features.index(F.IS_VALID_STATE)] = 1.0
    would_approve = model.score_batch(launched) < model.threshold
    return LaunchWhatIf(state, len(rows), int(now.sum()), int((now & would_approve).sum()))


@dataclass(frozen=True)
class ShadowSummary:
    """How often the challenger, scored in shadow, would have decided like the champion."""

    compared: int
    agreement: float
    champion_declines: int
    challenger_declines: int
    differences: pd.DataFrame      # the rows where they differ, newest first


def shadow_summary(frame: pd.DataFrame) -> ShadowSummary:
    if frame.empty:
        return ShadowSummary(0, float("nan"), 0, 0, frame)
    same = frame["champion_decision"] == frame["challenger_decision"]
    return ShadowSummary(len(frame), float(same.mean()), int((frame["champion_decision"] == "Declined").sum()),
                         int((frame["challenger_decision"] == "Declined").sum()), frame[~same])
