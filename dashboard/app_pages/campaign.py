"""Campaign: one campaign's stages, delivery over time, cost, reports, controls and recipients.

The status, the live figures and the controls refresh themselves every few seconds until the
campaign is finished, so a control is enabled only while the status drawn beside it allows it.
"""

import streamlit as st

from dashboard import campaign_controls as controls
from dashboard import campaign_view as view

st.title("Campaign")

campaign_id = view.pick_campaign_id()
if campaign_id is None:
    st.stop()

campaign = view.load_campaign(campaign_id)
view.render_header(campaign)
controls.forget_outcome(campaign_id)
first = view.load_progress(campaign)


@st.fragment(run_every=None if first.finished else view.REFRESH_SECONDS)
def live_figures() -> None:
    snapshot = view.load_snapshot(campaign)
    view.render_status(snapshot)
    view.render_live(snapshot)
    controls.render_controls(snapshot.campaign, snapshot.retry)
    # A full rerun registers the fragment again without run_every, which stops the refresh.
    if snapshot.finished and not first.finished:
        st.rerun()


live_figures()

controls.render_uncertain(campaign_id)
view.render_unmatched(campaign_id)
view.render_recipients(campaign_id, sorted(first.summary.by_status))
