"""Historical (point-in-time) reads equal an independent oracle, row for row.

The oracle is ``pandas.merge_asof`` per feature view over the raw parquet parts, read with
pyarrow, with Feast's rules written out (those of its DuckDB/ibis point-in-time join): a value
counts as of a request time if its event time is at or before it (``event <= request``: an equal
time counts), and not older than the view's TTL (``event + ttl >= request``: exactly the TTL
still counts; a zero TTL never expires); among equal event times the newest ``created`` wins.
Hidden temporary files (``.*.tmp``) are never data.

The seeded world has the shapes that broke the dask store: 3,000+ requested rows over three
views, drivers with hourly rows but no yesterday's stats, values older than the TTL, requests
before any data, unknown drivers, duplicate requests, corrections with equal event times, and
signup parts written one by one and then compacted.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from riskcore import settings
from riskcore.data.store import (
    HOURLY_SCHEMA,
    SIGNUPS_SCHEMA,
    STATES_SCHEMA,
    YESTERDAYS_SCHEMA,
    OfflineRowsLost,
    RiskStore,
    compact,
    offline_queries,
    write_part,
)
from riskcore.serving import features as F

BASE = pd.Timestamp("2025-03-01", tz="UTC")
DAYS = 8
TWO_DAYS = pd.Timedelta(days=2)
FULL = list(range(5001, 5061))      # hourly rows and yesterday's stats, both with gaps
GAPPY = FULL[:6]                    # no hourly rows on days 3 to 5: longer than the TTL
PARTIAL = list(range(5101, 5121))   # hourly rows, never a yesterday's stats row
EXPIRED = list(range(5201, 5206))   # data on day 0 and 1 only: expired from day 3 on
HOLDERS = list(range(5401, 5406))   # sign up later with an SSN another driver held
UNKNOWN = [5301, 5302, 5303]        # no data at all
STATES = ["CA", "NY", "TX", "NJ", "WA"]


@dataclass(frozen=True)
class View:
    """What the oracle needs to know about a feature view (written here, not read from Feast)."""

    name: str
    source: str                  # attribute of ``settings.Paths``: the part directory
    keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl: pd.Timedelta | None     # None: never expires (Feast's zero TTL)

    def refs(self) -> list[str]:
        return [f"{self.name}:{feature}" for feature in self.features]


HOURLY = View("driver_hourly_stats", "hourly_dir", ("driver_id",), F.HOURLY_FEATURES, TWO_DAYS)
YESTERDAYS = View("driver_yesterdays_stats", "yesterdays_dir", ("driver_id",), F.YESTERDAYS_FEATURES, TWO_DAYS)
SIGNUPS = View("driver_signups", "signups_dir", ("driver_id",), ("signup_state",), None)
SSN = View("ssn_identity", "signups_dir", ("ssn",), (F.SSN_DRIVER_ID,), None)
DL = View("dl_identity", "signups_dir", ("dl",), (F.DL_DRIVER_ID,), None)
LAUNCHED = View("launched_states", "states_dir", ("state",), (F.IS_LAUNCHED,), None)
DRIVER_VIEWS = (HOURLY, YESTERDAYS, SIGNUPS)
IDENTITY_VIEWS = (SSN, DL, LAUNCHED)


# --- the oracle ---------------------------------------------------------------------------------

def raw_rows(directory: Path) -> pd.DataFrame:
    """Every row of a source directory: each ``*.parquet`` part read with pyarrow on its own
    (hidden temporary files are skipped, as a reader must)."""
    parts = sorted(p for p in directory.iterdir() if p.suffix == ".parquet" and not p.name.startswith("."))
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def _utc_ns(times: pd.Series) -> pd.Series:
    return pd.to_datetime(times, utc=True).astype("datetime64[ns, UTC]")


def oracle_view(
    request: pd.DataFrame, view: View, rows: pd.DataFrame, *,
    honour_ttl: bool = True, equal_time_counts: bool = True, newest_created_wins: bool = True,
) -> pd.DataFrame:
    """One view's point-in-time values for each request row, in request order. The keyword
    arguments exist to prove the seed data tells each of Feast's rules apart."""
    keys = list(view.keys)
    latest = (rows.assign(event_timestamp=_utc_ns(rows["event_timestamp"]))
              .sort_values(["event_timestamp", "created"], ascending=[True, newest_created_wins], kind="stable")
              .drop_duplicates([*keys, "event_timestamp"], keep="last"))
    right = latest[[*keys, "event_timestamp", *view.features]].rename(columns={"event_timestamp": "_value_time"})
    left = (request[[*keys, "event_timestamp"]]
            .assign(event_timestamp=_utc_ns(request["event_timestamp"]), _row=np.arange(len(request))))
    joined = pd.merge_asof(
        left.sort_values("event_timestamp", kind="stable"), right.sort_values("_value_time", kind="stable"),
        left_on="event_timestamp", right_on="_value_time", by=keys, direction="backward",
        allow_exact_matches=equal_time_counts, tolerance=view.ttl if honour_ttl else None,
    )
    return joined.sort_values("_row")[list(view.features)].reset_index(drop=True)


