"""Learning the daily model from the feature store: the training reads, the leak, the registry
and what serves.

Expected values come from elsewhere than the code under test: training reads from the
``merge_asof`` oracle of ``test_historical``; labels from a plain loop over the simulated
incidents; served scores from scikit-learn's own ``predict_proba`` of the estimator MLflow gives
back; the archived entity rows from Feast's own ``get_training_entity_df``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskcore import settings
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.ledger import Ledger
from riskcore.data.store import DAILY_SERVICE, OUTCOMES_SCHEMA, RiskStore, parts, write_part
from riskcore.learning import job, outcomes, registry, training
from riskcore.serving import features as F
from riskcore.serving.decisions import Decisions
from riskcore.serving.model import DAILY_REASONS, LOGISTIC, Model
from riskcore.serving.served import NO_CHAMPION, ServedDaily
from riskcore.validation import InvalidInput
from tests.conftest import run_cli, snapshot
from tests.test_historical import HOURLY, TWO_DAYS, View, differences, oracle, source_rows

DRIVERS = 200
FLAGS = View("driver_yesterdays_stats", "yesterdays_dir", ("driver_id",), F.YESTERDAYS_FLAGS, TWO_DAYS)
DAILY_VIEWS = (HOURLY, FLAGS)


@dataclass(frozen=True)
class Learned:
    store: RiskStore
    report: job.TrainingReport


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> Learned:
    """A bootstrapped world of its own, trained once: champion and challenger registered."""
    root = tmp_path_factory.mktemp("learned")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(settings.DATA_DIR_ENV, str(root))
        store = RiskStore(settings.Paths(root))
        demo_world.bootstrap(store, drivers=DRIVERS)
        return Learned(store, job.train(store))


@pytest.fixture()
def env(learned: Learned, monkeypatch: pytest.MonkeyPatch) -> RiskStore:
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(learned.store.paths.root))
    return learned.store


def _estimator(store: RiskStore, version: int):  # type: ignore[no-untyped-def]
    """The registered estimator straight from MLflow, not through riskcore's loader."""
    mlflow = registry._mlflow()
    mlflow.set_tracking_uri(registry.tracking_uri(store.paths))
    mlflow.set_registry_uri(registry.tracking_uri(store.paths))
    return mlflow.sklearn.load_model(f"models:/{registry.MODEL_NAME}/{version}")


# --- the simulation ---------------------------------------------------------------------------

def test_labels_are_incidents_within_the_horizon_and_mature_after_the_delay() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    history = outcomes.simulate(np.arange(1, 41), now, seed=3)
    rows = outcomes.outcome_rows(history)
    assert len(rows) > 0 and 0 < rows[F.LABEL].mean() < 0.5
    for row in rows.sample(200, random_state=0).itertuples():
        decided = pd.Timestamp(row.event_timestamp)
        day = round((decided - pd.Timestamp(now)).total_seconds() / 86400 + history.days - outcomes.DECISION_HOUR / 24)
        column = int(row.driver_id) - 1
        want = any(history.incidents[d, column] for d in range(day, day + outcomes.HORIZON_DAYS))
        assert row.incident_within_horizon == int(want)
        assert row.created - decided == pd.Timedelta(days=outcomes.HORIZON_DAYS + outcomes.MATURITY_DAYS)
        assert row.created <= pd.Timestamp(now)  # only what has matured is written
    again = outcomes.outcome_rows(outcomes.simulate(np.arange(1, 41), now, seed=3))
    pd.testing.assert_frame_equal(rows, again)


def test_an_incident_changes_behaviour_afterwards() -> None:
    history = outcomes.simulate(np.arange(1, 2001), datetime(2026, 3, 1, tzinfo=timezone.utc), seed=5)
    first = np.where(history.incidents.any(axis=0), history.incidents.argmax(axis=0), -1)
    hit = np.where((first >= 0) & (first < history.days - 2))[0]
    before = history.trips[first[hit] - 1, hit].mean() if (first[hit] > 0).all() else history.trips[0, hit].mean()
    after = history.trips[first[hit] + 1, hit].mean()
    assert len(hit) > 100 and after < 0.05 * before


# --- training reads equal the oracle ----------------------------------------------------------

