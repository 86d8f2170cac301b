"""Driver home: the driver's current daily decision, refreshing itself, and score history."""

import streamlit as st

import studio
from riskcore.data import jobs
from riskcore.data.ledger import Ledger
from riskcore.insight import charts

svc = studio.page(
    "Driver home",
    "What the driver's app would show: today's decision from the daily model, recomputed from "
    "the online store every 5 seconds, so batch jobs and materialization show up by themselves.",
)

roster = svc.store.roster()["driver_id"].tolist()
if not roster:
    st.warning("No drivers yet: reset the demo on the Home page.")
    st.stop()
default = st.session_state.get("driver_home.driver", roster[0])
driver = st.selectbox("Driver", roster, index=roster.index(default) if default in roster else 0,
                      key="driver_home.select")
st.session_state["driver_home.driver"] = driver


@st.fragment(run_every=5.0)
def live_decision(driver_id: int) -> None:
    try:
        result = svc.decisions.daily(driver_id, record=False)
    except Exception as exc:  # noqa: BLE001 - shown as prose
        st.error(studio.friendly(exc))
        return
    st.caption(f"Driver {driver_id} · daily model {result.model.label} · refreshed every 5 s")
    if result.review:
        st.info("No usable activity yet for this driver: run a cadence tick or the batch job "
                "and materialize (below or on the Batch jobs page).")
    studio.show_decision(result)
    st.subheader("Score history (batch scoring runs)")
    history = Ledger(svc.store.paths.ledger_db).score_history(driver_id)
    if history.empty:
        st.caption("Not scored by a batch run yet.")
    else:
        st.altair_chart(charts.score_history(history, result.model.threshold), width="stretch")


live_decision(driver)

st.subheader("Change this driver's world")
left, right = st.columns(2)
if left.button("Give this driver a bad day, then batch job + materialize", icon=":material/warning:"):
    studio.start_job(svc, "bad day", lambda progress: jobs.cadence_tick(
        svc.store, progress=progress, risky_ids=[driver]))
if right.button("Run a cadence tick (everyone gets a new day)", icon=":material/autorenew:"):
    studio.start_job(svc, "cadence tick", lambda progress: jobs.cadence_tick(svc.store, progress=progress))
