"""Every page in Streamlit's AppTest: renders without exception; presets, the form's rules, the
talk track's landings, the presenter's key and the Join page behave."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import studio
from riskcore import settings
from riskcore.data import jobs
from riskcore.data.ledger import Ledger
from riskcore.stage import audience, presenter
from riskcore.stage.talk import TEACHING_POINTS
from tests.conftest import copy_world, heal

TIMEOUT = 120


@pytest.fixture(scope="module")
def pages_dir(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own copy of the world: its signups and jobs touch no other test."""
    return copy_world(world_dir, tmp_path_factory.mktemp("pages-world")).paths.root


@pytest.fixture()
def app(pages_dir, monkeypatch):
    """The app on this module's world; the cached services are rebuilt for it."""
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(pages_dir))
    monkeypatch.delenv(presenter.PRESENTER_KEY_ENV, raising=False)
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


def fill(at: AppTest, form: str, **values: str) -> None:
    """Type into a signup form's text inputs (keys ``<form>.<field>``)."""
    for field, value in values.items():
        at.text_input(key=f"{form}.{field}").input(value)


def button(at: AppTest, label: str):  # noqa: ANN201 - an AppTest element
    return next(b for b in at.button if b.label == label)


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
    button(at, "Decide").click().run()
    assert not at.exception, at.exception
    shown = banners(at)
    assert f"### {decision}" in shown
    if reason:
        assert reason in shown
    # The vector and the timings are on screen; the raw SSN is not.
    assert any(c.value.startswith("x = np.array(") for c in at.code)
    assert any("retrieval" in m.value and "inference" in m.value for m in at.markdown)
    ssn = at.text_input(key="onboard.form.ssn").value
    assert ssn.replace("-", "")[-4:] not in str([e.value for e in [*at.markdown, *at.caption, *at.success]])


def test_the_form_decides_what_it_shows_and_lists_every_problem(app):
    at = app("pages/1_onboarding.py")
    drivers = len(studio.services().store.roster())
    fill(at, "onboard.form", dob="2999-01-01", ssn="", licence="D1", state="ZZ")
    button(at, "Decide").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors == ["Date of birth: in the future", "SSN: required",
                      "State: expected a two-letter US state code such as CA or NJ"]
    assert not any(b.value.startswith("###") for b in [*at.success, *at.error])  # nothing decided
    assert len(studio.services().store.roster()) == drivers
    # The limits are the rules': the widgets cannot hold more than the rules accept.
    assert at.text_input(key="onboard.form.licence").max_chars == 20
    assert at.text_input(key="onboard.form.ssn").max_chars == 11


def test_decide_again_and_the_form_survive_leaving_the_page(app):
    at = app("pages/1_onboarding.py")
    at.button(key="onboard.preset.state_not_launched").click().run()
    button(at, "Decide").click().run()
    assert "state not launched" in banners(at)
    state = at.text_input(key="onboard.form.state").value
    at.switch_page("pages/5_model.py").run()
    at.switch_page("pages/1_onboarding.py").run()
    assert at.text_input(key="onboard.form.state").value == state  # the form matches the result
    assert "state not launched" in banners(at)
    world = studio.services().store
    jobs.set_state(world, state, launched=True)
    try:
        button(at, "Decide again").click().run()
        assert "### Approved · score 0.15" in banners(at)
    finally:
        jobs.set_state(world, state, launched=False)


def test_v0_vs_v1_side_by_side_registers_nobody(app):
    at = app("pages/1_onboarding.py")
    drivers = len(studio.services().store.roster())
    at.button(key="onboard.preset.under_18").click().run()
    button(at, "v0 vs v1").click().run()
    shown = banners(at)
    assert "### What-if · Approved" in shown and "### What-if · Declined" in shown and "under 18" in shown
    assert any("onboarding v0" in m.value for m in at.markdown) and any("onboarding v1" in m.value for m in at.markdown)
    assert len(studio.services().store.roster()) == drivers


def test_run_batch_job_from_the_page(app):
    at = app("pages/4_batch_jobs.py")
    before = len(Ledger(studio.services().store.paths.ledger_db).jobs(500))
    button(at, "Run batch job").click().run()
    state = studio.services().runner.wait()
    assert state is not None and state.error is None and state.name == "Run batch job"
    at.run()
    assert not at.exception
    history = at.dataframe[0].value
    assert list(history.columns) == ["job", "started", "outcome", "did", "seconds", "message"]
    # The batch job, checked, then the monitoring pass that follows every batch job.
    assert list(history["job"][:2]) == ["Run monitoring", "Run batch job"] and set(history["outcome"][:2]) == {"ok"}
    assert history.iloc[1]["did"].endswith(" drivers") and "all 18 checks passed" in history.iloc[1]["message"]
    assert len(Ledger(studio.services().store.paths.ledger_db).jobs(500)) == before + 2