def oracle(
    request: pd.DataFrame, views: Sequence[View], rows: Mapping[str, pd.DataFrame], **rules: bool
) -> pd.DataFrame:
    """The request's columns, then each view's features: what ``RiskStore.historical`` must return."""
    values = [oracle_view(request, view, rows[view.name], **rules) for view in views]
    return pd.concat([request.reset_index(drop=True), *values], axis=1)


def plain(value: Any) -> Any:
    """A value as the comparison sees it: missing is None, numbers are Python floats."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return value


def differences(got: pd.DataFrame, want: pd.DataFrame, limit: int = 10) -> list[str]:
    """Row-for-row comparison: same columns, same number of rows, equal values (missing equals
    missing only). Returns what differs, empty when equal."""
    if list(got.columns) != list(want.columns):
        return [f"columns {list(got.columns)} != {list(want.columns)}"]
    if len(got) != len(want):
        return [f"{len(got)} rows != {len(want)} rows"]
    found = []
    for column in want.columns:
        for row, (a, b) in enumerate(zip(map(plain, got[column]), map(plain, want[column]))):
            if a != b:
                found.append(f"row {row} {column}: got {a!r}, want {b!r}")
    return found[:limit] + ([f"… {len(found) - limit} more"] if len(found) > limit else [])


def source_rows(store: RiskStore, views: Sequence[View]) -> dict[str, pd.DataFrame]:
    return {view.name: raw_rows(getattr(store.paths, view.source)) for view in views}


def refs(views: Sequence[View]) -> list[str]:
    return [ref for view in views for ref in view.refs()]


def feature_names(views: Sequence[View]) -> list[str]:
    return [feature for view in views for feature in view.features]


# --- the seeded world ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Seeded:
    store: RiskStore
    drivers: pd.DataFrame       # request over the three driver views
    identities: pd.DataFrame    # request over SSN, licence and state
    poison: pd.DataFrame        # the rows of a hidden temporary file in the hourly directory


def _seconds(rng: np.random.Generator, start: pd.Timestamp, days: float, n: int) -> pd.Series:
    """n random times from start over the given days, to the second."""
    return pd.Series(start + pd.to_timedelta(rng.integers(0, int(days * 86400), n), unit="s"))


def hourly_rows(rng: np.random.Generator) -> pd.DataFrame:
    hours = BASE + pd.to_timedelta(np.arange(DAYS * 24), unit="h")
    frames = []
    for driver in FULL + PARTIAL + EXPIRED:
        keep = rng.random(len(hours)) < 0.6
        if driver in EXPIRED:
            keep &= hours < BASE + pd.Timedelta(days=2)
        if driver in GAPPY:
            keep &= (hours < BASE + pd.Timedelta(days=3)) | (hours >= BASE + pd.Timedelta(days=6))
        frames.append(pd.DataFrame({"driver_id": driver, "event_timestamp": hours[keep]}))
    rows = pd.concat(frames, ignore_index=True)
    late = pd.to_timedelta(rng.integers(0, 7200, len(rows)), unit="s")
    return with_hourly_values(rows, rng, rows["event_timestamp"] + late)


def with_hourly_values(rows: pd.DataFrame, rng: np.random.Generator, created: pd.Series) -> pd.DataFrame:
    n = len(rows)
    return rows.reset_index(drop=True).assign(created=created.reset_index(drop=True), **{
        F.CONV_RATE: rng.random(n, dtype=np.float32), F.ACC_RATE: rng.random(n, dtype=np.float32),
        F.AVG_DAILY_TRIPS: rng.integers(0, 1000, n),
    })


def yesterdays_rows(rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    for driver in FULL + EXPIRED:
        days = np.arange(1, 2) if driver in EXPIRED else np.arange(1, DAYS + 1)[rng.random(DAYS) < 0.7]
        frames.append(pd.DataFrame({"driver_id": driver, "event_timestamp": BASE + pd.to_timedelta(days, unit="D")}))
    rows = pd.concat(frames, ignore_index=True)
    n = len(rows)
    return rows.assign(created=rows["event_timestamp"] + pd.Timedelta(minutes=30), **{
        F.Y_CONV_RATE: rng.random(n, dtype=np.float32), F.Y_ACC_RATE: rng.random(n, dtype=np.float32),
        F.Y_TRIPS: (rng.random(n) * 50).astype(np.float32),
        **{flag: rng.integers(0, 2, n) for flag in F.YESTERDAYS_FLAGS},
    })


def signup_rows(rng: np.random.Generator) -> pd.DataFrame:
    """One signup per driver; ten drivers move state later; five new drivers later hold an SSN
    another driver held (the SSN view follows the newest holder)."""
    drivers = np.array(FULL + PARTIAL + EXPIRED)
    first = pd.DataFrame({
        "driver_id": drivers, "ssn": [f"ssn-{d}" for d in drivers], "dl": [f"dl-{d}" for d in drivers],
        "signup_state": rng.choice(STATES, len(drivers)),
        "event_timestamp": _seconds(rng, BASE - pd.Timedelta(days=1), 4, len(drivers)),
    })
    movers = first.sample(10, random_state=1)
    movers = movers.assign(
        signup_state=[STATES[(STATES.index(s) + 1) % len(STATES)] for s in movers["signup_state"]],
        event_timestamp=movers["event_timestamp"] + pd.to_timedelta(rng.integers(86400, 3 * 86400, 10), unit="s"))
    holders = pd.DataFrame({
        "driver_id": HOLDERS, "ssn": [f"ssn-{d}" for d in FULL[10:15]], "dl": [f"dl-{d}" for d in HOLDERS],
        "signup_state": "CA", "event_timestamp": BASE + pd.to_timedelta(np.arange(5, 10), unit="D") / 2,
    })
    rows = pd.concat([first, movers, holders], ignore_index=True)
    return rows.assign(ssn_driver_id=rows["driver_id"], dl_driver_id=rows["driver_id"],
                       created=rows["event_timestamp"] + pd.Timedelta(seconds=1))


def state_rows() -> pd.DataFrame:
    """Launches and retirements; WA has two events at one time, and the newer ``created`` (1)
    is written in the earlier part."""
    events = [(s, 1, -10, 0) for s in ("CA", "NY", "TX", "WA")] + [
        ("TX", 0, 2, 0), ("TX", 1, 5, 0), ("NJ", 1, 4, 0), ("WA", 1, 3, 120), ("WA", 0, 3, 60)]
    return pd.DataFrame({
        "state": [e[0] for e in events], F.IS_LAUNCHED: [e[1] for e in events],
        "event_timestamp": [BASE + pd.Timedelta(days=e[2]) for e in events],
        "created": [BASE + pd.Timedelta(days=e[2], seconds=e[3]) for e in events],
    })


def write_sources(store: RiskStore, rng: np.random.Generator) -> pd.DataFrame:
    """The parts as riskcore writes them; returns the poison rows of a hidden temporary file."""
    paths = store.paths
    hourly = hourly_rows(rng)
    for _, day in hourly.groupby(hourly["event_timestamp"].dt.floor("D")):
        write_part(paths.hourly_dir, day, HOURLY_SCHEMA)
    picked = rng.permutation(len(hourly))
    newer, older = hourly.iloc[picked[:300]], hourly.iloc[picked[300:400]]
    # Corrections at equal event times: a newer ``created`` wins, an older one loses, whatever
    # the part order.
    write_part(paths.hourly_dir, with_hourly_values(newer[["driver_id", "event_timestamp"]], rng,
                                                    newer["created"] + pd.Timedelta(hours=1)), HOURLY_SCHEMA)
    write_part(paths.hourly_dir, with_hourly_values(older[["driver_id", "event_timestamp"]], rng,
                                                    older["created"] - pd.Timedelta(hours=1)), HOURLY_SCHEMA)
    yesterdays = yesterdays_rows(rng)
    for _, day in yesterdays.groupby("event_timestamp"):
        write_part(paths.yesterdays_dir, day, YESTERDAYS_SCHEMA)
    signups = signup_rows(rng)
    for n in range(len(signups) - 10):
        write_part(paths.signups_dir, signups.iloc[[n]], SIGNUPS_SCHEMA)
    assert compact(paths.signups_dir, SIGNUPS_SCHEMA) == len(signups) - 10
    for n in range(len(signups) - 10, len(signups)):
        write_part(paths.signups_dir, signups.iloc[[n]], SIGNUPS_SCHEMA)
    write_part(paths.signups_dir, signups.iloc[:5], SIGNUPS_SCHEMA)  # copies, as while a compaction runs
    states = state_rows()
    write_part(paths.states_dir, states.iloc[[7]], STATES_SCHEMA)
    write_part(paths.states_dir, states.drop(index=7), STATES_SCHEMA)
    return write_hidden_temporaries(paths.hourly_dir, hourly)


def write_hidden_temporaries(directory: Path, hourly: pd.DataFrame) -> pd.DataFrame:
    """What a writer leaves while writing or after being killed: a complete temporary file whose
    rows would win everywhere if read, and a torn one that no parquet reader can open."""
    poison = hourly.drop_duplicates("driver_id").assign(
        event_timestamp=BASE + pd.Timedelta(days=DAYS), created=BASE + pd.Timedelta(days=99),
        **{F.CONV_RATE: np.float32(99), F.ACC_RATE: np.float32(99), F.AVG_DAILY_TRIPS: 99})
    complete = write_part(directory, poison, HOURLY_SCHEMA)
    complete.rename(directory / f".{complete.name}.0123456789abcdef.tmp")
    (directory / ".part-torn.parquet.fedcba9876543210.tmp").write_bytes(b"PAR1" + bytes(12))
    return poison


def boundary_requests(rows: pd.DataFrame) -> pd.DataFrame:
    """For each value that is a driver's last for more than the TTL: requests exactly at the
    TTL (still counts) and one second after (expired)."""
    ordered = rows.sort_values(["driver_id", "event_timestamp"])
    following = ordered.groupby("driver_id")["event_timestamp"].shift(-1)
    last = ordered[following.isna() | (following - ordered["event_timestamp"] > TWO_DAYS)]
    at_ttl = last["event_timestamp"] + TWO_DAYS
    return pd.DataFrame({"driver_id": np.concatenate([last["driver_id"]] * 2),
                         "event_timestamp": pd.concat([at_ttl, at_ttl + pd.Timedelta(seconds=1)], ignore_index=True)})


def driver_request(rng: np.random.Generator, rows: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    hourly, yesterdays = rows[HOURLY.name], rows[YESTERDAYS.name]
    everyone = FULL + PARTIAL + EXPIRED + HOLDERS + UNKNOWN
    anywhere = pd.DataFrame({"driver_id": rng.choice(everyone, 2200),
                             "event_timestamp": _seconds(rng, BASE - pd.Timedelta(days=1), DAYS + 4, 2200)})
    at_hourly = hourly.sample(300, random_state=2)[["driver_id", "event_timestamp"]]
    at_yesterdays = yesterdays.sample(100, random_state=3)[["driver_id", "event_timestamp"]]
    before_data = pd.DataFrame({"driver_id": rng.choice(everyone, 100), "event_timestamp": BASE - pd.Timedelta(days=2)})
    parts = [anywhere, at_hourly, at_yesterdays, before_data, boundary_requests(hourly), boundary_requests(yesterdays)]
    request = pd.concat(parts, ignore_index=True)
    request = pd.concat([request, request.sample(100, random_state=4)], ignore_index=True)  # duplicates
    request["event_timestamp"] = _utc_ns(request["event_timestamp"])
    request["driver_id"] = request["driver_id"].astype("int64")
    return request.iloc[rng.permutation(len(request))].reset_index(drop=True)


def identity_request(rng: np.random.Generator, rows: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    signups, states = rows[SSN.name], rows[LAUNCHED.name]
    n = 600
    request = pd.DataFrame({
        "ssn": rng.choice([*signups["ssn"].unique(), "ssn-nobody"], n),
        "dl": rng.choice([*signups["dl"].unique(), "dl-nobody"], n),
        "state": rng.choice([*STATES, "ZZ"], n),
        "event_timestamp": _seconds(rng, BASE - pd.Timedelta(days=2), DAYS + 4, n),
    })
    at_signup = signups.sample(50, random_state=5)[["ssn", "dl", "event_timestamp"]].assign(state="TX")
    at_state = states[["state", "event_timestamp"]].assign(ssn="ssn-5001", dl="dl-5002")
    request = pd.concat([request, at_signup, at_state], ignore_index=True)
    request["event_timestamp"] = _utc_ns(request["event_timestamp"])
    return request.iloc[rng.permutation(len(request))].reset_index(drop=True)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A registry applied over parts written by riskcore's own writer; no bootstrap, so every
    row is known."""
    store = RiskStore(settings.Paths(tmp_path_factory.mktemp("historical")))
    rng = np.random.default_rng(20250301)
    poison = write_sources(store, rng)
    store.apply()
    rows = source_rows(store, DRIVER_VIEWS + IDENTITY_VIEWS)
    return Seeded(store, driver_request(rng, rows), identity_request(rng, rows), poison)


