"""Driver home: the driver's current daily decision, refreshing itself, and score history."""

import streamlit as st

import studio
from riskcore.data import jobs
from riskcore.data.ledger import Ledger
from riskcore.data.runner import TICK_JOB
from riskcore.insight import charts

svc = studio.page(
    __file__, "Driver home",
    "What the driver's app would show: today's decision from the daily model, recomputed from "
    "the online store every few seconds, so batch jobs and materialization show up by themselves.",
)

roster = svc.store.roster()["driver_id"].tolist()
if not roster:
    st.warning("No drivers yet: reset the demo on the Home page.")
    st.stop()
default = st.session_state.get("driver_home.driver", roster[0])
driver = st.selectbox("Driver", roster, index=roster.index(default) if default in roster else 0,
                      key="driver_home.select")
st.session_state["driver_home.driver"] = driver
before = st.session_state.get("driver_home.before")


@st.fragment(run_every=1.0 if svc.runner.busy else 5.0)
def live_decision(driver_id: int) -> None:
    state = svc.runner.state
    if state is not None and state.running:
        st.progress(state.fraction, text=f"{state.name}: {state.message}")
    try:
        result = svc.decisions.daily(driver_id, record=False)
    except Exception as exc:  # noqa: BLE001 - shown as prose
        st.error(studio.friendly(exc))
        return
    if before is not None and before.driver_id == driver_id:
        st.caption(f"Before the bad day: **{studio.headline(before)}**")
    studio.banner(result)
    st.caption(f"Driver {driver_id} · refreshed every few seconds from the online store")
    studio.served_caption(result)
    studio.timings_line(result)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.altair_chart(charts.gauge(result.score, result.model.threshold), width="stretch")
    with right:
        st.markdown("**Principal reasons**")
        studio.reasons_list(result)
    history = Ledger(svc.store.paths.ledger_db).score_history(driver_id)
    if history.empty:
        st.caption("Not scored by a batch run yet.")
    else:
        st.markdown("**Score history** (batch scoring runs)")
        st.altair_chart(charts.score_history(history, result.model.threshold), width="stretch")


live_decision(driver)

if studio.presenter_controls():
    st.subheader("Change this driver's world")
    left, right = st.columns(2)
    if left.button("Give this driver a bad day", icon=":material/warning:", width="stretch",
                   help="A new day for everyone, the original demo's bad day for this driver; then "
                        "the batch job, materialization and scoring"):
        st.session_state["driver_home.before"] = svc.decisions.daily(driver, record=False)
        studio.start_job(svc, studio.BAD_DAY_JOB, lambda progress: jobs.cadence_tick(
            svc.store, progress=progress, risky_ids=[driver]))
        st.rerun()
    if right.button("Run a cadence tick (everyone gets a new day)", icon=":material/autorenew:", width="stretch"):
        studio.start_job(svc, TICK_JOB, lambda progress: jobs.cadence_tick(svc.store, progress=progress))
        st.rerun()
