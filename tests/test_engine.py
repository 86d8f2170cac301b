"""End to end through the CLI and riskcore on a real Feast store in a temporary data dir."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from riskcore import cli, pii, settings
from riskcore.clock import utc_now
from riskcore.data import jobs
from riskcore.data import world as demo_world
from riskcore.data.store import HOURLY_SCHEMA, SIGNUPS_SCHEMA, YESTERDAYS_SCHEMA, RiskStore, compact, write_part
from riskcore.serving import features as F
from riskcore.serving.decisions import Decisions
from tests.conftest import WORLD_DRIVERS, run_cli, snapshot

ADULT = "1990-01-01"


def onboard(capsys, ssn, dl, state="CA", dob=ADULT, *extra):
    code, payload, err = run_cli(capsys, "onboard", "--dob", dob, "--ssn", ssn, "--dl", dl,
                                 "--state", state, *extra)
    assert code == 0, err
    return payload


def test_decision_table_through_the_cli(own_world, capsys):
    first = onboard(capsys, "201-11-1111", "N100001")
    assert (first["decision"], first["score"]) == ("Approved", 0.15)
    assert first["driver_id"] > 1000 + WORLD_DRIVERS

    again = onboard(capsys, "201111111", "N100002")  # same SSN, new licence
    assert (again["decision"], again["score"]) == ("Declined", 0.65)
    assert again["reasons"][0] == "previously seen SSN"
    assert again["driver_id"] is None

    licence_again = onboard(capsys, "201-11-2222", "n100001")  # licence case-insensitive
    assert (licence_again["decision"], licence_again["score"]) == ("Approved", 0.4)

    minor = onboard(capsys, "201-11-3333", "N100003", "CA", (date.today() - timedelta(days=365 * 17)).isoformat())
    assert (minor["decision"], minor["reasons"][0]) == ("Declined", "under 18")

    nj = onboard(capsys, "201-11-4444", "N100004", " nj ")
    assert (nj["decision"], nj["score"], nj["reasons"][0]) == ("Declined", 0.55, "state not launched")
    assert run_cli(capsys, "states", "launch", "NJ")[1]["launched"].count("NJ") == 1
    try:
        launched = onboard(capsys, "201-11-4444", "N100004", "NJ")
        assert (launched["decision"], launched["score"]) == ("Approved", 0.15)
    finally:
        assert "NJ" not in run_cli(capsys, "states", "retire", "NJ")[1]["launched"]

    # v0, the original weights: an under-18 in a state that is not launched is approved at 0.03.
    original = onboard(capsys, "201-11-5555", "N100005", "NJ", "2015-06-01", "--version", "v0")
    assert (original["decision"], original["score"], original["version"]) == ("Approved", 0.03, "v0")


def test_timings_and_vector_are_reported(decisions):
    from riskcore.validation import OnboardingApplication

    app = OnboardingApplication.parse(date_of_birth=ADULT, ssn="202-22-2222", licence="T1", state="TX")
    result = decisions.onboard(app, record=False)
    assert result.vector.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert result.timings.retrieval_ms > 0 and result.timings.inference_ms > 0
    key = settings.pii_key().secret
    expected = [hmac.new(key, raw, hashlib.sha256).hexdigest()[:8] for raw in (b"ssn:202222222", b"dl:T1")]
    assert result.subject == f"ssn·{expected[0]} / dl·{expected[1]} / TX"
    assert "2222" not in result.subject


def test_batch_job_makes_a_driver_risky(own_world, capsys):
    roster = own_world.roster()["driver_id"].tolist()
    quiet = next(d for d in roster if run_cli(capsys, "daily", "--driver-id", str(d))[1]["decision"] == "Approved")
    before = run_cli(capsys, "daily", "--driver-id", str(quiet))[1]
    assert before["features"][F.Y_CONV_GT_80] == 0

    assert run_cli(capsys, "simulate-day", "--risky-driver", str(quiet))[0] == 0
    hourly_only = run_cli(capsys, "daily", "--driver-id", str(quiet))[1]
    assert hourly_only["features"][F.Y_CONV_GT_80] == 0  # nothing changes before the jobs run
    assert run_cli(capsys, "batch-job")[0] == 0
    assert run_cli(capsys, "materialize")[0] == 0

    after = run_cli(capsys, "daily", "--driver-id", str(quiet))[1]
    assert after["features"][F.Y_TRIPS_LT_10] == 1 and after["features"][F.Y_CONV_GT_80] == 1
    assert after["score"] == pytest.approx(0.6988, abs=1e-6)
    assert after["score"] > before["score"]
    assert after["decision"] == "Declined"
    assert after["reasons"][0] in ("fewer than 10 trips yesterday", "conversion rate over 80% yesterday")

    # The cadence tick gives everyone a new day; the risky driver is whoever the tick picks.
    code, results, _ = run_cli(capsys, "tick", "--seed", "7")
    assert code == 0 and [r["job"] for r in results] == ["simulate_day", "batch_job", "materialize", "monitor",
                                                         "score_all"]
    history = jobs.Ledger(own_world.paths.ledger_db).score_history(quiet)
    assert len(history) >= 2


@pytest.mark.parametrize(
    "args",
    [
        ["onboard", "--dob", "2999-01-01", "--ssn", "301-11-1111", "--dl", "Z1", "--state", "CA"],
        ["onboard", "--dob", "1880-01-01", "--ssn", "301-11-1111", "--dl", "Z1", "--state", "CA"],
        ["onboard", "--dob", "not-a-date", "--ssn", "301-11-1111", "--dl", "Z1", "--state", "CA"],
        ["onboard", "--dob", ADULT, "--ssn", "30-111-1111", "--dl", "Z1", "--state", "CA"],
        ["onboard", "--dob", ADULT, "--ssn", "301-11-1111", "--dl", "", "--state", "CA"],
        ["onboard", "--dob", ADULT, "--ssn", "301-11-1111", "--dl", "Z" * 500, "--state", "CA"],
        ["onboard", "--dob", ADULT, "--ssn", "301-11-1111", "--dl", "Z1", "--state", "XX"],
        ["onboard", "--dob", ADULT, "--ssn", "301-11-1111", "--dl", "Z1", "--state", "ca\x00"],
        ["onboard", "--dob", ADULT, "--ssn", "301-11-1111", "--dl", "Zé1", "--state", "CA"],
        ["onboard", "--dob", ADULT, "--ssn", "301-11-1111", "--dl", "Z\u202e1", "--state", "CA"],
        ["onboard", "--dob", ADULT, "--ssn", "3" * 100_000, "--dl", "Z1", "--state", "CA"],
        ["onboard", "--dob", "１９９０-01-01", "--ssn", "301-11-1111", "--dl", "Z1", "--state", "CA"],
        ["onboard", "--dob", ADULT, "--ssn", "301-11-1111", "--dl", "Z1", "--state", "CA", "--version", "v7"],
        ["daily", "--driver-id", "abc"],
        ["daily", "--driver-id", "-4"],
        ["daily", "--driver-id", "999999"],
        ["daily", "--driver-id", "１００１"],
        ["states", "launch", "QQ"],
        ["states", "launch"],
        ["simulate-day", "--risky-driver", "999999"],
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(world, capsys, args):
    before = snapshot(world.paths.root)
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert snapshot(world.paths.root) == before


def test_not_bootstrapped_says_what_to_run(fresh_world, capsys):
    code, _, err = run_cli(capsys, "daily", "--driver-id", "1001")
    assert code == 2 and "riskcore bootstrap" in err
    status = run_cli(capsys, "status")[1]
    assert status["ready"] is False and "run `riskcore bootstrap`" in status["problems"][-1]


def test_status_reports_views_rows_and_freshness(world, capsys):
    status = run_cli(capsys, "status")[1]
    assert status["ready"] is True
    views = {v["name"]: v for v in status["views"]}
    assert set(views) == {"driver_hourly_stats", "driver_yesterdays_stats", "ssn_identity",
                          "dl_identity", "driver_signups", "launched_states"}
    assert views["driver_hourly_stats"]["online_rows"] >= WORLD_DRIVERS
    assert views["driver_hourly_stats"]["fresh"] is True
    assert views["launched_states"]["online_rows"] >= 7


def _cli_process(root, *args, stdin=None):
    """The CLI as its own process: it configures its log file there (not under pytest)."""
    env = {**os.environ, settings.DATA_DIR_ENV: str(root)}
    return subprocess.run([sys.executable, "-m", "riskcore", "--json", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def _decoded_text(path) -> str:
    """Everything a file holds, decoded: parquet pages are compressed (a raw-byte search misses
    values in them) and SQLite values may be blobs, so both are read back as values."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas().astype(str).to_csv()
    if path.suffix == ".db":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            rows = [row for table in tables for row in conn.execute(f'SELECT * FROM "{table}"')]  # noqa: S608
        return "\n".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for row in rows for v in row)
    return path.read_bytes().decode("utf-8", "replace")


