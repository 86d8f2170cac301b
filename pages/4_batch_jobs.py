"""Batch jobs & materialization: run each step, or the cadence, and see the job history."""

import streamlit as st

import studio
from riskcore.data import jobs
from riskcore.data.ledger import Ledger

svc = studio.page(
    "Batch jobs & materialization",
    "Batch pipelines carry business logic (and bugs): the daily job turns hourly activity into "
    "yesterday's averages and red flags, checked before they may be served (see **Monitoring**). "
    "Materialization copies the latest values into the online store; batch scoring re-scores every "
    "driver. Jobs run in the background, one at a time.",
)

cols = st.columns(4)
if cols[0].button("Run batch job", icon=":material/play_arrow:", width="stretch"):
    studio.start_job(svc, "batch job", lambda progress: jobs.run_and_monitor(
        svc.store, lambda: jobs.batch_job(svc.store)))
if cols[1].button("Materialize (incremental)", icon=":material/sync:", width="stretch"):
    studio.start_job(svc, "materialize", lambda progress: jobs.run_and_monitor(
        svc.store, lambda: jobs.materialize(svc.store, progress)))
if cols[2].button("Batch-score all drivers", icon=":material/calculate:", width="stretch"):
    studio.start_job(svc, "batch score", lambda progress: jobs.score_all(svc.store))
if cols[3].button("One cadence tick", icon=":material/autorenew:", width="stretch"):
    studio.start_job(svc, "cadence tick", lambda progress: jobs.cadence_tick(svc.store, progress=progress))

st.subheader("Cadence")
st.markdown(f"Every {studio.CADENCE_SECONDS} s: simulate a day → batch job → materialize → score "
            "every driver. Driver home pages pick it up while they refresh.")
left, right = st.columns(2)
if svc.runner.cadence_running:
    if left.button("Stop the cadence", icon=":material/stop:", type="primary"):
        svc.runner.stop_cadence()
        st.rerun()
elif left.button("Start the cadence", icon=":material/play_circle:", type="primary"):
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
    studio.table(Ledger(svc.store.paths.ledger_db).jobs(30))


# Refresh every second while work runs; otherwise only now and then.
st.fragment(run_every=1.0 if svc.runner.busy or svc.runner.cadence_running else 15.0)(progress_and_history)()
