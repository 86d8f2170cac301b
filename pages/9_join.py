"""Join: the audience's phone-first signup, with an invented identity."""

import streamlit as st

import studio
from riskcore.data.errors import StoreNotReady
from riskcore.stage import audience, scenarios
from riskcore.validation import (
    DATE_INPUT_LENGTH,
    MAX_LICENCE_LENGTH,
    SSN_INPUT_LENGTH,
    InvalidInput,
    OnboardingApplication,
)

svc = studio.page(__file__, "Join the demo",
                  "Sign up as a driver and see the risk system decide. Use an invented identity: "
                  "**never type a real SSN here.**", light=True)

FORM = "join.form"
FIELDS = ("dob", "ssn", "licence", "state")
state = st.session_state


def decide() -> None:
    """Decide's callback: the decision is taken before the page is drawn again, so the run that
    follows shows the result (a join costs the server one script run less)."""
    values = {field: state.get(f"{FORM}.{field}", "") for field in FIELDS}
    try:
        app = OnboardingApplication.parse(date_of_birth=values["dob"], ssn=values["ssn"],
                                          licence=values["licence"], state=values["state"])
        state["join.result"] = svc.decisions.onboard(app, channel=audience.CHANNEL)
        state["join.applicant"] = values
    except InvalidInput as exc:
        state["join.problems"] = exc.in_words()
    except StoreNotReady:  # the presenter is resetting the demo: the audience needs no path or command
        state["join.problems"] = ["The presenter is setting the demo up again: try again in a moment."]
    except Exception as exc:  # noqa: BLE001 - shown as prose
        state["join.problems"] = [studio.friendly(exc)]


result = state.get("join.result")

if result is None:
    # The last identity stays in the form after "Try again": the same SSN again is the next lesson.
    for field, value in state.get("join.applicant", {}).items():
        state.setdefault(f"{FORM}.{field}", value)
    if st.button("Make me a fake identity", icon=":material/casino:", type="primary", width="stretch"):
        invented = scenarios.fake_identity(svc.decisions)
        state.update({f"{FORM}.dob": invented.date_of_birth.isoformat(), f"{FORM}.ssn": invented.ssn,
                      f"{FORM}.licence": invented.licence, f"{FORM}.state": invented.state})
    with st.form(FORM):
        st.text_input("Date of birth", key=f"{FORM}.dob", placeholder="YYYY-MM-DD", max_chars=DATE_INPUT_LENGTH)
        st.text_input("SSN (invented)", key=f"{FORM}.ssn", placeholder="123-45-6789", max_chars=SSN_INPUT_LENGTH)
        st.text_input("Driver's licence (invented)", key=f"{FORM}.licence", max_chars=MAX_LICENCE_LENGTH)
        st.text_input("State (two letters)", key=f"{FORM}.state", max_chars=2)
        st.form_submit_button("Decide", type="primary", icon=":material/gavel:", width="stretch", on_click=decide)
        for problem in state.pop("join.problems", []):
            st.error(problem)
else:
    studio.banner(result, size="##")
    if result.replayed:
        st.info("You sent this exact application before: this is its original answer, and still "
                "the same driver. The ledger remembers every application it approved.")
    elif result.driver_id:
        st.success(f"Welcome aboard: you are driver **{result.driver_id}**. Your identity is now on file: "
                   "try again with the same SSN and another licence, and watch what happens.")
    st.markdown("**Why**")
    studio.reasons_list(result)
    t = result.timings
    st.caption(f"{result.model.name} {result.model.version} · decided in "
               f"{t.retrieval_ms + t.featurization_ms + t.inference_ms:.1f} ms · you are {result.subject}")
    if st.button("Try again", icon=":material/replay:", width="stretch"):
        state.pop("join.result")
        st.rerun()
