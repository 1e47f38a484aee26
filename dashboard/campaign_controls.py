"""Operator controls on the Campaign page: pause, resume, cancel, retry failed, re-send uncertain.

Each control calls `core.dispatch`; the page never sends anything itself. A control's outcome is
kept in session state across the rerun that redraws the page with the campaign's new status.
"""

import logging

import pandas as pd
import streamlit as st

from core.dispatch import states
from core.dispatch.controls import (
    DEFAULT_RETRY_STATUSES,
    cancel,
    pause,
    resume,
    retry_failed,
)
from core.dispatch.uncertain import UncertainChunk, list_uncertain_chunks, resend_uncertain
from core.errors import InputError, NotFoundError
from core.models import Campaign
from core.redact import mask_phone
from dashboard.state import db_session, get_engine

log = logging.getLogger(__name__)

_OUTCOME = "campaign_control_outcome"
_PAUSABLE = (states.CAMPAIGN_QUEUED, states.CAMPAIGN_SCHEDULED, states.CAMPAIGN_SENDING)
_RESUMABLE = (states.CAMPAIGN_PAUSED, states.CAMPAIGN_STOPPED)


def render_outcome() -> None:
    """Show the sentence the last control left, once."""
    outcome = st.session_state.pop(_OUTCOME, None)
    if outcome is None:
        return
    kind, text, retry_id = outcome
    (st.success if kind == "ok" else st.error)(text)
    if retry_id is not None:
        st.page_link(
            "app_pages/campaign.py",
            label=f"Open campaign #{retry_id}",
            query_params={"id": retry_id},
        )


def render_controls(campaign: Campaign, failed_count: int) -> None:
    st.subheader("Controls")
    columns = st.columns(4)
    if columns[0].button("Pause", key="pause", disabled=campaign.status not in _PAUSABLE):
        _apply(lambda: pause(get_engine(), campaign_id=campaign.id), "Campaign paused.")
    if columns[1].button("Resume", key="resume", disabled=campaign.status not in _RESUMABLE):
        _apply(lambda: _resume_text(campaign.id), None)

    confirm = columns[2].checkbox("Confirm cancel", key="confirm_cancel")
    if columns[2].button(
        "Cancel", key="cancel", disabled=campaign.status not in _PAUSABLE + _RESUMABLE
    ):
        if not confirm:
            st.error("Tick Confirm cancel first: a cancelled campaign cannot be resumed.")
        else:
            _apply(lambda: _cancel_text(campaign.id), None)

    retry_label = f"Retry {failed_count} failed as a new campaign"
    if columns[3].button(retry_label, key="retry_failed", disabled=failed_count == 0):
        _retry(campaign.id)


def _resume_text(campaign_id: int) -> str:
    status = resume(get_engine(), campaign_id=campaign_id)
    return f"Campaign resumed; it is {status} now."


def _cancel_text(campaign_id: int) -> str:
    count = cancel(get_engine(), campaign_id=campaign_id)
    return f"Campaign cancelled; {count} recipients will not be sent."


def _apply(action, success_text: str | None) -> None:
    try:
        result = action()
    except (InputError, NotFoundError) as exc:
        st.session_state[_OUTCOME] = ("error", str(exc), None)
    else:
        st.session_state[_OUTCOME] = ("ok", success_text or result, None)
    st.rerun()


def _retry(campaign_id: int) -> None:
    # retry_failed derives its launch key from the recipients, so a double click launches once.
    try:
        launched = retry_failed(get_engine(), campaign_id=campaign_id)
    except (InputError, NotFoundError) as exc:
        st.session_state[_OUTCOME] = ("error", str(exc), None)
    else:
        retry_id = launched.campaign.id
        count = launched.campaign.recipient_count
        if launched.created:
            text = f"Campaign #{retry_id} queued for {count} recipients."
        else:
            text = f"This retry was already launched as campaign #{retry_id}."
        st.session_state[_OUTCOME] = ("ok", text, retry_id)
    st.rerun()


def render_uncertain(campaign_id: int) -> None:
    """List uncertain chunks with their recipients and offer a deliberate re-send."""
    with db_session() as session:
        chunks = list_uncertain_chunks(session, campaign_id=campaign_id)
    if not chunks:
        return

    st.subheader("Uncertain chunks")
    st.warning(
        "These requests may have reached SMS.to, but the answer was lost, so they are never "
        "re-sent automatically. Re-sending them can send a second message to someone who got "
        "the first."
    )
    st.dataframe(uncertain_frame(chunks), hide_index=True)

    chosen = st.multiselect(
        "Chunks to re-send", [chunk.chunk_id for chunk in chunks], key="resend_chunks"
    )
    confirm = st.checkbox(
        "I accept that some recipients may get the message twice", key="resend_confirm"
    )
    if st.button("Re-send these", key="resend", disabled=not chosen or not confirm):
        _apply(lambda: _resend_text(campaign_id, chosen), None)


def _resend_text(campaign_id: int, chunk_ids: list[int]) -> str:
    new_ids = resend_uncertain(get_engine(), campaign_id=campaign_id, chunk_ids=chunk_ids)
    return f"Re-sending {len(chunk_ids)} chunks as new chunks {', '.join(map(str, new_ids))}."


def uncertain_frame(chunks: list[UncertainChunk]) -> pd.DataFrame:
    rows = [
        {
            "chunk": chunk.chunk_id,
            "seq": chunk.seq,
            "shape": chunk.shape,
            "sending since": chunk.sending_at,
            "attempts": chunk.attempts,
            "lookups": chunk.lookup_count,
            "last error": chunk.last_error,
            "recipients": len(chunk.phones),
            "phones": ", ".join(mask_phone(phone) for phone in chunk.phones[:20]),
        }
        for chunk in chunks
    ]
    return pd.DataFrame(rows)


def retryable_count(by_status: dict[str, int]) -> int:
    """Count the recipients that "retry failed" would send to again."""
    return sum(by_status.get(status, 0) for status in DEFAULT_RETRY_STATUSES)
