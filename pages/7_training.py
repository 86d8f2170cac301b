"""Train a model: the training set through Feast, training with progress, the leak, the registry
(promote, roll back) and the challenger in shadow."""

import pandas as pd
import streamlit as st

import studio
from riskcore.data.ledger import Ledger
from riskcore.insight import charts, insights
from riskcore.learning import job, training
from riskcore.learning.registry import Registry

svc = studio.page(
    __file__, "Train a model",
    "The daily model, learned from the feature store: labelled decisions (did an incident follow "
    "within 14 days?) joined with the `daily` feature service **as of each decision** by Feast's "
    "`get_historical_features`, beside the naive join to today's values. Models go to the MLflow "
    "registry in the data dir; the `champion` decides every daily decision, the `challenger` is "
    "scored in shadow.",
)
registry = Registry(svc.store.paths)
BUILD_JOB, TRAIN_JOB = "build training set", studio.TRAIN_JOB


@st.cache_data(ttl=10, max_entries=4, show_spinner=False)
def last_training(root: str, stamp: float):  # type: ignore[no-untyped-def]
    """The newest training run, read back from MLflow (re-read when the registry file changes)."""
    return Registry(svc.store.paths).last_training()


def registry_stamp() -> float:
    path = svc.store.paths.mlflow_db
    return path.stat().st_mtime if path.exists() else 0.0


st.subheader("The leak you cannot see offline")
try:
    last = last_training(str(svc.store.paths.root), registry_stamp())
except Exception as exc:  # noqa: BLE001 - shown as prose
    st.error(studio.friendly(exc))
    last = None
if last is None:
    running = svc.runner.state
    if running is not None and running.running and running.name == TRAIN_JOB:
        st.info("Training now: the training set through Feast, three candidates, the registry. "
                "The comparison appears here when it is done.")
    else:
        st.info("No model trained yet: train one below (or `riskcore train`).")
else:
    compared = last.comparison.set_index("model")
    naive, pit = compared.loc[training.LOGISTIC_NAIVE], compared.loc[training.LOGISTIC_PIT]
    cols = st.columns(3)
    cols[0].metric("Naive join, offline AUC", f"{naive['offline_auc']:.3f}",
                   help="its own holdout, scored with the naive (latest) features")
    cols[1].metric("Naive join, future AUC", f"{naive['holdout_auc']:.3f}",
                   delta=f"{naive['holdout_auc'] - naive['offline_auc']:+.3f}")
    cols[2].metric("Point-in-time, future AUC", f"{pit['holdout_auc']:.3f}",
                   delta=f"{pit['holdout_auc'] - naive['holdout_auc']:+.3f} vs naive")
    st.altair_chart(charts.leak(training.leak_frame(last.comparison)), width="stretch")
    st.markdown("**Calibration on the future holdout** (on the diagonal = calibrated)")
    st.altair_chart(charts.reliability(last.calibration), width="stretch")
    st.markdown(f"**At each model's cost-based threshold** on the future holdout (a missed incident costs "
                f"{training.COSTS.approve_bad:g}× a wrongly declined driver)")
    table = last.comparison[["model", "threshold", "approval_rate", "bad_rate", "cost_per_decision"]]
    studio.table(table.rename(columns={"approval_rate": "approved", "bad_rate": "incidents among approved",
                                       "cost_per_decision": "cost / decision"}),
                 column_config={"approved": st.column_config.NumberColumn(format="percent"),
                                "incidents among approved": st.column_config.NumberColumn(format="percent")})
    st.caption(f"Run `{last.run_id}`, {last.started:%Y-%m-%d %H:%M} UTC: {last.summary['rows']:,} decisions, "
               f"incident rate {last.summary['label_rate']:.1%}. Browse it with `mlflow ui` (see the README).")


st.subheader("What decides today")
try:
    serving = svc.decisions.served.current()
    versions = registry.versions()
except Exception as exc:  # noqa: BLE001 - shown as prose
    st.error(studio.friendly(exc))
    st.stop()
cols = st.columns(2)
champion, challenger = serving.champion, serving.challenger
cols[0].metric("Champion (serves)", f"{champion.name} {champion.version}",
               help=f"{champion.label}, threshold {champion.threshold:g}")
cols[0].caption("registered in MLflow" if champion.registry else "hand-set: the registry has no champion")
cols[1].metric("Challenger (shadow)",
               f"{challenger.registry.name} v{challenger.registry.version}" if challenger else "none",
               help=f"{challenger.registry.kind}, scored on every logged daily decision" if challenger else None)
if serving.fallback:
    st.info(serving.fallback.capitalize() + ".", icon=":material/info:")