# --- the tests ----------------------------------------------------------------------------------

def test_driver_views_equal_the_oracle_row_for_row(seeded: Seeded) -> None:
    request = seeded.drivers
    assert len(request) >= 3000
    got = seeded.store.historical(request, refs(DRIVER_VIEWS))
    want = oracle(request, DRIVER_VIEWS, source_rows(seeded.store, DRIVER_VIEWS))
    assert differences(got, want) == []
    # The answer is not trivially empty or full: every kind of row is there.
    assert want[F.CONV_RATE].notna().sum() > 1000 and want[F.Y_CONV_RATE].notna().sum() > 500
    partial = request["driver_id"].isin(PARTIAL)
    assert want.loc[partial, F.CONV_RATE].notna().sum() > 100
    assert want.loc[partial, list(F.YESTERDAYS_FEATURES)].isna().all().all()
    before = request["event_timestamp"] < BASE - pd.Timedelta(days=1)
    assert before.sum() >= 100 and want.loc[before, feature_names(DRIVER_VIEWS)].isna().all().all()
    assert want.loc[request["driver_id"].isin(UNKNOWN), feature_names(DRIVER_VIEWS)].isna().all().all()


def test_identity_and_state_views_equal_the_oracle_row_for_row(seeded: Seeded) -> None:
    request = seeded.identities
    got = seeded.store.historical(request, refs(IDENTITY_VIEWS))
    want = oracle(request, IDENTITY_VIEWS, source_rows(seeded.store, IDENTITY_VIEWS))
    assert differences(got, want) == []
    assert want[F.SSN_DRIVER_ID].isin(HOLDERS).any()  # the newest holder of a reused SSN
    assert set(want[F.IS_LAUNCHED].dropna()) == {0, 1}


