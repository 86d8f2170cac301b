"""Data jobs: mock data, the daily batch job, batch scoring, the cadence tick and bootstrap.

Every job records itself in the ledger's job history (what, when, rows, duration, outcome), so a
job killed half-way shows as "running" with no finish, and its output part (written atomically)
either exists whole or not at all.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from riskcore import pii, settings
from riskcore.data.ledger import Ledger
from riskcore.data.store import (
    HOURLY_SCHEMA,
    SEEDED_STATES,
    SIGNUPS_SCHEMA,
    STATES_PUSH,
    STATES_SCHEMA,
    YESTERDAYS_SCHEMA,
    RiskStore,
    read_parts,
    utc_now,
    write_part,
)
from riskcore.serving import features as F
from riskcore.serving.model import (
    APPROVED,
    DECLINED,
    DEFAULT_VERSION,
    REVIEW,
    get_model,
)
from riskcore.validation import USPS_STATES, normalise_state

Progress = Callable[[int, int, str], None]
RISKY_SHARE = 0.1
MAX_DRIVERS = 1_000_000
# The original demo's "bad driver" day: converts everything, accepts almost nothing, 2 trips.
BAD_DAY = {F.CONV_RATE: 0.99, F.ACC_RATE: 0.01, F.AVG_DAILY_TRIPS: 2}


@dataclass(frozen=True)
class JobResult:
    job: str
    rows: int
    seconds: float
    detail: dict[str, object] = field(default_factory=dict)


@contextmanager
def recorded(ledger: Ledger, job: str) -> Iterator[dict[str, object]]:
    """Record a job in the history; the body fills ``out['rows']``."""
    job_id = ledger.start_job(job)
    started = time.perf_counter()
    out: dict[str, object] = {"rows": None, "job_id": job_id}
    try:
        yield out
    except BaseException as exc:
        ledger.finish_job(job_id, "failed", None, time.perf_counter() - started, str(exc)[:300])
        raise
    ledger.finish_job(job_id, "ok", out["rows"], time.perf_counter() - started)  # type: ignore[arg-type]


def _timestamps(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    frame["created"] = pd.Timestamp(now)
    return frame


# --- Mock data ------------------------------------------------------------------------------

def seeded_identities(driver_ids: np.ndarray, seed: int) -> pd.DataFrame:
    """Fake but valid SSNs and licences for the seeded population, as tokens only."""
    rng = np.random.default_rng(seed)
    areas = rng.integers(1, 666, len(driver_ids))
    groups = rng.integers(1, 100, len(driver_ids))
    serials = rng.integers(1, 10000, len(driver_ids))
    return pd.DataFrame({
        "driver_id": driver_ids,
        "ssn": [pii.tokenize("ssn", f"{a:03d}{g:02d}{s:04d}") for a, g, s in zip(areas, groups, serials)],
        "dl": [pii.tokenize("dl", f"S{d}{s:04d}") for d, s in zip(driver_ids, serials)],
    })


def hourly_activity(driver_ids: np.ndarray, start: datetime, end: datetime, seed: int) -> pd.DataFrame:
    """Hourly rows in [start, end) for every driver, like Feast's generator.

    Feast's ``create_driver_hourly_stats_df`` is used for demo-sized populations; it builds its
    frame with one ``pd.concat`` per driver (quadratic) and per-row Python columns, so above
    ``FEAST_GENERATOR_MAX_DRIVERS`` the same columns and distributions are drawn vectorised.
    """
    if len(driver_ids) <= settings.FEAST_GENERATOR_MAX_DRIVERS:
        from feast.driver_test_data import create_driver_hourly_stats_df

        np.random.seed(seed)  # the generator draws from numpy's global RNG
        hourly = create_driver_hourly_stats_df(list(driver_ids), start, end)
        hourly = hourly[hourly["event_timestamp"] >= pd.Timestamp(start)]
        return hourly.drop_duplicates(["driver_id", "event_timestamp"])[HOURLY_SCHEMA.names[:2] + list(F.HOURLY_FEATURES)]
    rng = np.random.default_rng(seed)
    hours = pd.date_range(start=start, end=end, freq="1h", inclusive="left", tz="UTC")
    rows = len(hours) * len(driver_ids)
    return pd.DataFrame({
        "driver_id": np.repeat(np.asarray(driver_ids, dtype=np.int64), len(hours)),
        "event_timestamp": np.tile(hours.values, len(driver_ids)),
        F.CONV_RATE: rng.random(rows, dtype=np.float32),
        F.ACC_RATE: rng.random(rows, dtype=np.float32),
        F.AVG_DAILY_TRIPS: rng.integers(0, 1000, rows, dtype=np.int64),
    }).assign(event_timestamp=lambda f: f["event_timestamp"].dt.tz_localize("UTC"))


def simulate_day(
    store: RiskStore, now: datetime, driver_ids: np.ndarray, risky_ids: np.ndarray, seed: int
) -> JobResult:
    """Write the last 24 hours of activity for every driver.

    The newest row is stamped ``now`` so incremental materialization always picks it up.
    ``risky_ids`` get the original demo's bad day.
    """
    with recorded(Ledger(store.paths.ledger_db), "simulate_day") as out:
        started = time.perf_counter()
        hourly = hourly_activity(driver_ids, now - timedelta(hours=23), now + timedelta(hours=1), seed)
        risky = hourly["driver_id"].isin(risky_ids).to_numpy()
        for column, value in BAD_DAY.items():
            hourly.loc[risky, column] = value
        with store.writing():
            write_part(store.paths.hourly_dir, _timestamps(hourly, now), HOURLY_SCHEMA)
        out["rows"] = len(hourly)
    examples = [int(d) for d in risky_ids[:5]]
    return JobResult("simulate_day", len(hourly), time.perf_counter() - started,
                     {"risky_drivers": len(risky_ids), "for_example": examples})


def pick_risky(driver_ids: np.ndarray, seed: int, share: float = RISKY_SHARE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    count = max(1, round(len(driver_ids) * share)) if len(driver_ids) else 0
    return np.sort(rng.choice(driver_ids, size=count, replace=False)) if count else driver_ids[:0]


# --- The daily batch job ------------------------------------------------------------------

def yesterdays_stats(hourly: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Business logic of the batch job: per driver, the mean of the latest 24 hours of activity
    and the red flags. When a day was re-simulated, only the latest delivery counts."""
    latest = hourly["created"] == hourly.groupby("driver_id")["created"].transform("max")
    daily = hourly[latest].groupby("driver_id")[list(F.HOURLY_FEATURES)].mean()
    out = pd.DataFrame({
        "driver_id": daily.index.to_numpy(dtype=np.int64),
        F.Y_CONV_RATE: daily[F.CONV_RATE].to_numpy(np.float32),
        F.Y_ACC_RATE: daily[F.ACC_RATE].to_numpy(np.float32),
        F.Y_TRIPS: daily[F.AVG_DAILY_TRIPS].to_numpy(np.float32),
    })
    flags = F.yesterdays_flags(out[F.Y_CONV_RATE], out[F.Y_ACC_RATE], out[F.Y_TRIPS])
    out = out.assign(**flags)
    out["event_timestamp"] = pd.Timestamp(as_of)
    return out


