"""Shared fixtures: a bootstrapped demo world in a temporary data directory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from riskcore import cli, settings
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.store import RiskStore
from riskcore.serving.decisions import Decisions

WORLD_DRIVERS = 20


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store bootstrapped once per session, for tests that only read it. A test that adds
    drivers, data or launches uses ``own_world`` (a copy), so no test depends on another's order."""
    root = tmp_path_factory.mktemp("world")
    previous = os.environ.get(settings.DATA_DIR_ENV)
    os.environ[settings.DATA_DIR_ENV] = str(root)
    demo_world.bootstrap(RiskStore(settings.Paths(root)), drivers=WORLD_DRIVERS)
    if previous is None:
        os.environ.pop(settings.DATA_DIR_ENV)
    else:
        os.environ[settings.DATA_DIR_ENV] = previous
    return root


@pytest.fixture()
def world(world_dir: Path, monkeypatch: pytest.MonkeyPatch) -> RiskStore:
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(world_dir))
    return RiskStore(settings.Paths(world_dir))


@pytest.fixture()
def decisions(world: RiskStore) -> Decisions:
    return Decisions(world)


def copy_world(template: Path, destination: Path) -> RiskStore:
    """A private copy of a bootstrapped store (seconds cheaper than a bootstrap). Re-applied, so
    the registry's source paths are the copy's."""
    shutil.copytree(template, destination, dirs_exist_ok=True)
    store = RiskStore(settings.Paths(destination))
    store.apply()
    return store


@pytest.fixture()
def own_world(world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RiskStore:
    """A copy of the session world that this test may change at will."""
    destination = tmp_path / "own-world"
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(destination))
    return copy_world(world_dir, destination)


@pytest.fixture()
def fresh_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RiskStore:
    """A store of its own, for tests that need a clean or broken world."""
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path))
    return RiskStore(settings.Paths(tmp_path))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object, str]:
    """Run the CLI in-process with --json; returns (exit code, parsed stdout, stderr)."""
    capsys.readouterr()  # drop what earlier in-process calls printed (Feast prints progress)
    code = cli.main(["--json", *args])
    captured = capsys.readouterr()
    payload = json.loads(captured.out) if code == 0 and captured.out.strip() else None
    return code, payload, captured.err


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under a directory with its size and mtime: to prove nothing was written.
    SQLite's shared-memory index (``-shm``) and an empty write-ahead log are touched by reads
    alone; a write shows in the log's size or the database file itself."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".write.lock" and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def heal(store: RiskStore) -> None:
    """The bug off and a healthy batch served, so the blocked one leaves the offline store: the
    tests that follow see a fully materialized world."""
    jobs.inject_bug(store, None)
    jobs.batch_job(store)
    jobs.materialize(store)
