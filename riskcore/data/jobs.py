"""Data jobs: mock data, the daily batch job, batch scoring, launched states, monitoring and the
cadence tick.

Every job records itself in the ledger's job history (what, when, rows, duration, outcome), so a
job killed half-way shows as "running" with no finish, and its output part (written atomically)
either exists whole or not at all. The batch job's output is checked before it may be served
(``riskcore.quality``): a failing batch is recorded as "blocked", with what failed and by how
much, and materialization leaves its view serving yesterday's values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from riskcore import settings
from riskcore.clock import utc_now
from riskcore.data.ledger import Ledger, ShadowRow, now_iso
from riskcore.data.store import (
    HOURLY_SCHEMA,
    STATES_PUSH,
    STATES_SCHEMA,
    YESTERDAYS_SCHEMA,
    RiskStore,
    read_parts,
    write_part,
)
from riskcore.learning import outcomes
from riskcore.quality import bugs, checks, feature_tests, gate, monitoring
from riskcore.serving import features as F
from riskcore.serving.model import (
    APPROVED,
    DECLINED,
    DEFAULT_VERSION,
    REVIEW,
    get_model,
)
from riskcore.serving.served import served_daily
from riskcore.validation import USPS_STATES, InvalidInput, normalise_state

Progress = Callable[[int, int, str], None]
RISKY_SHARE = 0.1
# The original demo's "bad driver" day: converts everything, accepts almost nothing, 2 trips.
BAD_DAY = {F.CONV_RATE: 0.99, F.ACC_RATE: 0.01, F.AVG_DAILY_TRIPS: 2}
# A simulated day continues each driver's median day over this many days.
LEVEL_DAYS = 7


@dataclass(frozen=True)
class JobResult:
    job: str
    rows: int
    seconds: float
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """What the job did, in words: "1,200 hourly rows", "6 views"."""
        return f"{self.rows:,} {JOBS.get(self.job, (self.job, 'rows'))[1]}"


# Each recorded job: its name on buttons and in the history, and what its count counts.
JOBS = {
    "simulate_day": ("Simulate a day", "hourly rows"),
    "batch_job": ("Run batch job", "drivers"),
    "materialize": ("Materialize", "views"),
    "score_all": ("Batch-score all drivers", "drivers"),
    "apply": ("Feast apply", "views"),
    "monitor": ("Run monitoring", "batch outputs profiled"),
    "inject_bug": ("Inject a bug", "rows"),
    "override": ("Serve it anyway", "batch outputs"),
    "feature_tests": ("Run the feature tests", "tests"),
    "train": ("Train and register", "labelled decisions"),
}


def history(ledger: Ledger, limit: int = 30) -> pd.DataFrame:
    """The job history as a screen shows it: names as on the buttons, counts in words."""
    runs = ledger.jobs(limit)
    names = runs["job"].map(lambda job: JOBS.get(job, (job, ""))[0])
    counts = [f"{int(rows):,} {JOBS.get(job, (job, 'rows'))[1]}" if rows == rows and rows is not None else ""
              for job, rows in zip(runs["job"], runs["rows"])]
    return pd.DataFrame({"job": names, "started": pd.to_datetime(runs["started"], utc=True).dt.strftime("%H:%M:%S"),
                         "outcome": runs["outcome"], "did": counts, "seconds": runs["seconds"],
                         "message": runs["message"].fillna("")})


@contextmanager
def recorded(ledger: Ledger, job: str) -> Iterator[dict[str, object]]:
    """Record a job in the history; the body fills ``out['rows']`` and may set ``out['outcome']``
    (default "ok") and ``out['message']``."""
    job_id = ledger.start_job(job)
    started = time.perf_counter()
    out: dict[str, object] = {"rows": None, "job_id": job_id, "outcome": "ok", "message": ""}
    try:
        yield out
    except BaseException as exc:
        ledger.finish_job(job_id, "failed", None, time.perf_counter() - started, str(exc)[:300])
        raise
    ledger.finish_job(job_id, str(out["outcome"]), out["rows"], time.perf_counter() - started,  # type: ignore[arg-type]
                      str(out["message"])[:1000])


def _timestamps(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    frame["created"] = pd.Timestamp(now)
    return frame


# --- Mock data ------------------------------------------------------------------------------

def hourly_activity(driver_ids: np.ndarray, start: datetime, end: datetime, seed: int) -> pd.DataFrame:
    """Hourly rows in [start, end) for every driver (to the millisecond), like Feast's generator.

    Feast's ``create_driver_hourly_stats_df`` is used for demo-sized populations; it builds its
    frame with one ``pd.concat`` per driver (quadratic) and per-row Python columns, so above
    ``FEAST_GENERATOR_MAX_DRIVERS`` the same columns and distributions are drawn vectorised.
    """
    if len(driver_ids) <= settings.FEAST_GENERATOR_MAX_DRIVERS:
        from feast.driver_test_data import create_driver_hourly_stats_df

        # The generator rounds its timestamps to the millisecond. From a start with microseconds
        # that moved every hour: rounded down, the first fell before `start` and was dropped;
        # rounded up, the last fell after the run's time and the batch job left it out. Either way
        # yesterday's stats averaged 23 hours (found by monitoring: 1,150 rows for 50 drivers).
        start, end = pd.Timestamp(start).floor("ms"), pd.Timestamp(end).floor("ms")
        np.random.seed(seed)  # the generator draws from numpy's global RNG
        hourly = create_driver_hourly_stats_df(list(driver_ids), start, end)
        hourly = hourly[hourly["event_timestamp"] >= start]  # drops the generator's fixed 2021 row
        return hourly.drop_duplicates(["driver_id", "event_timestamp"])[HOURLY_SCHEMA.names[:2] + list(F.HOURLY_FEATURES)]
    return uniform_activity(driver_ids, start, end, np.random.default_rng(seed))


def uniform_activity(driver_ids: np.ndarray, start: datetime, end: datetime, rng: np.random.Generator) -> pd.DataFrame:
    """Hourly rows in [start, end) drawn vectorised, with the distributions of Feast's generator."""
    hours = pd.date_range(start=start, end=end, freq="1h", inclusive="left", tz="UTC")
    rows = len(hours) * len(driver_ids)
    return pd.DataFrame({
        "driver_id": np.repeat(np.asarray(driver_ids, dtype=np.int64), len(hours)),
        "event_timestamp": np.tile(hours.values, len(driver_ids)),
        F.CONV_RATE: rng.random(rows, dtype=np.float32),
        F.ACC_RATE: rng.random(rows, dtype=np.float32),
        F.AVG_DAILY_TRIPS: rng.integers(0, 1000, rows, dtype=np.int64),
    }).assign(event_timestamp=lambda f: f["event_timestamp"].dt.tz_localize("UTC"))