def test_training_reads_equal_the_oracle_row_for_row(env: RiskStore) -> None:
    """Every matured row, plus requests with partial history (the first day: activity, no
    yesterday's stats yet), before any data, and after the TTL has expired."""
    store = env
    rows = outcomes.matured(store.paths, datetime.now(timezone.utc))
    first_day = rows["event_timestamp"].min() - pd.Timedelta(days=2)
    extra = pd.DataFrame({
        "driver_id": np.tile(rows["driver_id"].unique()[:20], 3),
        "event_timestamp": np.repeat([first_day + pd.Timedelta(hours=7), first_day - pd.Timedelta(days=3),
                                      pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)], 20),
        F.LABEL: 0,
    })
    request = pd.concat([rows, extra], ignore_index=True).astype({"driver_id": "int64"})
    request["event_timestamp"] = pd.to_datetime(request["event_timestamp"], utc=True).astype("datetime64[ns, UTC]")
    got = store.historical(request, store.service(DAILY_SERVICE))
    want = oracle(request, DAILY_VIEWS, source_rows(store, DAILY_VIEWS))
    assert differences(got[list(want.columns)], want) == []
    partial, before, expired = (extra.index[20 * k:20 * (k + 1)] + len(rows) for k in range(3))
    assert want.loc[partial, list(F.HOURLY_FEATURES)].notna().all().all()
    assert want.loc[partial, list(F.YESTERDAYS_FLAGS)].isna().all().all()
    assert want.loc[before.union(expired), list(F.DAILY_FEATURES)].isna().all().all()


def test_the_training_set_is_both_joins_of_the_same_rows(env: RiskStore) -> None:
    as_of = datetime.now(timezone.utc)
    ts = training.build(env, as_of=as_of)
    request = ts.point_in_time[["driver_id", "event_timestamp", F.LABEL]]
    pit = oracle(request, DAILY_VIEWS, source_rows(env, DAILY_VIEWS))
    assert differences(ts.point_in_time[list(pit.columns)], pit) == []
    at_as_of = ts.naive[["driver_id", F.LABEL]].assign(event_timestamp=pd.Timestamp(as_of))
    naive = oracle(at_as_of, DAILY_VIEWS, source_rows(env, DAILY_VIEWS))
    assert differences(ts.naive[list(F.DAILY_FEATURES)], naive[list(F.DAILY_FEATURES)]) == []
    assert (ts.point_in_time["event_timestamp"] == ts.naive["event_timestamp"]).all()
    holdout = ts.rows(training.POINT_IN_TIME, "holdout")
    assert holdout["event_timestamp"].min() > ts.rows(training.POINT_IN_TIME, "train")["event_timestamp"].max()
    assert 0.2 < len(holdout) / len(ts.point_in_time) < 0.4


# --- the leak --------------------------------------------------------------------------------

def test_the_naive_join_looks_better_offline_and_is_worse_on_the_future(learned: Learned) -> None:
    models = learned.report.comparison.set_index("model")
    pit, naive = models.loc[training.LOGISTIC_PIT], models.loc[training.LOGISTIC_NAIVE]
    assert naive["train_auc"] > pit["train_auc"]
    assert naive["offline_auc"] > naive["holdout_auc"] + 0.1
    assert naive["holdout_auc"] < pit["holdout_auc"]
    assert pit["holdout_auc"] > 0.65


def test_metrics_match_an_independent_computation() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(300) < 0.2
    scores = np.clip(labels * 0.2 + rng.random(300) * 0.8, 0, 1)
    pairs = [(s1 > s0) + 0.5 * (s1 == s0) for s1 in scores[labels] for s0 in scores[~labels]]
    assert training.auc(labels.astype(int), scores) == pytest.approx(np.mean(pairs))
    costs = training.Costs(approve_bad=5, decline_good=1)
    brute = {t: 5 * np.sum((scores < t) & labels) + np.sum((scores >= t) & ~labels)
             for t in np.round(np.arange(0.01, 1.0, 0.01), 2)}
    assert brute[training.cost_threshold(labels.astype(int), scores, costs)] == min(brute.values())


# --- the served form of the logistic regression -----------------------------------------------