def test_one_row_for_a_driver_without_yesterdays_stats(seeded: Seeded) -> None:
    """The request that made the dask store raise "Divisions calculation failed"."""
    driver = PARTIAL[0]
    request = pd.DataFrame({"driver_id": [driver], "event_timestamp": [BASE + pd.Timedelta(days=DAYS)]})
    got = seeded.store.historical(request, refs(DRIVER_VIEWS))
    want = oracle(request, DRIVER_VIEWS, source_rows(seeded.store, DRIVER_VIEWS))
    assert differences(got, want) == []
    assert got[F.CONV_RATE].notna().all() and got[list(F.YESTERDAYS_FEATURES)].isna().all().all()


def test_the_oracle_tells_every_rule_apart(seeded: Seeded) -> None:
    """Each of Feast's rules changes the answer on this data, so breaking it in the oracle (or
    losing a row, or reading a hidden temporary file) turns the comparison red."""
    request = seeded.drivers
    got = seeded.store.historical(request, refs(DRIVER_VIEWS))
    rows = source_rows(seeded.store, DRIVER_VIEWS)
    for broken in ({"honour_ttl": False}, {"equal_time_counts": False}, {"newest_created_wins": False}):
        assert len(differences(got, oracle(request, DRIVER_VIEWS, rows, **broken), limit=10**6)) > 20, broken
    with_temporary = {**rows, HOURLY.name: pd.concat([rows[HOURLY.name], seeded.poison], ignore_index=True)}
    assert differences(got, oracle(request, DRIVER_VIEWS, with_temporary)) != []
    want = oracle(request, DRIVER_VIEWS, rows)
    assert differences(got.drop(index=17).reset_index(drop=True), want) != []
    assert differences(got.iloc[::-1].reset_index(drop=True), want) != []