def activity_levels(store: RiskStore, now: datetime) -> pd.DataFrame:
    """Each driver's usual activity: the median over the last ``LEVEL_DAYS`` days of activity
    (counted back from the newest, so a world last run a month ago continues as it was) of each
    day's mean, indexed by driver. A median of days, so one bad day does not become a driver's
    habit, while a lasting change (an incident's aftermath) does."""
    until = pc.field("event_timestamp") <= pd.Timestamp(now)
    stamps = read_parts(store.paths.hourly_dir, ["event_timestamp"], until)["event_timestamp"]
    if stamps.empty:  # activity lost (repair regenerates it): nobody has a usual day
        return pd.DataFrame(columns=list(F.HOURLY_FEATURES), index=pd.Index([], name="driver_id", dtype=np.int64))
    window = until & (pc.field("event_timestamp") > stamps.max() - pd.Timedelta(days=LEVEL_DAYS))
    rows = read_parts(store.paths.hourly_dir, HOURLY_SCHEMA.names[:2] + list(F.HOURLY_FEATURES), window)
    days = rows.groupby(["driver_id", rows["event_timestamp"].dt.floor("D")])[list(F.HOURLY_FEATURES)].mean()
    return days.groupby(level="driver_id").median()


def continued_activity(store: RiskStore, driver_ids: np.ndarray, now: datetime, seed: int) -> pd.DataFrame:
    """The next 24 hours of the world: each driver's hours drawn around their usual activity
    (as the bootstrap drew today), so a healthy day looks like the days before it to the checks
    and to drift. A driver with no recent activity gets Feast's generator."""
    levels = activity_levels(store, now)
    known = np.asarray(driver_ids, np.int64)[np.isin(driver_ids, levels.index)]
    unknown = np.setdiff1d(driver_ids, known)
    at = levels.loc[known]
    frames = [outcomes.hourly_around(known, {f: at[f].to_numpy() for f in F.HOURLY_FEATURES}, now,
                                     np.random.default_rng([seed, 2]))]
    if len(unknown):
        frames.append(hourly_activity(unknown, now - timedelta(hours=23), now + timedelta(hours=1), seed))
    return pd.concat(frames, ignore_index=True)


