"""Monitoring: checks per batch run, drift against the baseline, distributions over time, skew
and the feature tests; the presenter can break the batch job and watch the checks catch it."""

import streamlit as st

import studio
from riskcore.data import jobs
from riskcore.data.ledger import Ledger
from riskcore.data.runner import TICK_JOB
from riskcore.quality import bugs, charts, checks, drift, monitoring, skew, status
from riskcore.serving import features as F

svc = studio.page(
    __file__, "Monitoring",
    "Batch pipelines carry business logic, and bugs. Every batch job's output is **checked before it "
    "may reach the online store**; Feast's monitoring profiles every output against the bootstrap's "
    "baseline; skew compares what is served with what a training set would read.",
)
paths = svc.store.paths


def controls() -> None:
    with st.container(border=True):
        st.markdown("**Break the batch job, live**: inject a bug, run a tick, watch the checks catch it.")
        armed = bugs.armed(paths)
        names = list(bugs.BUGS)
        choice = st.selectbox("Bug", names, index=names.index(armed.name) if armed else 0,
                              format_func=lambda name: bugs.BUGS[name].title, key="monitoring.bug")
        st.caption(bugs.BUGS[choice].story)
        cols = st.columns(2)
        inject = cols[0].button("Inject this bug", icon=":material/bug_report:", type="primary", width="stretch")
        turn_off = cols[1].button("Turn the bug off", icon=":material/healing:", disabled=armed is None,
                                  width="stretch")
        if inject or turn_off:
            try:
                jobs.inject_bug(svc.store, choice if inject else None)
            except Exception as exc:  # noqa: BLE001 - shown as prose
                st.error(studio.friendly(exc))
            else:
                st.rerun()
        cols = st.columns(3)
        if cols[0].button("Run a cadence tick", icon=":material/autorenew:", width="stretch"):
            studio.start_job(svc, TICK_JOB, lambda progress: jobs.cadence_tick(svc.store, progress=progress))
        if cols[1].button("Run monitoring now", icon=":material/monitoring:", width="stretch"):
            studio.start_job(svc, "monitoring", lambda progress: jobs.monitor(svc.store))
        if cols[2].button("Run the feature tests", icon=":material/science:", width="stretch"):
            studio.start_job(svc, "feature tests", lambda progress: jobs.run_feature_tests(svc.store))


def override_control() -> None:
    with st.expander("Override: serve the blocked batch anyway (logged)"):
        st.markdown("The failed checks stay on record; the override and its reason go into the job history.")
        reason = st.text_input("Why may the checks be overridden?", max_chars=200, key="monitoring.reason")
        if st.button("Serve it anyway", icon=":material/gavel:", disabled=not reason.strip()):
            studio.start_job(svc, "override", lambda progress: jobs.run_and_monitor(
                svc.store, lambda: jobs.override(svc.store, reason)))
            st.rerun()  # the whole page, so it follows the job


def verdict() -> None:
    state = svc.runner.state
    if state is not None and state.running:
        st.progress(state.fraction, text=f"{state.name}: {state.message}")
    elif st.session_state.pop("monitoring.watching", False):
        st.rerun()  # the job is over: redraw everything once and stop refreshing every second
    elif state is not None and state.error:
        st.error(f"{state.name} failed: {state.error}")
    now = status.current(svc.store)
    failed = len(now.failed_checks)
    cols = st.columns(4)
    cols[0].metric("Newest batch", "none yet" if now.latest_job is None else ("blocked" if failed else "passed"),
                   help="batch job #" + str(now.latest_job or "–"))
    cols[1].metric("Checks failed", f"{failed} of {len(now.checks)}")
    cols[2].metric("Drift alerts", now.drift_alerts, help=f"PSI above {drift.PSI_ALERT} and above chance")
    cols[3].metric("Skew", f"{now.skew_mismatches} of {len(now.skew)}", help="values that differ, online vs offline")
    if now.armed:
        st.warning(f"Bug injected: **{now.armed.title}**. Every batch job injects it until it is turned off.",
                   icon=":material/bug_report:")
    for held in now.held_back:
        st.error(f"Batch job #{now.latest_job} was **blocked** by its checks: `{held.view}` keeps serving its "
                 f"previous values ({held.age()} old; they go stale after {F.YESTERDAYS_TTL.days * 24} h). "
                 "Nothing it computed reached the online store or the batch scores.", icon=":material/block:")
    if now.latest_job is not None and not failed:
        st.success(f"Batch job #{now.latest_job} passed all {len(now.checks)} checks and was served.",
                   icon=":material/verified:")
    if failed:
        studio.table(now.failed_checks[["name", "detail", "expected"]])
    if now.held_back and studio.presenter_controls():
        override_control()