def test_the_served_champion_scores_exactly_as_the_registered_estimator(env: RiskStore) -> None:
    serving = ServedDaily(env.paths).current()
    champion = serving.champion
    assert champion.link == LOGISTIC and champion.registry is not None and champion.registry.alias == "champion"
    estimator = _estimator(env, champion.registry.version)
    rows = outcomes.matured(env.paths, datetime.now(timezone.utc)).head(300)
    frame = env.historical(rows, env.service(DAILY_SERVICE)).dropna()
    x = frame[list(F.DAILY_FEATURES)].to_numpy(np.float64)
    want = estimator.predict_proba(x)[:, 1]
    got = np.array([champion.score(v) for v in x])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(champion.score_batch(x), want, rtol=0, atol=1e-9)
    sums = champion.intercept + x @ champion.weight_vector
    assert ((got < champion.threshold) == (sums < champion.boundary)).all()


def test_logistic_link_keeps_the_decision_on_the_weighted_sum() -> None:
    model = Model("m", "v", "", ("a", "b"), (2.0, -1.0), -0.5, 0.3, (0.0, 0.0), {"a": "a", "b": "b"}, link=LOGISTIC)
    rng = np.random.default_rng(0)
    for vector in rng.normal(0, 2, (500, 2)):
        raw = -0.5 + 2 * vector[0] - vector[1]
        assert model.score(vector) == pytest.approx(1 / (1 + np.exp(-raw)), abs=1e-12)
        assert (model.decide(model.score(vector)) == "Approved") == (raw < np.log(0.3 / 0.7))


# --- the registry: round trip, promote, roll back ---------------------------------------------

def test_feast_tags_each_version_and_archives_the_training_rows(env: RiskStore) -> None:
    versions = registry.Registry(env.paths).versions()
    assert {v.feature_service for v in versions} == {DAILY_SERVICE}
    run_id = versions[0].run_id
    feast = env.training_feast(registry.feast_mlflow_settings(env.paths))
    archived = feast.mlflow.get_training_entity_df(run_id)
    matured = outcomes.matured(env.paths, datetime.now(timezone.utc))
    assert len(archived) == len(matured)
    assert archived[F.LABEL].sum() == matured[F.LABEL].sum()
    assert set(archived["driver_id"]) == set(matured["driver_id"])
    assert feast.mlflow.resolve_features(f"models:/{registry.MODEL_NAME}/champion") == DAILY_SERVICE


def test_promote_and_rollback_change_what_serves(env: RiskStore, capsys: pytest.CaptureFixture[str]) -> None:
    decisions = Decisions(env)
    driver = int(env.roster()["driver_id"].iloc[0])
    aliases = registry.Registry(env.paths).aliases()
    assert decisions.daily(driver, record=False).model.registry.version == aliases["champion"]

    code, _, err = run_cli(capsys, "models", "promote", str(aliases["challenger"]))
    assert code == 2 and "only a linear model can be champion" in err and err.count("\n") == 1

    second = job.train(env)
    new = second.registered[training.LOGISTIC_PIT]
    assert second.aliases == {"champion": aliases["champion"], "challenger": new}
    code, payload, _ = run_cli(capsys, "models", "promote")
    assert code == 0 and payload["aliases"] == {"champion": new}
    served = decisions.daily(driver, record=False)
    assert (served.model.registry.version, served.as_dict()["version"]) == (new, f"v{new}")

    code, payload, _ = run_cli(capsys, "models", "rollback")
    assert code == 0 and payload["aliases"]["champion"] == aliases["champion"]
    assert decisions.daily(driver, record=False).model.registry.version == aliases["champion"]

    code, payload, _ = run_cli(capsys, "models", "rollback")
    assert code == 0 and "champion" not in payload["aliases"]
    fallback = decisions.daily(driver, record=False)
    assert fallback.model.registry is None and fallback.model.version == "v1" and fallback.fallback == NO_CHAMPION
    code, _, err = run_cli(capsys, "models", "rollback")
    assert code == 2 and "no champion to roll back" in err

    code, payload, _ = run_cli(capsys, "models", "promote", str(aliases["champion"]))
    assert code == 0 and decisions.daily(driver, record=False).model.registry.version == aliases["champion"]
    code, _, err = run_cli(capsys, "models", "promote", "999")
    assert code == 2 and "no version 999" in err


