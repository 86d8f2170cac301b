"""Faults: jobs killed with SIGKILL half-way, deleted stores and files. The previous data stays
readable, status says what happened, one action (`riskcore repair`) puts it right."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from riskcore import settings
from riskcore.clock import utc_now
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.errors import StoreNotReady
from riskcore.data.store import RiskStore
from riskcore.serving.decisions import Decisions
from tests import oracle
from tests.conftest import copy_world, run_cli
from tests.servers import free_port, wait_for_http


def spawn(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, settings.DATA_DIR_ENV: str(root)}
    return subprocess.Popen([sys.executable, "-m", "riskcore", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_during(proc: subprocess.Popen, ledger: Path, job: str, extra: float = 0.0) -> bool:
    """SIGKILL once ``job`` of this process is running (plus ``extra`` seconds). True if the
    job was still running when the kill landed: a test that needs a mid-job kill asserts it."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if ledger.exists():
            try:
                running = jobs.Ledger(ledger).jobs(20)
            except Exception:  # noqa: BLE001 - the ledger is being created by the process
                running = None
            if running is not None:
                mine = running[(running["pid"] == proc.pid) & (running["job"] == job)]
                if len(mine):
                    time.sleep(extra)
                    break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    history = jobs.Ledger(ledger).jobs(50) if ledger.exists() else None
    if history is None:
        return False
    mine = history[(history["pid"] == proc.pid) & (history["job"] == job)]
    return bool(len(mine)) and (mine["outcome"] == "running").all()


def all_parts_read(root: Path) -> None:
    for part in root.rglob("*.parquet"):
        pq.read_table(part)


def snapshot_decision(store: RiskStore, driver: int = 1001) -> tuple:
    result = Decisions(store).daily(driver, record=False)
    return result.decision, result.features


def decisions_now(store: RiskStore, drivers: range) -> dict[int, tuple[str, float | None]]:
    service = Decisions(store)
    return {d: (r.decision, r.score) for d in drivers for r in [service.daily(d, record=False)]}


def assert_matches_oracle(store: RiskStore, drivers: range) -> None:
    """Every driver's online decision equals the oracle's over the raw offline parts."""
    now = utc_now()
    for driver, (decision, score) in decisions_now(store, drivers).items():
        expected, expected_score = oracle.daily_decision(store.paths.root, driver, now)
        assert decision == expected, driver
        assert score == pytest.approx(expected_score, abs=1e-5) if expected_score is not None else score is None


@pytest.mark.parametrize("job", ["apply", "materialize"])  # the steps long enough to land a kill in
def test_bootstrap_killed_half_way_is_detected_and_redone(fresh_world, capsys, job):
    proc = spawn(fresh_world.paths.root, "bootstrap", "--drivers", "300")
    assert kill_during(proc, fresh_world.paths.ledger_db, job), f"the kill landed outside {job}"
    all_parts_read(fresh_world.paths.root)
    code, _, err = run_cli(capsys, "daily", "--driver-id", "1001")
    assert code == 2 and "interrupted" in err and "riskcore bootstrap" in err
    status = run_cli(capsys, "status")[1]
    assert status["ready"] is False and "bootstrap" in " ".join(status["problems"])
    code, done, _ = run_cli(capsys, "repair")
    assert code == 0 and "set up the demo world" in done["repaired"]
    assert run_cli(capsys, "status")[1]["ready"] is True
    assert_matches_oracle(RiskStore(fresh_world.paths), range(1001, 1011))


@pytest.fixture(scope="module")
def busy_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A population big enough that each step of a tick lasts long enough to kill it in (the
    day's data and the batch job take ~0.1 s at 20,000 drivers, ~10 ms at 300)."""
    root = tmp_path_factory.mktemp("busy-world")
    demo_world.bootstrap(RiskStore(settings.Paths(root)), drivers=20_000)
    return root


@pytest.mark.parametrize(("job", "extra"), [("simulate_day", 0.0), ("batch_job", 0.0),
                                            ("materialize", 0.0), ("materialize", 0.3)])
def test_job_killed_half_way_keeps_previous_data(busy_world, tmp_path, monkeypatch, capsys, job, extra):
    fresh_world = copy_world(busy_world, tmp_path / "world")
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(fresh_world.paths.root))
    drivers = range(1001, 1011)
    before = decisions_now(fresh_world, drivers)
    proc = spawn(fresh_world.paths.root, "tick", "--seed", "3")
    assert kill_during(proc, fresh_world.paths.ledger_db, job, extra), f"the kill landed outside {job}"
    all_parts_read(fresh_world.paths.root)
    if job != "materialize":  # nothing reached the online store yet: the same decisions
        assert decisions_now(RiskStore(fresh_world.paths), drivers) == before
    status = run_cli(capsys, "status")[1]
    assert f"{job} started" in " ".join(status["problems"]) and "interrupted" in " ".join(status["problems"])
    code, done, _ = run_cli(capsys, "repair")
    assert code == 0 and "marked 1 interrupted job" in done["repaired"]
    status = run_cli(capsys, "status")[1]
    assert status["ready"] is True and status["problems"] == []
    # Whatever the kill left offline, the online store now serves exactly that.
    assert_matches_oracle(RiskStore(fresh_world.paths), drivers)
    assert run_cli(capsys, "tick", "--seed", "4")[0] == 0


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


