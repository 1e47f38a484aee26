"""Entry point of the operator dashboard: `streamlit run dashboard/app.py`.

The pages read and write only through `core/`, and sending is the dispatcher's job, never this
script's.
"""

import logging

import streamlit as st

from dashboard.address import record_page
from dashboard.icon import page_icon
from dashboard.state import sending_mode, settings

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="smsto-console", page_icon=page_icon(), layout="wide")

# The page files live in app_pages/, not pages/: Streamlit 1.67 still treats a folder named pages/
# beside the entry script as the legacy page list, and a deep link opened first after a restart
# (such as /campaign?id=3) would then run that file alone, without this script.
pages = {
    "Campaigns": [
        st.Page(
            "app_pages/new_campaign.py", title="New campaign", icon=":material/add:", default=True
        ),
        st.Page("app_pages/lists.py", title="Lists", icon=":material/list:"),
        st.Page("app_pages/campaigns.py", title="Campaigns", icon=":material/campaign:"),
        st.Page("app_pages/campaign.py", title="Campaign", icon=":material/monitoring:"),
    ],
    "Delivery reports": [
        st.Page("app_pages/callback_health.py", title="Callback health", icon=":material/sync:"),
    ],
}
page = st.navigation(pages)
record_page(page.url_path)

st.sidebar.caption(f"Sending through: {sending_mode(settings())}")

page.run()
