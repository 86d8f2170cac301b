"""Onboard a driver: the signup form and presets on the left, the decision on the right."""

import streamlit as st

import studio
from riskcore.api import curl_example
from riskcore.serving.model import DEFAULT_VERSION, get_model, versions
from riskcore.stage import scenarios
from riskcore.validation import (
    DATE_INPUT_LENGTH,
    MAX_LICENCE_LENGTH,
    SSN_INPUT_LENGTH,
    InvalidInput,
    OnboardingApplication,
)

svc = studio.page(
    __file__, "Onboard a driver",
    "Retrieval, featurization and inference are separate, timed stages; the model only ever sees "
    "a numpy vector. SSN and licence are tokenized before they reach Feast, disk or this page.",
)

FORM = studio.ONBOARD_FORM
FIELDS = ("dob", "ssn", "licence", "state")
state = st.session_state
# Widgets Streamlit did not draw on the last page are forgotten: restore them from the applicant.
applicant = state.setdefault("onboard.applicant", {"dob": scenarios.ADULT_BIRTH.isoformat(), "ssn": "",
                                                    "licence": "", "state": "CA"})
for field in FIELDS:
    state.setdefault(f"{FORM}.{field}", applicant[field])


def decide(values: dict[str, str], chosen: list[str], what_if: bool) -> None:
    """Validate what the form shows and decide it with each chosen model version."""
    studio.remember_applicant(values, fill_form=False)
    try:
        app = OnboardingApplication.parse(date_of_birth=values["dob"], ssn=values["ssn"],
                                          licence=values["licence"], state=values["state"])
        state["onboard.result"] = [svc.decisions.onboard(app, version=v, what_if=what_if) for v in chosen]
    except InvalidInput as exc:
        state["onboard.problems"] = exc.in_words()
        state.pop("onboard.result", None)
    except Exception as exc:  # noqa: BLE001 - shown as prose
        state["onboard.problems"] = [studio.friendly(exc)]
        state.pop("onboard.result", None)
    else:
        state.pop("onboard.problems", None)
        state["onboard.versions"] = (chosen, what_if)
        state["onboard.curl"] = curl_example(app, chosen[-1])
        registered = [r.driver_id for r in state["onboard.result"] if r.driver_id]
        if registered:
            state["driver_home.driver"] = registered[0]


left, right = st.columns([1, 1], gap="medium")
if not studio.presenter_controls():
    left.info("Signups here are the presenter's. To sign up yourself, use the Join page: it makes up "
              "an identity for you.")
    left.page_link("pages/9_join.py", label="Join the demo", icon=":material/smartphone:")
    st.stop()
with left:
    presets = st.columns(2)
    for number, (key, label) in enumerate(scenarios.PRESETS.items()):
        if presets[number % 2].button(label, key=f"onboard.preset.{key}", width="stretch"):
            try:
                chosen = scenarios.preset(key, svc.decisions)
            except Exception as exc:  # noqa: BLE001 - shown as prose
                st.error(studio.friendly(exc))
            else:
                studio.remember_applicant(studio.applicant_values(chosen), fill_form=True)
                state["onboard.expect"] = f"Preset **{chosen.label}** filled in: expect *{chosen.expect}*."
                state.pop("onboard.result", None)
    if expect := state.get("onboard.expect"):
        st.info(expect)
    with st.form(FORM, border=True):
        first, second = st.columns(2), st.columns(2)
        values = {
            "dob": first[0].text_input("Date of birth", key=f"{FORM}.dob", placeholder="YYYY-MM-DD",
                                       max_chars=DATE_INPUT_LENGTH),
            "state": first[1].text_input("State", key=f"{FORM}.state", max_chars=2, placeholder="CA",
                                         help="two-letter code"),
            "ssn": second[0].text_input("SSN", key=f"{FORM}.ssn", type="password", placeholder="123-45-6789",
                                        max_chars=SSN_INPUT_LENGTH),
            "licence": second[1].text_input("Licence", key=f"{FORM}.licence", type="password",
                                            max_chars=MAX_LICENCE_LENGTH, help="driver's licence: letters, "
                                            "digits and dashes"),
        }
        choices = versions("onboarding")
        version = st.radio("Model", choices, index=choices.index(DEFAULT_VERSION), horizontal=True,
                           key=f"{FORM}.version",
                           format_func=lambda v: f"{v} (served)" if v == DEFAULT_VERSION else f"{v} (what-if)",
                           help=" · ".join(f"{v}: {get_model('onboarding', v).description}" for v in choices))
        decide_button, compare_button = st.columns(2)
        if decide_button.form_submit_button("Decide", type="primary", icon=":material/gavel:", width="stretch"):
            decide(values, [version], what_if=False)
        if compare_button.form_submit_button("v0 vs v1", icon=":material/compare_arrows:", width="stretch",
                                             help="Both models on this applicant, as what-ifs: nobody is registered"):
            decide(values, choices, what_if=True)
    for problem in state.get("onboard.problems", []):
        st.error(problem)

with right:
    results = state.get("onboard.result")
    if not results:
        st.info("Pick a preset or fill in the form: the decision appears here, with its timings, "
                "the vector the model saw and the reasons.")
    elif len(results) == 1:
        studio.show_decision(results[0])
    else:
        studio.show_comparison(results)
    if results:
        chosen, what_if = state.get("onboard.versions", ([DEFAULT_VERSION], False))
        again, link = st.columns(2)
        if again.button("Decide again", icon=":material/replay:", width="stretch",
                        help="The same applicant, now (e.g. after launching a state)"):
            decide(dict(state["onboard.applicant"]), chosen, what_if)
            st.rerun()
        registered = next((r.driver_id for r in results if r.driver_id), None)
        if registered:
            link.page_link("pages/2_driver_home.py", label=f"Open driver {registered}'s home",
                           icon=":material/directions_car:")
            st.success(f"Welcome aboard: driver **{registered}** is in the ledger and the feature store "
                       "(a second signup with this SSN is now flagged).")
        with st.expander("The same request over HTTP (`riskcore api`)"):
            st.code(state.get("onboard.curl", ""), language="bash")
