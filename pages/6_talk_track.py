"""Talk track: the teaching points, each one click from its result, and the audience's join."""

import os

import streamlit as st

import studio
from riskcore.data.ledger import Ledger
from riskcore.stage import audience, presenter
from riskcore.stage.talk import TEACHING_POINTS

svc = studio.page(
    __file__, "Talk track",
    "Presenter mode: each button sets up *and runs* its scenario, then opens its page with the "
    "result on screen; the bar at the top of that page leads to the next point.",
)

for number, point in enumerate(TEACHING_POINTS, start=1):
    with st.container(border=True):
        text, action = st.columns([5, 2], vertical_alignment="center")
        text.markdown(f"**{number}. {point.title}** — {point.say}")
        if studio.presenter_controls() and action.button(point.action, key=f"talk.{number}", type="primary",
                                                         width="stretch"):
            try:
                studio.run_point(svc, number)
            except Exception as exc:  # noqa: BLE001 - shown as prose
                st.error(studio.friendly(exc))

st.subheader("The audience")
url = presenter.join_url(os.environ.get(presenter.PUBLIC_URL_ENV), str(st.get_option("server.address") or ""),
                         int(st.get_option("server.port")))
code, live = st.columns([1, 2], gap="large")
with code:
    if url:
        st.image(audience.qr_svg(url), width=260)
        st.markdown(f"Scan, or open **{url}**")
    else:
        st.info("Phones cannot reach this dashboard yet: it listens on this machine only. Start it with "
                "`python3 dev.py app --expose` to show a QR code for the room.")


@st.fragment(run_every=2.0)
def audience_feed() -> None:
    ledger = Ledger(svc.store.paths.ledger_db)
    counts = audience.turnout(ledger)
    joined, approved, declined = st.columns(3)
    joined.metric("Joined", counts.joined)
    approved.metric("Approved", counts.approved)
    declined.metric("Declined", counts.declined)
    recent = audience.feed(ledger)
    if recent.empty:
        st.caption("Decisions made on the Join page appear here as they happen.")
    else:
        studio.table(recent)


with live:
    audience_feed()
