"""Talk track: the five teaching points, each one click from the scenario that shows it."""

import streamlit as st

import studio
from riskcore.data import jobs
from riskcore.stage import scenarios
from riskcore.stage.talk import TEACHING_POINTS

svc = studio.page("Talk track", "Presenter mode: each button sets up its scenario and opens the page.")

for number, point in enumerate(TEACHING_POINTS, start=1):
    with st.container(border=True):
        st.markdown(f"### {number}. {point.title}")
        st.markdown(point.say)
        if st.button(point.action, key=f"talk.{number}", type="primary"):
            try:
                if point.preset:
                    st.session_state["onboard.preset"] = point.preset
                if point.version:
                    st.session_state["onboard.form.version"] = point.version
                if point.unlaunched_application:
                    st.session_state["model.state"] = scenarios.decline_for_unlaunched_state(svc.decisions)
                if point.bad_day:
                    driver = scenarios.demo_driver(svc.store)
                    st.session_state["driver_home.driver"] = driver
                    studio.start_job(svc, "bad day", lambda progress: jobs.cadence_tick(
                        svc.store, progress=progress, risky_ids=[driver]))
            except Exception as exc:  # noqa: BLE001 - shown as prose
                st.error(studio.friendly(exc))
            else:
                st.switch_page(point.page)