def test_shadow_scores_are_logged_beside_the_champion(env: RiskStore) -> None:
    reg = registry.Registry(env.paths)
    aliases = reg.aliases()
    if "challenger" not in aliases:
        reg.set_challenger(max(v.version for v in reg.versions() if not v.linear))
    challenger_version = reg.aliases()["challenger"]
    estimator = _estimator(env, challenger_version)
    ledger = Ledger(env.paths.ledger_db)
    before = len(ledger.shadow(10_000))
    decision = Decisions(env).daily(int(env.roster()["driver_id"].iloc[1]))
    logged = ledger.shadow(1).iloc[0]
    want = float(estimator.predict_proba(decision.vector.reshape(1, -1))[0, 1])
    assert logged["challenger_score"] == pytest.approx(want, abs=1e-12)
    assert logged["champion_score"] == pytest.approx(decision.score)
    assert logged["challenger"] == f"daily-risk v{challenger_version}"
    assert decision.as_dict()["shadow"]["agrees"] == (logged["challenger_decision"] == decision.decision)

    result = jobs.score_all(env)
    batch = ledger.shadow(10_000)
    assert len(batch) == before + 1 + DRIVERS - result.detail["decisions"].get("Review", 0)
    champion = reg.aliases()["champion"]
    scored = ledger.latest_scores().dropna(subset=["score"]).merge(
        batch[batch["run_id"].notna()].drop_duplicates("driver_id"), on="driver_id")
    assert set(scored["version"]) == {f"daily-risk v{champion}"}
    np.testing.assert_allclose(scored["score"], scored["champion_score"], atol=1e-12)
    latest = jobs.latest_daily_features(env, scored["driver_id"].to_numpy(), datetime.now(timezone.utc))
    want = _estimator(env, champion).predict_proba(latest[list(F.DAILY_FEATURES)].to_numpy(np.float64))[:, 1]
    np.testing.assert_allclose(scored["score"], want, atol=1e-9)  # batch scoring is the champion


def test_no_challenger_means_no_shadow(env: RiskStore) -> None:
    reg = registry.Registry(env.paths)
    challenger = reg.aliases().get("challenger")
    reg.client.delete_registered_model_alias(registry.MODEL_NAME, "challenger")
    try:
        ledger = Ledger(env.paths.ledger_db)
        before = len(ledger.shadow(10_000))
        decision = Decisions(env).daily(int(env.roster()["driver_id"].iloc[2]))
        assert decision.shadow is None and len(ledger.shadow(10_000)) == before
    finally:
        if challenger:
            reg.set_challenger(challenger)


# --- bad input and the fallback ---------------------------------------------------------------

