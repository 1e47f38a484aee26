"""Operator controls on the Campaign page: pause, resume, cancel, retry failed, re-send uncertain.

Each control calls `core.dispatch` from its button's on_click callback; the page never sends
anything itself. A callback runs even when the campaign changed state after the button was
drawn, so a control that no longer applies shows core's ControlError sentence instead of doing
nothing. The outcome stays in session state, shown beside its section, until the next control
is used or the page is opened again.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.dispatch import states
from core.dispatch.controls import cancel, pause, resume, retry_failed
from core.dispatch.uncertain import UncertainChunk, list_uncertain_chunks, resend_uncertain
from core.errors import InputError, NotFoundError
from core.models import Campaign
from core.money import format_money
from core.redact import mask_phone
from dashboard.address import page_just_opened
from dashboard.compose import count_noun
from dashboard.retry_estimate import RetryEstimate
from dashboard.state import db_session, get_engine

log = logging.getLogger(__name__)

_OUTCOME = "campaign_control_outcome"
_CONTROLS = "controls"
_UNCERTAIN = "uncertain"
# The states in which core.dispatch.controls accepts each control.
_PAUSABLE = (states.CAMPAIGN_QUEUED, states.CAMPAIGN_SCHEDULED, states.CAMPAIGN_SENDING)
_RESUMABLE = (states.CAMPAIGN_PAUSED, states.CAMPAIGN_STOPPED)
_CANCELLABLE = _PAUSABLE + _RESUMABLE


@dataclass(frozen=True)
class Outcome:
    """The sentence a control left for one campaign, and the campaign it created, if any."""

    campaign_id: int
    section: str
    ok: bool
    text: str
    note: str = ""
    link_id: int | None = None


def forget_outcome(campaign_id: int) -> None:
    """Drop an outcome left for another campaign, or any outcome when the page was just opened."""
    outcome = st.session_state.get(_OUTCOME)
    if outcome is not None and (page_just_opened() or outcome.campaign_id != campaign_id):
        del st.session_state[_OUTCOME]


def _render_outcome(campaign_id: int, section: str) -> None:
    outcome = st.session_state.get(_OUTCOME)
    if outcome is None or outcome.campaign_id != campaign_id or outcome.section != section:
        return
    (st.success if outcome.ok else st.error)(outcome.text)
    if outcome.note:
        st.caption(outcome.note)
    if outcome.link_id is not None:
        st.page_link(
            "app_pages/campaign.py",
            label=f"Open campaign #{outcome.link_id}",
            query_params={"id": str(outcome.link_id)},
        )


def render_controls(campaign: Campaign, retry: RetryEstimate) -> None:
    """Draw the controls that the campaign's current status allows, and the last outcome."""
    st.subheader("Controls")
    _render_outcome(campaign.id, _CONTROLS)
    status = campaign.status
    args = (campaign.id,)
    columns = st.columns(4)

    columns[0].button(
        "Pause", key="pause", disabled=status not in _PAUSABLE, on_click=_pause, args=args
    )
    columns[1].button(
        "Resume", key="resume", disabled=status not in _RESUMABLE, on_click=_resume, args=args
    )

    cannot_cancel = status not in _CANCELLABLE
    columns[2].checkbox("Confirm cancel", key="confirm_cancel", disabled=cannot_cancel)
    columns[2].button(
        "Cancel", key="cancel", disabled=cannot_cancel, on_click=_cancel, args=args
    )

    nothing_to_retry = retry.recipients == 0
    columns[3].checkbox("Confirm retry", key="confirm_retry", disabled=nothing_to_retry)
    columns[3].button(
        f"Retry failed ({retry.recipients})",
        key="retry_failed",
        disabled=nothing_to_retry,
        on_click=_retry,
        args=(campaign.id, retry),
    )
    columns[3].caption(retry_text(retry))


def retry_text(retry: RetryEstimate) -> str:
    """Describe what "Retry failed" would queue: how many recipients and the estimated cost."""
    if retry.recipients == 0:
        return "No failed, undelivered or expired recipient to retry."
    recipients = count_noun(retry.recipients, "recipient")
    cost = f"estimated {format_money(retry.estimated_cost) or '0'} EUR"
    if retry.unpriced:
        cost += f" ({retry.unpriced} without an estimate)"
    return f"Queues a new campaign for {recipients} at once, {cost}."


