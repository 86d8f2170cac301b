"""Streamlit glue shared by the pages: the shared services, navigation, first-run bootstrap,
job progress and the decision display. Layout only; every number comes from ``riskcore``."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from riskcore import settings
from riskcore.data import world
from riskcore.data.errors import StoreNotReady, StoreNotWritable
from riskcore.data.ledger import LedgerOutdated
from riskcore.data.runner import JobRunner
from riskcore.data.store import RiskStore
from riskcore.insight import charts
from riskcore.serving.decisions import Decision, Decisions, UnknownDriver
from riskcore.settings import PiiKeyMissing
from riskcore.stage.scenarios import ScenarioUnavailable
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
    ("pages/6_talk_track.py", "Talk track", ":material/campaign:"),
)
CADENCE_SECONDS = 20


@dataclass(frozen=True)
class Services:
    store: RiskStore
    decisions: Decisions
    runner: JobRunner


@st.cache_resource(show_spinner=False)
def services() -> Services:
    """One store, decision service and job runner per server process (all thread-safe)."""
    use_secret_pii_key()
    store = RiskStore()
    return Services(store, Decisions(store), JobRunner())


@st.cache_resource(show_spinner=False)
def replay_interrupted_signups() -> None:
    """Once per server: warm Feast up and copy signups a killed process committed but did not
    copy to the feature store."""
    svc = services()
    try:
        svc.store.warm()
        svc.decisions.signups.replay()
    except Exception:  # noqa: BLE001 - status names what is left; repair fixes it
        return


def use_secret_pii_key() -> None:
    """``RISK_PII_KEY`` from Streamlit secrets when the environment does not set it."""
    try:
        key = st.secrets.get(settings.PII_KEY_ENV)
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return
    if key:
        os.environ.setdefault(settings.PII_KEY_ENV, str(key))


def presenter_controls() -> bool:
    """Whether this session may use the presenter's controls (reset, jobs, cadence, launching
    states, bug injection, training and promoting models). Every such control is drawn only when
    this is true; the audience sees the same page read-only."""
    return True


def page(title: str, intro: str | None = None) -> Services:
    """Every page starts here: config, sidebar, first-run bootstrap."""
    st.set_page_config(page_title=f"{title} · Driver Risk Studio", page_icon=":material/shield:",
                       layout="wide")
    svc = services()
    with st.sidebar:
        st.markdown("### Driver Risk Studio")
        for script, label, icon in PAGES:
            st.page_link(script, label=label, icon=icon)
        st.divider()
        job_badge(svc.runner)
    ensure_ready(svc)
    st.title(title)
    if intro:
        st.markdown(intro)
    return svc


def ensure_ready(svc: Services) -> None:
    """Bootstrap the demo store on first start, with visible progress. The bootstrap runs in
    the shared job runner, so sessions arriving meanwhile (or during a reset) wait for the same
    run instead of starting another."""
    if svc.store.paths.ready_marker.exists():
        replay_interrupted_signups()
        return
    with st.status("Building the demo feature store…", expanded=True) as status:
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
    rarely otherwise (every rerun of a fragment costs a round trip)."""
    every = 1.0 if runner.busy or runner.cadence_running else 15.0
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


def show_decision(result: Decision) -> None:
    """Decision banner, stage timings, gauge, contributions, reasons and the feature vector."""
    score = "no score" if result.score is None else f"score {result.score:.2f}"
    reason = f" — {result.top_reason}" if result.decision != "Approved" and result.top_reason else ""
    prefix = "What-if · " if result.what_if else ""
    BANNER[result.decision](f"## {prefix}{result.decision} · {score}{reason}")
    if result.what_if:
        st.caption(f"Scored with {result.model.name} {result.model.version}, not the served model: "
                   "logged as a what-if, nobody was registered.")
    if result.replayed:
        st.caption("This application was decided before: this is its original decision.")
    if result.log_problem:
        st.warning(f"Decided, but not logged: {result.log_problem}")
    t = result.timings
    cols = st.columns(4)
    cols[0].metric("retrieval", f"{t.retrieval_ms:.2f} ms", help="Feast online read, incl. on-demand features")
    cols[1].metric("featurization", f"{t.featurization_ms:.2f} ms", help="response → numpy vector, missing/stale policy")
    cols[2].metric("inference", f"{t.inference_ms:.2f} ms", help="score, decision, reasons")
    cols[3].metric("model", f"{result.model.name} {result.model.version}", help=f"threshold {result.model.threshold}")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.altair_chart(charts.gauge(result.score, result.model.threshold), width="stretch")
        st.markdown("**Contributions** (weight × value, from the intercept)")
        st.altair_chart(charts.waterfall(result.model, result.vector), width="stretch")
    with right:
        st.markdown("**Principal reasons**")
        if result.review:
            st.markdown("\n".join(f"- {r}" for r in result.review))
        elif result.reasons:
            st.markdown("\n".join(f"- {r.text} (+{r.contribution:.2f})" for r in result.reasons))
        else:
            st.markdown("- none: nothing raised the score")
        st.markdown("**Feature vector** (what the model sees: a numpy array)")
        st.code("np.array([\n" + "".join(f"    {v:g},  # {f}\n" for f, v in zip(result.model.features, result.vector))
                + "])", language="python")


def table(frame: pd.DataFrame, **kwargs) -> None:  # type: ignore[no-untyped-def]
    st.dataframe(frame, hide_index=True, width="stretch", **kwargs)