@pytest.mark.parametrize(("source", "says"), [
    ("yesterdays_dir", "yesterday's stats"), ("hourly_dir", "driver activity (a new simulated day)"),
])
def test_deleted_data_file_is_detected_and_rebuilt(fresh_world, source, says):
    demo_world.bootstrap(fresh_world, drivers=8)
    directory = getattr(fresh_world.paths, source)
    for part in directory.glob("*.parquet"):
        part.unlink()
    store = RiskStore(fresh_world.paths)
    assert f"data files missing: {directory.name}" in " ".join(store.status().problems)
    assert says in demo_world.repair(store)
    assert store.status().ready and store.status().problems == ()
    assert sorted(pq.read_table(directory)["driver_id"].unique().to_pylist()) == list(range(1001, 1009))


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


@pytest.mark.parametrize(("source", "command"), [("driver_yesterdays_stats", "score"), ("signups", "materialize")])
def test_an_unreadable_part_is_named_moved_aside_and_rebuilt(fresh_world, capsys, source, command):
    demo_world.bootstrap(fresh_world, drivers=8)
    service = Decisions(fresh_world)
    from riskcore.validation import OnboardingApplication

    app = OnboardingApplication.parse(date_of_birth="1990-01-01", ssn="818-08-0808", licence="BAD1", state="CA")
    driver = service.onboard(app).driver_id
    service.signups.flush()
    drivers = range(1001, 1009)
    before = decisions_now(fresh_world, drivers)
    part = sorted((fresh_world.paths.root / source).glob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])  # truncated, as by a full disk

    store = RiskStore(fresh_world.paths)
    problems = " ".join(store.status().problems)
    assert f"data file unreadable: {source}/{part.name}" in problems
    code, _, err = run_cli(capsys, command)
    last = err.strip().splitlines()[-1]  # after the job's own progress lines
    assert code == 2 and "Traceback" not in err
    assert last.startswith("error: data file unreadable") and f"{source}/{part.name}" in last and "repair" in last
    done = demo_world.repair(store)
    assert f"moved 1 unreadable file(s) to quarantine/ ({source}/{part.name})" in done
    assert (fresh_world.paths.quarantine_dir / source / part.name).exists()
    assert store.status().problems == ()
    assert decisions_now(store, drivers) == before
    again = Decisions(store).onboard(app)
    assert (again.decision, again.driver_id, again.replayed) == ("Approved", driver, True)