def details() -> None:
    now = status.current(svc.store)
    profiles = monitoring.profiles(paths)

    st.subheader("Checks per batch run")
    history = Ledger(paths.ledger_db).check_history(12)
    if history.empty:
        st.info("No batch job has been checked yet: run a cadence tick.")
    else:
        st.altair_chart(charts.check_grid(history), width="stretch")
    with st.expander("The checks and their limits"):
        studio.table(checks.limits())

    st.subheader("Feature tests")
    if now.tests is None:
        st.info("The feature unit tests (the same pytest files CI runs) have not run here yet.")
    else:
        (st.success if now.tests.passed else st.error)(f"{now.tests.summary()} · {now.tests.finished:%H:%M:%S} UTC")
        studio.table(now.tests.table(), height=260)

    st.subheader("Drift against the baseline")
    if now.drift.empty:
        st.info("Not monitored yet: run monitoring.")
        return
    st.caption(f"PSI of each feature's newest batch output against the bootstrap's baseline, from Feast's "
               f"histograms. Alert above {drift.PSI_ALERT} and above what chance alone gives samples that size.")
    st.altair_chart(charts.drift_bars(now.drift), width="stretch")

    st.subheader("Distributions over time")
    ranked = now.drift.sort_values("PSI", ascending=False, na_position="last", kind="stable")
    features = [f"{view}:{feature}" for view, feature in zip(ranked["view"], ranked["feature"])]
    picked = st.selectbox("Feature (most drifted first)", features, key="monitoring.feature")
    view, feature = picked.split(":")
    base = monitoring.baseline(paths)
    base = base[(base["feature_view_name"] == view) & (base["feature_name"] == feature)]
    base_row = base.iloc[0] if len(base) else None
    left, right = st.columns([3, 2])
    left.altair_chart(charts.distribution_over_time(profiles, view, feature,
                                                    None if base_row is None else base_row["mean"]), width="stretch")
    newest = profiles[(profiles["view"] == view) & (profiles["feature"] == feature)].iloc[-1]
    right.altair_chart(charts.histogram_vs_baseline(monitoring.histogram(newest),
                                                    None if base_row is None else base_row["histogram"]),
                       width="stretch")
    st.markdown("**Red flags: share of drivers flagged**")
    st.altair_chart(charts.flag_rates(profiles, F.YESTERDAYS_FLAGS), width="stretch")
    st.markdown("**Rows per batch output**")
    left, right = st.columns(2)
    left.altair_chart(charts.rows_over_time(profiles, F.HOURLY_VIEW), width="stretch")
    right.altair_chart(charts.rows_over_time(profiles, F.YESTERDAYS_VIEW), width="stretch")
    st.markdown("**Nulls per batch output**")
    st.altair_chart(charts.null_rates(profiles), width="stretch")

    st.subheader("Training/serving skew")
    st.caption(f"{now.skew['driver_id'].nunique() if len(now.skew) else 0} drivers: every feature online beside "
               "the point-in-time offline value at the same moment (what a training set would read).")
    if now.skew_mismatches:
        for view_name, why in skew.causes(now.skew, {held.view for held in now.held_back}).items():
            st.warning(f"`{view_name}`: {why}.")
        studio.table(now.skew[~now.skew["match"].astype(bool)], height=240)
    elif len(now.skew):
        st.success(f"0 of {len(now.skew)} values differ: online serves what training would read.")
    st.altair_chart(charts.skew_over_time(monitoring.skew_history(paths)), width="stretch")

    with st.expander("Feast's own monitoring tables (where the output lives)"):
        st.markdown(f"Feast's tables: `{paths.quality_dir / monitoring.FEAST_DIR}`; batch profiles: "
                    f"`{paths.profiles_dir}`; skew samples: `{paths.skew_dir}`. Never under `feature_repo/`.")
        studio.table(monitoring.feast_daily(paths).drop(columns=["histogram"]), height=240)


top = st.container()
if studio.presenter_controls():
    controls()
# Refresh every second while a job runs (the verdict and charts follow it), else rarely. Decided
# after the controls, which may just have started one.
st.session_state["monitoring.watching"] = svc.runner.busy
every = 1.0 if svc.runner.busy or svc.runner.cadence_running else 30.0
with top:
    st.fragment(run_every=every)(verdict)()
st.fragment(run_every=every)(details)()
