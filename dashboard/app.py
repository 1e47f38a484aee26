"""Entry point of the operator dashboard: `streamlit run dashboard/app.py`.

The pages only read and write through `core/`; sending is the dispatcher's job, never this script's.
"""

import logging

import streamlit as st

from dashboard.state import settings

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="smsto-console", page_icon=":material/sms:", layout="wide")

pages = {
    "Campaigns": [
        st.Page("pages/new_campaign.py", title="New campaign", icon=":material/add:", default=True),
        st.Page("pages/lists.py", title="Lists", icon=":material/list:"),
        st.Page("pages/campaigns.py", title="Campaigns", icon=":material/campaign:"),
        st.Page("pages/campaign.py", title="Campaign", icon=":material/monitoring:"),
    ],
    "Delivery reports": [
        st.Page("pages/callback_health.py", title="Callback health", icon=":material/sync:"),
    ],
}
page = st.navigation(pages)

# Only whether a key is set is shown, never the key.
mode = "SMS.to (API key configured)" if settings().api_key else "sandbox provider (no API key set)"
st.sidebar.caption(f"Sending through: {mode}")

page.run()