def test_no_duckdb_extension_is_downloaded(seeded: Seeded) -> None:
    """What DuckDB needs for these reads is built into its wheel: nothing is fetched at run time
    (Delta tables would be: DuckDB downloads its ``delta`` extension)."""
    import ibis

    seeded.store.historical(seeded.drivers.head(10), refs(DRIVER_VIEWS))
    with offline_queries():
        loaded = ibis.get_backend().con.sql(
            "SELECT extension_name, install_mode FROM duckdb_extensions() WHERE loaded").fetchall()
    assert loaded and {mode for _, mode in loaded} == {"STATICALLY_LINKED"}, loaded


def test_lost_rows_raise_instead_of_showing_as_missing(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = seeded.store.fs
    real = fs.get_historical_features

    class LosesFirstRow:
        def __init__(self, job: Any) -> None:
            self.job = job

        def to_df(self) -> pd.DataFrame:
            return self.job.to_df().iloc[1:]

    monkeypatch.setattr(fs, "get_historical_features", lambda **kwargs: LosesFirstRow(real(**kwargs)))
    with pytest.raises(OfflineRowsLost, match="returned 4 rows .* for 5 requested rows"):
        seeded.store.historical(seeded.drivers.head(5), refs(DRIVER_VIEWS))


def test_reads_in_threads_beside_compactions_stay_exact(seeded: Seeded) -> None:
    """Four threads read while another writes copies of signup parts and compacts them (the
    rows stay the same set): every answer equals the oracle."""
    store, request = seeded.store, seeded.drivers.head(300)
    want = oracle(request, DRIVER_VIEWS, source_rows(store, DRIVER_VIEWS))
    signups = raw_rows(store.paths.signups_dir)
    done = threading.Event()

    def compactions() -> int:
        merged = 0
        while not done.is_set():
            for n in range(17):
                write_part(store.paths.signups_dir, signups.iloc[[n]], SIGNUPS_SCHEMA)
            merged += compact(store.paths.signups_dir, SIGNUPS_SCHEMA) > 0
            done.wait(0.1)  # far more often than after each materialize, yet reads get through
        return merged

    def reads(_: int) -> list[list[str]]:
        return [differences(store.historical(request, refs(DRIVER_VIEWS)), want) for _ in range(4)]

    with ThreadPoolExecutor(5) as pool:
        compactor = pool.submit(compactions)
        try:
            results = [d for ds in pool.map(reads, range(4)) for d in ds]
        finally:
            done.set()
    assert compactor.result() > 0
    assert results == [[]] * 16