def batch_job(store: RiskStore, as_of: datetime | None = None) -> JobResult:
    """Compute yesterday's stats for all drivers from the last 24 hours of hourly data."""
    as_of = as_of or utc_now()
    ledger = Ledger(store.paths.ledger_db)
    with recorded(ledger, "batch_job") as out:
        started = time.perf_counter()
        window = (pc.field("event_timestamp") > pd.Timestamp(as_of - timedelta(hours=24))) & (
            pc.field("event_timestamp") <= pd.Timestamp(as_of)
        )
        hourly = read_parts(store.paths.hourly_dir, HOURLY_SCHEMA.names, window)
        stats = yesterdays_stats(hourly, as_of)
        with store.writing():
            write_part(store.paths.yesterdays_dir, _timestamps(stats, utc_now()), YESTERDAYS_SCHEMA)
        out["rows"] = len(stats)
        flagged = int(stats[list(F.YESTERDAYS_FLAGS)].any(axis=1).sum())
    return JobResult("batch_job", len(stats), time.perf_counter() - started, {"flagged_drivers": flagged})


# --- Batch scoring ------------------------------------------------------------------------

def latest_daily_features(store: RiskStore, ids: np.ndarray, now: datetime) -> pd.DataFrame:
    """Each driver's newest hourly stats and yesterday's flags from the offline parts, within
    their TTLs: what the last materialization copied online, read the way a batch job reads."""
    frame = pd.DataFrame({"driver_id": ids})
    for directory, names, ttl in (
        (store.paths.hourly_dir, F.HOURLY_FEATURES, F.HOURLY_TTL),
        (store.paths.yesterdays_dir, F.YESTERDAYS_FLAGS, F.YESTERDAYS_TTL),
    ):
        fresh = (pc.field("event_timestamp") > pd.Timestamp(now - ttl)) & (
            pc.field("event_timestamp") <= pd.Timestamp(now))
        rows = read_parts(directory, ["driver_id", "event_timestamp", "created", *names], fresh)
        newest = rows.sort_values(["event_timestamp", "created"]).drop_duplicates("driver_id", keep="last")
        frame = frame.merge(newest[["driver_id", *names]], on="driver_id", how="left")
    return frame


