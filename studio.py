"""Streamlit glue shared by the pages: the shared services, navigation, first-run bootstrap,
job progress and the decision display. Layout only; every number comes from ``riskcore``."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from riskcore import settings
from riskcore.data import jobs, world
from riskcore.data.errors import PiiKeyMismatch, StoreNotReady, StoreNotWritable
from riskcore.data.jobs import JOBS
from riskcore.data.ledger import LedgerOutdated
from riskcore.data.runner import TICK_JOB, JobRunner
from riskcore.data.store import RiskStore
from riskcore.insight import charts
from riskcore.serving.decisions import Decision, Decisions, UnknownDriver
from riskcore.settings import PiiKeyMissing
from riskcore.stage import presenter, scenarios
from riskcore.stage.scenarios import ScenarioUnavailable
from riskcore.stage.talk import TEACHING_POINTS
from riskcore.validation import InvalidInput

# (script, label, icon): the one list of pages, in menu order.
PAGES = (
    ("streamlit_app.py", "Home", ":material/home:"),
    ("pages/1_onboarding.py", "Onboard a driver", ":material/person_add:"),
    ("pages/2_driver_home.py", "Driver home", ":material/directions_car:"),
    ("pages/3_online_features.py", "Online features", ":material/database:"),
    ("pages/4_batch_jobs.py", "Batch jobs", ":material/schedule:"),
    ("pages/8_monitoring.py", "Monitoring", ":material/monitoring:"),
    ("pages/5_model.py", "Model", ":material/functions:"),
    ("pages/7_training.py", "Train a model", ":material/model_training:"),
    ("pages/6_talk_track.py", "Talk track", ":material/campaign:"),
    ("pages/9_join.py", "Join (audience)", ":material/smartphone:"),
)
CADENCE_SECONDS = 20
# A talk point waits this long for a job still running before starting its own.
POINT_JOB_WAIT_S = 60
RESET_JOB = "reset demo"
BAD_DAY_JOB = "bad day"
TRAIN_JOB = "train"
ONBOARD_FORM = "onboard.form"
# Narrower than Streamlit's default, so a projector's 1280 or 1024 pixels go to the content.
SIDEBAR_PIXELS = 232
ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Services:
    store: RiskStore
    decisions: Decisions
    runner: JobRunner
    # None: every session is the presenter (the dashboard is loopback-only and no key is set).
    presenter_key: str | None


@st.cache_resource(show_spinner=False)
def services() -> Services:
    """One store, decision service and job runner per server process (all thread-safe)."""
    use_secret(settings.PII_KEY_ENV)
    use_secret(presenter.PRESENTER_KEY_ENV)
    store = RiskStore()
    key = os.environ.get(presenter.PRESENTER_KEY_ENV) or None
    # The room can reach it when it binds beyond loopback, or through a tunnel or proxy
    # (RISK_PUBLIC_URL): either way, the presenter's controls need the key.
    reachable = (not presenter.is_loopback(str(st.get_option("server.address") or "0.0.0.0"))
                 or bool(os.environ.get(presenter.PUBLIC_URL_ENV)))
    if key is None and reachable:
        key = presenter.generate_key()
        print(f"Presenter key: {key}  (enter it in the sidebar to unlock the presenter's controls)", flush=True)
    return Services(store, Decisions(store), JobRunner(), key)


@st.cache_resource(show_spinner=False)
def replay_interrupted_signups() -> None:
    """Once per server: warm Feast up and copy signups a killed process committed but did not
    copy to the feature store."""
    svc = services()
    try:
        svc.store.warm()
        svc.decisions.served.current()  # load the champion once, not under the first decision
        svc.decisions.signups.replay()
    except Exception:  # noqa: BLE001 - status names what is left; repair fixes it
        return
    # Feast, pandas and the registry live as long as the server: keep them out of every
    # collection (a full one took ~100 ms with them in).
    gc.freeze()


def use_secret(name: str) -> None:
    """A setting (``RISK_PII_KEY``, ``RISK_PRESENTER_KEY``) from Streamlit secrets when the
    environment does not set it."""
    try:
        value = st.secrets.get(name)
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return
    if value:
        os.environ.setdefault(name, str(value))


def presenter_controls() -> bool:
    """Whether this session may use the presenter's controls (reset, jobs, cadence, launching
    states, bug injection, training and promoting models). Every such control is drawn only when
    this is true; the audience sees the same page read-only."""
    return services().presenter_key is None or bool(st.session_state.get("presenter.unlocked"))


def presenter_sidebar(svc: Services) -> None:
    """Unlock (or lock) the presenter's controls with the key, when the room can connect."""
    if svc.presenter_key is None:
        return
    if st.session_state.get("presenter.unlocked"):
        left, right = st.columns([3, 2])
        left.caption(":material/key: Presenter")
        if right.button("Lock", key="presenter.lock", width="stretch"):
            st.session_state["presenter.unlocked"] = False
            st.rerun()
        return
    with st.expander("Presenter", icon=":material/key:"):
        with st.form("presenter.unlock", border=False):
            candidate = st.text_input("Presenter key", type="password", max_chars=40,
                                      help="Printed in the terminal that started the dashboard")
            if st.form_submit_button("Unlock"):
                if presenter.matches(candidate, svc.presenter_key):
                    st.session_state["presenter.unlocked"] = True
                    st.rerun()
                st.error("That is not the presenter key.")


