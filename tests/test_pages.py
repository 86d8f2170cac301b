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
    assert len(history) > 0 and history.iloc[0]["job"] == "batch_job" and history.iloc[0]["outcome"] == "ok"
    assert len(jobs.Ledger(studio.services().store.paths.ledger_db).jobs(500)) == before + 1


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
        (2, "Driver home", "Driver "),
        (3, "Model", None),
        (4, "Onboard a driver", "Preset **Under 18** filled in"),
        (5, "Online features", None),
        (6, "Train a model", None),
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
    if number == 4:
        assert at.radio(key="onboard.form.version").value == "v0"
        at.switch_page("pages/1_onboarding.py")  # AppTest reruns the page it last switched to
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
    """The app on a private copy of the world: these tests register models."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield lambda page: _open(page)
    studio.services().runner.wait()
    st.cache_resource.clear()


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    state = studio.services().runner.wait()
    assert state is not None and state.error is None, state
    return at.run()


def test_training_page_without_a_model_says_the_hand_set_v1_serves(app):
    at = app("pages/7_training.py")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Champion (serves)"] == "daily v1" and metrics["Challenger (shadow)"] == "none"
    assert "no champion registered" in banners(at).lower()
    assert "No model trained yet" in banners(at)


def test_training_page_builds_trains_promotes_and_rolls_back(own_app, own_world):
    from riskcore.learning.registry import Registry

    at = own_app("pages/7_training.py")
    at = _click(at, "Build the training set")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Decisions"].replace(",", "")) > 100 and metrics["Incident rate"].endswith("%")
    assert len(at.get("vega_lite_chart")) >= 1  # how each join sees the rows

    at = _click(at, "Train and register")
    assert not at.exception, at.exception
    registry = Registry(own_world.paths)
    aliases = registry.aliases()
    assert set(aliases) == {"champion", "challenger"}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Champion (serves)"] == f"daily-risk v{aliases['champion']}"
    assert metrics["Challenger (shadow)"] == f"daily-risk v{aliases['challenger']}"
    naive_offline, naive_future = float(metrics["Naive join, offline AUC"]), float(metrics["Naive join, future AUC"])
    assert naive_offline > naive_future

    next(b for b in at.button if b.label == "Roll back the champion").click().run()
    assert not at.exception and "champion" not in registry.aliases()
    assert {m.label: m.value for m in at.metric}["Champion (serves)"] == "daily v1"
    at.selectbox(key="training.promote_version").set_value(aliases["champion"]).run()
    next(b for b in at.button if b.label == "Promote to champion").click().run()
    assert not at.exception and registry.aliases()["champion"] == aliases["champion"]


def test_training_controls_are_for_the_presenter_only(app, monkeypatch):
    monkeypatch.setattr(studio, "presenter_controls", lambda: False)
    at = app("pages/7_training.py")
    assert not at.exception
    labels = {b.label for b in at.button}
    assert "Build the training set" in labels
    assert not labels & {"Train and register", "Promote to champion", "Roll back the champion"}