def score_all(store: RiskStore, version: str = DEFAULT_VERSION) -> JobResult:
    """Re-score every driver with the daily model, in one vectorised batch. A driver without
    fresh values for every feature goes to review, as in the online decision."""
    model = get_model("daily", version)
    ledger = Ledger(store.paths.ledger_db)
    with recorded(ledger, "score_all") as out:
        started = time.perf_counter()
        ids = store.roster()["driver_id"].to_numpy(np.int64)
        values = latest_daily_features(store, ids, utc_now())
        matrix = values[list(model.features)].to_numpy(np.float64)
        complete = ~np.isnan(matrix).any(axis=1)
        scores = model.score_batch(np.nan_to_num(matrix))
        decisions = np.where(scores < model.threshold, APPROVED, DECLINED).astype(object)
        decisions[~complete] = REVIEW
        ledger.record_scores(int(out["job_id"]), version, ids,
                             np.where(complete, scores, np.nan).tolist(), decisions.tolist())
        out["rows"] = len(ids)
    counts = pd.Series(decisions).value_counts().to_dict()
    return JobResult("score_all", len(ids), time.perf_counter() - started, {"decisions": counts})


# --- Launched states ---------------------------------------------------------------------

def set_state(store: RiskStore, state: str, launched: bool) -> None:
    """Launch or retire a state: one push, seen by the next onboarding request."""
    row = pd.DataFrame({"state": [normalise_state(state)], F.IS_LAUNCHED: [int(launched)],
                        "event_timestamp": [pd.Timestamp(utc_now())]})
    with store.writing():
        store.push(STATES_PUSH, store.paths.states_dir, _timestamps(row, utc_now()), STATES_SCHEMA)


def launched_states(store: RiskStore) -> list[str]:
    """States launched now, from the online store (what the model sees)."""
    states = sorted(USPS_STATES)
    values = store.online([f"launched_states:{F.IS_LAUNCHED}"], [{"state": s} for s in states])
    return [s for s, flag in zip(states, values[F.IS_LAUNCHED]) if flag]


# --- Cadence, bootstrap, reset -----------------------------------------------------------

def cadence_tick(
    store: RiskStore, tick: int | None = None, progress: Progress | None = None,
    risky_ids: list[int] | None = None,
) -> list[JobResult]:
    """One simulated day: activity -> batch job -> materialize -> score every driver.

    ``tick`` seeds the day (default: a new day every time); ``risky_ids`` chooses who has a bad
    day (default: a random tenth of the drivers).
    """
    step = progress or (lambda *_: None)
    now = utc_now()
    tick = tick if tick is not None else time.time_ns() % 2**32
    ids = store.roster()["driver_id"].to_numpy(np.int64)
    risky = pick_risky(ids, seed=tick) if risky_ids is None else np.array(risky_ids, dtype=np.int64)
    step(0, 4, "simulating a day of driver activity")
    day = simulate_day(store, now, ids, risky, seed=tick)
    step(1, 4, "batch job: yesterday's stats and flags")
    batch = batch_job(store, now)
    step(2, 4, "materializing into the online store")
    mat = materialize(store)
    step(3, 4, "scoring every driver")
    scored = score_all(store)
    step(4, 4, "done")
    return [day, batch, mat, scored]


def materialize(store: RiskStore, progress: Progress | None = None) -> JobResult:
    with recorded(Ledger(store.paths.ledger_db), "materialize") as out:
        started = time.perf_counter()
        views = store.materialize(progress=progress)
        out["rows"] = len(views)
    return JobResult("materialize", len(views), time.perf_counter() - started, {"views": views})


def bootstrap(
    store: RiskStore, drivers: int = settings.DEFAULT_DRIVERS, seed: int = settings.DEFAULT_SEED,
    progress: Progress | None = None,
) -> list[JobResult]:
    """A clean demo world: states, a seeded population and a day of activity, applied,
    batch-processed, materialized and scored."""
    if not 1 <= drivers <= MAX_DRIVERS:
        raise ValueError(f"drivers: expected 1 to {MAX_DRIVERS:,}")
    if not 0 <= seed < 2**32:
        raise ValueError("seed: expected 0 to 4294967295")
    step = progress or (lambda *_: None)
    total = 6
    reset(store)
    now = utc_now()
    ids = np.arange(settings.FIRST_DRIVER_ID, settings.FIRST_DRIVER_ID + drivers, dtype=np.int64)
    ledger = Ledger(store.paths.ledger_db)
    step(0, total, f"generating {drivers} drivers")
    with store.writing():
        write_part(store.paths.signups_dir, seeded_signups(ids, seed, now), SIGNUPS_SCHEMA, "seed.parquet")
        write_part(store.paths.states_dir, seeded_states(now), STATES_SCHEMA, "seed.parquet")
    day = simulate_day(store, now, ids, pick_risky(ids, seed), seed)
    step(1, total, "batch job: yesterday's stats and flags")
    batch = batch_job(store, now)
    step(2, total, "feast apply: registry and online tables")
    with recorded(ledger, "apply") as out:
        store.apply()
        out["rows"] = len(store.fs.list_feature_views())
    step(3, total, "materializing into the online store")
    mat = materialize(store, progress=lambda d, n, view: step(3, total, f"materializing {view} ({d}/{n})"))
    step(4, total, "scoring every driver")
    scored = score_all(store)
    store.mark_ready(drivers, seed)
    step(total, total, "ready")
    return [day, batch, mat, scored]


