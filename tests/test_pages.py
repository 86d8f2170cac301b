"""Every page in Streamlit's AppTest: renders without exception, key interactions work."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import studio
from riskcore import settings
from riskcore.data import jobs
from riskcore.stage import scenarios

TIMEOUT = 120


@pytest.fixture()
def app(world):
    """The app on the shared world; the cached services are rebuilt for this data dir."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield lambda page: _open(page)
    studio.services().runner.wait()
    st.cache_resource.clear()


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(settings.REPO_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    if page != "streamlit_app.py":
        at.switch_page(page)
    return at.run()


def banners(at: AppTest) -> str:
    return " | ".join(e.value for e in [*at.success, *at.error, *at.warning, *at.info])


@pytest.mark.parametrize("page", [script for script, _, _ in studio.PAGES])
def test_every_page_renders(app, page):
    at = app(page)
    assert not at.exception, at.exception
    assert at.title[0].value
    assert "Traceback" not in banners(at)


@pytest.mark.parametrize(
    ("preset", "decision", "reason"),
    [
        ("happy", "Approved", None),
        ("under_18", "Declined", "under 18"),
        ("repeat_ssn", "Declined", "previously seen SSN"),
        ("state_not_launched", "Declined", "state not launched"),
    ],
)
def test_onboarding_presets(app, preset, decision, reason):
    at = app("pages/1_onboarding.py")
    at.button(key=f"onboard.preset.{preset}").click().run()
    assert "expect" in banners(at)
    next(b for b in at.button if b.label == "Decide").click().run()
    assert not at.exception, at.exception
    shown = banners(at)
    assert f"## {decision}" in shown
    if reason:
        assert reason in shown
    # The vector and the timings are on screen; the raw SSN is not.
    assert any("np.array" in c.value for c in at.code)
    assert [m.label for m in at.metric][:4] == ["retrieval", "featurization", "inference", "model"]
    ssn = at.text_input(key="onboard.form.ssn").value
    assert ssn not in str([e.value for e in [*at.markdown, *at.caption, *at.success, *at.error]])


def test_bad_form_input_is_a_message(app):
    at = app("pages/1_onboarding.py")
    at.text_input(key="onboard.form.ssn").input("12-34")
    at.text_input(key="onboard.form.licence").input("D1")
    next(b for b in at.button if b.label == "Decide").click().run()
    assert not at.exception
    assert any("Please check the form — ssn:" in e.value for e in at.error)


def test_run_batch_job_from_the_page(app):
    at = app("pages/4_batch_jobs.py")
    before = len(jobs.Ledger(studio.services().store.paths.ledger_db).jobs(500))
    next(b for b in at.button if b.label == "Run batch job").click().run()
    state = studio.services().runner.wait()
    assert state is not None and state.error is None and state.name == "batch job"
    at.run()
    assert not at.exception
    history = at.dataframe[0].value
    # The batch job, checked, then the monitoring pass that follows every batch job.
    assert list(history["job"][:2]) == ["monitor", "batch_job"] and set(history["outcome"][:2]) == {"ok"}
    assert "all 18 checks passed" in history.iloc[1]["message"]
    assert len(jobs.Ledger(studio.services().store.paths.ledger_db).jobs(500)) == before + 2


def test_launch_a_state_changes_the_what_if(app, world):
    svc_decisions = studio.services().decisions
    state = scenarios.decline_for_unlaunched_state(svc_decisions)
    at = app("pages/5_model.py")
    at.text_input(key="model.state").input(state).run()
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Declined"]) >= 1
    assert int(metrics["Would be approved if launched"]) >= 1
    try:
        next(b for b in at.button if b.label == f"Launch {state}").click().run()
        assert not at.exception
        assert any(b.label == f"Retire {state}" for b in at.button)
        assert state in jobs.launched_states(world)
        # The model sees it at once: the same kind of applicant is now approved.
        preset = scenarios.preset("happy", svc_decisions)
        from riskcore.validation import OnboardingApplication

        app_ = OnboardingApplication.parse(date_of_birth=preset.date_of_birth, ssn=preset.ssn,
                                           licence=preset.licence, state=state)
        assert svc_decisions.onboard(app_, record=False).decision == "Approved"
    finally:
        jobs.set_state(world, state, launched=False)


@pytest.mark.parametrize(
    ("number", "title", "lands"),
    [
        (1, "Onboard a driver", "Preset **Happy path** filled in"),
        (2, "Monitoring", "checks"),
        (3, "Model", None),
        (4, "Monitoring", "checks"),
        (5, "Online features", None),
    ],
)
def test_talk_track_buttons_open_their_scenario(app, number, title, lands):
    at = app("pages/6_talk_track.py")
    at.button(key=f"talk.{number}").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == title
    shown = banners(at) + " ".join(c.value for c in at.caption)
    if lands:
        assert lands in shown
    if number == 3:
        metrics = {m.label: m.value for m in at.metric}
        assert int(metrics["Would be approved if launched"]) >= 1
    if number == 2:
        assert studio.services().runner.wait().error is None  # the bad day ran, checked and monitored
    if number == 4:
        assert any(b.label == "Run the feature tests" for b in at.button)
        at.switch_page("pages/1_onboarding.py")  # the under-18 preset with v0 waits there
        at.run()
        assert "Preset **Under 18** filled in" in banners(at)
        assert at.radio(key="onboard.form.version").value == "v0"
        next(b for b in at.button if b.label == "Decide").click().run()
        assert "## What-if · Approved" in banners(at)  # v0 approves a 16-year-old, registers nobody


def test_pii_key_can_come_from_streamlit_secrets(app, monkeypatch):
    import os

    from riskcore import pii

    monkeypatch.delenv(settings.PII_KEY_ENV, raising=False)
    default = pii.tokenize("ssn", "123456789")
    at = AppTest.from_file(str(settings.REPO_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.secrets[settings.PII_KEY_ENV] = "a-key-from-secrets"
    try:
        at.run()
        assert not at.exception
        assert os.environ[settings.PII_KEY_ENV] == "a-key-from-secrets"
        assert pii.tokenize("ssn", "123456789") != default
    finally:
        os.environ.pop(settings.PII_KEY_ENV, None)


def test_online_vs_offline_comparison(app):
    at = app("pages/3_online_features.py")
    tables = len(at.dataframe)
    at.toggle(key="online.compare").set_value(True).run()
    assert not at.exception
    compare = at.dataframe[tables].value
    assert list(compare.columns) == ["feature", "online", "offline (as of now)", "match"]
    assert compare["match"].all(), compare  # the world is fully materialized


@pytest.fixture()
def own_app(own_world):
    """The app on a world of its own (these tests break its batch job)."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield lambda page: _open(page)
    studio.services().runner.wait()
    st.cache_resource.clear()


def _run(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    state = studio.services().runner.wait()
    assert state is None or state.error is None, state
    return at.run()


def test_monitoring_page_catches_an_injected_bug_and_goes_green_again(own_app):
    at = own_app("pages/8_monitoring.py")
    assert "passed all 18 checks" in banners(at)
    at.selectbox(key="monitoring.bug").set_value("rate_as_percentage").run()
    _run(at, "Inject this bug")
    assert "Bug injected: **A rate written as a percentage**" in banners(at)
    _run(at, "Run a cadence tick")
    assert not at.exception, at.exception
    shown = banners(at)
    assert "was **blocked** by its checks: `driver_yesterdays_stats` keeps serving" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Newest batch"] == "blocked" and metrics["Checks failed"].startswith(("2 of", "3 of", "4 of"))
    failed = at.dataframe[0].value
    assert "range: yesterdays_conv_rate" in set(failed["name"])
    assert "values differ" in shown  # skew shows the blocked batch
    assert any(e.label.startswith("Override") for e in at.expander)
    _run(at, "Turn the bug off")
    _run(at, "Run a cadence tick")
    assert "passed all 18 checks and was served" in banners(at)
    assert {m.label: m.value for m in at.metric}["Skew"].startswith("0 of")


def test_monitoring_page_runs_the_feature_tests(own_app):
    at = own_app("pages/8_monitoring.py")
    assert "have not run here yet" in banners(at)
    _run(at, "Run the feature tests")
    assert not at.exception
    assert any("passed in" in s.value for s in at.success)
    tests = next(d.value for d in at.dataframe if "test" in d.value.columns)
    assert {"tests/test_features.py", "tests/test_checks.py"} == set(tests["file"])
    assert (tests["outcome"] == "passed").all() and len(tests) > 40