def page(script: str, title: str, intro: str | None = None, light: bool = False) -> Services:
    """Every page starts here: config, sidebar, first-run bootstrap; in talk mode, the point
    being made instead of the page's introduction (``script`` is the page's ``__file__``).
    ``light``: a phone-first page (the audience's): centred, no sidebar, no live job badge, so
    a room of phones costs the server little."""
    st.set_page_config(page_title=f"{title} · Driver Risk Studio", page_icon=":material/shield:",
                       layout="centered" if light else "wide",
                       initial_sidebar_state=SIDEBAR_PIXELS)
    svc = services()
    if not light:  # a phone's page stays light: no menu, no live job badge
        with st.sidebar:
            st.markdown("### Driver Risk Studio")
            for path, label, icon in PAGES:
                st.page_link(path, label=label, icon=icon)
            st.divider()
            presenter_sidebar(svc)
            job_badge(svc.runner)
    ensure_ready(svc)
    st.title(title)
    if not talk_bar(svc, Path(script).resolve().relative_to(ROOT).as_posix()) and intro:
        st.markdown(intro)
    return svc


# --- Talk mode: the talk track's points, each run and landed on its page ----------------------

def run_point(svc: Services, number: int, follow_up: bool = False) -> None:
    """Set up and run point ``number``'s scenario (or its follow-up), then open its page with
    the result on it."""
    point = TEACHING_POINTS[number - 1]
    scenario, landing = (point.then.scenario, point.then.page) if follow_up and point.then else (point.scenario, point.page)
    state = st.session_state
    for stale in ("onboard.expect", "onboard.problems", "driver_home.before"):
        state.pop(stale, None)
    if scenario == "happy_path":
        chosen, result = scenarios.happy_path(svc.decisions)
        remember_applicant(applicant_values(chosen), fill_form=True)
        state["onboard.result"], state["onboard.versions"] = [result], ([result.model.version], False)
    elif scenario == "original_vs_served":
        chosen, results = scenarios.original_vs_served(svc.decisions)
        remember_applicant(applicant_values(chosen), fill_form=True)
        state["onboard.result"], state["onboard.versions"] = results, ([r.model.version for r in results], True)
    elif scenario == "bad_day":
        driver, before = scenarios.bad_day_driver(svc.decisions)
        state["driver_home.driver"], state["driver_home.before"] = driver, before
        point_job(svc, BAD_DAY_JOB, lambda progress: jobs.cadence_tick(svc.store, progress=progress,
                                                                        risky_ids=[driver]))
    elif scenario == "bug_caught":
        jobs.inject_bug(svc.store, scenarios.STAGE_BUG)
        point_job(svc, TICK_JOB, lambda progress: jobs.cadence_tick(svc.store, progress=progress))
    elif scenario == "feature_tests":
        point_job(svc, JOBS["feature_tests"][0], lambda progress: jobs.run_feature_tests(svc.store))
    elif scenario == "leak" and not svc.store.paths.mlflow_db.exists():
        from riskcore.learning import job as learning  # scikit-learn: imported when first needed

        point_job(svc, TRAIN_JOB, lambda progress: learning.train(svc.store, progress=progress))
    elif scenario == "launch_state":
        chosen, result = scenarios.decline_for_unlaunched_state(svc.decisions)
        remember_applicant(applicant_values(chosen), fill_form=True)
        state["onboard.result"], state["onboard.versions"] = [result], ([result.model.version], False)
        state["model.state"] = chosen.state
    state["talk.point"] = number
    state["talk.landing"] = True
    st.switch_page(landing)


