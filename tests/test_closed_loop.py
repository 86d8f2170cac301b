"""The closed loop under an adversary: nobody picks the date of a real signup, only the served
model registers, a retry gets its original answer, the ledger wins over a lagging online store,
a foreign PII key is refused, and the API turns away huge bodies and unknown hosts."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from riskcore import pii, settings
from riskcore.api import MAX_BODY_BYTES, create_app
from riskcore.clock import today
from riskcore.data import health
from riskcore.data import world as demo_world
from riskcore.data.errors import PiiKeyMismatch
from riskcore.data.ledger import DecisionEntry, Ledger, now_iso
from riskcore.data.store import RiskStore
from riskcore.serving import features as F
from riskcore.serving.decisions import Decisions
from riskcore.validation import OnboardingApplication
from tests.conftest import run_cli, snapshot
from tests.servers import free_port, wait_for_http

LOCAL = "http://localhost"


def years_ago(years: int) -> str:
    day = today()
    return day.replace(year=day.year - years, day=min(day.day, 28)).isoformat()


@pytest.fixture()
def client(own_world) -> Iterator[TestClient]:
    app = create_app(own_world)
    yield TestClient(app, base_url=LOCAL)
    app.state.decisions.signups.flush()


def applicant(ssn: str, licence: str, dob: str = "1990-01-01", state: str = "CA") -> dict[str, str]:
    return {"date_of_birth": dob, "ssn": ssn, "licence": licence, "state": state}


# --- The server decides what "now" is, and who may register ------------------------------------

def test_a_client_cannot_date_a_real_signup_into_adulthood(client, own_world):
    teenager = {**applicant("701-11-1111", "AGE1", years_ago(14)), "application_date": "2031-01-01"}
    before = snapshot(own_world.paths.root)
    refused = client.post("/onboarding/decision", json=teenager)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "application_date"
    assert "set by the server" in refused.json()["detail"][0]["msg"]
    assert snapshot(own_world.paths.root) == before
    # The what-if endpoint may take the date, and writes nothing.
    what_if = client.post("/onboarding/score", json=teenager)
    assert what_if.status_code == 200 and what_if.json()["features"][F.IS_ADULT] == 1
    assert snapshot(own_world.paths.root) == before
    # Today, on the server's clock, the 14-year-old is declined.
    real = client.post("/onboarding/decision", json={k: v for k, v in teenager.items() if k != "application_date"})
    assert (real.json()["decision"], real.json()["reasons"][0]) == ("Declined", "under 18")
    assert real.json()["driver_id"] is None


def test_the_original_model_is_a_what_if_that_registers_nobody(client, own_world):
    thirteen = applicant("702-11-1111", "V0KID1", years_ago(13))
    drivers = len(own_world.roster())
    original = client.post("/onboarding/decision", json={**thirteen, "version": "v0"}).json()
    assert (original["decision"], original["score"], original["what_if"]) == ("Approved", 0.0, True)
    assert original["driver_id"] is None and len(own_world.roster()) == drivers
    logged = Ledger(own_world.paths.ledger_db).decisions(1).iloc[0]
    assert (logged["version"], logged["what_if"], logged["driver_id"]) == ("v0", 1, None)
    # v1 on the same applicant: under 18, not "previously seen" (v0 pushed nothing).
    served = client.post("/onboarding/decision", json=thirteen).json()
    assert (served["decision"], served["reasons"][0], served["what_if"]) == ("Declined", "under 18", False)


def test_the_cli_keeps_the_same_rules(own_world, capsys):
    before = snapshot(own_world.paths.root)
    code, _, err = run_cli(capsys, "onboard", "--dob", years_ago(14), "--ssn", "703-11-1111", "--dl", "CLIAGE",
                           "--state", "CA", "--date", "2031-01-01")
    assert code == 2 and "date: a real signup is dated today by the server" in err
    assert snapshot(own_world.paths.root) == before
    code, what_if, _ = run_cli(capsys, "onboard", "--dob", years_ago(14), "--ssn", "703-11-1111", "--dl",
                               "CLIAGE", "--state", "CA", "--date", "2031-01-01", "--what-if")
    assert code == 0 and (what_if["decision"], what_if["what_if"], what_if["driver_id"]) == ("Approved", True, None)
    code, original, _ = run_cli(capsys, "onboard", "--dob", years_ago(13), "--ssn", "703-11-1111", "--dl",
                                "CLIAGE", "--state", "CA", "--version", "v0")
    assert code == 0 and original["what_if"] is True and original["driver_id"] is None
    assert len(own_world.roster()) == len(Ledger(own_world.paths.ledger_db).signups())


# --- One source of truth per signup ------------------------------------------------------------

def test_a_retry_returns_the_original_decision_and_driver(client):
    body = applicant("704-11-1111", "RETRY1")
    first = client.post("/onboarding/decision", json=body).json()
    again = client.post("/onboarding/decision", json=body).json()
    assert first["decision"] == "Approved" and first["replayed"] is False
    assert (again["decision"], again["driver_id"], again["score"], again["replayed"]) == (
        "Approved", first["driver_id"], first["score"], True)
    other = client.post("/onboarding/decision", json=applicant("704-11-1111", "RETRY2")).json()
    assert (other["decision"], other["reasons"][0]) == ("Declined", "previously seen SSN")


def test_the_ledger_wins_over_an_online_store_that_lags(own_world, monkeypatch):
    """A signup committed to the ledger whose copies never happened (the process died)."""
    ssn = pii.tokenize("ssn", "705111111")
    with Ledger(own_world.paths.ledger_db).signup_transaction() as tx:
        entry = DecisionEntry("onboarding", "crashed", "onboarding", "v1", 0.15, "Approved", {})
        lost = tx.register("app-crashed", ssn, pii.tokenize("dl", "LOST1"), "CA", now_iso(), entry)
    service = Decisions(own_world)
    assert own_world.online([f"ssn_identity:{F.SSN_DRIVER_ID}"], [{"ssn": ssn}])[F.SSN_DRIVER_ID] == [None]
    same_ssn = OnboardingApplication.parse(date_of_birth="1990-01-01", ssn="705-11-1111", licence="NEW1", state="CA")
    result = service.onboard(same_ssn)
    assert (result.decision, result.top_reason, result.driver_id) == ("Declined", "previously seen SSN", None)

    monkeypatch.setattr(health, "SYNC_GRACE", timedelta(0))
    problems = " ".join(own_world.status().problems)
    assert "1 signup(s) are in the ledger but not yet in the feature store" in problems and str(lost) in problems
    assert "replayed 1 interrupted signup(s)" in demo_world.repair(own_world)
    assert own_world.status().problems == ()
    assert own_world.online([f"ssn_identity:{F.SSN_DRIVER_ID}"], [{"ssn": ssn}])[F.SSN_DRIVER_ID] == [lost]
    assert lost in own_world.roster()["driver_id"].tolist()


def test_status_names_drivers_missing_from_the_signups_data(own_world):
    service = Decisions(own_world)
    kept = service.onboard(OnboardingApplication.parse(
        date_of_birth="1990-01-01", ssn="706-11-1111", licence="GONE1", state="CA")).driver_id
    service.signups.flush()
    for part in own_world.paths.signups_dir.glob("part-*.parquet"):
        part.unlink()  # the part that held the new driver
    problems = " ".join(own_world.status().problems)
    assert f"1 driver(s) of the ledger are missing from the signups data (e.g. {kept})" in problems
    assert "rewrote the signups data from the ledger" in demo_world.repair(own_world)
    assert own_world.status().problems == ()


# --- The PII key ---------------------------------------------------------------------------------

def test_files_are_private_to_their_owner(own_world):
    assert stat.S_IMODE(own_world.paths.root.stat().st_mode) == 0o700
    for path in own_world.paths.root.rglob("*"):
        if path.name == "README.md":
            continue
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
        assert stat.S_IMODE(path.stat().st_mode) & expected == stat.S_IMODE(path.stat().st_mode)


def test_a_foreign_key_is_refused_everywhere(own_world, capsys, monkeypatch):
    monkeypatch.setenv(settings.PII_KEY_ENV, "someone-elses-key")
    before = snapshot(own_world.paths.root)
    code, _, err = run_cli(capsys, "onboard", "--dob", "1990-01-01", "--ssn", "707-11-1111", "--dl", "KEY1",
                           "--state", "CA")
    assert code == 2 and "is not the one this store's tokens were made with" in err
    assert snapshot(own_world.paths.root) == before
    with pytest.raises(PiiKeyMismatch):
        Decisions(RiskStore(own_world.paths)).daily(1001)
    answer = TestClient(create_app(RiskStore(own_world.paths)), base_url=LOCAL).get("/daily/1001/decision")
    assert answer.status_code == 503 and "RISK_PII_KEY" in answer.json()["detail"]
    assert "PII key in force" in " ".join(own_world.status().problems)


def test_the_demo_key_is_named_on_status_and_health(fresh_world, monkeypatch):
    monkeypatch.setenv(settings.PII_KEY_ENV, "demo")
    demo_world.bootstrap(fresh_world, drivers=3)
    assert not settings.Paths(fresh_world.paths.root).pii_key_file.exists()
    status = fresh_world.status()
    assert status.ready and "documented demo PII key" in status.warnings[0]
    body = TestClient(create_app(fresh_world), base_url=LOCAL).get("/health").json()
    assert "documented demo PII key" in body["warnings"][0]
    monkeypatch.delenv(settings.PII_KEY_ENV)
    assert fresh_world.status().warnings == ()
    assert "PII key" in " ".join(fresh_world.status().problems)  # and the generated key is not the demo one


# --- Exposure ------------------------------------------------------------------------------------

def test_bodies_over_the_cap_are_refused_before_they_are_read(client, own_world):
    before = snapshot(own_world.paths.root)
    huge = {**applicant("708-11-1111", "BIG1"), "padding": "x" * (1 << 20)}
    answer = client.post("/onboarding/decision", json=huge)
    assert answer.status_code == 413 and "too large" in answer.json()["detail"]

    def streamed():  # chunked: no content-length to refuse it by
        yield b'{"ssn": "708-11-1111", "padding": "'
        for _ in range(64):
            yield b"y" * 1024
        yield b'"}'

    answer = client.post("/onboarding/decision", content=streamed(), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert snapshot(own_world.paths.root) == before
    fits = {**applicant("708-11-1111", "BIG1"), "padding": "x" * (MAX_BODY_BYTES - 200)}
    assert client.post("/onboarding/decision", json=fits).status_code == 422  # read, then refused by name


def test_only_loopback_host_names_are_served(own_world):
    app = create_app(own_world)
    assert TestClient(app, base_url="http://evil.example").get("/health").status_code == 400
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/health").status_code == 200


def test_a_real_server_warns_when_it_leaves_loopback_and_checks_hosts(own_world):
    port = free_port()
    env = {**os.environ, settings.DATA_DIR_ENV: str(own_world.paths.root)}
    server = subprocess.Popen([sys.executable, "-m", "riskcore", "api", "--host", "0.0.0.0", "--port", str(port),
                               "--allow-host", "risk.example"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_http(f"{base}/health", server).status_code == 200
        assert httpx.get(f"{base}/health", headers={"host": "risk.example"}).status_code == 200
        assert httpx.get(f"{base}/health", headers={"host": "attacker.example"}).status_code == 400
        big = httpx.post(f"{base}/onboarding/decision", content=b"{" + b" " * (2 << 20) + b"}",
                         headers={"content-type": "application/json"})
        assert big.status_code == 413
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "warning: the API listens on 0.0.0.0" in err


def test_a_new_driver_has_a_first_day_and_a_real_daily_decision(own_world):
    from riskcore.clock import utc_now
    from tests import oracle

    service = Decisions(own_world)
    newcomer = service.onboard(OnboardingApplication.parse(
        date_of_birth="1990-01-01", ssn="709-11-1111", licence="FIRST1", state="CA")).driver_id
    daily = service.daily(newcomer, record=False)  # at once: no batch job or materialization ran
    assert daily.review == () and daily.decision == "Approved"
    service.signups.flush()
    assert (daily.decision, pytest.approx(daily.score, abs=1e-5)) == oracle.daily_decision(
        own_world.paths.root, newcomer, utc_now())
    # Replaying the signup (as after a crash) writes the same first day, row for row, not another.
    def first_days() -> list[pd.DataFrame]:
        return [pq.read_table(part).to_pandas().drop(columns="created")
                for part in sorted(own_world.paths.hourly_dir.glob("newcomers-*.parquet"))]

    with sqlite3.connect(own_world.paths.ledger_db) as conn:
        conn.execute("UPDATE signups SET synced = 0 WHERE driver_id = ?", (newcomer,))
    assert service.signups.replay() == 1
    original, replayed = first_days()
    pd.testing.assert_frame_equal(original.reset_index(drop=True), replayed.reset_index(drop=True))


def test_files_written_by_another_process_are_private(tmp_path):
    root = tmp_path / "data"
    done = subprocess.run([sys.executable, "-m", "riskcore", "bootstrap", "--drivers", "3"], capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, settings.DATA_DIR_ENV: str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    found = [p for p in root.rglob("*") if p.name != "README.md"]
    assert any(p.name == "ledger.db" for p in found) and any(p.suffix == ".parquet" for p in found)
    for path in [root, *found]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
