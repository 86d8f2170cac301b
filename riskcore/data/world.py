"""The demo world's life cycle: bootstrap a clean world, reset it, repair it after a fault.

The ledger is the source of truth for drivers and launched states; the feature store's data is
rebuilt from it (and the seed) whenever a copy is lost, unreadable or disagrees. Nothing that
exists is thrown away: unreadable files are moved to ``quarantine/``.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from riskcore import pii, settings
from riskcore.clock import utc_now
from riskcore.data import jobs
from riskcore.data.jobs import JobResult, Progress, recorded
from riskcore.data.ledger import Ledger
from riskcore.data.signups import SignupSync, signup_rows
from riskcore.data.store import (
    SEEDED_STATES,
    SIGNUPS_SCHEMA,
    STATES_SCHEMA,
    RiskStore,
    parts,
    read_parts,
    unreadable_parts,
    write_part,
)
from riskcore.learning import outcomes
from riskcore.quality import gate

MAX_DRIVERS = 1_000_000


def seeded_signups(ids: np.ndarray, seed: int, now: datetime, key: bytes) -> pd.DataFrame:
    """The seeded population as ledger signups (tokens only, fake but valid SSNs), a day old."""
    rng = np.random.default_rng(seed)
    areas = rng.integers(1, 666, len(ids))
    groups = rng.integers(1, 100, len(ids))
    serials = rng.integers(1, 10000, len(ids))
    return pd.DataFrame({
        "driver_id": ids,
        "ssn": [pii.tokenize("ssn", f"{a:03d}{g:02d}{s:04d}", key) for a, g, s in zip(areas, groups, serials)],
        "dl": [pii.tokenize("dl", f"S{d}{s:04d}", key) for d, s in zip(ids, serials)],
        "state": np.random.default_rng(seed).choice(SEEDED_STATES, len(ids)),
        "at": pd.Timestamp(now - timedelta(days=1)).isoformat(),
    })


def seeded_states(now: datetime) -> pd.DataFrame:
    """The launched states a clean world starts with, as ledger state events."""
    return pd.DataFrame({"state": list(SEEDED_STATES), "launched": 1,
                         "at": pd.Timestamp(now - timedelta(days=1)).isoformat()})


def bootstrap(
    store: RiskStore, drivers: int = settings.DEFAULT_DRIVERS, seed: int = settings.DEFAULT_SEED,
    progress: Progress | None = None,
) -> list[JobResult]:
    """A clean demo world: a PII key (generated unless one is configured), states, a seeded
    population with 60 days of history and matured outcomes (what a model learns from), today's
    activity, applied, batch-processed, materialized, monitored (the first monitoring pass sets
    the baseline drift is measured against) and scored. No model is trained: until one is, the
    hand-set v1 serves (training takes seconds more than a bootstrap should)."""
    if not 1 <= drivers <= MAX_DRIVERS:
        raise ValueError(f"drivers: expected 1 to {MAX_DRIVERS:,}")
    if not 0 <= seed < 2**32:
        raise ValueError("seed: expected 0 to 4294967295")
    step = progress or (lambda *_: None)
    total = 7
    reset(store)
    key = settings.ensure_pii_key(store.paths.root)
    now = utc_now()
    ids = np.arange(settings.FIRST_DRIVER_ID, settings.FIRST_DRIVER_ID + drivers, dtype=np.int64)
    ledger = Ledger(store.paths.ledger_db)
    step(0, total, f"generating {drivers} drivers")
    signups = seeded_signups(ids, seed, now, key.secret)
    ledger.add_seeded(signups)
    states = seeded_states(now)
    for event in states.itertuples():
        ledger.record_state(event.state, bool(event.launched), event.at)
    with store.writing():
        write_part(store.paths.signups_dir, signup_rows(signups), SIGNUPS_SCHEMA, "seed.parquet")
        write_part(store.paths.states_dir, jobs.state_rows(states), STATES_SCHEMA, "seed.parquet")
    history = outcomes.simulate(ids, now, seed)
    with store.writing():
        outcomes.write_history(store.paths, history)
    day = jobs.simulate_day(store, now, ids, jobs.pick_risky(ids, seed), seed, outcomes.hourly_today(history, seed))
    step(1, total, "batch job: yesterday's stats and flags")
    batch = jobs.batch_job(store, now)
    step(2, total, "feast apply: registry and online tables")
    with recorded(ledger, "apply") as out:
        store.apply()
        out["rows"] = len(store.fs.list_feature_views())
    step(3, total, "materializing into the online store")
    mat = jobs.materialize(store, progress=lambda d, n, view: step(3, total, f"materializing {view} ({d}/{n})"))
    step(4, total, "monitoring: Feast's baseline and metrics")
    watched = jobs.monitor(store)
    step(5, total, "scoring every driver")
    scored = jobs.score_all(store)
    store.mark_ready(drivers, seed, now)
    step(total, total, "ready")
    return [day, batch, mat, watched, scored]


def reset(store: RiskStore) -> None:
    """Delete everything generated (keeps the data dir's README). The ready marker goes
    first, so no reader trusts a half-deleted store."""
    with store.writing():
        store.paths.ready_marker.unlink(missing_ok=True)
        for path in store.paths.root.iterdir():
            if path.name in ("README.md", store.paths.write_lock.name):
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        store.forget()


def quarantine_unreadable(store: RiskStore) -> list[str]:
    """Move every part that does not read to ``quarantine/<source>/``; returns what moved."""
    moved = []
    with store.writing():
        for directory in store.paths.source_dirs():
            for part, _ in unreadable_parts(directory):
                target = store.paths.quarantine_dir / directory.name
                target.mkdir(parents=True, exist_ok=True)
                part.rename(target / part.name)
                moved.append(f"{directory.name}/{part.name}")
    return moved


def offline_signups(store: RiskStore) -> pd.DataFrame:
    """The signups data, one row per driver, as ledger signups (driver_id, ssn, dl, state, at)."""
    offline = read_parts(store.paths.signups_dir, ["driver_id", "ssn", "dl", "signup_state", "event_timestamp"])
    offline = offline.sort_values("event_timestamp").drop_duplicates("driver_id", keep="last")
    return offline.rename(columns={"signup_state": "state", "event_timestamp": "at"}).assign(
        at=lambda f: f["at"].map(lambda t: t.isoformat()))


def restore_ledger(store: RiskStore) -> int:
    """A lost ledger comes back from the best copy left, the offline signups: drivers keep
    their ids and identities (the decision log and idempotency keys are gone). Returns drivers."""
    offline = offline_signups(store)
    Ledger(store.paths.ledger_db).add_seeded(offline)
    return len(offline)


def reconcile_signups(store: RiskStore) -> str | None:
    """Make the offline signups equal to the ledger's: replay what is unsynced; adopt drivers
    only the signups data knows (a ledger restored from an older copy: nobody is dropped, and an
    SSN the ledger gives to another driver stays with that driver); then, if the parts still
    disagree, rewrite them from the ledger and move the old parts aside. Returns what was done."""
    replayed = SignupSync(store).replay()
    ledger = Ledger(store.paths.ledger_db)
    offline = offline_signups(store)
    strangers = offline[~offline["driver_id"].isin(ledger.signups()["driver_id"])]
    if len(strangers):
        ledger.add_seeded(strangers)
    truth = ledger.signups()
    done = [f"replayed {replayed} interrupted signup(s) from the ledger"] if replayed else []
    adopted = strangers["driver_id"].isin(truth["driver_id"]).sum()
    if adopted:
        done.append(f"took {adopted} driver(s) the ledger lacked back from the signups data")
    if set(offline["driver_id"]) != set(truth["driver_id"]):
        with store.writing():
            old = parts(store.paths.signups_dir)
            write_part(store.paths.signups_dir, signup_rows(truth), SIGNUPS_SCHEMA,
                       f"ledger-{utc_now():%Y%m%dT%H%M%S%f}.parquet")
            target = store.paths.quarantine_dir / store.paths.signups_dir.name
            target.mkdir(parents=True, exist_ok=True)
            for part in old:
                part.rename(target / part.name)
        done.append(f"rewrote the signups data from the ledger ({len(truth)} drivers)")
    return "; ".join(done) or None


def rebuild_sources(store: RiskStore, info: dict[str, Any]) -> list[str]:
    """Regenerate empty source directories without touching the others: launched states from the
    ledger's events, driver activity by simulating a new day, yesterday's stats by the batch
    job. (Signups are reconciled from the ledger separately.) Returns what was rebuilt."""
    now = utc_now()
    empty = {d.name for d in store.paths.source_dirs() if not parts(d)}
    rebuilt = []
    if store.paths.states_dir.name in empty:
        events = Ledger(store.paths.ledger_db).state_events()
        with store.writing():
            write_part(store.paths.states_dir, jobs.state_rows(events), STATES_SCHEMA, "rebuilt.parquet")
        rebuilt.append(f"launched states ({len(events)} launch events from the ledger)")
    ids = store.roster()["driver_id"].to_numpy(np.int64)
    if store.paths.outcomes_dir.name in empty:
        at = datetime.fromisoformat(info.get("world_at") or info.get("at") or now.isoformat())
        with store.writing():
            outcomes.write_history(store.paths, outcomes.simulate(ids, at, info["seed"]))
        rebuilt.append("history and matured outcomes (the seeded simulation)")
    if store.paths.hourly_dir.name in empty:
        jobs.simulate_day(store, now, ids, jobs.pick_risky(ids, info["seed"]), info["seed"])
        rebuilt.append("driver activity (a new simulated day)")
    if empty & {store.paths.hourly_dir.name, store.paths.yesterdays_dir.name}:
        jobs.batch_job(store, now)
        rebuilt.append("yesterday's stats (batch job)")
    return rebuilt


def repair(store: RiskStore, progress: Progress | None = None) -> str:
    """One action for every detected problem: interrupted jobs and signups, unreadable or
    missing data files, a lost ledger, registry or online store, copies that disagree with the
    ledger. Returns what was done."""
    step = progress or (lambda *_: None)
    info = store.bootstrap_info()
    if info is None:
        bootstrap(store, progress=progress)
        return "set up the demo world (no completed bootstrap was found)"
    store.check_pii_key()
    done = []
    step(0, 5, "moving unreadable data files aside")
    moved = quarantine_unreadable(store)
    if moved:
        done.append(f"moved {len(moved)} unreadable file(s) to quarantine/ ({', '.join(moved)})")
    ledger = Ledger(store.paths.ledger_db)
    if not store.paths.ledger_db.exists():
        done.append(f"restored the ledger's {restore_ledger(store)} drivers from the signups data "
                    "(the decision log and job history were lost)")
    interrupted = ledger.interrupted_jobs()
    ledger.mark_interrupted(interrupted["id"].tolist())
    if len(interrupted):
        done.append(f"marked {len(interrupted)} interrupted job(s)")
    step(1, 5, "regenerating missing data")
    rebuilt = rebuild_sources(store, info)
    if rebuilt:
        done.append("regenerated " + ", ".join(rebuilt))
    step(2, 5, "feast apply, and reconciling signups with the ledger")
    store.forget()
    store.apply()
    reconciled = reconcile_signups(store)
    if reconciled:
        done.append(reconciled)
    step(3, 5, "rebuilding the online store from the offline data")
    with recorded(ledger, "materialize") as out:
        # A view whose newest batch output is blocked is rebuilt from what was published only.
        sources = gate.gated_views(store.paths)
        held = {view: gate.served_until(sources[view]) for view in gate.blocked_views(store.paths)}
        out["rows"] = len(store.rematerialize(until=held))
    done.insert(0, "re-applied the registry and rebuilt the online store")
    step(4, 5, "scoring every driver")
    jobs.score_all(store)
    step(5, 5, "done")
    return "; ".join(done)