@pytest.mark.parametrize("number", range(1, len(TEACHING_POINTS) + 1))
def test_each_talk_track_point_runs_and_lands_on_its_result(request, number):
    point = TEACHING_POINTS[number - 1]
    # The leak's point trains and registers a model: a world of its own, so others see none.
    app = request.getfixturevalue("own_app" if point.scenario == "leak" else "app")
    drivers = len(studio.services().store.roster())
    at = app("pages/6_talk_track.py")
    if point.then is not None and point.then.scenario == "bug_caught":  # undone even if an assert fails
        request.addfinalizer(lambda store=studio.services().store: heal(store))
    at.button(key=f"talk.{number}").click().run()
    assert not at.exception, at.exception
    studio.services().runner.wait()  # the bad day's jobs
    at.switch_page(point.page).run()  # AppTest reruns the page it was last switched to
    assert not at.exception, at.exception
    assert any(m.value.startswith(f"**{number}/{len(TEACHING_POINTS)} · {point.title}**") for m in at.markdown)
    shown = banners(at)
    if point.scenario == "happy_path":
        assert "### Approved · score 0.15" in shown
        assert len(studio.services().store.roster()) == drivers + 1
    elif point.scenario == "original_vs_served":
        assert "### What-if · Approved · score 0.03" in shown  # the original demo's bug
        assert "### What-if · Declined · score 0.95 — under 18" in shown
        assert len(studio.services().store.roster()) == drivers  # nobody registered
    elif point.scenario == "bad_day":
        assert any(c.value.startswith("Before the bad day: **Approved") for c in at.caption)
        assert "### Declined · score 0.70" in shown
    elif point.scenario == "launch_state":
        metrics = {m.label: m.value for m in at.metric}
        assert int(metrics["Approved if launched"]) >= 1
    elif point.scenario == "leak":  # trained in the background, then the comparison is on the page
        # (the leak's direction on a population big enough to show it: tests/test_learning.py)
        labels = {m.label for m in at.metric}
        assert {"Naive join, offline AUC", "Naive join, future AUC", "Point-in-time, future AUC"} <= labels
    if number < len(TEACHING_POINTS):
        assert any(b.label == "Next point" for b in at.button)
    if point.then is None:
        return
    # The point's second step, one click from its landing.
    next(b for b in at.button if b.label == point.then.action).click().run()
    assert not at.exception, at.exception
    assert studio.services().runner.wait().error is None
    at.switch_page(point.then.page).run()
    assert not at.exception, at.exception
    assert any(m.value.startswith(f"**{number}/{len(TEACHING_POINTS)} · {point.title}**") for m in at.markdown)
    shown = banners(at) + " ".join(m.value for m in at.markdown)
    if point.then.scenario == "bug_caught":
        assert "was **blocked** by its checks" in shown  # the checks held the buggy batch back
    elif point.then.scenario == "feature_tests":
        assert "passed" in shown.lower()


def test_a_points_job_waits_for_the_one_still_running_or_says_it_did_not_start(own_app, monkeypatch):
    runner = studio.services().runner
    at = own_app("pages/6_talk_track.py")
    assert runner.start("slow job", lambda progress: time.sleep(1.5))
    at.button(key="talk.2").click().run()  # the bad day's tick, while the slow job still runs
    assert runner.state.name == studio.BAD_DAY_JOB  # waited, then started
    runner.wait()
    monkeypatch.setattr(studio, "POINT_JOB_WAIT_S", 0.1)
    release = threading.Event()
    assert runner.start("slow job", lambda progress: release.wait(30))
    at.switch_page("pages/6_talk_track.py").run()
    at.button(key="talk.2").click().run()
    release.set()
    assert "slow job is still running, so bad day did not start" in banners(at)  # on the landing


