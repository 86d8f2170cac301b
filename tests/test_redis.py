"""The Redis scale-out profile: the same feature repo on Feast's Redis online store, selected by
RISK_ONLINE_STORE only. Starts Debian's redis-server on a free loopback port and stops it.

Skipped where redis-server is missing, unless REQUIRE_REDIS=1 (CI), where that fails."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from riskcore import settings
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.store import RiskStore
from riskcore.serving import features as F
from riskcore.serving.decisions import Decisions
from riskcore.validation import OnboardingApplication

REDIS = shutil.which("redis-server")
if REDIS is None:
    if os.environ.get("REQUIRE_REDIS") == "1":
        raise RuntimeError("REQUIRE_REDIS=1 but redis-server is missing (apt-get install redis-server)")
    pytest.skip("no redis-server (apt-get install redis-server)", allow_module_level=True)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(work)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture()
def redis_world(redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv(settings.ONLINE_STORE_ENV, redis_url)
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path))
    store = RiskStore(settings.Paths(tmp_path))
    demo_world.bootstrap(store, drivers=12)
    return store


def application(ssn: str, licence: str, state: str = "CA", dob: str = "1990-01-01") -> OnboardingApplication:
    return OnboardingApplication.parse(date_of_birth=dob, ssn=ssn, licence=licence, state=state)


def test_redis_profile_serves_the_decision_table(redis_world):
    assert redis_world.fs.config.online_store.type == "redis"
    assert not redis_world.paths.online_db.exists()  # nothing went to SQLite
    service = Decisions(redis_world)
    first = service.onboard(application("701-11-1111", "R1"))
    assert (first.decision, first.score) == ("Approved", 0.15)
    assert service.onboard(application("701111111", "R2")).top_reason == "previously seen SSN"
    minor = date.today().replace(year=date.today().year - 15, day=1).isoformat()
    assert service.onboard(application("702-11-1111", "R3", dob=minor)).top_reason == "under 18"
    assert service.onboard(application("703-11-1111", "R4", "NJ")).top_reason == "state not launched"
    jobs.set_state(redis_world, "NJ", launched=True)
    assert service.onboard(application("703-11-1111", "R4", "NJ")).decision == "Approved"


def test_redis_profile_batch_job_and_materialize(redis_world):
    service = Decisions(redis_world)
    driver = int(redis_world.roster()["driver_id"].iloc[0])
    jobs.cadence_tick(redis_world, tick=1, risky_ids=[driver])
    result = service.daily(driver)
    assert result.features[F.Y_TRIPS_LT_10] == 1 and result.decision == "Declined"


def test_redis_profile_concurrent_signups(redis_world):
    service = Decisions(redis_world)

    def session(s: int) -> list[str]:
        return [service.onboard(application(f"7{s}{n:01d}-2{s}-{1000 + s * 10 + n}", f"RC{s}X{n}")).decision
                for n in range(10)]

    with ThreadPoolExecutor(4) as pool:
        outcomes = [d for ds in pool.map(session, range(4)) for d in ds]
    assert outcomes == ["Approved"] * 40
    assert len(redis_world.roster()) == 12 + 40
