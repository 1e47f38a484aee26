"""Campaign: one campaign's stages, delivery over time, cost, reports, controls and recipients.

The live figures refresh themselves every few seconds until the campaign is finished.
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
controls.render_outcome()
first = view.load_progress(campaign)


@st.fragment(run_every=None if first.finished else view.REFRESH_SECONDS)
def live_figures() -> None:
    snapshot = view.load_snapshot(campaign)
    view.render_live(snapshot)
    # A full rerun registers the fragment again without run_every, which stops the refresh.
    if snapshot.finished and not first.finished:
        st.rerun()


live_figures()

controls.render_controls(campaign, controls.retryable_count(first.summary.by_status))
controls.render_uncertain(campaign_id)
view.render_unmatched(campaign_id)
view.render_recipients(campaign_id, sorted(first.summary.by_status))