def test_no_raw_pii_anywhere_on_disk(own_world):
    root = own_world.paths.root
    entered = [("212-34-5678", "PIITEST987"), ("21345-6789", "QX-55501")]
    for ssn, dl in entered:
        for licence in (dl, dl + "Z"):  # an approval, then a decline (logged too)
            done = _cli_process(root, "onboard", "--dob", ADULT, "--ssn", ssn, "--dl", licence, "--state", "CA")
            assert done.returncode == 0, done.stderr
        assert _cli_process(root, "onboard", "--dob", ADULT, "--ssn", ssn, "--dl", dl, "--state", "CA",
                            "--version", "v0").returncode == 0  # a what-if is logged too
    compact(own_world.paths.signups_dir, SIGNUPS_SCHEMA, max_parts=0)  # compressed pages
    needles = set()
    for ssn, dl in entered:
        digits = ssn.replace("-", "")
        needles |= {ssn, digits, f"{digits[:3]}-{digits[3:5]}-{digits[5:]}", dl, dl.lower(), dl + "Z"}
    files = [p for p in root.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"ledger.db", "online_store.db", "riskcore.log"} <= names
    assert any(p.name.startswith("compact-") for p in files)
    for path in files:
        raw, decoded = path.read_bytes(), _decoded_text(path)
        for needle in needles:
            assert needle.encode() not in raw and needle not in decoded, f"raw PII {needle!r} found in {path}"
    # The tokens did reach the store (the lookups are real) and the log names applicants by them.
    token = pii.tokenize("ssn", "212345678")
    assert own_world.online([f"ssn_identity:{F.SSN_DRIVER_ID}"], [{"ssn": token}])[F.SSN_DRIVER_ID][0] is not None
    assert pii.short(token) in (root / "riskcore.log").read_text()