def test_status_into_a_closed_pipe_is_not_a_traceback(world):
    env = {**os.environ, settings.DATA_DIR_ENV: str(world.paths.root)}
    done = subprocess.run(f"{sys.executable} -m riskcore status | head -1", shell=True, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.startswith("data dir:")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_no_temporary_directories_are_left_behind(world, tmp_path):
    env = {**os.environ, settings.DATA_DIR_ENV: str(world.paths.root), "TMPDIR": str(tmp_path)}
    env.pop(settings.METRICS_ENV, None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "riskcore", "api", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for_http(f"http://127.0.0.1:{port}/health", server).status_code == 200  # Feast imported
    server.send_signal(signal.SIGKILL)
    server.wait()
    parent = tmp_path / f"driver-risk-studio-metrics-{os.getuid()}"
    assert (parent / f"pid-{server.pid}").is_dir()  # a kill leaves it; the next start sweeps it
    done = subprocess.run([sys.executable, "-m", "riskcore", "status"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob("feast_metrics_*")) == []
    assert list(parent.iterdir()) == []


# --- A full or read-only disk: a real filesystem (tmpfs), so root is needed ----------------------

def _mountable() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


needs_mount = pytest.mark.skipif(
    not _mountable() and os.environ.get("REQUIRE_DISK_FAULTS") != "1",
    reason="a full or read-only disk is simulated with a tmpfs mount, which needs root",
)


@pytest.fixture()
def small_disk(tmp_path):
    """A 32 MB tmpfs holding a store bootstrapped by another process (so this one holds no file
    of it open, and the disk can be remounted read-only)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, f"cannot mount a tmpfs: {mounted.stderr}"
    root = mount_point / "data"
    env = {**os.environ, settings.DATA_DIR_ENV: str(root)}
    try:
        booted = subprocess.run([sys.executable, "-m", "riskcore", "bootstrap", "--drivers", "8"], env=env,
                                capture_output=True, text=True, timeout=300, check=False)
        assert booted.returncode == 0, booted.stderr[-2000:]
        yield mount_point, env
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@contextmanager
def api_server(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "riskcore", "api", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health", server)
        yield base
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err, err[-3000:]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "riskcore", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


SIGNUP = {"date_of_birth": "1990-01-01", "licence": "DISK1", "state": "CA"}


def _refused_with_a_sentence(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert "is not writable" in answer.json()["detail"] and "try again" in answer.json()["detail"]


@needs_mount
def test_a_full_disk_is_a_sentence_and_decisions_still_answer(small_disk):
    mount_point, env = small_disk
    with api_server(env) as base:
        filler = mount_point / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64"], capture_output=True, check=False)
        _refused_with_a_sentence(httpx.post(f"{base}/onboarding/decision", json={**SIGNUP, "ssn": "831-11-1111"}))
        daily = httpx.get(f"{base}/daily/1001/decision").json()
        assert daily["decision"] in ("Approved", "Declined") and daily["logged"] is False
        assert "not writable" in daily["log_problem"]
        health = httpx.get(f"{base}/health")
        assert health.status_code == 503 and health.json()["writable"] is False
        done = cli(env, "onboard", "--dob", "1990-01-01", "--ssn", "832-11-1111", "--dl", "DISK2", "--state", "CA")
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and "is not writable" in done.stderr
        filler.unlink()
        answer = httpx.post(f"{base}/onboarding/decision", json={**SIGNUP, "ssn": "831-11-1111"})
        assert answer.status_code == 200 and answer.json()["decision"] == "Approved"
        assert httpx.get(f"{base}/health").json()["writable"] is True


@needs_mount
def test_a_read_only_data_dir_is_a_sentence(small_disk):
    mount_point, env = small_disk
    remounted = subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], capture_output=True, text=True,
                               check=False)
    assert remounted.returncode == 0, remounted.stderr
    with api_server(env) as base:
        _refused_with_a_sentence(httpx.post(f"{base}/onboarding/decision", json={**SIGNUP, "ssn": "833-11-1111"}))
        _refused_with_a_sentence(httpx.get(f"{base}/daily/1001/decision"))
        health = httpx.get(f"{base}/health")
        assert health.status_code == 503 and health.json()["writable"] is False
        assert "read-only" in health.json()["problems"][0]
    for args in (["daily", "--driver-id", "1001"], ["onboard", "--dob", "1990-01-01", "--ssn", "834-11-1111",
                                                     "--dl", "RO1", "--state", "CA"]):
        done = cli(env, *args)
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and "is not writable" in done.stderr
    status = cli(env, "status")
    assert "Traceback" not in status.stderr and "the data directory is not writable (read-only" in status.stdout


def test_a_lost_ledger_is_never_recreated_by_a_reader_and_repair_keeps_every_driver(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=12)
    fresh_world.paths.ledger_db.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{fresh_world.paths.ledger_db}{suffix}").unlink(missing_ok=True)
    reader = RiskStore(fresh_world.paths)  # a page that lists drivers, after the loss
    with pytest.raises(StoreNotReady, match="ledger .* is missing"):
        reader.roster()
    assert not fresh_world.paths.ledger_db.exists()
    assert "the ledger (signups, decision log) is missing" in " ".join(reader.status().problems)
    assert "restored the ledger's 12 drivers" in demo_world.repair(reader)
    assert reader.roster()["driver_id"].tolist() == list(range(1001, 1013))


def test_readers_of_a_ledger_being_created_never_see_half_a_schema(tmp_path):
    """A reset recreates the ledger while the Talk track's feed (and Home) read it: a reader must
    see no ledger or a whole one, never tables without their schema version."""
    import threading

    import pandas as pd

    from riskcore.data.ledger import Ledger, LedgerOutdated

    seeded = pd.DataFrame({"driver_id": [1001], "ssn": ["ssn_x"], "dl": ["dl_x"], "state": ["CA"],
                           "at": ["2026-01-01T00:00:00+00:00"]})
    failures: list[BaseException] = []
    for trial in range(30):
        path = tmp_path / f"ledger-{trial}.db"
        start = threading.Barrier(5)

        def read() -> None:
            start.wait()
            for _ in range(200):
                try:
                    Ledger(path).decisions(1)
                except StoreNotReady:
                    continue  # not created yet
                except LedgerOutdated as exc:
                    failures.append(exc)
                return

        readers = [threading.Thread(target=read) for _ in range(4)]
        for thread in readers:
            thread.start()
        start.wait()
        Ledger(path).add_seeded(seeded)
        for thread in readers:
            thread.join()
    assert failures == []
