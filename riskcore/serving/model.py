"""The risk models as data: weights, intercept, threshold and version, defined once.

A model is a weighted sum of a numeric feature vector plus an intercept, passed through a link,
then compared with a threshold (Approved below it). The hand-set models use the seed's link,
a clip to [0, 1]: v0 reproduces the original demo (bugs included, for the stage); v1 is served
when the registry has no champion. A learned logistic regression uses the logistic link: the
weighted sum is its log-odds and the score ``1 / (1 + exp(-sum))`` its probability. Both links
are increasing, so "score below threshold" is exactly "sum below the link's inverse of the
threshold": contributions, reasons and the waterfall stay exact for either (in score units for
a clip, in log-odds for a logistic model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from math import exp, log
from typing import Any, Literal

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


CLIP = "clip"
LOGISTIC = "logistic"


@dataclass(frozen=True)
class RegistryRef:
    """Where a learned model came from: its registered name and version in the model registry,
    the alias it served under, and the MLflow run that trained it."""

    name: str
    version: int
    alias: str | None
    run_id: str
    kind: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "alias": self.alias, "run_id": self.run_id,
                "kind": self.kind}


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
    link: Literal["clip", "logistic"] = CLIP
    registry: RegistryRef | None = None

    @property
    def label(self) -> str:
        """How screens name it: "daily v1 (hand-set)", "daily-risk v3 (registry, champion)"."""
        if self.registry is None:
            return f"{self.name} {self.version} (hand-set)"
        alias = f", {self.registry.alias}" if self.registry.alias else ""
        return f"{self.name} {self.version} (registry{alias})"

    @property
    def boundary(self) -> float:
        """The threshold on the weighted sum (the link's inverse of the score threshold)."""
        if self.link == LOGISTIC:
            return log(self.threshold / (1.0 - self.threshold))
        return self.threshold

    @property
    def units(self) -> str:
        return "log-odds" if self.link == LOGISTIC else "score"

    def _link(self, raw: float) -> float:
        if self.link == LOGISTIC:
            return 1.0 / (1.0 + exp(-raw)) if raw >= 0 else exp(raw) / (1.0 + exp(raw))
        return min(1.0, max(0.0, raw))

    @cached_property
    def weight_vector(self) -> np.ndarray:
        return np.asarray(self.weights, dtype=np.float64)

    def vector(self, values: Mapping[str, Any]) -> np.ndarray:
        """The numpy vector the model sees, in the model's fixed feature order."""
        return np.fromiter((float(values[f]) for f in self.features), np.float64, len(self.features))

    def score(self, vector: np.ndarray) -> float:
        # Rounded so that 0.95 - 0.40 - 0.40 prints as 0.15, not 0.1499999…
        return round(self._link(self.intercept + float(vector @ self.weight_vector)), 12)

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
            Reason(f, float(v), float(p), self._reason_text(f, float(v), float(b)))
            for f, v, b, p in zip(self.features, vector, self.baseline, pushes)
            if p > 1e-12
        ]
        return sorted(reasons, key=lambda r: -r.contribution)[:top]

    def _reason_text(self, feature: str, value: float, baseline: float) -> str:
        """A hand-set (clipped) model's texts name the adverse condition: its weights say which
        way each feature pushes. A learned (logistic) model's weights may push either way and its
        baseline is the training average, so its reason says the value and that average."""
        if self.link != LOGISTIC:
            return self.reason_texts[feature]
        return f"{self.reason_texts[feature]}: {value:.3g} (average driver {baseline:.3g})"

    def score_batch(self, matrix: np.ndarray) -> np.ndarray:
        """Scores for many rows at once (one matrix-vector product)."""
        raw = self.intercept + matrix @ self.weight_vector
        if self.link == LOGISTIC:
            with np.errstate(over="ignore"):
                return 1.0 / (1.0 + np.exp(-raw))
        return np.clip(raw, 0.0, 1.0)


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
# A learned model names the same features, with the value and the average driver beside them.
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


def weights_table(name: str, learned: Model | None = None) -> pd.DataFrame:
    """Every hand-set version of a model side by side (intercept, one weight per feature,
    threshold), and a learned model beside them (its weights are in log-odds)."""
    frame = pd.DataFrame({"feature": ["intercept", *get_model(name).features, "threshold"]})
    for model in [*(get_model(name, v) for v in versions(name)), *([learned] if learned else [])]:
        column = model.version if model.registry is None else f"{model.name} {model.version} (log-odds)"
        frame[column] = [model.intercept, *model.weights, model.threshold]
    return frame
