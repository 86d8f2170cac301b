"""The risk models as data: weights, intercept, threshold and version, defined once.

A model is a weighted sum of a numeric feature vector, clipped to [0, 1]; Approved below the
threshold. v0 reproduces the original demo (bugs included, for the stage); v1 is served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from riskcore.serving import features as F

APPROVED = "Approved"
DECLINED = "Declined"
REVIEW = "Review"


@dataclass(frozen=True)
class Reason:
    """One feature's push on the score: ``weight × value``."""

    feature: str
    value: float
    contribution: float
    text: str


@dataclass(frozen=True)
class Model:
    name: str
    version: str
    description: str
    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    threshold: float
    baseline: tuple[float, ...]
    reason_texts: Mapping[str, str]

    @cached_property
    def weight_vector(self) -> np.ndarray:
        return np.asarray(self.weights, dtype=np.float64)

    def vector(self, values: Mapping[str, Any]) -> np.ndarray:
        """The numpy vector the model sees, in the model's fixed feature order."""
        return np.fromiter((float(values[f]) for f in self.features), np.float64, len(self.features))

    def score(self, vector: np.ndarray) -> float:
        # Rounded so that 0.95 - 0.40 - 0.40 prints as 0.15, not 0.1499999…
        raw = self.intercept + float(vector @ self.weight_vector)
        return round(min(1.0, max(0.0, raw)), 12)

    def decide(self, score: float) -> str:
        return APPROVED if score < self.threshold else DECLINED

    def contributions(self, vector: np.ndarray) -> dict[str, float]:
        return dict(zip(self.features, (vector * self.weight_vector).tolist()))

    def reasons(self, vector: np.ndarray, top: int = 3) -> list[Reason]:
        """Principal reasons: features that raised the score above the model's baseline
        applicant, largest first. A baseline is needed because a *missing* protective
        feature (not 18, state not launched) contributes 0, yet is why the score is high."""
        pushes = (vector - np.asarray(self.baseline)) * self.weight_vector
        reasons = [
            Reason(f, float(v), float(p), self.reason_texts[f])
            for f, v, p in zip(self.features, vector, pushes)
            if p > 1e-12
        ]
        return sorted(reasons, key=lambda r: -r.contribution)[:top]

    def score_batch(self, matrix: np.ndarray) -> np.ndarray:
        """Scores for many rows at once (one matrix-vector product)."""
        return np.clip(self.intercept + matrix @ self.weight_vector, 0.0, 1.0)


# Each text names the adverse condition, i.e. what raised the score above the baseline.
ONBOARDING_REASONS = {
    F.IS_ADULT: "under 18",
    F.IS_VALID_STATE: "state not launched",
    F.SEEN_SSN: "previously seen SSN",
    F.SEEN_DL: "previously seen licence",
}
# The applicant the model likes best: adult, launched state, identity never seen.
ONBOARDING_BASELINE = (1.0, 1.0, 0.0, 0.0)
# A quiet, flag-free day; continuous features are compared with zero.
DAILY_BASELINE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
DAILY_REASONS = {
    F.CONV_RATE: "conversion rate",
    F.ACC_RATE: "acceptance rate",
    F.AVG_DAILY_TRIPS: "number of daily trips",
    F.Y_TRIPS_LT_10: "fewer than 10 trips yesterday",
    F.Y_ACC_LT_01: "acceptance rate under 1% yesterday",
    F.Y_CONV_GT_80: "conversion rate over 80% yesterday",
}

ONBOARDING_V0 = Model(
    name="onboarding",
    version="v0",
    description="The original demo's weights: approves under-18s (score 0.03).",
    features=F.ONBOARDING_FEATURES,
    weights=(-0.25, -0.25, 0.50, 0.25),
    intercept=0.03,
    threshold=0.5,
    baseline=ONBOARDING_BASELINE,
    reason_texts=ONBOARDING_REASONS,
)
ONBOARDING_V1 = Model(
    name="onboarding",
    version="v1",
    description="Adults in launched states start low; a missing check alone declines.",
    features=F.ONBOARDING_FEATURES,
    weights=(-0.40, -0.40, 0.50, 0.25),
    intercept=0.95,
    threshold=0.5,
    baseline=ONBOARDING_BASELINE,
    reason_texts=ONBOARDING_REASONS,
)
DAILY_V0 = Model(
    name="daily",
    version="v0",
    description="The original demo's weights: more than ~490 daily trips alone declines.",
    features=F.DAILY_FEATURES,
    weights=(0.01, 0.01, 0.001, 0.20, 0.20, 0.20),
    intercept=0.01,
    threshold=0.5,
    baseline=DAILY_BASELINE,
    reason_texts=DAILY_REASONS,
)
DAILY_V1 = Model(
    name="daily",
    version="v1",
    description="Two of yesterday's red flags decline; busy drivers are not penalised.",
    features=F.DAILY_FEATURES,
    weights=(0.05, -0.05, -0.0001, 0.30, 0.30, 0.30),
    intercept=0.05,
    threshold=0.5,
    baseline=DAILY_BASELINE,
    reason_texts=DAILY_REASONS,
)

MODELS: dict[tuple[str, str], Model] = {
    (m.name, m.version): m for m in (ONBOARDING_V0, ONBOARDING_V1, DAILY_V0, DAILY_V1)
}
DEFAULT_VERSION = "v1"


def get_model(name: str, version: str = DEFAULT_VERSION) -> Model:
    try:
        return MODELS[(name, version)]
    except KeyError:
        known = ", ".join(sorted({v for _, v in MODELS}))
        raise ValueError(f"unknown model version {version!r} (known: {known})") from None


def versions(name: str) -> list[str]:
    return sorted(v for n, v in MODELS if n == name)


def weights_table(name: str) -> pd.DataFrame:
    """Every version of a model side by side: intercept, one weight per feature, threshold."""
    frame = pd.DataFrame({"feature": ["intercept", *get_model(name).features, "threshold"]})
    for version in versions(name):
        model = get_model(name, version)
        frame[version] = [model.intercept, *model.weights, model.threshold]
    return frame