def point_job(svc: Services, name: str, work) -> None:  # type: ignore[no-untyped-def]
    """Start a point's job. One still running (a tick, the feature tests: seconds) is waited for
    rather than dropping this one unseen as the page switches; if it outlasts the wait, the
    landing says so."""
    if svc.runner.busy:
        with st.spinner(f"Waiting for {svc.runner.state.name} to finish …"):
            svc.runner.wait(POINT_JOB_WAIT_S)
    if not svc.runner.start(name, work):
        st.session_state["talk.notice"] = (f"{svc.runner.state.name} is still running, so {name} did not start: "
                                           "run this point again when it finishes.")


def talk_bar(svc: Services, script: str) -> bool:
    """In talk mode, on the current point's page (or its follow-up's): the point, its second
    step, and the way to the next one."""
    number = st.session_state.get("talk.point")
    if not number:
        return False
    point = TEACHING_POINTS[number - 1]
    if script not in (point.page, point.then.page if point.then else None):
        return False
    # Drawn on every run, whatever it holds: an element only the landing draws would shift the
    # page below it, and the rerun that follows (a job ending) would show it twice meanwhile.
    top = st.empty()
    landing, notice = st.session_state.pop("talk.landing", False), st.session_state.pop("talk.notice", None)
    if landing or notice:
        with top.container():
            if landing:
                scroll_to_top()
            if notice:
                st.warning(notice)
    with st.container(border=True):
        text, steps, leave = st.columns([6, 3, 1], vertical_alignment="center")
        text.markdown(f"**{number}/{len(TEACHING_POINTS)} · {point.title}**")
        text.caption(point.say)
        if presenter_controls():
            try:
                if point.then and script == point.page and steps.button(
                        point.then.action, icon=":material/subdirectory_arrow_right:", width="stretch",
                        key="talk.then"):
                    run_point(svc, number, follow_up=True)
                if number < len(TEACHING_POINTS):
                    following = TEACHING_POINTS[number]
                    if steps.button("Next point", icon=":material/arrow_forward:", type="primary", width="stretch",
                                    key="talk.next", help=following.action):
                        run_point(svc, number + 1)
            except ScenarioUnavailable as exc:
                st.error(str(exc))
        if leave.button("", icon=":material/close:", key="talk.end", help="Leave talk mode"):
            st.session_state.pop("talk.point")
            st.rerun()
    return True


def scroll_to_top() -> None:
    """Streamlit keeps the page's scroll position when it switches pages: a talk-track point
    clicked near the bottom of the list would land scrolled past its result. Streamlit has no
    scroll command, so a one-pixel same-origin frame (our own script, no user input) scrolls its
    parent's main area."""
    st.iframe("<script>window.parent.document.querySelector('[data-testid=\"stMain\"]')"
              "?.scrollTo(0, 0)</script>", height=1)


