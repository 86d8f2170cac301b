"""A real API server SIGKILLed at random points of a burst of signups, round after round; every
request is then sent again to a restarted server, as a client that got no answer would.

Afterwards: every acknowledged approval is remembered, every re-sent request returns the driver
it was first given, no SSN or licence token belongs to two drivers, and after `riskcore repair`
the ledger, the signups data and the online identities agree (status is clean)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from riskcore import settings
from riskcore.data.ledger import Ledger
from tests.servers import free_port, wait_for_http

ROUNDS = 4
REQUESTS = 160
CONCURRENCY = 24
SHARED_SSNS = 12  # requests 0..11 use the SSN of requests 12..23, with their own licences


def applications(round_number: int) -> list[dict[str, str]]:
    apps = [{"date_of_birth": "1985-05-05", "state": "CA", "licence": f"K{round_number}X{n}",
             "ssn": f"{100 + round_number:03d}-{10 + n // 100:02d}-{1000 + n % 100:04d}"} for n in range(REQUESTS)]
    for n in range(SHARED_SSNS):
        apps[n]["ssn"] = apps[SHARED_SSNS + n]["ssn"]
    return apps


@contextmanager
def api(root: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {**os.environ, settings.DATA_DIR_ENV: str(root)}
    server = subprocess.Popen([sys.executable, "-m", "riskcore", "api", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_http(f"{base}/health", server).status_code == 200
        yield base, server
    finally:
        if server.poll() is None:
            server.terminate()
        _, err = server.communicate(timeout=60)
        assert "Traceback" not in err, err[-3000:]


def burst(base: str, apps: list[dict[str, str]], kill: subprocess.Popen | None) -> dict[int, dict]:
    """Send every application at once; with ``kill``, SIGKILL that server once a random number
    of answers have come back. Returns the answers that did come back, by request index."""
    answered: dict[int, dict] = {}
    enough = random.randint(15, 70)
    killed = threading.Event()

    def send(index: int) -> None:
        try:
            answer = httpx.post(f"{base}/onboarding/decision", json=apps[index], timeout=60)
        except httpx.TransportError:
            return  # the server died under this request: unanswered
        assert answer.status_code == 200, answer.text
        answered[index] = answer.json()
        if kill is not None and len(answered) >= enough and not killed.is_set():
            killed.set()
            kill.send_signal(signal.SIGKILL)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, range(len(apps))))
    return answered


@pytest.mark.slow
def test_signups_survive_sigkill_mid_burst(fresh_world):
    from riskcore.data import world as demo_world

    demo_world.bootstrap(fresh_world, drivers=20)
    root = fresh_world.paths.root
    random.seed(7)
    remembered: dict[str, int] = {}  # acknowledged approvals: SSN -> driver
    for round_number in range(ROUNDS):
        apps = applications(round_number)
        with api(root) as (base, server):
            first = burst(base, apps, kill=server)
        assert 0 < len(first) < len(apps), f"round {round_number}: the kill did not land mid-burst"
        with api(root) as (base, _):
            again = burst(base, apps, kill=None)
            assert len(again) == len(apps)
            for index, answer in first.items():  # a retry gets the original decision and driver
                assert (again[index]["decision"], again[index]["driver_id"]) == (answer["decision"], answer["driver_id"])
                if answer["decision"] == "Approved":
                    remembered[apps[index]["ssn"]] = answer["driver_id"]
            drivers_by_ssn: dict[str, set[int]] = {}
            for index, answer in again.items():
                if answer["driver_id"] is not None:
                    drivers_by_ssn.setdefault(apps[index]["ssn"], set()).add(answer["driver_id"])
            assert all(len(ids) == 1 for ids in drivers_by_ssn.values())
            assert len(drivers_by_ssn) == REQUESTS - SHARED_SSNS  # one driver per distinct SSN
            # Every acknowledged approval is remembered: its SSN is "previously seen" for anyone.
            for ssn in remembered:
                probe = httpx.post(f"{base}/onboarding/score", json={"date_of_birth": "1985-05-05", "ssn": ssn,
                                                                     "licence": "PROBE1", "state": "CA"}).json()
                assert probe["features"]["is_previously_seen_ssn"] == 1, ssn

    signups = Ledger(fresh_world.paths.ledger_db).signups()
    assert signups["ssn"].is_unique and signups["dl"].is_unique
    assert len(signups) == 20 + ROUNDS * (REQUESTS - SHARED_SSNS)
    env = {**os.environ, settings.DATA_DIR_ENV: str(root)}
    repaired = subprocess.run([sys.executable, "-m", "riskcore", "repair"], env=env, capture_output=True, text=True,
                              timeout=300, check=False)
    assert repaired.returncode == 0, repaired.stderr[-2000:]
    status = subprocess.run([sys.executable, "-m", "riskcore", "--json", "status"], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert '"ready": true' in status.stdout and '"problems": []' in status.stdout, status.stdout[-2000:]
