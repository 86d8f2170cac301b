"""The training job: build the training set through Feast inside an MLflow run, train the
candidates, log them, register them and give them their roles. What ``riskcore train`` and the
"Train a model" page run.

Roles after a training: with no champion yet, the new logistic regression becomes champion and
the gradient boosting its challenger; with a champion, the new logistic regression is the
challenger (scored in shadow until someone promotes it). The naive-join model is logged in the
run for the comparison, never registered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sklearn

from riskcore.clock import utc_now
from riskcore.data.jobs import Progress, recorded
from riskcore.data.ledger import Ledger
from riskcore.data.store import DAILY_SERVICE, RiskStore
from riskcore.learning import registry as R
from riskcore.learning import training
from riskcore.serving import features as F
from riskcore.settings import DEFAULT_SEED
from riskcore.validation import InvalidInput

# What a logged model needs to be loaded again, stated (MLflow would otherwise inspect the
# environment to guess it).
PIP_REQUIREMENTS = [f"scikit-learn=={sklearn.__version__}", "cloudpickle"]


@dataclass(frozen=True)
class TrainingReport:
    run_id: str
    summary: dict[str, Any]
    comparison: pd.DataFrame = field(repr=False)
    leak: pd.DataFrame = field(repr=False)
    calibration: pd.DataFrame = field(repr=False)
    registered: dict[str, int]
    aliases: dict[str, int]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "training_set": self.summary, "registered": self.registered,
                "aliases": self.aliases, "seconds": round(self.seconds, 2),
                "models": json.loads(self.comparison.to_json(orient="records"))}


def train(store: RiskStore, seed: int = DEFAULT_SEED, progress: Progress | None = None) -> TrainingReport:
    """Train, log, register and assign roles; recorded in the job history."""
    step = progress or (lambda *_: None)
    started = time.perf_counter()
    if not 0 <= seed < 2**32:
        raise InvalidInput("seed", "expected 0 to 4294967295")
    store.require_ready()
    training.entity_rows(store, utc_now())  # no matured outcomes: a clear error before anything is written
    with recorded(Ledger(store.paths.ledger_db), "train") as out:
        step(0, 6, "loading MLflow and the feature store")
        registry = R.Registry(store.paths)
        feast = store.training_feast(R.feast_mlflow_settings(store.paths))
        with registry.run(feast, "train daily-risk") as run:
            step(1, 6, "training set: point-in-time and naive joins through Feast")
            ts = training.build(store, feast=feast)
            found = training.candidates(ts, seed, lambda d, n, m: step(2, 6, m))
            step(3, 6, "logging the run to MLflow")
            uris = _log(feast, ts, found)
        step(4, 6, "registering the models")
        registered = _register(registry, feast, found, uris)
        step(5, 6, "assigning champion and challenger")
        aliases = _assign_roles(registry, registered)
        out["rows"] = len(ts.point_in_time)
    step(6, 6, "done")
    compared = training.comparison(found)
    return TrainingReport(run.info.run_id, ts.summary(), compared, training.leak_frame(compared),
                          training.calibration_frame(found), registered, aliases, time.perf_counter() - started)


def _metric_prefix(candidate: training.Candidate) -> str:
    return candidate.name.replace(" · ", ".").replace(" ", "_")


def _log(feast: Any, ts: training.TrainingSet, found: list[training.Candidate]) -> dict[str, str]:
    """Parameters, every candidate's metrics, and the models that may be registered."""
    mlflow = feast.mlflow.mlflow
    summary = ts.summary()
    mlflow.log_params({"feature_service": DAILY_SERVICE, "features": ",".join(training.FEATURES),
                       "label": F.LABEL, "rows": summary["rows"], "label_rate": round(summary["label_rate"], 4),
                       "split_at": summary["split_at"], "cost_approve_bad": training.COSTS.approve_bad,
                       "cost_decline_good": training.COSTS.decline_good})
    for candidate in found:
        mlflow.log_metrics({f"{_metric_prefix(candidate)}.{k}": v for k, v in candidate.evaluation.metrics().items()
                            if v == v})  # NaN (an undefined AUC) is left out
    mlflow.log_text(training.comparison(found).to_csv(index=False), R.COMPARISON_ARTIFACT)
    mlflow.log_text(training.calibration_frame(found).to_csv(index=False), R.CALIBRATION_ARTIFACT)
    mlflow.log_dict(summary, R.SUMMARY_ARTIFACT)
    uris = {}
    for candidate in found:
        if candidate.join != training.POINT_IN_TIME:
            continue
        name = _metric_prefix(candidate).split(".")[0]
        feast.mlflow.log_model(candidate.estimator, None, flavor="sklearn", name=name,
                               serialization_format="cloudpickle", pip_requirements=PIP_REQUIREMENTS)
        uris[candidate.name] = mlflow.last_logged_model().model_uri
    return uris


def _register(
    registry: R.Registry, feast: Any, found: list[training.Candidate], uris: dict[str, str],
) -> dict[str, int]:
    """Register each logged model; Feast tags the version with its feature service; riskcore
    adds what serving needs (threshold, baseline, feature order)."""
    registered = {}
    for candidate in found:
        if candidate.name not in uris:
            continue
        version = feast.mlflow.register_model(uris[candidate.name], R.MODEL_NAME).version
        for key, value in {R.TAG_KIND: candidate.kind, R.TAG_JOIN: candidate.join,
                           R.TAG_THRESHOLD: str(candidate.evaluation.threshold),
                           R.TAG_BASELINE: json.dumps([float(b) for b in candidate.baseline]),
                           R.TAG_FEATURES: json.dumps(list(training.FEATURES)),
                           R.TAG_HOLDOUT_AUC: f"{candidate.evaluation.holdout_auc:.6f}"}.items():
            registry.client.set_model_version_tag(R.MODEL_NAME, version, key, value)
        registered[candidate.name] = int(version)
    return registered


def _assign_roles(registry: R.Registry, registered: dict[str, int]) -> dict[str, int]:
    linear, other = registered[training.LOGISTIC_PIT], registered.get(training.BOOSTING_PIT)
    if R.CHAMPION not in registry.aliases():
        registry.promote(linear)
        if other is not None:
            registry.set_challenger(other)
    else:
        registry.set_challenger(linear)
    return registry.aliases()