def remember_applicant(values: dict[str, str], fill_form: bool) -> None:
    """The onboarding form's values (dob, ssn, licence, state), kept across pages: Streamlit
    forgets widgets it did not draw. ``fill_form`` also puts them in the form's widgets, which
    is only allowed before the form is drawn in a run."""
    st.session_state["onboard.applicant"] = dict(values)
    if fill_form:
        st.session_state.update({f"{ONBOARD_FORM}.{field}": value for field, value in values.items()})


def applicant_values(chosen: scenarios.Preset) -> dict[str, str]:
    return {"dob": chosen.date_of_birth.isoformat(), "ssn": chosen.ssn, "licence": chosen.licence,
            "state": chosen.state}


def ensure_ready(svc: Services) -> None:
    """Bootstrap the demo store on first start, with visible progress. The bootstrap runs in
    the shared job runner, so sessions arriving meanwhile (or during a reset) wait for the same
    run instead of starting another."""
    if svc.store.paths.ready_marker.exists():
        try:
            svc.store.require_ready()
        except (StoreNotReady, PiiKeyMissing, LedgerOutdated) as exc:
            st.error(friendly(exc))
            fixable = not isinstance(exc, (PiiKeyMismatch, PiiKeyMissing))  # a key is not repaired
            if fixable and presenter_controls() and st.button("Repair", icon=":material/build:", type="primary"):
                start_job(svc, "repair", lambda progress: world.repair(svc.store, progress))
            st.stop()
        replay_interrupted_signups()
        return
    running = svc.runner.state
    resetting = running is not None and running.running and running.name == RESET_JOB
    label = ("The presenter is resetting the demo: this page comes back by itself…" if resetting
             else "Building the demo feature store…")
    with st.status(label, expanded=True) as status:
        svc.runner.start("bootstrap", lambda progress: world.bootstrap(svc.store, progress=progress))
        bar = st.progress(0.0)
        while svc.runner.busy:
            state = svc.runner.state
            if state is not None:
                bar.progress(state.fraction, text=f"{state.name}: {state.message}")
            time.sleep(0.25)
        if not svc.store.paths.ready_marker.exists():
            status.update(label="The demo store is not ready", state="error")
            state = svc.runner.state
            why = f" ({state.name} failed: {state.error})" if state and state.error else ""
            st.error(f"The feature store could not be set up{why}. Reload the page to try again.")
            st.stop()
        status.update(label="Demo store ready", state="complete", expanded=False)


def job_badge(runner: JobRunner) -> None:
    """The running (or last) background job: refreshed every second while work is going on,
    every few seconds otherwise (a job another session starts shows up soon; every rerun of a
    fragment costs a round trip)."""
    every = 1.0 if runner.busy or runner.cadence_running else 3.0
    st.fragment(run_every=every)(_job_badge)(runner)


def _job_badge(runner: JobRunner) -> None:
    state = runner.state
    if runner.cadence_running:
        st.caption(f":material/autorenew: cadence on · tick {runner.cadence_ticks}")
    if state is None:
        st.caption("No job has run in this server yet.")
    elif state.running:
        st.progress(state.fraction, text=f"{state.name}: {state.message}")
    elif state.error:
        st.caption(f":red[{state.name} failed: {state.error}]")
    else:
        st.caption(f"Last job: {state.name}, done in {state.seconds:.1f} s")


def start_job(svc: Services, name: str, work) -> None:  # type: ignore[no-untyped-def]
    """Start a background job, or say why not (never two at once)."""
    if svc.runner.start(name, work):
        st.toast(f"Started {name}", icon=":material/play_arrow:")
    else:
        st.warning(f"{svc.runner.state.name} is still running; try again when it finishes.")


def friendly(exc: Exception) -> str:
    """A sentence for a predictable failure."""
    if isinstance(exc, (InvalidInput, UnknownDriver, ScenarioUnavailable)):
        return str(exc)
    if isinstance(exc, StoreNotReady):
        return f"The feature store is not ready: {exc}. Use **Repair** or **Reset demo** on the Home page."
    if isinstance(exc, (StoreNotWritable, PiiKeyMissing, LedgerOutdated)):
        return str(exc)[0].upper() + str(exc)[1:] + "."
    return f"Something went wrong ({type(exc).__name__}). The demo data is intact; try again or reset the demo."


