"""Feast's own CLI keeps working on feature_repo/: apply creates every table, ui serves."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from riskcore import settings

FEAST = str(Path(sys.executable).with_name("feast"))


def cli_yaml(root: Path) -> Path:
    """feature_store.yaml with this test's data dir (the committed one points at ../data)."""
    raw = yaml.safe_load(settings.FEATURE_STORE_YAML.read_text())
    raw["registry"]["path"] = f"sqlite:///{root / 'registry.db'}"
    raw["online_store"]["path"] = str(root / "online_store.db")
    path = root / "feature_store.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_feast_apply_materialize_and_ui(fresh_world):
    from riskcore import jobs

    jobs.bootstrap(fresh_world, drivers=4)
    root = fresh_world.paths.root
    fresh_world.paths.online_db.unlink()  # feast apply must create every table itself
    config = cli_yaml(root)
    base = [FEAST, "-c", str(settings.FEATURE_REPO), "-f", str(config)]

    applied = subprocess.run([*base, "apply"], capture_output=True, text=True, timeout=300, check=False)
    assert applied.returncode == 0, applied.stderr[-2000:]
    with sqlite3.connect(root / "online_store.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    views = ["driver_hourly_stats", "driver_yesterdays_stats", "ssn_identity", "dl_identity",
             "driver_signups", "launched_states"]
    assert {f"driver_risk_{v}" for v in views} <= tables

    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    mat = subprocess.run([*base, "materialize-incremental", now], capture_output=True, text=True,
                         timeout=300, check=False)
    assert mat.returncode == 0, mat.stderr[-2000:]
    assert fresh_world.status().ready

    port = free_port()
    ui = subprocess.Popen([*base, "ui", "-h", "127.0.0.1", "-p", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/projects-list.json", timeout=2)
                break
            except httpx.TransportError:
                assert ui.poll() is None, ui.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "feast ui did not answer in 90 s"
                time.sleep(0.5)
        assert answer.status_code == 200
        assert "driver_risk" in answer.text
    finally:
        ui.terminate()
        ui.wait(timeout=30)
