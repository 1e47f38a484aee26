"""Launch sections of the New campaign page: schedule, test send, the launch and what follows it."""

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import available_timezones

import pandas as pd
import streamlit as st

from core.campaigns import LaunchResult
from core.errors import InputError, LaunchError
from core.models import Campaign
from core.preview import RowsPreview
from dashboard import compose, launch_form
from dashboard.new_campaign_view import first_row_fields

log = logging.getLogger(__name__)

ZONES = sorted(available_timezones())
_OUTCOME = "launch_outcome"


def render_launched(campaign: Campaign, key_name: str = "launch_key") -> None:
    """Show the campaign this form launched, and note it when the launch was an earlier run."""
    created = st.session_state.pop(_OUTCOME, None) == campaign.id
    st.success(launched_text(campaign))
    if not created:
        st.caption(
            "This form launched it once: a repeated click, a rerun or a reload shows the same "
            "campaign and does not launch a second one."
        )

    st.page_link(
        "app_pages/campaign.py",
        label=f"Open campaign #{campaign.id}",
        icon=":material/monitoring:",
        query_params={"id": str(campaign.id)},
    )
    st.button(
        "Start another campaign",
        key="start_another",
        on_click=launch_form.start_new_form,
        args=(launch_form.FORM_WIDGETS, key_name),
    )


def launched_text(campaign: Campaign) -> str:
    recipients = compose.count_noun(campaign.recipient_count, "recipient")
    if campaign.scheduled_for:
        when = f"{campaign.scheduled_for:%Y-%m-%d %H:%M} UTC"
        return f"Campaign #{campaign.id} scheduled for {when}: {recipients} queued."
    return f"Campaign #{campaign.id} launched: {recipients} queued; the dispatcher sends them."


def schedule_picker() -> tuple[tuple[datetime, str] | None, str | None]:
    """Return ((UTC time, zone), None) when scheduled, (None, None) to send now, or an error."""
    if not st.checkbox("Schedule for later", key="schedule"):
        return None, None

    zone_default = st.context.timezone if st.context.timezone in ZONES else "UTC"
    columns = st.columns(3)
    today = date.today()
    day = columns[0].date_input(
        "Date",
        value=today + timedelta(days=1),
        min_value=today - timedelta(days=1),
        max_value=today + timedelta(days=366),
        key="schedule_day",
    )
    clock = columns[1].time_input("Time", value=time(9, 0), key="schedule_time")
    zone = columns[2].selectbox(
        "Time zone", ZONES, index=ZONES.index(zone_default), key="schedule_zone"
    )
    try:
        return (compose.scheduled_utc(day, clock, zone), zone), None
    except InputError as exc:
        st.error(str(exc))
        return None, str(exc)


def render_test_send(
    choices: launch_form.Choices,
    key: str,
    rows: pd.DataFrame | None,
    check: compose.MessageCheck,
    sender_error: str | None,
) -> None:
    """Queue a test to one number as a one-recipient campaign named "Test send"."""
    with st.expander("Test send"):
        number = st.text_input("Test number", key="test_number", placeholder="+357 99 000001")
        if not st.button("Send a test", key="test_send"):
            return

        fields = first_row_fields(rows)
        problem = check.problem or sender_error
        if not problem and check.placeholders and fields is None:
            problem = (
                "The message has placeholders; upload a list so the test can use its first row."
            )
        if not problem and not number.strip():
            problem = "Type the number to send the test to."
        if problem:
            st.error(problem)
            return

        try:
            launched = launch_form.send_test(number, choices, key=key, fields=fields)
        except (InputError, LaunchError) as exc:
            st.error(str(exc))
            return

        campaign_id = launched.campaign.id
        if launched.created:
            st.success(f"Test queued as campaign #{campaign_id}; the dispatcher sends it.")
        else:
            st.info(f"This test was already sent as campaign #{campaign_id}.")
        st.page_link(
            "app_pages/campaign.py",
            label=f"Open campaign #{campaign_id}",
            query_params={"id": str(campaign_id)},
        )


def launch_problems(
    rows: pd.DataFrame | None,
    check: compose.MessageCheck,
    sender_error: str | None,
    placeholder_error: str | None,
    preview: RowsPreview | None,
    skip_missing: bool,
    schedule_error: str | None,
) -> list[str]:
    """List every reason to reject the launch, each as a sentence; empty when it may go."""
    if rows is None:
        return ["Upload a recipient list before launching."]

    problems = [text for text in (check.problem, placeholder_error) if text]
    if sender_error:
        problems.append(
            f"The sender ID is invalid, so the campaign was not launched: {sender_error}"
        )
    if preview is not None:
        if preview.skipped and not skip_missing:
            problems.append(
                f"Rows with no value for a placeholder: {preview.skipped}; fill them in the "
                "file, or tick 'Skip the rows with a missing value' to send to the others."
            )
        elif preview.recipients == 0:
            problems.append("No row of the list can be sent; check the import verdicts above.")
    if schedule_error:
        problems.append(schedule_error)
    return problems


def launch_or_explain(launch: Callable[[], LaunchResult], problems: list[str]) -> None:
    """Call `launch` unless there are problems to show; a repeat shows the campaign already made."""
    if problems:
        for problem in problems:
            st.error(problem)
        return

    try:
        launched = launch()
    except (InputError, LaunchError) as exc:
        st.error(str(exc))
        return

    if launched.created:
        st.session_state[_OUTCOME] = launched.campaign.id
    st.rerun()