def _set_outcome(outcome: Outcome) -> None:
    st.session_state[_OUTCOME] = outcome


def _run(campaign_id: int, section: str, action: Callable[[], Outcome]) -> None:
    try:
        outcome = action()
    except (InputError, NotFoundError) as exc:
        # ControlError is an InputError: the campaign is in a state where the control cannot apply.
        log.info("campaign %s: control rejected: %s", campaign_id, exc)
        outcome = Outcome(campaign_id, section, False, str(exc))
    _set_outcome(outcome)


def _pause(campaign_id: int) -> None:
    def action() -> Outcome:
        pause(get_engine(), campaign_id=campaign_id)
        return Outcome(campaign_id, _CONTROLS, True, "Campaign paused.")

    _run(campaign_id, _CONTROLS, action)


def _resume(campaign_id: int) -> None:
    def action() -> Outcome:
        status = resume(get_engine(), campaign_id=campaign_id)
        return Outcome(campaign_id, _CONTROLS, True, f"Campaign resumed; it is {status} now.")

    _run(campaign_id, _CONTROLS, action)


def _cancel(campaign_id: int) -> None:
    if not st.session_state.get("confirm_cancel"):
        text = "Tick Confirm cancel first: a cancelled campaign cannot be resumed."
        _set_outcome(Outcome(campaign_id, _CONTROLS, False, text))
        return

    def action() -> Outcome:
        count = cancel(get_engine(), campaign_id=campaign_id)
        text = f"Campaign cancelled; {count_noun(count, 'recipient')} will not be sent."
        return Outcome(campaign_id, _CONTROLS, True, text)

    st.session_state["confirm_cancel"] = False
    _run(campaign_id, _CONTROLS, action)


def _retry(campaign_id: int, retry: RetryEstimate) -> None:
    if not st.session_state.get("confirm_retry"):
        text = f"Tick Confirm retry first. {retry_text(retry)}"
        _set_outcome(Outcome(campaign_id, _CONTROLS, False, text))
        return

    def action() -> Outcome:
        # retry_failed derives its launch key from the recipients, so a repeat launches once.
        launched = retry_failed(get_engine(), campaign_id=campaign_id)
        retry_id = launched.campaign.id
        recipients = count_noun(launched.campaign.recipient_count, "recipient")
        text = f"Retry campaign #{retry_id} launched: {recipients} queued."
        note = ""
        if not launched.created:
            note = "It was launched once; retrying the same recipients again launches nothing new."
        return Outcome(campaign_id, _CONTROLS, True, text, note, retry_id)

    st.session_state["confirm_retry"] = False
    _run(campaign_id, _CONTROLS, action)


def render_uncertain(campaign_id: int) -> None:
    """List uncertain chunks with their recipients and offer a deliberate re-send."""
    with db_session() as session:
        chunks = list_uncertain_chunks(session, campaign_id=campaign_id)
    if not chunks:
        _render_outcome(campaign_id, _UNCERTAIN)
        return

    st.subheader("Uncertain chunks")
    _render_outcome(campaign_id, _UNCERTAIN)
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
    st.button(
        "Re-send these",
        key="resend",
        disabled=not chosen or not confirm,
        on_click=_resend,
        args=(campaign_id,),
    )


def _resend(campaign_id: int) -> None:
    chunk_ids = list(st.session_state.get("resend_chunks") or [])

    def action() -> Outcome:
        new_ids = resend_uncertain(get_engine(), campaign_id=campaign_id, chunk_ids=chunk_ids)
        noun = "chunk" if len(new_ids) == 1 else "chunks"
        text = (
            f"Re-sending {count_noun(len(chunk_ids), 'chunk')} as new {noun} "
            f"{', '.join(map(str, new_ids))}."
        )
        return Outcome(campaign_id, _UNCERTAIN, True, text)

    st.session_state["resend_confirm"] = False
    st.session_state["resend_chunks"] = []
    _run(campaign_id, _UNCERTAIN, action)


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