def simulate_day(
    store: RiskStore, now: datetime, driver_ids: np.ndarray, risky_ids: np.ndarray, seed: int,
    activity: pd.DataFrame | None = None,
) -> JobResult:
    """Write the last 24 hours of activity for every driver: ``activity`` if given (the
    bootstrap's simulated world), else the world continued (``continued_activity``).

    The newest row is stamped ``now`` so incremental materialization always picks it up.
    ``risky_ids`` get the original demo's bad day.
    """
    with recorded(Ledger(store.paths.ledger_db), "simulate_day") as out:
        started = time.perf_counter()
        hourly = continued_activity(store, driver_ids, now, seed) if activity is None else activity.copy()
        risky = hourly["driver_id"].isin(risky_ids).to_numpy()
        for column, value in BAD_DAY.items():
            hourly.loc[risky, column] = value
        with store.writing():
            write_part(store.paths.hourly_dir, _timestamps(hourly, now), HOURLY_SCHEMA)
        out["rows"] = len(hourly)
    examples = [int(d) for d in risky_ids[:5]]
    return JobResult("simulate_day", len(hourly), time.perf_counter() - started,
                     {"risky_drivers": len(risky_ids), "for_example": examples})


def first_day(driver_ids: Sequence[int], signed_up: Sequence[pd.Timestamp]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New drivers' first simulated day, ending when they signed up: 24 hourly rows of ordinary
    activity and the batch job's stats over them, so a new driver's home shows a real daily
    decision from the moment of approval (and a bad day can then flip it). Seeded by driver id,
    so a replay after a crash writes the same rows."""
    hourly, stats = [], []
    for driver, at in zip(driver_ids, signed_up):
        end = pd.Timestamp(at).to_pydatetime()
        rows = uniform_activity(np.array([driver], dtype=np.int64), end - timedelta(hours=23),
                                end + timedelta(hours=1), np.random.default_rng(int(driver)))
        rows = _timestamps(rows, end)
        hourly.append(rows)
        stats.append(_timestamps(yesterdays_stats(rows, end), end))
    return pd.concat(hourly, ignore_index=True), pd.concat(stats, ignore_index=True)


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


def batch_job(store: RiskStore, as_of: datetime | None = None, gated: bool = True) -> JobResult:
    """Compute yesterday's stats for all drivers from the last 24 hours of hourly data, pass them
    through the presenter's injected bug if one is armed, and check them: an output that fails a
    check is written as a blocked part, which materialization will not serve. ``gated=False``
    skips the checks (benchmarks compare the cost)."""
    as_of = as_of or utc_now()
    ledger = Ledger(store.paths.ledger_db)
    bug = bugs.armed(store.paths)
    with recorded(ledger, "batch_job") as out:
        started = time.perf_counter()
        window = (pc.field("event_timestamp") > pd.Timestamp(as_of - timedelta(hours=24))) & (
            pc.field("event_timestamp") <= pd.Timestamp(as_of)
        )
        hourly = read_parts(store.paths.hourly_dir, HOURLY_SCHEMA.names, window)
        stats = yesterdays_stats(hourly, as_of)
        if bug is not None:
            stats = bug.inject(stats, bugs.BatchContext(as_of, store.roster))
        report = checks.evaluate(
            stats, as_of=as_of, active_drivers=int(hourly["driver_id"].nunique()),
            baseline_rates=monitoring.baseline_rates(store.paths, F.YESTERDAYS_VIEW),
        ) if gated else None
        blocked = report is not None and not report.passed
        with store.writing():
            part = write_part(store.paths.yesterdays_dir, _timestamps(stats, utc_now()), YESTERDAYS_SCHEMA,
                              gate.blocked_name() if blocked else None)
            if not blocked:
                gate.retire_blocked(store.paths)
        if report is not None:
            ledger.record_checks(int(out["job_id"]), F.YESTERDAYS_VIEW, part.name, report.results)
            out["message"] = report.summary() + (f" (injected bug: {bug.name})" if bug else "")
        if blocked:
            out["outcome"] = "blocked"
        out["rows"] = len(stats)
        flagged = int(stats[list(F.YESTERDAYS_FLAGS)].any(axis=1).sum())
    detail: dict[str, object] = {"flagged_drivers": flagged, "blocked": blocked, "part": part.name}
    if report is not None:
        detail["checks"] = report.summary()
    if bug is not None:
        detail["injected_bug"] = bug.name
    return JobResult("batch_job", len(stats), time.perf_counter() - started, detail)


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
        # Blocked batch outputs are never served, so the batch model never reads them either.
        rows = read_parts(directory, ["driver_id", "event_timestamp", "created", *names], fresh,
                          gate.published_parts(directory))
        newest = rows.sort_values(["event_timestamp", "created"]).drop_duplicates("driver_id", keep="last")
        frame = frame.merge(newest[["driver_id", *names]], on="driver_id", how="left")
    return frame


def score_all(store: RiskStore, version: str | None = None) -> JobResult:
    """Re-score every driver with the daily model that serves (the registry's champion, else the
    hand-set v1), or the hand-set ``version`` named, in one vectorised batch; a challenger is
    scored in shadow on the same matrix. A driver without fresh values for every feature goes
    to review, as in the online decision."""
    serving = served_daily(store.paths).current() if version is None else None
    model = serving.champion if serving else get_model("daily", version or DEFAULT_VERSION)
    name = model.version if model.registry is None else f"{model.name} {model.version}"
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
        ledger.record_scores(int(out["job_id"]), name, ids,
                             np.where(complete, scores, np.nan).tolist(), decisions.tolist())
        if serving is not None and serving.challenger is not None and complete.any():
            ledger.record_shadow(int(out["job_id"]), _shadow_rows(name, serving.challenger, ids[complete],
                                                                  scores[complete], decisions[complete],
                                                                  matrix[complete]))
        out["rows"] = len(ids)
    counts = pd.Series(decisions).value_counts().to_dict()
    return JobResult("score_all", len(ids), time.perf_counter() - started,
                     {"decisions": counts, "model": model.label})


def _shadow_rows(champion: str, challenger: Any, ids: np.ndarray, scores: np.ndarray, decisions: np.ndarray,
                 matrix: np.ndarray) -> list[ShadowRow]:
    shadow = challenger.score_batch(matrix)
    label = f"{challenger.registry.name} v{challenger.registry.version}"
    return [ShadowRow(int(d), champion, float(s), str(c), label, float(x), challenger.decide(float(x)))
            for d, s, c, x in zip(ids, scores, decisions, shadow)]


# --- Launched states ---------------------------------------------------------------------

def state_rows(events: pd.DataFrame) -> pd.DataFrame:
    """Ledger state events (state, launched, at) as rows of the launched-states push source."""
    at = pd.to_datetime(events["at"], utc=True)
    return pd.DataFrame({"state": events["state"], F.IS_LAUNCHED: events["launched"].astype("int64"),
                         "event_timestamp": at, "created": at})


def set_state(store: RiskStore, state: str, launched: bool) -> None:
    """Launch or retire a state: recorded in the ledger, then one push, seen by the next
    onboarding request."""
    event = pd.DataFrame({"state": [normalise_state(state)], "launched": [int(launched)], "at": [now_iso()]})
    with store.writing():
        Ledger(store.paths.ledger_db).record_state(event["state"][0], launched, event["at"][0])
        store.push(STATES_PUSH, store.paths.states_dir, state_rows(event), STATES_SCHEMA)


def is_launched(store: RiskStore, state: str) -> bool:
    """Whether one state is launched now, from the online store (what the model sees)."""
    return bool(store.online([f"launched_states:{F.IS_LAUNCHED}"], [{"state": state}])[F.IS_LAUNCHED][0])


def launched_states(store: RiskStore) -> list[str]:
    """States launched now, from the online store (what the model sees)."""
    states = sorted(USPS_STATES)
    values = store.online([f"launched_states:{F.IS_LAUNCHED}"], [{"state": s} for s in states])
    return [s for s, flag in zip(states, values[F.IS_LAUNCHED]) if flag]


# --- Cadence -----------------------------------------------------------

def cadence_tick(
    store: RiskStore, tick: int | None = None, progress: Progress | None = None,
    risky_ids: list[int] | None = None,
) -> list[JobResult]:
    """One simulated day: activity -> batch job (checked) -> materialize -> monitor -> score
    every driver.

    ``tick`` seeds the day (default: a new day every time); ``risky_ids`` chooses who has a bad
    day (default: a random tenth of the drivers).
    """
    step = progress or (lambda *_: None)
    now = utc_now()
    tick = tick if tick is not None else time.time_ns() % 2**32
    ids = store.roster()["driver_id"].to_numpy(np.int64)
    risky = pick_risky(ids, seed=tick) if risky_ids is None else np.array(risky_ids, dtype=np.int64)
    step(0, 5, "simulating a day of driver activity")
    day = simulate_day(store, now, ids, risky, seed=tick)
    step(1, 5, "batch job: yesterday's stats and flags, then the checks")
    batch = batch_job(store, now)
    step(2, 5, "materializing into the online store")
    mat = materialize(store)
    step(3, 5, "monitoring: Feast's metrics, drift and skew")
    watched = monitor(store)
    step(4, 5, "scoring every driver")
    scored = score_all(store)
    step(5, 5, "done")
    return [day, batch, mat, watched, scored]


def materialize(store: RiskStore, progress: Progress | None = None) -> JobResult:
    """Incremental materialization of every view whose newest batch output passed its checks."""
    with recorded(Ledger(store.paths.ledger_db), "materialize") as out:
        started = time.perf_counter()
        held = gate.blocked_views(store.paths)
        views = store.materialize(progress=progress, skip=held)
        out["rows"] = len(views)
        if held:
            out["message"] = "held back (newest batch failed its checks): " + ", ".join(
                f"{view} ({part.name})" for view, part in held.items())
    return JobResult("materialize", len(views), time.perf_counter() - started,
                     {"views": views, "held_back": sorted(held)})


# --- Feature quality ----------------------------------------------------------------------

def monitor(store: RiskStore, skew_drivers: int = monitoring.SKEW_DRIVERS) -> JobResult:
    """One monitoring pass (Feast's metrics, drift against the baseline, training/serving skew)."""
    with recorded(Ledger(store.paths.ledger_db), "monitor") as out:
        started = time.perf_counter()
        report = monitoring.run(store, skew_drivers)
        out["rows"] = report.profiled
        out["message"] = report.summary()
    return JobResult("monitor", report.profiled, time.perf_counter() - started,
                     {**report.as_dict(), "summary": report.summary()})


def run_and_monitor(store: RiskStore, job: Callable[[], JobResult | list[JobResult]]) -> list[JobResult]:
    """A job that changes what is stored or served, then a monitoring pass over what it left
    (the batch job, materialization and overrides from the CLI and the pages)."""
    done = job()
    return [*(done if isinstance(done, list) else [done]), monitor(store)]


def inject_bug(store: RiskStore, name: str | None) -> JobResult:
    """Arm a named bug for every batch job from now on (None turns it off), in the job history."""
    if name is not None and name not in bugs.BUGS:
        raise InvalidInput("bug", f"unknown bug {name!r}; one of: {', '.join(bugs.BUGS)}")
    with recorded(Ledger(store.paths.ledger_db), "inject_bug") as out:
        started = time.perf_counter()
        bug = bugs.arm(store, name)
        out["rows"] = 0
        out["message"] = f"armed {bug.name}: {bug.title}" if bug else "turned off"
    return JobResult("inject_bug", 0, time.perf_counter() - started, {"armed": name})


def override(store: RiskStore, reason: str) -> JobResult:
    """The presenter's override: serve the newest blocked batch output despite its failed checks,
    with the reason in the job history, then materialize its view."""
    reason = " ".join(str(reason).split())
    if not reason or len(reason) > 200:
        raise InvalidInput("reason", "say why the checks may be overridden (1 to 200 characters)")
    held = gate.blocked_views(store.paths)
    if not held:
        raise InvalidInput("override", "no batch output is blocked: there is nothing to override")
    ledger = Ledger(store.paths.ledger_db)
    failed = ledger.check_history(50)
    with recorded(ledger, "override") as out:
        started = time.perf_counter()
        released, said = [], []
        with store.writing():
            for view, part in held.items():
                released.append(gate.publish(part).name)
                why = failed[(failed["part"] == part.name) & (failed["passed"] == 0)]["name"].tolist()
                said.append(f"served {view} from {part.name} despite failed checks ({', '.join(why)})")
            gate.retire_blocked(store.paths)  # older blocked outputs: never served
        out["message"] = f"{'; '.join(said)}: {reason}"
        others = {fv.name for fv in store.fs.list_feature_views()} - set(held)
        views = store.materialize(skip=others)
        out["rows"] = len(released)
    return JobResult("override", len(released), time.perf_counter() - started,
                     {"released": released, "materialized": views, "reason": reason})


def run_feature_tests(store: RiskStore) -> JobResult:
    """The feature unit tests CI runs, in a pytest subprocess; the results land in the data dir."""
    with recorded(Ledger(store.paths.ledger_db), "feature_tests") as out:
        started = time.perf_counter()
        run = feature_tests.run(store.paths)
        out["rows"] = len(run.cases)
        out["message"] = run.summary()
        if not run.passed:
            out["outcome"] = "failed"
    return JobResult("feature_tests", len(run.cases), time.perf_counter() - started,
                     {"passed": run.passed, "summary": run.summary()})
