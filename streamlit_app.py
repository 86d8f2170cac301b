"""Home: what the system is, the live state of the feature store, and "reset demo"."""

import streamlit as st

import studio
from riskcore.data import world
from riskcore.data.ledger import Ledger

svc = studio.page(
    "Driver Risk Studio",
    "A real-time risk ML system on the **Feast** feature store, end to end on one laptop: a driver "
    "signs up, features are retrieved (batch, on-demand, request-time), turned into a numpy vector, "
    "scored and decided; overnight batch jobs build new features, materialize them and re-score "
    "every driver.",
)

st.graphviz_chart(
    """
    digraph {
      rankdir=LR; bgcolor="transparent";
      node [shape=box, style="rounded,filled", fillcolor="#f6f8fa", fontname="Helvetica", fontsize=16];
      edge [fontname="Helvetica", fontsize=13];
      subgraph cluster_sources { label="sources"; style=dashed; fontsize=15;
        hourly [label="hourly driver stats\\n(parquet)"]; batch [label="batch job\\nyesterday's flags"];
        signups [label="signups\\n(push source)"]; states [label="launched states\\n(push source)"]; }
      subgraph cluster_feast { label="Feast"; style=rounded; fontsize=15; color="#0969da";
        registry [label="SQL registry"]; online [label="online store\\n(SQLite)"];
        odfv [label="on-demand view\\nonboarding_features"]; }
      request [label="request\\nDOB · state · tokens"]; vector [label="numpy vector", fillcolor="#ddf4ff"];
      model [label="model v1\\nweights + threshold", fillcolor="#ddf4ff"];
      decision [label="decision\\n+ reasons + timings", fillcolor="#dafbe1"];
      hourly -> batch; hourly -> online [label="materialize"]; batch -> online [label="materialize"];
      signups -> online [label="push"]; states -> online [label="push"];
      online -> odfv; request -> odfv; odfv -> vector [label="retrieval"]; online -> vector;
      vector -> model [label="featurization"]; model -> decision [label="inference"];
      decision -> signups [label="approved: closed loop", style=dashed];
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
    if status.problems and st.button("Repair", icon=":material/build:", type="primary"):
        studio.start_job(svc, "repair", lambda progress: world.repair(svc.store, progress))
    studio.table(status.table())

st.subheader("Reset")
st.markdown("Back to the clean seeded world: new data, registry, online store and an empty decision log.")
if st.button("Reset demo", icon=":material/restart_alt:", type="primary"):
    studio.start_job(svc, "reset demo", lambda progress: world.bootstrap(svc.store, progress=progress))

st.subheader("Latest decisions")
log = Ledger(svc.store.paths.ledger_db).decisions(15)
studio.table(log.drop(columns=["detail"]))
