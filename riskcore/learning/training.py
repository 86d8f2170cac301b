"""Training: the training set through Feast (point in time, beside the naive latest-value join),
a time-based split, the candidate models and how each is judged.

The two joins differ in one thing only, the time each label row is joined at: its decision time
(point in time, what serving saw then) or the training time (the latest values, what a query of
the current table returns). Both go through the same Feast call on the ``daily`` service, so
the leak is the only difference. Every model is judged on the *future holdout*: the newest
decisions, with the features serving had at decision time. A model trained on the naive join
also gets its own offline score (its holdout rows, naive features): the number that fooled you.

The champion candidate is a logistic regression on standardised features; the scaler is folded
into the weights (``linear_form``), so the served model is a weighted sum of the raw vector plus
an intercept, with the logistic link, and reasons stay exact (see ``riskcore.serving.model``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from riskcore.clock import utc_now
from riskcore.data.store import DAILY_SERVICE, RiskStore
from riskcore.learning import outcomes
from riskcore.serving import features as F
from riskcore.serving.model import DAILY_REASONS, LOGISTIC, Model, RegistryRef
from riskcore.validation import InvalidInput

FEATURES = F.DAILY_FEATURES
HOLDOUT_SHARE = 0.3
POINT_IN_TIME = "point-in-time"
NAIVE = "naive (latest values)"
LOGISTIC_KIND = "logistic regression"
BOOSTING_KIND = "gradient boosting"
CALIBRATION_BINS = 8
# The candidates' names: the champion candidate, the challenger, and the leak's witness.
LOGISTIC_PIT = f"logistic · {POINT_IN_TIME}"
BOOSTING_PIT = f"boosting · {POINT_IN_TIME}"
LOGISTIC_NAIVE = "logistic · naive join"
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Costs:
    """What a wrong decision costs, in units of a wrongly declined good driver. The cost-based
    threshold minimises their sum on the training rows."""

    approve_bad: float = 5.0
    decline_good: float = 1.0


COSTS = Costs()


@dataclass(frozen=True)
class TrainingSet:
    """Labelled decision rows with their features from both joins, and where the split falls."""

    point_in_time: pd.DataFrame     # driver_id, event_timestamp, label, features as of the decision
    naive: pd.DataFrame             # the same rows, features as of ``as_of``
    as_of: datetime
    split_at: pd.Timestamp          # decisions after this are the future holdout
    incomplete: int                 # rows without every feature at decision time (left out)

    def rows(self, join: str, part: str) -> pd.DataFrame:
        frame = self.point_in_time if join == POINT_IN_TIME else self.naive
        future = frame["event_timestamp"] > self.split_at
        return frame[future if part == "holdout" else ~future]

    def summary(self) -> dict[str, Any]:
        rows = self.point_in_time
        return {
            "rows": len(rows), "label_rate": outcomes.label_rate(rows), "incomplete_rows_left_out": self.incomplete,
            "train_rows": len(self.rows(POINT_IN_TIME, "train")),
            "holdout_rows": len(self.rows(POINT_IN_TIME, "holdout")),
            "first_decision": rows["event_timestamp"].min().isoformat(),
            "split_at": self.split_at.isoformat(), "last_decision": rows["event_timestamp"].max().isoformat(),
            "as_of": self.as_of.isoformat(),
        }

    def join_comparison(self) -> pd.DataFrame:
        """How the two joins see the same rows: per feature, the mean for rows that led to an
        incident and for rows that did not. The naive join's gap is the leak."""
        out = []
        for join, frame in ((POINT_IN_TIME, self.point_in_time), (NAIVE, self.naive)):
            means = frame.groupby(F.LABEL)[list(FEATURES)].mean()
            for feature in FEATURES:
                out.append({"join": join, "feature": feature, "no incident": float(means.loc[0, feature]),
                            "incident followed": float(means.loc[1, feature])})
        return pd.DataFrame(out)


def entity_rows(store: RiskStore, as_of: datetime) -> pd.DataFrame:
    """The matured outcomes as Feast entity rows; none is a clear error, not an empty model."""
    rows = outcomes.matured(store.paths, as_of)
    if rows.empty:
        raise InvalidInput("outcomes", f"no matured outcomes as of {as_of:%Y-%m-%d %H:%M} UTC: an outcome is known "
                           f"{outcomes.HORIZON_DAYS + outcomes.MATURITY_DAYS} days after its decision; "
                           "run `riskcore bootstrap` for a world with history")
    _learnable(rows)
    return rows