def test_point_in_time_correct_historical_retrieval(own_world):
    driver = 990_001
    t1 = pd.Timestamp(utc_now() - timedelta(days=10))
    t2 = t1 + timedelta(days=5)
    rows = pd.DataFrame({
        "driver_id": [driver, driver], "event_timestamp": [t1, t2],
        F.CONV_RATE: [0.25, 0.75], F.ACC_RATE: [0.5, 0.5], F.AVG_DAILY_TRIPS: [10, 20],
    })
    rows["created"] = pd.Timestamp(utc_now())
    with own_world.writing():
        write_part(own_world.paths.hourly_dir, rows, HOURLY_SCHEMA)
    asked = pd.DataFrame({
        "driver_id": [driver] * 5,
        "event_timestamp": [t2, t1 - timedelta(hours=1), t2 + timedelta(days=1), t1 + timedelta(hours=1),
                            t1 + timedelta(days=3)],
    })
    out = own_world.historical(asked, [f"driver_hourly_stats:{F.CONV_RATE}", f"driver_hourly_stats:{F.AVG_DAILY_TRIPS}"])
    assert out[["driver_id", "event_timestamp"]].equals(asked)  # one row per request, in its order
    got = [None if pd.isna(v) else round(float(v), 2) for v in out[F.CONV_RATE]]
    # At and after t2: t2's value, never a value from the future; before t1: nothing; just
    # after: t1's value; 3 days later: beyond the 2-day TTL.
    assert got == [0.75, None, 0.75, 0.25, None]


