"""The HTTP API: every endpoint and error path (TestClient), a real server over loopback, and a
bounded property-based fuzz that no input yields a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from riskcore import settings
from riskcore.api import (
    DecisionResponse,
    FeaturesResponse,
    ScoreResponse,
    create_app,
    curl_example,
)
from riskcore.data import world as demo_world
from riskcore.data.store import RiskStore
from riskcore.validation import OnboardingApplication
from tests.conftest import run_cli, snapshot
from tests.servers import free_port, wait_for_http

LOCAL = "http://localhost"  # the API serves loopback host names only
APPLICANT = {"date_of_birth": "1990-01-01", "ssn": "611-22-3333", "licence": "API0001", "state": "CA"}


@pytest.fixture(scope="module")
def api_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api-world")
    demo_world.bootstrap(RiskStore(settings.Paths(root)), drivers=10)
    return root


@pytest.fixture()
def client(api_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(api_dir))
    app = create_app(RiskStore(settings.Paths(api_dir)))
    yield TestClient(app, base_url=LOCAL)
    app.state.decisions.signups.flush()  # no offline copy lands during the next test's snapshot


def test_health(client):
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json()["ready"] is True


def test_health_and_endpoints_say_what_to_run_when_not_ready(tmp_path):
    empty = TestClient(create_app(RiskStore(settings.Paths(tmp_path))), base_url=LOCAL)
    health = empty.get("/health")
    assert health.status_code == 503 and "riskcore bootstrap" in " ".join(health.json()["problems"])
    answer = empty.get("/daily/1001/decision")
    assert answer.status_code == 503 and "riskcore bootstrap" in answer.json()["detail"]
    assert empty.post("/onboarding/decision", json=APPLICANT).status_code == 503


def test_docs_list_every_endpoint(client):
    assert client.get("/docs").status_code == 200
    paths = set(client.get("/openapi.json").json()["paths"])
    assert paths == {"/health", "/onboarding/features", "/onboarding/score", "/onboarding/decision",
                     "/daily/{driver_id}/features", "/daily/{driver_id}/score", "/daily/{driver_id}/decision"}


def test_onboarding_features_and_score_store_nothing(client, api_dir):
    before = snapshot(api_dir)
    features = client.post("/onboarding/features", json=APPLICANT)
    assert features.status_code == 200
    assert features.json()["features"] == {"is_gt_18_years_old": 1, "is_valid_state": 1,
                                           "is_previously_seen_ssn": 0, "is_previously_seen_dl": 0}
    score = client.post("/onboarding/score", json={**APPLICANT, "version": "v0"}).json()
    assert (score["score"], score["version"], score["vector"]) == (0.0, "v0", [1.0, 1.0, 0.0, 0.0])
    assert set(score["timings_ms"]) == {"retrieval", "featurization", "inference"}
    assert snapshot(api_dir) == before


def test_onboarding_decision_closes_the_loop(client):
    first = client.post("/onboarding/decision", json={**APPLICANT, "ssn": "612-22-3333"}).json()
    DecisionResponse.model_validate(first)
    assert (first["decision"], first["score"], first["model"], first["version"]) == ("Approved", 0.15, "onboarding", "v1")
    assert first["driver_id"] and first["reasons"] == []
    again = client.post("/onboarding/decision", json={**APPLICANT, "ssn": "612223333", "licence": "OTHER1"}).json()
    assert (again["decision"], again["reasons"][0]) == ("Declined", "previously seen SSN")
    assert "612" not in str(again) and "3333" not in str(again)  # token prefixes only, never digits
    assert again["subject"].startswith("ssn·")


def test_daily_endpoints(client):
    for kind, model in (("features", FeaturesResponse), ("score", ScoreResponse), ("decision", DecisionResponse)):
        answer = client.get(f"/daily/1001/{kind}")
        assert answer.status_code == 200, answer.text
        assert "conv_rate" in answer.json()["features"]
        # Responses skip FastAPI's re-validation: they must still be exactly the documented model.
        assert set(answer.json()) == set(model.model_fields)
        model.model_validate(answer.json())
    decision = client.get("/daily/1001/decision", params={"version": "v0"}).json()
    assert decision["version"] == "v0" and decision["decision"] in ("Approved", "Declined")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"ssn": "12-3"}, "ssn"), ({"licence": ""}, "licence"), ({"state": "ZZ"}, "state"),
     ({"date_of_birth": "2999-01-01"}, "date_of_birth"), ({"date_of_birth": "nope"}, "date_of_birth"),
     ({"licence": "X" * 10_000}, "licence"), ({"ssn": None}, "ssn"), ({"version": "v9"}, "version")],
)
def test_bad_onboarding_input_is_422_naming_the_field(client, api_dir, change, field):
    before = snapshot(api_dir)
    answer = client.post("/onboarding/decision", json={**APPLICANT, **change})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == field
    assert snapshot(api_dir) == before


def test_malformed_bodies_never_echo_the_values(client):
    for body in ({k: v for k, v in APPLICANT.items() if k != "state"}, {**APPLICANT, "ssn": 123456789},
                 {**APPLICANT, "licence": ["SECRETLIC"]}):
        answer = client.post("/onboarding/decision", json=body)
        assert answer.status_code == 422
        assert "611" not in answer.text and "123456789" not in answer.text and "SECRETLIC" not in answer.text


@pytest.mark.parametrize(("driver", "status"), [("abc", 422), ("-1", 422), ("0", 422), ("99999", 404), ("1.5", 422)])
def test_bad_driver_ids(client, driver, status):
    answer = client.get(f"/daily/{driver}/decision")
    assert answer.status_code == status
    if status == 422:
        assert answer.json()["detail"][0]["loc"] == ["path", "driver_id"]


def test_http_decision_matches_the_cli(client, capsys):
    body = {**APPLICANT, "ssn": "613-22-3333", "licence": "MATCH1", "state": "NJ"}
    over_http = client.post("/onboarding/score", json=body).json()
    _, cli, _ = run_cli(capsys, "onboard", "--dob", body["date_of_birth"], "--ssn", body["ssn"],
                        "--dl", body["licence"], "--state", body["state"])
    assert (over_http["score"], over_http["features"]) == (cli["score"], cli["features"])
    assert cli["decision"] == "Declined"


def test_curl_example_keeps_pii_off_screen():
    app = OnboardingApplication.parse(date_of_birth="1990-01-01", ssn="614-22-3333", licence="CURL1", state="CA")
    text = curl_example(app, "v1")
    assert "614" not in text and "CURL1" not in text and "$SSN" in text and "/onboarding/decision" in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=5,
)
bodies = st.fixed_dictionaries(
    {}, optional={k: json_values | st.sampled_from(["1990-01-01", "CA", "123-45-6789", "v1"])
                  for k in ("date_of_birth", "ssn", "licence", "state", "application_date", "version")},
) | json_values


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/onboarding/features", "/onboarding/score"]), body=bodies)
def test_fuzz_onboarding_never_5xx(client, path, body):
    assert client.post(path, json=body).status_code < 500


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(driver=st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s and s not in (".", "..")),
       version=st.text(max_size=5))
def test_fuzz_daily_never_5xx(client, driver, version):
    answer = client.get(f"/daily/{quote(driver, safe='')}/score", params={"version": version})
    assert answer.status_code < 500


def test_real_server_over_loopback(api_dir):
    port = free_port()
    env = {**os.environ, settings.DATA_DIR_ENV: str(api_dir)}
    server = subprocess.Popen([sys.executable, "-m", "riskcore", "api", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_http(f"{base}/health", server).status_code == 200
        decision = httpx.post(f"{base}/onboarding/decision", json={**APPLICANT, "ssn": "615-22-3333"}).json()
        assert decision["decision"] == "Approved"
        assert httpx.get(f"{base}/daily/{decision['driver_id']}/decision").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
