"""Lists: stored recipient lists, one list's rows by verdict, and a campaign launched on it."""

import streamlit as st

from core.importing import list_recipient_lists
from dashboard import compose, launch_form, launch_view, lists_view
from dashboard import new_campaign_view as view
from dashboard.rewrite_view import render_rewrite
from dashboard.state import db_session, settings

st.title("Lists")

with db_session() as session:
    lists = list_recipient_lists(session)
if not lists:
    st.info("No stored list yet. A list is stored when a campaign is launched on an upload.")
    st.page_link("app_pages/new_campaign.py", label="New campaign", icon=":material/add:")
    st.stop()

st.dataframe(lists_view.lists_frame(lists), hide_index=True)
recipient_list = lists_view.pick_list(lists)
rows = lists_view.load_rows(recipient_list.id)
st.subheader(f"List #{recipient_list.id} {recipient_list.name}")
lists_view.render_rows_by_verdict(recipient_list, rows)

st.subheader("Launch a campaign on this list")
key = launch_form.launch_key("list_launch_key", query_param="list_launch")
launched = launch_form.find_launched(key)
if launched is not None:
    launch_view.render_launched(launched, "list_launch_key")
    st.stop()

country = recipient_list.default_country
message = st.text_area("Message", key="message", height=140)
sender_id = st.text_input("Sender ID", value=settings().smsto_sender_id or "", key="sender_id")
sender, sender_error = compose.check_sender_id(sender_id)
view.render_sender_check(sender, sender_error)

check = view.check_typed_message(message, rows, country)
view.render_message_check(message, check)
checked, placeholder_error = view.rows_for_message(rows, check)
preview = view.preview_for_message(checked, message, country, check, placeholder_error)
render_rewrite(message, check, view.sendable_rows(checked), preview, country)
view.render_rows_preview(
    checked, preview, message, country, placeholder_error, show_verdicts=False
)
skip_missing = view.render_missing_values(preview, checked)

name = st.text_input("Campaign name", value=recipient_list.name, key="campaign_name")
schedule, schedule_error = launch_view.schedule_picker()
choices = launch_form.Choices(
    name=name,
    message=message,
    sender_id=sender,
    country=country,
    skip_missing_values=skip_missing,
    scheduled_for=schedule[0] if schedule else None,
    timezone=schedule[1] if schedule else None,
)

problems = launch_view.launch_problems(
    rows, check, sender_error, placeholder_error, preview, skip_missing, schedule_error
)
if st.button("Launch campaign", type="primary", key="launch"):
    launch_view.launch_or_explain(
        lambda: launch_form.launch_list_rows(rows, choices, key=key, list_id=recipient_list.id),
        problems,
    )