def test_the_talk_bar_keeps_its_place_from_the_landing_to_the_next_run(app):
    # The landing draws what later runs do not (the scroll frame); had the talk bar moved, the
    # rerun that follows a job would show the stale copy beside the new one (seen in the browser).
    def place(at: AppTest) -> int:
        point = TEACHING_POINTS[4]
        return next(i for i, child in at.main.children.items() if hasattr(child, "children")  # a block
                    and any(m.value.startswith(f"**5/{len(TEACHING_POINTS)} · {point.title}") for m in child.markdown))

    at = app("pages/6_talk_track.py")
    at.button(key="talk.5").click().run()
    landed = place(at)
    at.switch_page(TEACHING_POINTS[4].page).run()
    assert place(at) == landed


def test_the_audience_sees_no_presenter_controls_until_the_key(app, monkeypatch):
    monkeypatch.setenv(presenter.PRESENTER_KEY_ENV, "k7dp-x3mr-9wfa")
    st.cache_resource.clear()
    at = app("streamlit_app.py")
    assert not any(b.label in ("Reset demo", "Repair") for b in at.button)
    at.switch_page("pages/4_batch_jobs.py").run()
    assert not any(b.label in ("Run batch job", "Start the cadence") for b in at.button)
    at.switch_page("pages/6_talk_track.py").run()
    assert not any(b.key and b.key.startswith("talk.") for b in at.button)
    unlock = next(t for t in at.text_input if t.label == "Presenter key")
    unlock.input("wrong-key-0000")
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert "That is not the presenter key." in banners(at)
    next(t for t in at.text_input if t.label == "Presenter key").input(" K7DP-X3MR-9WFA ")
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert any(b.key == "talk.1" for b in at.button)
    at.switch_page("streamlit_app.py").run()
    assert any(b.label == "Reset demo" for b in at.button)


def test_reset_asks_first(app):
    at = app("streamlit_app.py")
    button(at, "Reset demo").click().run()
    assert not at.exception
    assert any(b.label == "Yes, reset" for b in at.button)  # the dialog, nothing started yet
    assert studio.services().runner.state is None or studio.services().runner.state.name != studio.RESET_JOB


def test_join_page_signs_up_an_invented_identity_into_the_presenters_feed(app):
    at = app("pages/9_join.py")
    button(at, "Make me a fake identity").click().run()
    ssn = at.text_input(key="join.form.ssn").value
    assert ssn and at.text_input(key="join.form.state").value
    button(at, "Decide").click().run()
    assert not at.exception, at.exception
    assert "## Approved · score 0.15" in banners(at)
    feed = audience.feed(Ledger(studio.services().store.paths.ledger_db))
    assert feed.iloc[0]["decision"] == "Approved" and ssn[-4:] not in feed.to_string()
    at.switch_page("pages/6_talk_track.py").run()
    assert not at.exception
    assert int({m.label: m.value for m in at.metric}["Joined"]) >= 1


def test_join_page_lists_every_problem_in_words_and_registers_nobody(app):
    at = app("pages/9_join.py")
    drivers = len(studio.services().store.roster())
    fill(at, "join.form", dob="2031-01-01", ssn="12", licence="L1", state="CA")
    button(at, "Decide").click().run()
    assert not at.exception, at.exception
    problems = [e.value for e in at.error]
    assert len(problems) == 2, problems  # the date of birth and the SSN, each in words
    assert not any("date_of_birth" in p or "_" in p.split()[0] for p in problems), problems
    assert len(studio.services().store.roster()) == drivers
    assert at.text_input(key="join.form.ssn").value == "12"  # what was typed stays, to be corrected


def test_a_join_during_a_reset_asks_to_try_again_without_a_path_or_a_command(own_app):
    at = own_app("pages/9_join.py")
    button(at, "Make me a fake identity").click().run()
    studio.services().store.paths.ready_marker.unlink()  # what a reset does first
    button(at, "Decide").click().run()  # the page then waits for the world to be built again
    assert not at.exception, at.exception
    problems = " ".join(e.value for e in at.error)
    assert "try again in a moment" in problems
    assert "/" not in problems and "riskcore" not in problems, problems


def test_pii_key_can_come_from_streamlit_secrets(app, monkeypatch):
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
        assert "PII key in force" in banners(at)  # not the key this world was made with: refused
    finally:
        os.environ.pop(settings.PII_KEY_ENV, None)


def test_online_vs_offline_comparison(app):
    at = app("pages/3_online_features.py")
    at.toggle(key="online.compare").set_value(True).run()
    assert not at.exception
    compare = at.table[-1].value
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
    assert not labels & {"Build the training set", "Train and register", "Promote to champion",
                         "Roll back the champion"}  # building occupies the one job runner too
