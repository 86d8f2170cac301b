"""Feast's own CLI keeps working on feature_repo/: apply creates every table, ui serves."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from riskcore import settings
from riskcore.data import world as demo_world
from tests.servers import free_port, wait_for_http

FEAST = str(Path(sys.executable).with_name("feast"))


def test_feast_apply_materialize_and_ui(fresh_world):

    demo_world.bootstrap(fresh_world, drivers=4)
    root = fresh_world.paths.root
    fresh_world.paths.online_db.unlink()  # feast apply must create every table itself
    config = fresh_world.write_cli_config(root / "feature_store.yaml")
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
    # Incremental materialization starts where the last one ended: the identities of drivers who
    # signed up before it are not online again, and status says so (the ledger knows them).
    problems = " ".join(fresh_world.status().problems)
    assert "online identities disagree with the ledger for 4 driver(s)" in problems
    full = subprocess.run([*base, "materialize", "2000-01-01T00:00:00", now], capture_output=True, text=True,
                          timeout=300, check=False)
    assert full.returncode == 0, full.stderr[-2000:]
    assert fresh_world.status().ready

    port = free_port()
    ui = subprocess.Popen([*base, "ui", "-h", "127.0.0.1", "-p", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer = wait_for_http(f"http://127.0.0.1:{port}/projects-list.json", ui)
        assert answer.status_code == 200
        assert "driver_risk" in answer.text
    finally:
        ui.terminate()
        ui.wait(timeout=30)
