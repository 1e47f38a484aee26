"""Callback health: what SMS.to's delivery reports did on arrival, how late they are, what is unmatched.

The figures refresh themselves every few seconds.
"""

import streamlit as st

from core.reports.health import callback_health
from core.reports.unmatched import count_unmatched, list_unmatched
from dashboard.health_view import REFRESH_SECONDS, render_health, render_unmatched
from dashboard.state import db_session

st.title("Callback health")
st.caption(
    "Delivery reports that SMS.to sends to the companion server: accepted, rejected, duplicate, "
    "out of order and unmatched."
)


@st.fragment(run_every=REFRESH_SECONDS)
def health_figures() -> None:
    with db_session() as session:
        health = callback_health(session)
        reasons = count_unmatched(session)
        unmatched = list_unmatched(session, limit=200)

    render_health(health)
    render_unmatched(reasons, unmatched)


health_figures()
