"""Online features: the registry, a driver's online values with freshness, online vs offline."""

import streamlit as st

import studio
from riskcore.insight import explore

svc = studio.page(
    __file__, "Online features",
    "Feast keeps the registry (what exists, documented), materializes batch data into the online "
    "store, runs on-demand features and serves them. TTLs are not enforced on online reads, so "
    "freshness here is computed from each value's event time.",
)


@st.cache_data(ttl=30, show_spinner=False)
def registry_tables(data_dir: str) -> dict:  # noqa: ARG001 - the cache key
    return explore.catalog(svc.store)


st.subheader("Registry")
tables = registry_tables(str(svc.store.paths.root))
for tab, (kind, frame) in zip(st.tabs(list(tables)), tables.items()):
    with tab:
        studio.table(frame, static=True)

st.subheader("Online lookup")
roster = svc.store.roster()["driver_id"].tolist()
default = st.session_state.get("driver_home.driver", roster[0] if roster else None)
driver = st.selectbox("Driver", roster, index=roster.index(default) if default in roster else 0,
                      key="online.driver")
if driver is not None:
    try:
        studio.table(explore.online_driver_values(svc.store, driver), static=True)
        st.subheader("Online vs offline (point in time, as of now)")
        st.caption("Where they differ, materialization is behind the offline data. The offline "
                   "side is a point-in-time join over the parquet sources: a few seconds.")
        if st.toggle("Compare with the offline store", key="online.compare"):
            with st.spinner("Point-in-time join over the offline store…"):
                studio.table(explore.online_vs_offline(svc.store, driver), static=True)
    except Exception as exc:  # noqa: BLE001 - shown as prose
        st.error(studio.friendly(exc))
