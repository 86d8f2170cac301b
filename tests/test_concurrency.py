"""Concurrent signups: nothing lost, nothing corrupted (SPEC §7)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq

from riskcore import pii
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.store import utc_now
from riskcore.serving import features as F
from riskcore.serving.decisions import Decisions
from riskcore.validation import OnboardingApplication

SESSIONS, SIGNUPS = 8, 25


def ssn_for(session: int, n: int) -> str:
    return f"{300 + session:03d}{10 + n:02d}{1000 + session * 100 + n:04d}"


def test_8_sessions_x_25_signups_lose_nothing(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=5)
    service = Decisions(fresh_world)  # one shared service, as every Streamlit session shares one

    def session(s: int) -> list[int]:
        ids = []
        for n in range(SIGNUPS):
            app = OnboardingApplication.parse(date_of_birth="1985-05-05", ssn=ssn_for(s, n),
                                              licence=f"C{s}X{n}", state="CA")
            result = service.onboard(app)
            assert result.decision == "Approved", result.review or result.reasons
            ids.append(result.driver_id)
        return ids

    with ThreadPoolExecutor(SESSIONS) as pool:
        driver_ids = [i for ids in pool.map(session, range(SESSIONS)) for i in ids]

    total = SESSIONS * SIGNUPS
    assert len(set(driver_ids)) == total
    tokens = [pii.tokenize("ssn", ssn_for(s, n)) for s in range(SESSIONS) for n in range(SIGNUPS)]

    online = fresh_world.online([f"ssn_identity:{F.SSN_DRIVER_ID}"], [{"ssn": t} for t in tokens])
    assert None not in online[F.SSN_DRIVER_ID]
    assert sorted(online[F.SSN_DRIVER_ID]) == sorted(driver_ids)

    service.signups.flush()  # the offline half is group-committed every quarter second
    asked = pd.DataFrame({"ssn": tokens, "event_timestamp": pd.Timestamp(utc_now() + timedelta(seconds=1))})
    offline = fresh_world.historical(asked, [f"ssn_identity:{F.SSN_DRIVER_ID}"])
    assert offline[F.SSN_DRIVER_ID].notna().all()
    assert sorted(offline[F.SSN_DRIVER_ID].astype(int)) == sorted(driver_ids)

    for part in fresh_world.paths.root.rglob("*.parquet"):
        pq.read_table(part)
    assert len(fresh_world.roster()) == 5 + total

    # A second signup with any of those SSNs is now declined, whichever session made it.
    repeat = OnboardingApplication.parse(date_of_birth="1985-05-05", ssn=ssn_for(3, 7), licence="NEW1", state="CA")
    assert service.onboard(repeat, record=False).top_reason == "previously seen SSN"


def test_concurrent_duplicate_ssn_is_approved_once(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=3)
    service = Decisions(fresh_world)
    # Eight different applications (one licence each) with one SSN, at once: one driver.
    apps = [OnboardingApplication.parse(date_of_birth="1985-05-05", ssn="404-40-4040", licence=f"DUP{n}",
                                        state="CA") for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(service.onboard, apps))
    assert [o.decision for o in outcomes].count("Approved") == 1
    assert {o.top_reason for o in outcomes if o.decision == "Declined"} == {"previously seen SSN"}


def test_concurrent_retries_of_one_application_make_one_driver(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=3)
    service = Decisions(fresh_world)
    app = OnboardingApplication.parse(date_of_birth="1985-05-05", ssn="405-40-4040", licence="SAME1", state="CA")
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: service.onboard(app), range(8)))
    assert {(o.decision, o.driver_id) for o in outcomes} == {("Approved", 1004)}
    assert sum(o.replayed for o in outcomes) == 7
    assert fresh_world.roster()["driver_id"].tolist() == [1001, 1002, 1003, 1004]


def test_signups_beside_jobs_threads_and_another_process(fresh_world):
    """8 sessions × 25 signups while materialize, the batch job and cadence ticks run in other
    threads, and another process signs drivers up and runs a tick through the CLI."""
    import os
    import subprocess
    import sys
    import threading

    from riskcore import settings

    demo_world.bootstrap(fresh_world, drivers=20)
    service = Decisions(fresh_world)
    errors: list[BaseException] = []
    stop = threading.Event()

    def background_jobs() -> None:
        for tick in (100, 101):
            if stop.is_set():
                return
            try:
                jobs.materialize(fresh_world)
                jobs.batch_job(fresh_world)
                jobs.cadence_tick(fresh_world, tick)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
                return

    other_ssns = [f"88{n}-55-{2000 + n}" for n in range(5)]
    script = "; ".join(
        ["from riskcore import cli"]
        + [f"assert cli.main(['onboard', '--dob', '1980-01-01', '--ssn', '{s}', '--dl', 'P{n}', '--state', 'TX']) == 0"
           for n, s in enumerate(other_ssns)]
        + ["assert cli.main(['tick', '--seed', '9']) == 0"]
    )
    env = {**os.environ, settings.DATA_DIR_ENV: str(fresh_world.paths.root)}
    other = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    worker = threading.Thread(target=background_jobs)
    worker.start()

    def session(s: int) -> list[int]:
        ids = []
        for n in range(SIGNUPS):
            app = OnboardingApplication.parse(date_of_birth="1985-05-05", ssn=ssn_for(s, n),
                                              licence=f"B{s}X{n}", state="CA")
            ids.append(service.onboard(app).driver_id)
        return ids

    try:
        with ThreadPoolExecutor(SESSIONS) as pool:
            driver_ids = [i for ids in pool.map(session, range(SESSIONS)) for i in ids]
    finally:
        stop.set()
        worker.join(timeout=300)
        _, other_err = other.communicate(timeout=300)
    assert not errors, errors
    assert other.returncode == 0, other_err[-2000:]
    assert None not in driver_ids and len(set(driver_ids)) == SESSIONS * SIGNUPS

    tokens = [pii.tokenize("ssn", ssn_for(s, n)) for s in range(SESSIONS) for n in range(SIGNUPS)]
    tokens += [pii.tokenize("ssn", s.replace("-", "")) for s in other_ssns]
    online = fresh_world.online([f"ssn_identity:{F.SSN_DRIVER_ID}"], [{"ssn": t} for t in tokens])
    assert None not in online[F.SSN_DRIVER_ID]
    service.signups.flush()
    asked = pd.DataFrame({"ssn": tokens, "event_timestamp": pd.Timestamp(utc_now() + timedelta(seconds=1))})
    assert fresh_world.historical(asked, [f"ssn_identity:{F.SSN_DRIVER_ID}"])[F.SSN_DRIVER_ID].notna().all()
    for part in fresh_world.paths.root.rglob("*.parquet"):
        pq.read_table(part)
    status = fresh_world.status()
    assert status.ready and status.problems == ()
