"""Campaigns: one row per campaign with its status, delivery counts and cost, each linking to its page."""

import streamlit as st

from core.campaigns import list_campaign_summaries
from dashboard.state import db_session
from dashboard.tables import campaign_summaries_frame

st.title("Campaigns")

with db_session() as session:
    summaries = list_campaign_summaries(session)

if not summaries:
    st.info("No campaign yet. Launch one from the New campaign page.")
    st.page_link("app_pages/new_campaign.py", label="New campaign", icon=":material/add:")
    st.stop()

frame = campaign_summaries_frame(summaries)
selection = st.dataframe(
    frame,
    hide_index=True,
    key="campaigns_table",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "page": st.column_config.LinkColumn("page", display_text="open", width="small"),
        "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
    },
)
st.caption(
    "Select a row with the box at its left to open its campaign here, or use 'open' in the "
    "first column to open it in a new tab."
)

chosen_rows = selection.selection.rows
if chosen_rows:
    campaign_id = int(frame.iloc[chosen_rows[0]]["id"])
    st.switch_page("app_pages/campaign.py", query_params={"id": str(campaign_id)})
