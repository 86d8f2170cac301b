"""Model: the "launch a new state" what-if first, then weights, threshold and approval rate."""

import streamlit as st

import studio
from riskcore.data import jobs
from riskcore.data.ledger import Ledger
from riskcore.insight import charts, insights
from riskcore.serving.model import get_model, versions, weights_table
from riskcore.validation import OnboardingApplication, normalise_state

svc = studio.page(
    __file__, "Model",
    "A model is data: weights, an intercept, a threshold and a version. v0 is the original demo's "
    "model with its bugs; v1 is the hand-set model that serves until a model learned on the "
    "*Train a model* page is the registry's champion.",
)
ledger = Ledger(svc.store.paths.ledger_db)
serving = svc.decisions.served.current()
daily_champion = serving.champion if serving.champion.registry else None

st.subheader("What if the business launches a new state?")
st.markdown("The onboarding model has an `is_valid_state` feature. Launching a state is a product "
            "decision; here it is one push to the feature store, and the model sees it at once.")
pick, *metrics = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
st.session_state.setdefault("model.state", "NJ")  # the original demo's state; a talk point may set another
state_text = pick.text_input("State", max_chars=2, key="model.state")
try:
    state = normalise_state(state_text)
    launched = jobs.launched_states(svc.store)
    what_if = insights.launch_what_if(ledger, state, get_model("onboarding"))
except ValueError as exc:
    st.error(f"State: {exc}")
    st.stop()
except Exception as exc:  # noqa: BLE001 - shown as prose
    st.error(studio.friendly(exc))
    st.stop()
metrics[0].metric(f"Applications from {state}", what_if.applications)
metrics[1].metric("Declined now", what_if.declined_now)
metrics[2].metric("Approved if launched", what_if.approved_if_launched)
is_launched = state in launched
st.markdown("Launched now: " + " ".join(f"`{s}`" for s in launched))
applicant = st.session_state.get("onboard.applicant", {})
if studio.presenter_controls():
    toggle, again = st.columns(2)
    if toggle.button(f"{'Retire' if is_launched else 'Launch'} {state}", type="secondary" if is_launched else "primary",
                     icon=":material/remove_circle:" if is_launched else ":material/rocket_launch:", width="stretch"):
        try:
            jobs.set_state(svc.store, state, launched=not is_launched)
        except Exception as exc:  # noqa: BLE001 - shown as prose
            st.error(studio.friendly(exc))
        else:
            st.rerun()
    if applicant.get("state", "").strip().upper() == state and again.button(
            f"Decide the last applicant from {state} again", icon=":material/replay:", width="stretch"):
        try:
            result = svc.decisions.onboard(OnboardingApplication.parse(
                date_of_birth=applicant["dob"], ssn=applicant["ssn"], licence=applicant["licence"],
                state=applicant["state"]))
        except Exception as exc:  # noqa: BLE001 - shown as prose
            st.error(studio.friendly(exc))
        else:
            st.session_state["onboard.result"] = [result]
            studio.banner(result)

st.subheader("Weights")
# Side by side, unless a learned champion's column makes the daily table too wide for half a screen.
cols = st.columns(2) if daily_champion is None else [st.container(), st.container()]
for col, name in zip(cols, ("onboarding", "daily")):
    with col:
        st.markdown(f"**{name}**")
        studio.table(weights_table(name, daily_champion if name == "daily" else None), static=True)
        for version in versions(name):
            st.caption(f"{version}: {get_model(name, version).description}")
        if name == "daily":
            st.caption(f"Daily decisions are served by **{serving.champion.label}**.")

st.subheader("Approval rate vs threshold (daily model, latest batch scores)")
scores = ledger.latest_scores()
if scores.empty or scores["score"].isna().all():
    st.info("No batch scores yet: run *Batch-score all drivers* on the Batch jobs page.")
else:
    threshold = st.slider("Threshold", 0.0, 1.0, serving.champion.threshold, 0.01, key="model.threshold")
    curve = insights.approval_curve(scores["score"].to_numpy(dtype=float))
    rate = insights.approval_rate(scores["score"].to_numpy(dtype=float), threshold)
    left, right = st.columns(2)
    left.metric("Approved at this threshold", f"{rate:.0%}", help=f"{len(scores)} drivers")
    left.altair_chart(charts.approval_curve(curve, threshold), width="stretch")
    right.altair_chart(charts.score_distribution(scores), width="stretch")
