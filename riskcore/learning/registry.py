"""The model registry: MLflow, embedded in the data dir (SQLite tracking and registry, artifacts
beside it; no server), used through Feast's own integration (``feast.mlflow``).

One registered model, ``daily-risk``; its versions carry what serving needs (the cost-based
threshold, the training baseline, the feature order) as version tags, and Feast tags each with
the feature service it was trained on. Aliases name the roles: ``champion`` serves every daily
decision, ``challenger`` is scored in shadow. Only a linear model may be champion: its reasons
must be exact. Promotion and rollback are one call each; the champion's history (a tag on the
registered model) is what a rollback returns to, down to "no champion", when the hand-set v1
serves again.

MLflow traps avoided here: a ``sqlite:`` store needs ``alembic`` (a dependency of this project;
without it Feast says "mlflow is not installed"); sklearn models are logged with
``serialization_format="cloudpickle"`` (the default, skops, is not installed) and explicit pip
requirements, so nothing inspects or fetches an environment; MLflow's telemetry is off (it would
try to reach the internet).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from riskcore.serving import features as F
from riskcore.serving.model import APPROVED, DECLINED, Model, RegistryRef
from riskcore.settings import Paths
from riskcore.validation import InvalidInput

MODEL_NAME = "daily-risk"
EXPERIMENT = "driver_risk"   # Feast's default experiment name: its project
CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_KIND = "riskcore.kind"
TAG_JOIN = "riskcore.join"
TAG_THRESHOLD = "riskcore.threshold"
TAG_BASELINE = "riskcore.baseline"
TAG_FEATURES = "riskcore.features"
TAG_HOLDOUT_AUC = "riskcore.holdout_auc"
TAG_HISTORY = "riskcore.champion_history"
LINEAR_KINDS = ("logistic regression",)
# What a training run leaves beside its models, for the page to show after a restart.
COMPARISON_ARTIFACT = "comparison.csv"
CALIBRATION_ARTIFACT = "calibration.csv"
SUMMARY_ARTIFACT = "training_set.json"


def tracking_uri(paths: Paths) -> str:
    return f"sqlite:///{paths.mlflow_db}"


def feast_mlflow_settings(paths: Paths) -> dict[str, Any]:
    """The ``mlflow:`` block for training's Feast store: historical reads inside a run tag it
    with the feature service and archive the entity rows (the training labels) as an artifact."""
    return {"enabled": True, "tracking_uri": tracking_uri(paths), "auto_log": True,
            "auto_log_entity_df": True, "entity_df_max_rows": 2_000_000}


_URIS = threading.Lock()


# Set on import, before anything (this module or Feast's integration) imports MLflow: its
# telemetry would try to reach the internet; its artifact progress bars fill server logs.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _mlflow() -> Any:
    import mlflow

    return mlflow


@dataclass(frozen=True)
class VersionInfo:
    version: int
    kind: str
    join: str
    aliases: tuple[str, ...]
    created: datetime
    run_id: str
    threshold: float
    holdout_auc: float
    feature_service: str | None

    @property
    def linear(self) -> bool:
        return self.kind in LINEAR_KINDS

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "join": self.join, "aliases": list(self.aliases),
                "created": self.created.isoformat(), "run_id": self.run_id, "threshold": self.threshold,
                "holdout_auc": self.holdout_auc, "feature_service": self.feature_service}


@dataclass(frozen=True)
class LastTraining:
    run_id: str
    started: datetime
    summary: dict[str, Any]
    comparison: Any    # pandas frames: one row per candidate; calibration bins per candidate
    calibration: Any


class EstimatorScorer:
    """A registered model that is not a weighted sum (e.g. gradient boosting): scored with its
    own ``predict_proba``. Only ever a challenger, scored in shadow."""

    def __init__(self, estimator: Any, threshold: float, ref: RegistryRef) -> None:
        self.estimator, self.threshold, self.registry = estimator, threshold, ref

    @property
    def label(self) -> str:
        return f"{self.registry.name} v{self.registry.version} (registry, {self.registry.alias})"

    def score(self, vector: np.ndarray) -> float:
        return float(self.estimator.predict_proba(vector.reshape(1, -1))[0, 1])

    def score_batch(self, matrix: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(matrix)[:, 1]

    def decide(self, score: float) -> str:
        return APPROVED if score < self.threshold else DECLINED


class Registry:
    """MLflow's registry for one data dir. Creating it imports nothing; the first call that
    needs MLflow imports it (seconds), so ask ``exists`` first where that matters."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._client: Any = None

    def exists(self) -> bool:
        return self.paths.mlflow_db.exists()

    @property
    def client(self) -> Any:
        if self._client is None:
            mlflow = _mlflow()
            self.paths.mlflow_dir.mkdir(parents=True, exist_ok=True)
            uri = tracking_uri(self.paths)
            self._client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        return self._client

    def experiment_id(self) -> str:
        """The training experiment, created with its artifacts in the data dir (MLflow's default
        for a SQLite store is ``./mlartifacts`` under whatever the current directory is)."""
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        location = self.paths.mlflow_artifacts.as_uri()
        return str(self.client.create_experiment(EXPERIMENT, artifact_location=location))

    @contextmanager
    def run(self, feast: Any, name: str) -> Iterator[Any]:
        """An MLflow run through Feast's integration (tagged with the Feast project); the
        tracking URI is set for this process only while the run lasts."""
        mlflow = _mlflow()
        experiment = self.experiment_id()
        with _URIS:
            mlflow.set_tracking_uri(tracking_uri(self.paths))
            mlflow.set_registry_uri(tracking_uri(self.paths))
        with feast.mlflow.start_run(run_name=name, experiment_id=experiment) as active:
            yield active

    # --- versions and aliases -------------------------------------------------------------------

    def versions(self) -> list[VersionInfo]:
        """Every version of ``daily-risk``, newest first (none before the first training)."""
        if not self.exists():
            return []
        found = self.client.search_model_versions(f"name = '{MODEL_NAME}'")
        aliases = self.aliases()
        return sorted((self._info(v, aliases) for v in found), key=lambda v: -v.version)

    def _info(self, mv: Any, aliases: dict[str, int] | None = None) -> VersionInfo:
        tags = mv.tags or {}
        named = self.aliases() if aliases is None else aliases
        return VersionInfo(
            version=int(mv.version), kind=tags.get(TAG_KIND, "unknown"), join=tags.get(TAG_JOIN, "unknown"),
            aliases=tuple(sorted(alias for alias, v in named.items() if v == int(mv.version))),
            created=datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc), run_id=mv.run_id or "",
            threshold=float(tags.get(TAG_THRESHOLD, "nan")), holdout_auc=float(tags.get(TAG_HOLDOUT_AUC, "nan")),
            feature_service=tags.get("feast.feature_service"),
        )

    def aliases(self) -> dict[str, int]:
        """Which version each alias names now (``champion``, ``challenger``)."""
        if not self.exists():
            return {}
        try:
            model = self.client.get_registered_model(MODEL_NAME)
        except Exception as exc:  # noqa: BLE001 - MLflow's "not found" is a RestException
            if "RESOURCE_DOES_NOT_EXIST" in str(exc):
                return {}
            raise
        return {alias: int(version) for alias, version in (model.aliases or {}).items()}

    def version(self, number: int) -> VersionInfo:
        for found in self.versions():
            if found.version == number:
                return found
        known = ", ".join(str(v.version) for v in self.versions()) or "none yet: run `riskcore train`"
        raise InvalidInput("version", f"no version {number} of {MODEL_NAME} (registered: {known})")

    def _history(self) -> list[int]:
        tags = self.client.get_registered_model(MODEL_NAME).tags or {}
        return [int(v) for v in json.loads(tags.get(TAG_HISTORY, "[]"))]

    def promote(self, number: int | None = None) -> VersionInfo:
        """Make a version the champion (default: the challenger), remembering the one it
        replaces for a rollback. A model that is not a weighted sum cannot be champion."""
        current = self.aliases()
        if number is None:
            if CHALLENGER not in current:
                raise InvalidInput("version", "no challenger to promote: name a version (`riskcore models list`)")
            number = current[CHALLENGER]
        target = self.version(number)
        if not target.linear:
            raise InvalidInput("version", f"version {number} is a {target.kind}: only a linear model can be "
                                          "champion, so that every decision's reasons are exact; it can be challenger")
        if current.get(CHAMPION) == number:
            raise InvalidInput("version", f"version {number} is already the champion")
        history = self._history() + [current.get(CHAMPION, 0)]
        self.client.set_registered_model_tag(MODEL_NAME, TAG_HISTORY, json.dumps(history))
        self.client.set_registered_model_alias(MODEL_NAME, CHAMPION, str(number))
        if current.get(CHALLENGER) == number:
            self.client.delete_registered_model_alias(MODEL_NAME, CHALLENGER)
        return self.version(number)

    def set_challenger(self, number: int) -> None:
        self.version(number)
        self.client.set_registered_model_alias(MODEL_NAME, CHALLENGER, str(number))

    def rollback(self) -> VersionInfo | None:
        """Back to the champion before this one; None when that was "no champion" (the hand-set
        v1 serves again)."""
        current = self.aliases()
        if CHAMPION not in current:
            raise InvalidInput("champion", "no champion to roll back: the hand-set v1 already serves")
        history = self._history()
        previous = history.pop() if history else 0
        self.client.set_registered_model_tag(MODEL_NAME, TAG_HISTORY, json.dumps(history))
        if previous:
            self.client.set_registered_model_alias(MODEL_NAME, CHAMPION, str(previous))
            return self.version(previous)
        self.client.delete_registered_model_alias(MODEL_NAME, CHAMPION)
        return None

    def last_training(self) -> LastTraining | None:
        """The newest training run's training set, comparison and calibration, from MLflow."""
        import io

        import pandas as pd

        if not self.exists():
            return None
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is None:
            return None
        runs = self.client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"], max_results=5)
        for run in runs:
            names = {a.path for a in self.client.list_artifacts(run.info.run_id)}
            if not {COMPARISON_ARTIFACT, CALIBRATION_ARTIFACT, SUMMARY_ARTIFACT} <= names:
                continue  # a run cut short

            def text(name: str, run_id: str = run.info.run_id) -> str:
                with open(self.client.download_artifacts(run_id, name)) as source:
                    return source.read()

            return LastTraining(run.info.run_id, datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc),
                                json.loads(text(SUMMARY_ARTIFACT)), pd.read_csv(io.StringIO(text(COMPARISON_ARTIFACT))),
                                pd.read_csv(io.StringIO(text(CALIBRATION_ARTIFACT))))
        return None

    # --- loading --------------------------------------------------------------------------------

    def load(self, number: int, alias: str | None) -> Model | EstimatorScorer:
        """A registered version as something that scores: a linear model as the served ``Model``
        (weights read from the logged estimator itself), anything else as an ``EstimatorScorer``."""
        from riskcore.learning.training import served_model

        mv = self.client.get_model_version(MODEL_NAME, str(number))
        info = self._info(mv)
        tags = mv.tags or {}
        if tuple(json.loads(tags.get(TAG_FEATURES, "[]"))) != F.DAILY_FEATURES:
            raise InvalidInput("version", f"version {number} was trained on other features than the daily "
                                          f"service serves ({tags.get(TAG_FEATURES)})")
        mlflow = _mlflow()
        with _URIS:  # model URIs resolve against MLflow's process-wide tracking and registry URIs
            mlflow.set_tracking_uri(tracking_uri(self.paths))
            mlflow.set_registry_uri(tracking_uri(self.paths))
            estimator = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{number}")
        ref = RegistryRef(MODEL_NAME, number, alias, info.run_id, info.kind)
        if info.linear:
            return served_model(estimator, info.threshold, np.asarray(json.loads(tags[TAG_BASELINE])), ref)
        return EstimatorScorer(estimator, info.threshold, ref)
