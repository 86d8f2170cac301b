"""Home: what the system is, the live state of the feature store, and "reset demo"."""

import streamlit as st

import studio
from riskcore.data import world
from riskcore.data.ledger import Ledger

svc = studio.page(
    __file__, "Driver Risk Studio",
    "A real-time risk ML system on the **Feast** feature store, end to end on one laptop: a driver "
    "signs up, features are retrieved (batch, on-demand, request-time), turned into a numpy vector, "
    "scored and decided; overnight batch jobs build new features, materialize them and re-score "
    "every driver.",
)

# Drawn close to the width it is shown at (no edge labels; each stage named in its box), so its
# text is not scaled down to a few pixels on a projector.
st.graphviz_chart(
    """
    digraph {
      rankdir=LR; bgcolor="transparent"; nodesep=0.2; ranksep=0.28;
      node [shape=box, style="rounded,filled", fillcolor="#f6f8fa", fontname="Helvetica", fontsize=15,
            margin="0.12,0.08"];
      edge [penwidth=1.6, arrowsize=0.8];
      sources [label="sources\nhourly stats\nbatch job\nsignups · states"];
      request [label="request\nDOB · state\ntokens"];
      feast [label="Feast\nregistry\nonline store\non-demand", fillcolor="#ddf4ff", color="#0969da"];
      vector [label="retrieval →\nnumpy vector", fillcolor="#ddf4ff"];
      model [label="featurization →\nmodel", fillcolor="#ddf4ff"];
      decision [label="inference →\ndecision\nreasons · timings", fillcolor="#dafbe1"];
      sources -> feast; request -> feast; feast -> vector -> model -> decision;
      decision -> sources [label="approved:\nclosed loop", fontname="Helvetica", fontsize=13, style=dashed,
                           constraint=false];
    }
    """,
    width="stretch",
)

st.subheader("Feature store status")
try:
    status = svc.store.status(deep=False)
except Exception as exc:  # noqa: BLE001 - shown as prose
    st.error(studio.friendly(exc))
else:
    cols = st.columns(4)
    cols[0].metric("Registry", "applied" if status.registry_applied else "missing")
    cols[1].metric("Drivers", len(svc.store.roster()))
    cols[2].metric("Feature views", len(status.views))
    cols[3].metric("Freshness", f"{len(status.stale_views)} stale" if status.stale_views else "all fresh")
    for warning in status.warnings:
        st.warning(warning, icon=":material/key:")
    for problem in status.problems:
        st.warning(problem)
    if status.problems and studio.presenter_controls() and st.button("Repair", icon=":material/build:",
                                                                      type="primary"):
        studio.start_job(svc, "repair", lambda progress: world.repair(svc.store, progress))
    studio.table(status.table().drop(columns=["newest event"]),
                 column_config={"last materialized": st.column_config.DatetimeColumn(format="HH:mm:ss")})


@st.dialog("Reset the demo?")
def confirm_reset() -> None:
    st.markdown("Every signup, decision and job since the start goes; the seeded world comes back "
                "(new data, registry and online store). Everyone watching sees the reset happen.")
    if st.button("Yes, reset", icon=":material/restart_alt:", type="primary"):
        studio.start_job(svc, studio.RESET_JOB, lambda progress: world.bootstrap(svc.store, progress=progress))
        st.rerun()


if studio.presenter_controls():
    st.subheader("Reset")
    st.markdown("Back to the clean seeded world: new data, registry, online store and an empty decision log.")
    if st.button("Reset demo", icon=":material/restart_alt:"):
        confirm_reset()

st.subheader("Latest decisions")
log = Ledger(svc.store.paths.ledger_db).decisions(15)
studio.table(log[["at", "kind", "subject", "model", "version", "what_if", "score", "decision"]].assign(
    at=lambda f: f["at"].str.slice(11, 19), what_if=lambda f: f["what_if"].astype(bool)))
