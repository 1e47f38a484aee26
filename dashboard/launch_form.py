"""The launch key of a launch form, and the import, launch and test-send calls behind its buttons.

A form gets one launch key when it is first shown. The key is kept in session state and, from
the form's second run on, mirrored in the address as `?launch=` (see `dashboard.address`). A
double click, a rerun or a reconnect after a server restart then finds the campaign that key
already launched instead of creating a second one. "Start another campaign" makes a new key,
and so does coming back to the page without the key in the address after the form launched.
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core.campaign_stats import get_campaign_by_launch_key
from core.campaigns import LaunchResult
from core.errors import InputError
from core.importing import (
    OK,
    ImportResult,
    classify_phone,
    import_file,
    store_import,
    suppressed_numbers_for,
)
from core.launching import LaunchOptions, launch_rows, new_launch_key
from core.models import Campaign
from dashboard.address import keep_in_address, page_just_opened
from dashboard.state import db_session, get_engine

log = logging.getLogger(__name__)

TEST_SEND_NAME = "Test send"
_KEY_PATTERN = re.compile(r"[0-9a-f]{32}")
_GENERATION = "form_generation"
_IMPORTS = "form_imports"
# Widgets of the launch forms, forgotten when a new form starts.
FORM_WIDGETS = (
    "message",
    "sender_id",
    "campaign_name",
    "skip_missing",
    "schedule",
    "schedule_day",
    "schedule_time",
    "schedule_zone",
    "test_number",
)


def launch_key(name: str = "launch_key", *, query_param: str = "launch") -> str:
    """Return this form's launch key, creating it once and keeping the address in step.

    When the page has just been opened, a key in the address wins (a reload, a reconnect or the
    back button). Opened without one after this form launched its campaign, as from the sidebar,
    the page starts a fresh form instead of showing that campaign again.
    """
    key = st.session_state.get(name)
    if page_just_opened():
        from_address = st.query_params.get(query_param, "")
        if _KEY_PATTERN.fullmatch(from_address):
            key = from_address
        elif key is not None and find_launched(key) is not None:
            start_new_form(FORM_WIDGETS, name)
            key = st.session_state[name]

    if key is None:
        key = new_launch_key()
    st.session_state[name] = key
    keep_in_address(query_param, key)
    return key


def start_new_form(widget_keys: tuple[str, ...], name: str = "launch_key") -> None:
    """Forget the form's inputs and give it a new launch key (an on_click callback)."""
    for widget_key in widget_keys:
        st.session_state.pop(widget_key, None)
    for cached in (_IMPORTS,):
        st.session_state.pop(cached, None)
    st.session_state[name] = new_launch_key()
    # A new uploader key empties the file uploader, which has no other way to be cleared.
    st.session_state[_GENERATION] = st.session_state.get(_GENERATION, 0) + 1


def uploader_key() -> str:
    return f"recipient_file_{st.session_state.get(_GENERATION, 0)}"


def find_launched(key: str) -> Campaign | None:
    with db_session() as session:
        return get_campaign_by_launch_key(session, launch_key=key)


def import_upload(upload: UploadedFile, *, country: str, phone_column: str | None) -> ImportResult:
    """Import the uploaded file, once per file, country and phone column; raises InputError."""
    imports = st.session_state.setdefault(_IMPORTS, {})
    # Imports of an earlier file are dropped. Those of this file stay, so switching the phone
    # column back and forth does not read the file again.
    for signature in [signature for signature in imports if signature[0] != upload.file_id]:
        del imports[signature]

    signature = (upload.file_id, country, phone_column)
    if signature not in imports:
        with db_session() as session:
            suppressed = suppressed_numbers_for(session)
        imports[signature] = import_file(
            upload.getvalue(),
            filename=upload.name,
            default_country=country,
            phone_column=phone_column,
            suppressed=suppressed,
        )
    return imports[signature]


@dataclass(frozen=True)
class Choices:
    """The operator's choices on a launch form, besides the recipients."""

    name: str
    message: str
    sender_id: str | None
    country: str
    skip_missing_values: bool = False
    scheduled_for: datetime | None = None
    timezone: str | None = None


def launch_import(result: ImportResult, choices: Choices, *, key: str) -> LaunchResult:
    """Launch a campaign on the import's accepted rows, storing the import as a list with it.

    The list is written in the campaign's own transaction and only for a new launch key, so a
    refused launch or a repeated click stores no extra list.
    """

    def store_list(session) -> int:
        return store_import(session, result=result, name=choices.name).id

    return launch_list_rows(result.rows, choices, key=key, list_id=None, store_list=store_list)


def launch_list_rows(
    rows: pd.DataFrame, choices: Choices, *, key: str, list_id: int | None, store_list=None
) -> LaunchResult:
    """Launch a campaign on rows shaped like `ImportResult.rows`, through core's launch path."""
    options = LaunchOptions(
        message=choices.message,
        name=choices.name,
        sender_id=choices.sender_id,
        launch_key=key,
        default_country=choices.country,
        skip_missing_values=choices.skip_missing_values,
        scheduled_for=choices.scheduled_for,
        timezone=choices.timezone,
        list_id=list_id,
    )
    launched = launch_rows(get_engine(), rows=rows, options=options, store_list=store_list)
    log.info(
        "form launch resolved to campaign %s (new: %s)", launched.campaign.id, launched.created
    )
    return launched


def send_test(
    number: str, choices: Choices, *, key: str, fields: dict[str, str] | None
) -> LaunchResult:
    """Queue a one-recipient campaign named "Test send" through the launch path.

    The dispatcher sends it like any campaign. Its launch key is derived from the form's key,
    the number, the message and the sender ID, so repeating the same test launches it once.
    """
    verdict = classify_phone(number, choices.country)
    if verdict.code != OK:
        reason = verdict.code.replace("_", " ")
        raise InputError(
            f"The test number {number!r} cannot receive an SMS ({reason}); type a mobile number, "
            "with its country code if it is not in the default country."
        )

    row = {"line": 0, "e164": verdict.e164, "region": verdict.region, "verdict": OK}
    row.update(fields or {})
    digest = hashlib.sha256(
        "\n".join([verdict.e164, choices.message, choices.sender_id or ""]).encode()
    ).hexdigest()[:16]
    test_choices = Choices(TEST_SEND_NAME, choices.message, choices.sender_id, choices.country)
    return launch_list_rows(
        pd.DataFrame([row]), test_choices, key=f"{key}-test-{digest}", list_id=None
    )