BANNER = {"Approved": st.success, "Declined": st.error, "Review": st.warning}


def headline(result: Decision) -> str:
    """The banner's text: "Declined · score 0.55 — under 18"."""
    score = "no score" if result.score is None else f"score {result.score:.2f}"
    reason = f" — {result.top_reason}" if result.decision != "Approved" and result.top_reason else ""
    return f"{'What-if · ' if result.what_if else ''}{result.decision} · {score}{reason}"


def banner(result: Decision, size: str = "###") -> None:
    BANNER[result.decision](f"{size} {headline(result)}")


def timings_line(result: Decision) -> None:
    """Model and the three timed stages on one line that wraps instead of truncating."""
    t = result.timings
    st.markdown(f"**{result.model.label}** · retrieval **{t.retrieval_ms:.2f} ms** · "
                f"featurization **{t.featurization_ms:.2f} ms** · inference **{t.inference_ms:.2f} ms**",
                help="retrieval: Feast online read incl. on-demand features · featurization: response → numpy "
                     "vector and the missing/stale policy · inference: score, decision, reasons")


def served_caption(result: Decision) -> None:
    """Which registered model served (or why the hand-set one did), and the challenger's score."""
    if result.model.registry or result.fallback:
        shadow = (f" · challenger {result.shadow.model} {result.shadow.version} in shadow: "
                  f"{result.shadow.score:.2f}, {result.shadow.decision}" if result.shadow else "")
        st.caption(f"Served by {result.model.label}{shadow}" + (f" · {result.fallback}" if result.fallback else ""))


def reasons_list(result: Decision) -> None:
    if result.review:
        st.markdown("\n".join(f"- {r}" for r in result.review))
    elif result.reasons:
        st.markdown("\n".join(f"- {r.text} (+{r.contribution:.2f})" for r in result.reasons))
    else:
        st.markdown("- none: nothing raised the score")


def show_decision(result: Decision) -> None:
    """Decision banner, stage timings, gauge, reasons, the feature vector and contributions:
    the banner and timings first, so they land above the fold on a projector."""
    banner(result)
    if result.what_if:
        st.caption(f"Scored with {result.model.name} {result.model.version}, not the served model: "
                   "logged as a what-if, nobody was registered.")
    if result.replayed:
        st.caption("This application was decided before: this is its original decision.")
    if result.log_problem:
        st.warning(f"Decided, but not logged: {result.log_problem}")
    served_caption(result)
    timings_line(result)
    st.altair_chart(charts.gauge(result.score, result.model.threshold), width="stretch")
    vector_code(result)
    left, right = st.columns([2, 3], gap="medium")
    with left:
        st.markdown("**Principal reasons**")
        reasons_list(result)
    with right:
        st.markdown(f"**Contributions** (weight × value, in {result.model.units})")
        st.altair_chart(charts.waterfall(result.model, result.vector), width="stretch")


def vector_code(result: Decision) -> None:
    """What the model sees: one numpy array, its features named in order below it."""
    st.code(f"x = np.array({result.vector.tolist()})", language="python", wrap_lines=True)
    st.caption("in order: " + ", ".join(result.model.features))


def show_comparison(results: list[Decision]) -> None:
    """The same applicant under several models, side by side: banner, model in full, reasons."""
    for column, result in zip(st.columns(len(results)), results):
        with column:
            st.markdown(f"**{result.model.name} {result.model.version}** — {result.model.description}")
            banner(result)
            reasons_list(result)
            st.caption(f"vector {result.vector.tolist()} · threshold {result.model.threshold:g}")


def table(frame: pd.DataFrame, static: bool = False, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """An interactive table, or (``static``) a plain one that wraps long text instead of cutting
    it: better for a projector when the table is small."""
    if static:
        st.table(frame, hide_index=True)
    else:
        st.dataframe(frame, hide_index=True, width="stretch", **kwargs)