def test_every_part_file_reads(world):
    parts = list(world.paths.root.rglob("*.parquet"))
    quality = {world.paths.profiles_dir, world.paths.skew_dir, world.paths.quality_dir / "feast_monitoring"}
    assert {p.parent for p in parts} == set(world.paths.source_dirs()) | quality
    for part in parts:
        pq.read_table(part)
    assert not list(world.paths.root.rglob(".*.tmp"))


def test_pii_can_come_from_stdin_instead_of_arguments(own_world):
    done = subprocess.run(
        [sys.executable, "-m", "riskcore", "--json", "onboard", "--dob", ADULT, "--ssn", "-", "--dl", "-",
         "--state", "CA"], input="231-45-6789\nSTDIN001\n", capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == 0, done.stderr
    assert '"decision": "Approved"' in done.stdout and "6789" not in done.stdout
    missing = subprocess.run([sys.executable, "-m", "riskcore", "onboard", "--dob", ADULT, "--ssn", "-",
                              "--dl", "-", "--state", "CA"], input="", capture_output=True, text=True,
                             timeout=120, check=False)
    assert missing.returncode == 2 and "ssn: expected a line on standard input" in missing.stderr


def test_python_dash_m_entry_point(world):
    done = subprocess.run([sys.executable, "-m", "riskcore", "states"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("launched states: CA, FL, IL, NY, SD, TX, WA")


def test_bootstrap_rejects_an_empty_population(fresh_world, capsys):
    code, _, err = run_cli(capsys, "bootstrap", "--drivers", "0")
    assert code == 2 and "drivers" in err


def test_reset_then_bootstrap_is_clean(fresh_world):
    demo_world.bootstrap(fresh_world, drivers=5)
    assert len(fresh_world.roster()) == 5
    demo_world.reset(fresh_world)
    assert not fresh_world.paths.registry_db.exists()
    fresh = RiskStore(fresh_world.paths)
    demo_world.bootstrap(fresh, drivers=3)
    assert fresh.roster()["driver_id"].tolist() == [1001, 1002, 1003]


def test_stale_or_missing_features_go_to_review_not_zero(world, decisions):
    from riskcore.serving.model import DAILY_V1
    from riskcore.serving.policy import review_reasons

    values = world.online(decisions.daily_refs(), [{"driver_id": 1001}], with_event_timestamps=True)
    assert review_reasons(values, DAILY_V1.features, utc_now()) == [[]]
    later = review_reasons(values, DAILY_V1.features, utc_now() + timedelta(days=3))
    assert later == [[f"stale: {f}" for f in DAILY_V1.features]]
    nothing = world.online(decisions.daily_refs(), [{"driver_id": 424242}], with_event_timestamps=True)
    assert review_reasons(nothing, DAILY_V1.features, utc_now()) == [[f"missing: {f}" for f in DAILY_V1.features]]


def test_compaction_keeps_every_row(tmp_path):
    from riskcore.data.store import STATES_SCHEMA, compact, read_parts

    for n in range(20):
        row = pd.DataFrame({"state": [f"S{n}"], F.IS_LAUNCHED: [n % 2],
                            "event_timestamp": [pd.Timestamp(utc_now())], "created": [pd.Timestamp(utc_now())]})
        write_part(tmp_path, row, STATES_SCHEMA)
    before = read_parts(tmp_path).sort_values("state").reset_index(drop=True)
    assert compact(tmp_path, STATES_SCHEMA, max_parts=16) == 20
    assert len(list(tmp_path.glob("*.parquet"))) == 1
    pd.testing.assert_frame_equal(read_parts(tmp_path).sort_values("state").reset_index(drop=True), before)
    assert compact(tmp_path, STATES_SCHEMA, max_parts=16) == 0


def test_both_activity_generators_agree_on_shape_and_ranges(monkeypatch):
    import numpy as np

    from riskcore import settings as riskcore_settings

    ids = np.arange(1001, 1011)
    start = pd.Timestamp("2026-01-01T00:30:00Z").to_pydatetime()
    end = start + timedelta(hours=24)
    feast_made = jobs.hourly_activity(ids, start, end, seed=1)
    monkeypatch.setattr(riskcore_settings, "FEAST_GENERATOR_MAX_DRIVERS", 0)
    vectorised = jobs.hourly_activity(ids, start, end, seed=1)
    for frame in (feast_made, vectorised):
        assert list(frame.columns) == ["driver_id", "event_timestamp", F.CONV_RATE, F.ACC_RATE, F.AVG_DAILY_TRIPS]
        assert len(frame) == 24 * len(ids)
        assert frame["event_timestamp"].min() == pd.Timestamp(start)
        assert frame[F.CONV_RATE].between(0, 1).all() and frame[F.AVG_DAILY_TRIPS].between(0, 999).all()
        assert sorted(frame["driver_id"].unique()) == ids.tolist()
    assert str(feast_made["event_timestamp"].dtype) == str(vectorised["event_timestamp"].dtype)


def test_batch_scores_match_online_decisions(own_world):
    decisions = Decisions(own_world)
    jobs.materialize(own_world)
    jobs.score_all(own_world)
    batch = jobs.Ledger(own_world.paths.ledger_db).latest_scores()
    assert len(batch) == len(own_world.roster())
    for row in batch.itertuples():
        online = decisions.daily(row.driver_id, record=False)
        assert online.decision == row.decision, row.driver_id
        if online.score is None:
            assert pd.isna(row.score)
        else:
            assert online.score == pytest.approx(row.score, abs=1e-6)


def test_a_stale_online_value_sends_the_daily_decision_to_review(own_world):
    """Feast returns a 3-day-old value as PRESENT; only its event time shows it is past the
    two-day TTL, so a decision that ignored event times would score it."""
    decisions = Decisions(own_world)
    assert decisions.daily(1001, record=False).decision in ("Approved", "Declined")
    stale = pd.Timestamp(utc_now() - timedelta(days=3))
    rows = pd.DataFrame({"driver_id": [1001], "event_timestamp": [stale], "created": [stale],
                         F.CONV_RATE: [0.5], F.ACC_RATE: [0.5], F.AVG_DAILY_TRIPS: [20]})
    own_world.fs.write_to_online_store("driver_hourly_stats", rows)
    result = decisions.daily(1001, record=False)
    assert result.decision == "Review" and result.score is None
    assert result.review == tuple(f"stale: {name}" for name in F.HOURLY_FEATURES)


def test_batch_scoring_sends_a_driver_without_fresh_values_to_review(own_world):
    from riskcore.validation import OnboardingApplication

    newcomer = Decisions(own_world).onboard(OnboardingApplication.parse(
        date_of_birth=ADULT, ssn="233-45-6789", licence="OLDDAYS1", state="CA")).driver_id
    old = pd.Timestamp(utc_now() - timedelta(days=3))
    hourly = pd.DataFrame({"driver_id": [newcomer], "event_timestamp": [old], "created": [old],
                           F.CONV_RATE: [0.5], F.ACC_RATE: [0.5], F.AVG_DAILY_TRIPS: [20]})
    yesterday = pd.DataFrame({"driver_id": [newcomer], "event_timestamp": [old], "created": [old],
                              F.Y_CONV_RATE: [0.5], F.Y_ACC_RATE: [0.5], F.Y_TRIPS: [20.0],
                              **{flag: [0] for flag in F.YESTERDAYS_FLAGS}})
    with own_world.writing():
        write_part(own_world.paths.hourly_dir, hourly, HOURLY_SCHEMA)
        write_part(own_world.paths.yesterdays_dir, yesterday, YESTERDAYS_SCHEMA)
    jobs.score_all(own_world)
    scores = jobs.Ledger(own_world.paths.ledger_db).latest_scores().set_index("driver_id")
    assert scores.loc[newcomer, "decision"] == "Review" and pd.isna(scores.loc[newcomer, "score"])
    assert scores.loc[1001, "decision"] in ("Approved", "Declined")  # fresh values are scored


def test_json_is_accepted_after_the_command_too(world, capsys):
    capsys.readouterr()
    assert cli.main(["states", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["launched"][:2] == ["CA", "FL"]
    assert cli.main(["--json", "states"]) == 0 and '"launched"' in capsys.readouterr().out
    assert cli.main(["states"]) == 0 and capsys.readouterr().out.startswith("launched states: CA")
