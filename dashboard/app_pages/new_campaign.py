"""New campaign: upload a list, write the message, check every row's parts and cost, then launch.

Nothing here sends an SMS: a launch or a test send only queues a campaign for the dispatcher.
"""

import streamlit as st

from dashboard import compose, launch_form, launch_view
from dashboard import new_campaign_view as view
from dashboard.rewrite_view import render_rewrite
from dashboard.state import settings

st.title("New campaign")

key = launch_form.launch_key()
launched = launch_form.find_launched(key)
if launched is not None:
    launch_view.render_launched(launched)
    st.stop()

upload = st.file_uploader(
    "Recipient list (CSV or Excel)", type=["csv", "xlsx"], key=launch_form.uploader_key()
)
country = view.country_picker(settings().default_country)
result = view.import_with_column_choice(upload, country)
imported = result.rows if result else None

message = st.text_area("Message", key="message", height=140, help=view.placeholder_help(result))
view.render_placeholders(result)
sender_id = st.text_input("Sender ID", value=settings().smsto_sender_id or "", key="sender_id")
sender, sender_error = compose.check_sender_id(sender_id)
view.render_sender_check(sender, sender_error)

check = view.check_typed_message(message, imported, country)
view.render_message_check(message, check)

rows, placeholder_error = view.rows_for_message(imported, check)
preview = view.preview_for_message(rows, message, country, check, placeholder_error)
candidates = view.sendable_rows(rows) if rows is not None else None
render_rewrite(message, check, candidates, preview, country)
view.render_rows_preview(rows, preview, message, country, placeholder_error)
skip_missing = view.render_missing_values(preview, rows)

st.divider()
name = st.text_input("Campaign name", value=upload.name if upload else "", key="campaign_name")
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

launch_view.render_test_send(choices, key, rows, check, sender_error)

problems = launch_view.launch_problems(
    imported, check, sender_error, placeholder_error, preview, skip_missing, schedule_error
)
if st.button("Launch campaign", type="primary", key="launch"):
    launch_view.launch_or_explain(
        lambda: launch_form.launch_import(result, choices, key=key), problems
    )