def seeded_signups(ids: np.ndarray, seed: int, now: datetime) -> pd.DataFrame:
    """The seeded population's signup rows (tokens only), a day old."""
    signups = seeded_identities(ids, seed).assign(
        signup_state=np.random.default_rng(seed).choice(SEEDED_STATES, len(ids)),
        **{F.SSN_DRIVER_ID: ids, F.DL_DRIVER_ID: ids},
        event_timestamp=pd.Timestamp(now - timedelta(days=1)),
    )
    return _timestamps(signups, now)


def seeded_states(now: datetime) -> pd.DataFrame:
    states = pd.DataFrame({"state": list(SEEDED_STATES), F.IS_LAUNCHED: 1,
                           "event_timestamp": pd.Timestamp(now - timedelta(days=1))})
    return _timestamps(states, now)


def rebuild_sources(store: RiskStore, info: dict[str, int]) -> list[str]:
    """Regenerate empty source directories without touching the others. Signups come back from
    the seed plus the ledger's approvals; launched states return to the seeded set (launches
    since are lost, and the message says so); activity is re-simulated; yesterday's stats are
    recomputed. Returns what was rebuilt."""
    now = utc_now()
    empty = {d.name for d in store.paths.source_dirs() if not any(d.glob("*.parquet"))}
    rebuilt = []
    with store.writing():
        if store.paths.signups_dir.name in empty:
            ids = np.arange(settings.FIRST_DRIVER_ID, settings.FIRST_DRIVER_ID + info["drivers"], dtype=np.int64)
            approved = Ledger(store.paths.ledger_db).approved_signups()
            approved = approved.assign(**{F.SSN_DRIVER_ID: approved["driver_id"], F.DL_DRIVER_ID: approved["driver_id"]})
            rows = pd.concat([seeded_signups(ids, info["seed"], now), _timestamps(approved, now)], ignore_index=True)
            write_part(store.paths.signups_dir, rows, SIGNUPS_SCHEMA, "rebuilt.parquet")
            rebuilt.append(f"signups ({len(ids)} seeded + {len(approved)} approved from the decision log)")
        if store.paths.states_dir.name in empty:
            write_part(store.paths.states_dir, seeded_states(now), STATES_SCHEMA, "rebuilt.parquet")
            rebuilt.append("launched states (back to the seeded set: later launches were lost)")
    ids = store.roster()["driver_id"].to_numpy(np.int64)
    if store.paths.hourly_dir.name in empty:
        simulate_day(store, now, ids, pick_risky(ids, info["seed"]), info["seed"])
        rebuilt.append("driver activity (a new simulated day)")
    if empty & {store.paths.hourly_dir.name, store.paths.yesterdays_dir.name}:
        batch_job(store, now)
        rebuilt.append("yesterday's stats (batch job)")
    return rebuilt


def repair(store: RiskStore, progress: Progress | None = None) -> str:
    """One action for every detected problem: interrupted jobs, a lost registry or online
    store, missing data files. Nothing that exists is thrown away. Returns what was done."""
    step = progress or (lambda *_: None)
    ledger = Ledger(store.paths.ledger_db)
    interrupted = ledger.interrupted_jobs()
    ledger.mark_interrupted(interrupted["id"].tolist())
    info = store.bootstrap_info()
    if info is None:
        bootstrap(store, progress=progress)
        return "set up the demo world (no completed bootstrap was found)"
    step(0, 4, "regenerating missing data")
    rebuilt = rebuild_sources(store, info)
    step(1, 4, "feast apply: registry and online tables")
    store.forget()
    store.apply()
    step(2, 4, "rebuilding the online store from the offline data")
    with recorded(ledger, "materialize") as out:
        out["rows"] = len(store.rematerialize())
    step(3, 4, "scoring every driver")
    score_all(store)
    step(4, 4, "done")
    done = ["re-applied the registry and rebuilt the online store"]
    if rebuilt:
        done.append("regenerated " + ", ".join(rebuilt))
    if len(interrupted):
        done.append(f"marked {len(interrupted)} interrupted job(s)")
    return "; ".join(done)


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