st.subheader("The training set, then training")
st.markdown("Entity rows are the matured outcomes (driver, decision time, label). The same rows are "
            "joined twice: **point in time** (the features serving had at the decision) and **naive** "
            "(the latest values, as a query of today's table returns them). Training fits three "
            "candidates on the older decisions: a **logistic regression** (the champion candidate: its "
            "log-odds are a weighted sum, so reasons stay exact), **gradient boosting** (a challenger) "
            "and the same logistic regression on the **naive** join (the leak's witness, never "
            "registered). Each is judged on the future holdout.")
if studio.presenter_controls():
    left, right = st.columns(2)
    if left.button("Build the training set", icon=":material/table_view:", key="training.build", width="stretch"):
        studio.start_job(svc, BUILD_JOB, lambda progress: training.build(svc.store))
    if right.button("Train and register", icon=":material/model_training:", type="primary", key="training.train",
                    width="stretch"):
        studio.start_job(svc, TRAIN_JOB, lambda progress: job.train(svc.store, progress=progress))


def job_progress() -> None:
    """The running build or training job, then its outcome."""
    state = svc.runner.state
    if state is None or state.name not in (BUILD_JOB, TRAIN_JOB):
        return
    if state.running:
        st.progress(state.fraction, text=f"{state.name}: {state.message}")
    elif state.error:
        st.error(f"{state.name} failed: {state.error}. Nothing was registered; the serving model is unchanged.")
    elif isinstance(state.result, training.TrainingSet):
        summary = state.result.summary()
        cols = st.columns(4)
        cols[0].metric("Decisions", f"{summary['rows']:,}")
        cols[1].metric("Incident rate", f"{summary['label_rate']:.1%}")
        cols[2].metric("Train (older)", f"{summary['train_rows']:,}", help=f"decided before {summary['split_at'][:10]}")
        cols[3].metric("Future holdout", f"{summary['holdout_rows']:,}")
        st.markdown("**How each join sees the same rows**: the gap between rows followed by an incident "
                    "and rows that were not. The naive join sees what the incident did to the driver.")
        st.altair_chart(charts.join_gap(state.result.join_comparison()), width="stretch")
    elif isinstance(state.result, job.TrainingReport):
        if st.session_state.get("training.shown_run") != state.result.run_id:
            st.session_state["training.shown_run"] = state.result.run_id
            st.rerun()  # once: the sections below now have a model to show
        st.success(f"Trained in {state.seconds:.1f} s: MLflow run `{state.result.run_id}`; registered "
                   + ", ".join(f"{name} as v{v}" for name, v in state.result.registered.items()) + ".")


# Refreshed every second while a job runs (it started above, in this same run).
st.fragment(run_every=1.0 if svc.runner.busy else None)(job_progress)()

st.subheader("Registry: champion and challenger")
if not versions:
    st.caption("No registered versions yet.")
else:
    studio.table(pd.DataFrame([{"version": f"v{v.version}", "roles": ", ".join(v.aliases), "kind": v.kind,
                                "future AUC": v.holdout_auc, "threshold": v.threshold,
                                "feature service": v.feature_service, "registered": f"{v.created:%Y-%m-%d %H:%M}"}
                               for v in versions]),
                 column_config={"roles": st.column_config.TextColumn(width="medium")})
    if studio.presenter_controls():
        linear = [v.version for v in versions if v.linear and "champion" not in v.aliases]
        left, right = st.columns(2)
        with left:
            choice = st.selectbox("Version to promote", linear, format_func=lambda v: f"v{v}",
                                  key="training.promote_version") if linear else None
            if choice is not None and st.button("Promote to champion", icon=":material/military_tech:",
                                                key="training.promote"):
                try:
                    registry.promote(choice)
                except Exception as exc:  # noqa: BLE001 - shown as prose
                    st.error(studio.friendly(exc))
                else:
                    st.rerun()
        with right:
            st.write("")
            if "champion" in registry.aliases() and st.button("Roll back the champion", icon=":material/undo:",
                                                               key="training.rollback"):
                try:
                    registry.rollback()
                except Exception as exc:  # noqa: BLE001 - shown as prose
                    st.error(studio.friendly(exc))
                else:
                    st.rerun()

st.subheader("The challenger in shadow")
shadow = Ledger(svc.store.paths.ledger_db).shadow(2000)
summary = insights.shadow_summary(shadow)
if summary.compared == 0:
    st.caption("No shadow scores yet: with a challenger registered, every logged daily decision and "
               "batch-scoring run scores it on the same vector.")
else:
    cols = st.columns(3)
    cols[0].metric("Compared", f"{summary.compared:,}")
    cols[1].metric("Same decision", f"{summary.agreement:.0%}")
    cols[2].metric("Declines: champion / challenger", f"{summary.champion_declines} / {summary.challenger_declines}")
    st.altair_chart(charts.shadow(shadow, serving.champion.threshold), width="stretch")
    if not summary.differences.empty:
        st.markdown("**Where they differ** (newest first)")
        studio.table(summary.differences.head(20))
