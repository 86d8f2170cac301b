"""Faults: jobs killed with SIGKILL half-way, deleted stores and files. The previous data stays
readable, status says what happened, one action (`riskcore repair`) puts it right."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from riskcore import settings
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.errors import StoreNotReady
from riskcore.data.store import RiskStore
from riskcore.serving.decisions import Decisions
from tests.conftest import run_cli


def spawn(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, settings.DATA_DIR_ENV: str(root)}
    return subprocess.Popen([sys.executable, "-m", "riskcore", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_after(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL after ``seconds`` (if still running); True if it was killed."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def kill_during(proc: subprocess.Popen, ledger: Path, job: str, extra: float) -> None:
    """SIGKILL once ``job`` of this process is running (plus ``extra`` seconds)."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if ledger.exists():
            running = jobs.Ledger(ledger).jobs(20)
            mine = running[(running["pid"] == proc.pid) & (running["job"] == job)]
            if len(mine):
                time.sleep(extra)
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def all_parts_read(root: Path) -> None:
    for part in root.rglob("*.parquet"):
        pq.read_table(part)


def snapshot_decision(store: RiskStore, driver: int = 1001) -> tuple:
    result = Decisions(store).daily(driver, record=False)
    return result.decision, result.features


@pytest.mark.parametrize("delay", [2.5, 6.0])
def test_bootstrap_killed_half_way_is_detected_and_redone(fresh_world, capsys, delay):
    proc = spawn(fresh_world.paths.root, "bootstrap", "--drivers", "300")
    killed = kill_after(proc, delay)
    all_parts_read(fresh_world.paths.root)
    if killed:
        code, _, err = run_cli(capsys, "daily", "--driver-id", "1001")
        assert code == 2 and "interrupted" in err and "riskcore bootstrap" in err
        status = run_cli(capsys, "status")[1]
        assert status["ready"] is False and "bootstrap" in status["problems"][0]
    code, done, _ = run_cli(capsys, "repair")
    assert code == 0 and "set up the demo world" in done["repaired"] if killed else code == 0
    assert run_cli(capsys, "status")[1]["ready"] is True
    assert run_cli(capsys, "daily", "--driver-id", "1001")[0] == 0


@pytest.mark.parametrize(("job", "extra"), [("simulate_day", 0.0), ("batch_job", 0.0),
                                            ("materialize", 0.0), ("materialize", 0.3)])
def test_job_killed_half_way_keeps_previous_data(fresh_world, capsys, job, extra):
    demo_world.bootstrap(fresh_world, drivers=300)
    decision, features = snapshot_decision(fresh_world)
    proc = spawn(fresh_world.paths.root, "tick", "--seed", "3")
    kill_during(proc, fresh_world.paths.ledger_db, job, extra)
    # Whatever the kill point: every file reads and decisions still come from whole data.
    all_parts_read(fresh_world.paths.root)
    assert snapshot_decision(RiskStore(fresh_world.paths))[0] in ("Approved", "Declined", "Review")
    status = run_cli(capsys, "status")[1]
    assert f"{job} started" in " ".join(status["problems"]) and "interrupted" in " ".join(status["problems"])
    code, done, _ = run_cli(capsys, "repair")
    assert code == 0 and "marked 1 interrupted job" in done["repaired"]
    status = run_cli(capsys, "status")[1]
    assert status["ready"] is True and status["problems"] == []
    assert run_cli(capsys, "tick", "--seed", "4")[0] == 0
    assert decision in ("Approved", "Declined") and features


def test_deleted_online_store_is_detected_and_repaired(fresh_world, capsys):
    demo_world.bootstrap(fresh_world, drivers=8)
    before = snapshot_decision(fresh_world)
    fresh_world.paths.online_db.unlink()
    store = RiskStore(fresh_world.paths)  # a process started after the deletion
    assert "online store missing" in " ".join(store.status().problems)
    assert "rebuilt the online store" in demo_world.repair(store)
    assert store.status().problems == ()
    assert snapshot_decision(store) == before


def test_deleted_registry_is_detected_and_repaired(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=8)
    before = snapshot_decision(fresh_world)
    fresh_world.paths.registry_db.unlink()
    store = RiskStore(fresh_world.paths)
    status = store.status()
    assert not status.ready and "registry missing" in " ".join(status.problems)
    demo_world.repair(store)
    assert store.status().ready
    assert snapshot_decision(store) == before


def test_deleted_data_file_is_detected_and_rebuilt(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=8)
    for part in fresh_world.paths.yesterdays_dir.glob("*.parquet"):
        part.unlink()
    store = RiskStore(fresh_world.paths)
    assert "data files missing: driver_yesterdays_stats" in " ".join(store.status().problems)
    assert "regenerated yesterday's stats" in demo_world.repair(store)
    assert store.status().ready and store.status().problems == ()


def test_deleted_signups_and_ledger_are_rebuilt_without_losing_drivers(fresh_world):
    from riskcore.validation import OnboardingApplication

    demo_world.bootstrap(fresh_world, drivers=8)
    service = Decisions(fresh_world)
    app = OnboardingApplication.parse(date_of_birth="1990-01-01", ssn="808-08-0808", licence="KEEP1", state="CA")
    kept = service.onboard(app).driver_id
    shutil.rmtree(fresh_world.paths.signups_dir)
    store = RiskStore(fresh_world.paths)
    assert "data files missing: signups" in " ".join(store.status().problems)
    done = demo_world.repair(store)
    assert "rewrote the signups data from the ledger (9 drivers)" in done
    assert store.roster()["driver_id"].tolist() == [*range(1001, 1009), kept]
    assert Decisions(store).onboard(app, record=False).top_reason == "previously seen SSN"
    # The ledger is lost too: nothing registers until repair restores it from the signups data;
    # then ids continue after the highest driver, never reusing one.
    fresh_world.paths.ledger_db.unlink()
    assert "the ledger (signups, decision log) is missing" in " ".join(RiskStore(fresh_world.paths).status().problems)
    other = OnboardingApplication.parse(date_of_birth="1990-01-01", ssn="809-08-0808", licence="NEXT1", state="CA")
    with pytest.raises(StoreNotReady, match="riskcore repair"):
        Decisions(RiskStore(fresh_world.paths)).onboard(other)
    assert "restored the ledger's 9 drivers" in demo_world.repair(RiskStore(fresh_world.paths))
    assert Decisions(RiskStore(fresh_world.paths)).onboard(other).driver_id == kept + 1
    assert Decisions(store).onboard(app, record=False).top_reason == "previously seen SSN"


def test_bad_bootstrap_arguments_destroy_nothing(fresh_world, capsys):
    demo_world.bootstrap(fresh_world, drivers=4)
    for args in (["--seed", "-1"], ["--drivers", "0"], ["--drivers", "99999999"]):
        code, _, err = run_cli(capsys, "bootstrap", *args)
        assert code == 2 and err.startswith("error: ")
    assert RiskStore(fresh_world.paths).status().ready


def test_a_running_job_of_a_live_process_is_not_interrupted(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=3)
    ledger = jobs.Ledger(fresh_world.paths.ledger_db)
    job = ledger.start_job("long job")
    assert ledger.interrupted_jobs().empty
    ledger.finish_job(job, "ok", 0, 0.0)
    time.sleep(0)  # the finished job is simply history
    assert ledger.jobs(1).iloc[0]["outcome"] == "ok"