def _learnable(rows: pd.DataFrame) -> None:
    """Both outcomes among the older decisions (what the models fit), and a newer one to test on."""
    if rows["event_timestamp"].nunique() < 2:
        raise InvalidInput("outcomes", "the matured outcomes span a single decision time: no future to hold out")
    older = rows[rows["event_timestamp"] <= _split_time(rows["event_timestamp"])]
    if older[F.LABEL].nunique() < 2:
        raise InvalidInput("outcomes", f"the {len(older)} older decisions all have the same outcome: nothing to "
                                       "learn from (bootstrap more drivers)")


def build(store: RiskStore, as_of: datetime | None = None, feast: Any = None) -> TrainingSet:
    """Both joins through Feast's ``get_historical_features`` on the ``daily`` service. ``feast``
    is the Feast store to use for the point-in-time read (training's, which logs to MLflow)."""
    as_of = as_of or utc_now()
    rows = entity_rows(store, as_of)
    service = store.service(DAILY_SERVICE)
    point_in_time = store.historical(rows, service, feast)
    naive = store.historical(rows.assign(event_timestamp=pd.Timestamp(as_of)), service)
    naive = naive.assign(event_timestamp=rows["event_timestamp"].to_numpy())
    complete = point_in_time[list(FEATURES)].notna().all(axis=1) & naive[list(FEATURES)].notna().all(axis=1)
    _learnable(point_in_time[complete])
    split_at = _split_time(point_in_time.loc[complete, "event_timestamp"])
    return TrainingSet(point_in_time[complete].reset_index(drop=True), naive[complete].reset_index(drop=True),
                       as_of, split_at, int((~complete).sum()))


def _split_time(times: pd.Series) -> pd.Timestamp:
    """The decision time before which the oldest ~70 % of rows fall (never the newest time)."""
    distinct = np.sort(times.unique())
    cut = pd.Timestamp(times.quantile(1 - HOLDOUT_SHARE, interpolation="lower"))
    return min(cut, pd.Timestamp(distinct[-2]))


# --- models --------------------------------------------------------------------------------

def fit_logistic(frame: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression(max_iter=1000))])
    return pipeline.fit(_matrix(frame), frame[F.LABEL].to_numpy())


def fit_boosting(frame: pd.DataFrame, seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.05, random_state=seed)
    return model.fit(_matrix(frame), frame[F.LABEL].to_numpy())


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FEATURES)].to_numpy(np.float64)


def linear_form(pipeline: Any) -> tuple[np.ndarray, float]:
    """Weights and intercept on the *raw* features: ``(x - mean) / scale · w + b`` is
    ``x · (w / scale) + (b - Σ w · mean / scale)``, the same log-odds for every x."""
    scaler, logistic = pipeline.named_steps["scale"], pipeline.named_steps["logistic"]
    coef = logistic.coef_[0] / scaler.scale_
    return coef, float(logistic.intercept_[0] - np.sum(coef * scaler.mean_))


def served_model(pipeline: Any, threshold: float, baseline: np.ndarray, ref: RegistryRef | None = None) -> Model:
    """A learned logistic regression as the served model's data: its exact linear form, the
    logistic link, the cost-based threshold, and the training population's mean as the baseline
    reasons are measured from ("what makes this driver riskier than the average driver")."""
    weights, intercept = linear_form(pipeline)
    return Model(
        name=ref.name if ref else "daily-risk", version=f"v{ref.version}" if ref else "candidate",
        description="Logistic regression learned from point-in-time training data.",
        features=FEATURES, weights=tuple(float(w) for w in weights), intercept=intercept, threshold=threshold,
        baseline=tuple(float(b) for b in baseline), reason_texts=DAILY_REASONS, link=LOGISTIC, registry=ref,
    )


def predict(estimator: Any, frame: pd.DataFrame) -> np.ndarray:
    return estimator.predict_proba(_matrix(frame))[:, 1]


def cost_threshold(labels: np.ndarray, scores: np.ndarray, costs: Costs = COSTS) -> float:
    """The decline threshold with the lowest total cost on these rows (approve below it)."""
    grid = np.round(np.linspace(0.01, 0.99, 99), 2)
    approved = scores[None, :] < grid[:, None]
    bad = labels.astype(bool)[None, :]
    cost = costs.approve_bad * (approved & bad).sum(axis=1) + costs.decline_good * (~approved & ~bad).sum(axis=1)
    return float(grid[int(np.argmin(cost))])


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")