def test_training_with_no_matured_outcomes_is_a_clear_error(
    learned: Learned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    earliest = outcomes.matured(learned.store.paths, datetime.now(timezone.utc))
    with pytest.raises(InvalidInput, match="no matured outcomes as of"):
        training.build(learned.store, as_of=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert len(earliest) > 0

    root = tmp_path / "no-outcomes"
    shutil.copytree(learned.store.paths.root, root, ignore=shutil.ignore_patterns("mlflow"))
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(root))
    store = RiskStore(settings.Paths(root))
    for part in parts(store.paths.outcomes_dir):
        part.unlink()
    before = snapshot(root)
    code, payload, err = run_cli(capsys, "train")
    assert code == 2 and payload is None
    assert err.startswith("error: outcomes: no matured outcomes") and err.count("\n") == 1
    for bad in (["--seed", "-1"], ["--seed", "x"], ["--seed", str(2**32)]):
        code, _, err = run_cli(capsys, "train", *bad)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, (bad, err)
    for bad in (["promote", "x"], ["list", "3"], ["rollback", "2"], ["retire"]):
        code, _, err = run_cli(capsys, "models", *bad)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, (bad, err)
    assert snapshot(root) == before and not store.paths.mlflow_db.exists()

    # Outcomes that are all alike (a one-driver world): nothing to learn, said before anything is written.
    write_part(store.paths.outcomes_dir, earliest.assign(created=earliest["event_timestamp"], **{F.LABEL: 0}),
               OUTCOMES_SCHEMA)
    before = snapshot(root)
    code, _, err = run_cli(capsys, "train")
    assert code == 2 and "all have the same outcome" in err and err.count("\n") == 1
    assert snapshot(root) == before and not store.paths.mlflow_db.exists()


def test_without_a_registry_the_hand_set_v1_serves_and_says_so(decisions: Decisions) -> None:
    served = ServedDaily(decisions.store.paths)
    assert served.current().champion.version == "v1" and served.current().fallback == NO_CHAMPION
    assert served._registry is None  # MLflow was never needed
    result = decisions.daily(int(decisions.store.roster()["driver_id"].iloc[0]), record=False).as_dict()
    assert (result["version"], result["registry"], result["fallback"]) == ("v1", None, NO_CHAMPION)


def test_serving_stores_never_log_to_mlflow(env: RiskStore) -> None:
    """Feast's auto-log looks at every online read of a store with MLflow on: only training's
    store has it."""
    for role in ("reads", "jobs", "pushes"):
        assert env._feast(role).mlflow is None
    assert env.training_feast(registry.feast_mlflow_settings(env.paths)).mlflow is not None


def test_learned_reasons_compare_with_the_average_driver(env: RiskStore) -> None:
    champion = ServedDaily(env.paths).current().champion
    vector = np.array(champion.baseline) + np.where(champion.weight_vector > 0, 1.0, -1.0)
    reasons = champion.reasons(vector, top=6)
    assert reasons and all("(average driver" in r.text for r in reasons)
    assert {r.feature for r in reasons} <= set(DAILY_REASONS)
    assert all(r.contribution > 0 for r in reasons)


def test_an_unreadable_registry_never_stops_decisions(tmp_path: Path) -> None:
    paths = settings.Paths(tmp_path)
    paths.mlflow_dir.mkdir(parents=True)
    paths.mlflow_db.write_bytes(b"not a database" * 100)
    serving = ServedDaily(paths).current()
    assert serving.champion.version == "v1" and serving.challenger is None
    assert serving.fallback and "could not be read" in serving.fallback


def test_the_api_names_the_registered_version_that_decided(env: RiskStore) -> None:
    from fastapi.testclient import TestClient

    from riskcore.api import DecisionResponse, ScoreResponse, create_app

    reg = registry.Registry(env.paths)
    if "challenger" not in reg.aliases():
        reg.set_challenger(max(v.version for v in reg.versions() if not v.linear))
    aliases = reg.aliases()
    driver = int(env.roster()["driver_id"].iloc[4])
    with TestClient(create_app(env), base_url="http://127.0.0.1") as client:
        decided = client.get(f"/daily/{driver}/decision").json()
        scored = client.get(f"/daily/{driver}/score").json()
        hand_set = client.get(f"/daily/{driver}/decision", params={"version": "v1"}).json()
    DecisionResponse.model_validate(decided)
    ScoreResponse.model_validate(scored)
    assert decided["registry"]["version"] == aliases["champion"] and decided["registry"]["alias"] == "champion"
    assert decided["served_by"] == f"daily-risk v{aliases['champion']} (registry, champion)"
    assert decided["shadow"]["version"] == f"v{aliases['challenger']}" and decided["fallback"] is None
    assert scored["registry"]["version"] == aliases["champion"]
    assert (hand_set["version"], hand_set["registry"], hand_set["shadow"]) == ("v1", None, None)


def test_lost_outcomes_are_named_by_status_and_rebuilt_exactly_by_repair(own_world: RiskStore) -> None:
    store = own_world
    before = outcomes.matured(store.paths, datetime.now(timezone.utc))
    for part in parts(store.paths.outcomes_dir):
        part.unlink()
    assert any("driver_outcomes" in p for p in store.status(deep=False).problems)
    assert "history and matured outcomes" in demo_world.repair(store)
    after = outcomes.matured(store.paths, datetime.now(timezone.utc))
    pd.testing.assert_frame_equal(after, before)
    assert store.status().problems == ()


def test_mlflow_telemetry_is_off_wherever_the_registry_is_used() -> None:
    """MLflow 3 sends usage telemetry unless told not to; this machine (and a stage) has no
    internet, and a risk team's may forbid it. (MLflow's own check also says "off" under
    pytest or CI whatever riskcore does, so the setting itself is what is checked.)"""
    from mlflow.environment_variables import MLFLOW_DISABLE_TELEMETRY

    assert registry.MODEL_NAME and MLFLOW_DISABLE_TELEMETRY.get() is True
