"""Batch jobs & materialization: run each step, or the cadence, and see the job history."""

import streamlit as st

import studio
from riskcore.data import jobs
from riskcore.data.jobs import JOBS
from riskcore.data.ledger import Ledger

svc = studio.page(
    __file__, "Batch jobs & materialization",
    "Batch pipelines carry business logic (and bugs): the daily job turns hourly activity into "
    "yesterday's averages and red flags, checked before they may be served (see **Monitoring**). "
    "Materialization copies the latest values into the online store; batch scoring re-scores every "
    "driver. Jobs run in the background, one at a time.",
)

TICK = "One cadence tick"
if studio.presenter_controls():
    cols = st.columns(4)
    label = JOBS["batch_job"][0]
    if cols[0].button(label, icon=":material/play_arrow:", width="stretch"):
        studio.start_job(svc, label, lambda progress: jobs.run_and_monitor(svc.store, lambda: jobs.batch_job(svc.store)))
    label = JOBS["materialize"][0]
    if cols[1].button(label, icon=":material/sync:", width="stretch", help="incremental: what is new since the last run"):
        studio.start_job(svc, label, lambda progress: jobs.run_and_monitor(
            svc.store, lambda: jobs.materialize(svc.store, progress)))
    label = JOBS["score_all"][0]
    if cols[2].button(label, icon=":material/calculate:", width="stretch"):
        studio.start_job(svc, label, lambda progress: jobs.score_all(svc.store))
    if cols[3].button(TICK, icon=":material/autorenew:", width="stretch"):
        studio.start_job(svc, TICK, lambda progress: jobs.cadence_tick(svc.store, progress=progress))

st.subheader("Cadence")
st.markdown(f"Every {studio.CADENCE_SECONDS} s: simulate a day → batch job → materialize → score "
            "every driver. Driver home pages pick it up while they refresh.")
if studio.presenter_controls():
    if svc.runner.cadence_running:
        if st.button("Stop the cadence", icon=":material/stop:", type="primary"):
            svc.runner.stop_cadence()
            st.rerun()
    elif st.button("Start the cadence", icon=":material/play_circle:", type="primary"):
        svc.runner.start_cadence(lambda _, progress: jobs.cadence_tick(svc.store, progress=progress),
                                 studio.CADENCE_SECONDS)
        st.rerun()


def progress_and_history() -> None:
    state = svc.runner.state
    if state is not None and state.running:
        st.progress(state.fraction, text=f"{state.name}: {state.message}")
    elif state is not None and state.error:
        st.error(f"{state.name} failed: {state.error}. The previous data is intact; run it again.")
    elif state is not None:
        st.success(f"{state.name} finished in {state.seconds:.1f} s")
    st.subheader("Job history")
    studio.table(jobs.history(Ledger(svc.store.paths.ledger_db), 30),
                 column_config={"seconds": st.column_config.NumberColumn(format="%.2f")})


# Refresh every second while work runs; otherwise every few seconds (another session may start one).
st.fragment(run_every=1.0 if svc.runner.busy or svc.runner.cadence_running else 5.0)(progress_and_history)()