@dataclass(frozen=True)
class Evaluation:
    """How a candidate does. ``holdout_auc`` is the truth (future decisions, point-in-time
    features); ``offline_auc`` is what its own join's holdout made it look like."""

    train_auc: float
    offline_auc: float
    holdout_auc: float
    threshold: float
    approval_rate: float
    bad_rate: float                 # share of approved holdout decisions that led to an incident
    cost_per_decision: float
    calibration: pd.DataFrame = field(repr=False)   # mean predicted vs observed, holdout bins

    def metrics(self) -> dict[str, float]:
        return {"train_auc": self.train_auc, "offline_auc": self.offline_auc, "holdout_auc": self.holdout_auc,
                "threshold": self.threshold, "approval_rate": self.approval_rate, "bad_rate": self.bad_rate,
                "cost_per_decision": self.cost_per_decision}


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str
    join: str
    estimator: Any = field(repr=False)
    evaluation: Evaluation
    baseline: np.ndarray = field(repr=False)

    @property
    def linear(self) -> bool:
        return self.kind == LOGISTIC_KIND


def evaluate(estimator: Any, ts: TrainingSet, join: str, costs: Costs = COSTS) -> Evaluation:
    from sklearn.calibration import calibration_curve

    train, own_holdout = ts.rows(join, "train"), ts.rows(join, "holdout")
    future = ts.rows(POINT_IN_TIME, "holdout")
    train_labels, labels = train[F.LABEL].to_numpy(), future[F.LABEL].to_numpy()
    train_scores, scores = predict(estimator, train), predict(estimator, future)
    threshold = cost_threshold(train_labels, train_scores, costs)
    approved = scores < threshold
    observed, predicted = calibration_curve(labels, scores, n_bins=CALIBRATION_BINS, strategy="quantile")
    cost = costs.approve_bad * np.sum(approved & (labels == 1)) + costs.decline_good * np.sum(~approved & (labels == 0))
    return Evaluation(
        train_auc=auc(train_labels, train_scores),
        offline_auc=auc(own_holdout[F.LABEL].to_numpy(), predict(estimator, own_holdout)),
        holdout_auc=auc(labels, scores), threshold=threshold,
        approval_rate=float(approved.mean()),
        bad_rate=float(labels[approved].mean()) if approved.any() else float("nan"),
        cost_per_decision=float(cost / max(len(labels), 1)),
        calibration=pd.DataFrame({"predicted": predicted, "observed": observed}),
    )


def candidates(ts: TrainingSet, seed: int, progress: Progress | None = None) -> list[Candidate]:
    """The champion candidate (logistic regression, point in time), a challenger (gradient
    boosting, point in time) and the leak's witness (logistic regression on the naive join)."""
    step = progress or (lambda *_: None)
    plan = ((LOGISTIC_PIT, LOGISTIC_KIND, POINT_IN_TIME), (BOOSTING_PIT, BOOSTING_KIND, POINT_IN_TIME),
            (LOGISTIC_NAIVE, LOGISTIC_KIND, NAIVE))
    found = []
    for done, (name, kind, join) in enumerate(plan):
        step(done, len(plan), f"training {name}")
        train = ts.rows(join, "train")
        estimator = fit_logistic(train) if kind == LOGISTIC_KIND else fit_boosting(train, seed)
        found.append(Candidate(name, kind, join, estimator, evaluate(estimator, ts, join),
                               train[list(FEATURES)].mean().to_numpy()))
    step(len(plan), len(plan), "trained")
    return found


def comparison(found: list[Candidate]) -> pd.DataFrame:
    """One row per candidate: the numbers the page, the CLI and the run's metrics show."""
    return pd.DataFrame([{"model": c.name, "kind": c.kind, "join": c.join, **c.evaluation.metrics()} for c in found])


def leak_frame(compared: pd.DataFrame) -> pd.DataFrame:
    """Long form of ``comparison`` for the leak chart: each model's AUC on its training rows, on
    its own join's holdout (what it looked like offline) and on the future as served."""
    measured = {"train_auc": "training rows", "offline_auc": "its own holdout (offline)",
                "holdout_auc": "future holdout, as served"}
    long = compared.melt(id_vars=["model"], value_vars=list(measured), var_name="measured on", value_name="AUC")
    return long.assign(**{"measured on": long["measured on"].map(measured)})


def calibration_frame(found: list[Candidate]) -> pd.DataFrame:
    return pd.concat([c.evaluation.calibration.assign(model=c.name) for c in found], ignore_index=True)
