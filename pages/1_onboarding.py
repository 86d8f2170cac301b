"""Onboard a driver: the signup form, scenario presets and the full decision."""

from datetime import date

import streamlit as st

import studio
from riskcore.api import curl_example
from riskcore.serving.model import DEFAULT_VERSION, versions
from riskcore.stage import scenarios
from riskcore.validation import InvalidInput, OnboardingApplication

svc = studio.page(
    "Onboard a driver",
    "Retrieval, featurization and inference are separate, timed stages; the model only ever sees "
    "a numpy vector. SSN and licence are tokenized before they reach Feast, disk or this page.",
)

FORM = "onboard.form"
st.markdown("**Scenario presets**")
columns = st.columns(len(scenarios.PRESETS))
for column, (key, label) in zip(columns, scenarios.PRESETS.items()):
    if column.button(label, key=f"onboard.preset.{key}", width="stretch"):
        st.session_state["onboard.preset"] = key

if key := st.session_state.pop("onboard.preset", None):
    try:
        chosen = scenarios.preset(key, svc.decisions)
    except Exception as exc:  # noqa: BLE001 - shown as prose
        st.error(studio.friendly(exc))
    else:
        st.session_state.update({
            f"{FORM}.dob": chosen.date_of_birth, f"{FORM}.ssn": chosen.ssn,
            f"{FORM}.licence": chosen.licence, f"{FORM}.state": chosen.state,
        })
        st.info(f"Preset **{chosen.label}** filled in: expect *{chosen.expect}*.")

choices = versions("onboarding")
with st.form(FORM):
    left, right = st.columns(2)
    dob = left.date_input("Date of birth", key=f"{FORM}.dob", value=scenarios.ADULT_BIRTH,
                          min_value=date(1900, 1, 1), max_value=date(2100, 1, 1), format="YYYY-MM-DD")
    state = right.text_input("State (two letters)", key=f"{FORM}.state", value="CA", max_chars=20)
    ssn = left.text_input("SSN", key=f"{FORM}.ssn", type="password", placeholder="123-45-6789", max_chars=64)
    licence = right.text_input("Driver's licence", key=f"{FORM}.licence", type="password", max_chars=64)
    version = left.radio("Model version", choices, index=choices.index(DEFAULT_VERSION), horizontal=True,
                         key=f"{FORM}.version", help="v0 is the original demo's model, bugs included")
    submitted = st.form_submit_button("Decide", type="primary", icon=":material/gavel:")

if submitted:
    try:
        application = OnboardingApplication.parse(date_of_birth=dob, ssn=ssn, licence=licence, state=state)
        result = svc.decisions.onboard(application, version=version)
    except InvalidInput as exc:
        st.error(f"Please check the form — {exc}")
    except Exception as exc:  # noqa: BLE001 - shown as prose
        st.error(studio.friendly(exc))
    else:
        st.session_state["onboard.last"] = result
        st.session_state["onboard.curl"] = curl_example(application, version)
        if result.driver_id:
            st.session_state["driver_home.driver"] = result.driver_id

if result := st.session_state.get("onboard.last"):
    st.caption(f"Applicant `{result.subject}`")
    studio.show_decision(result)
    if result.driver_id:
        st.success(f"Welcome aboard: driver **{result.driver_id}** was pushed to the feature store "
                   "(a second signup with this SSN or licence is now flagged).")
        st.page_link("pages/2_driver_home.py", label=f"Open driver {result.driver_id}'s home",
                     icon=":material/directions_car:")
    with st.expander("The same request over HTTP (`riskcore api`)"):
        st.code(st.session_state["onboard.curl"], language="bash")
