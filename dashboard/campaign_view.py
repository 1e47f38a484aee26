"""Sections of the Campaign page: picking the campaign, its live figures and its recipients."""

import logging
import math
from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from core.campaign_stats import (
    CountryCost,
    count_delivery_times,
    count_recipients,
    count_stages,
    is_finished,
    list_campaign_choices,
    list_country_costs,
    list_recipients,
)
from core.campaigns import CampaignSummary, get_campaign, status_timeline, summarise_campaign
from core.dispatch import states
from core.models import Campaign
from core.money import format_money
from core.reports.unmatched import list_unmatched
from core.statuses import awaiting_final_report
from dashboard import charts
from dashboard.address import keep_in_address
from dashboard.exports import recipients_csv_callback
from dashboard.retry_estimate import RetryEstimate, estimate_retry
from dashboard.state import db_session, get_engine
from dashboard.tables import (
    FAILED_STATUSES,
    country_costs_frame,
    outcome_counts,
    recipients_frame,
    unmatched_frame,
)

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5
PAGE_SIZE = 100
UNMATCHED_LIMIT = 200
_ALL = "all statuses"
# Stages of recipients that the dispatcher has not handed to SMS.to.
_NOT_STARTED = ("queued", "not sent")
_WAITING = (states.CAMPAIGN_QUEUED, states.CAMPAIGN_SCHEDULED)
# `smsto-console status` lists these statuses one by one; this page adds them up.
_FAILED_HELP = "Recipients whose status is one of " + ", ".join(sorted(FAILED_STATUSES)) + "."


@dataclass(frozen=True)
class Snapshot:
    """Everything the live part of the page draws, read in one session."""

    campaign: Campaign
    summary: CampaignSummary
    stages: dict[str, int]
    timeline: list[tuple[datetime, str, int]]
    delivery_times: dict[str, int]
    country_costs: list[CountryCost]
    retry: RetryEstimate
    finished: bool


def pick_campaign_id() -> int | None:
    """Return the campaign named by `?id=` or chosen in the picker, keeping the address in step."""
    with db_session() as session:
        choices = dict(list_campaign_choices(session))
    if not choices:
        st.info("No campaign yet. Launch one from the New campaign page.")
        return None

    requested = _requested_id()
    if requested is not None and requested not in choices:
        with db_session() as session:
            campaign = get_campaign(session, campaign_id=requested)
        if campaign is None:
            st.error(f"No campaign has the id {requested}; pick one below.")
            requested = None
        else:
            choices[campaign.id] = campaign.name

    ids = list(choices)
    index = ids.index(requested) if requested is not None else 0
    chosen = st.selectbox(
        "Campaign", ids, index=index, format_func=lambda key: f"#{key} {choices[key]}".strip()
    )
    keep_in_address("id", str(chosen))
    return chosen


def _requested_id() -> int | None:
    text = st.query_params.get("id")
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        st.error(f"The address names the campaign {text!r}, which is not a number; pick one below.")
        return None


def load_campaign(campaign_id: int) -> Campaign | None:
    with db_session() as session:
        return get_campaign(session, campaign_id=campaign_id)


@dataclass(frozen=True)
class Progress:
    """The campaign as stored now, its counts per status and stage, and whether it can change."""

    campaign: Campaign
    summary: CampaignSummary
    stages: dict[str, int]
    finished: bool


def load_progress(campaign: Campaign) -> Progress:
    with db_session() as session:
        return _progress(session, campaign)


def _progress(session, campaign: Campaign) -> Progress:
    stages = count_stages(session, campaign_id=campaign.id)
    fresh = get_campaign(session, campaign_id=campaign.id) or campaign
    summary = summarise_campaign(session, campaign_id=campaign.id)
    return Progress(fresh, summary, stages, is_finished(fresh, stages))


def load_snapshot(campaign: Campaign) -> Snapshot:
    with db_session() as session:
        progress = _progress(session, campaign)
        return Snapshot(
            campaign=progress.campaign,
            summary=progress.summary,
            stages=progress.stages,
            timeline=status_timeline(session, campaign_id=campaign.id),
            delivery_times=count_delivery_times(session, campaign_id=campaign.id),
            country_costs=list_country_costs(session, campaign_id=campaign.id),
            retry=estimate_retry(session, campaign_id=campaign.id),
            finished=progress.finished,
        )


def render_header(campaign: Campaign) -> None:
    """Show the parts of the campaign that never change: its name and message."""
    st.subheader(f"#{campaign.id} {campaign.name}".strip())
    with st.expander("Message"):
        st.text(campaign.message)


def display_status(status: str, stages: dict[str, int]) -> str:
    """Return the status to show: "sending" for a queued or scheduled one already under way.

    core.dispatch.planner sets a campaign to sending in the transaction that writes its chunks.
    The stored status lags only when something else wrote the row, and the recipients' stages
    then show the real progress.
    """
    started = sum(count for stage, count in stages.items() if stage not in _NOT_STARTED)
    if status in _WAITING and started:
        return states.CAMPAIGN_SENDING
    return status


def render_status(snapshot: Snapshot) -> None:
    """Show the campaign's status as it is now, with its sender ID, schedule and reason."""
    campaign = snapshot.campaign
    shown = display_status(campaign.status, snapshot.stages)
    status = f"status **{shown}**"
    if shown != campaign.status:
        status += f" (stored as {campaign.status}, but recipients are already being sent)"
    awaiting = awaiting_final_report(snapshot.summary.by_status)
    if campaign.status == states.CAMPAIGN_COMPLETED and awaiting:
        status += f" (handed over to SMS.to, {awaiting} awaiting a final report)"
    details = [status, f"sender ID {campaign.sender_id or 'account default'}"]
    if campaign.scheduled_for:
        details.append(
            f"scheduled for {campaign.scheduled_for:%Y-%m-%d %H:%M} UTC ({campaign.timezone})"
        )
    if campaign.status_reason:
        details.append(campaign.status_reason)
    st.markdown(" · ".join(details))


def render_live(snapshot: Snapshot) -> None:
    summary = snapshot.summary
    outcomes = outcome_counts(summary.by_status)
    columns = st.columns(7)
    columns[0].metric("Recipients", summary.recipients)
    columns[1].metric("Delivered", outcomes["delivered"])
    columns[2].metric("Failed", outcomes["failed"], help=_FAILED_HELP)
    columns[3].metric("Pending", outcomes["pending"])
    columns[4].metric("Not sent", outcomes["not sent"])
    columns[5].metric("Cost (EUR)", format_money(summary.cost) or "0")
    columns[6].metric("Estimated (EUR)", format_money(summary.estimated_cost) or "unknown")

    left, right = st.columns(2)
    left.plotly_chart(charts.stage_funnel(snapshot.stages), key="funnel")
    right.plotly_chart(charts.delivery_timeline(snapshot.timeline), key="timeline")
    left.plotly_chart(charts.delivery_times(snapshot.delivery_times), key="delivery_times")
    right.plotly_chart(charts.cost_by_country(snapshot.country_costs), key="country_costs")
    st.dataframe(country_costs_frame(snapshot.country_costs), hide_index=True)
    if not snapshot.finished:
        st.caption(f"Refreshing every {REFRESH_SECONDS} s while reports can still arrive.")


def render_unmatched(campaign_id: int) -> None:
    """List the reports that name this campaign but matched none of its recipients, with reasons."""
    with db_session() as session:
        reports = list_unmatched(session, campaign_id=campaign_id, limit=UNMATCHED_LIMIT)
    st.subheader("Unmatched reports")
    if not reports:
        st.caption("Every report for this campaign matched a recipient.")
        return
    st.dataframe(unmatched_frame(reports), hide_index=True)
    st.caption(f"The newest {len(reports)} unmatched reports; phone numbers masked.")


def render_recipients(campaign_id: int, statuses: list[str]) -> None:
    """Show one page of recipients (phones masked) and offer the whole campaign as a CSV export."""
    st.subheader("Recipients")
    status_choice = st.selectbox("Status", [_ALL, *statuses], key="recipient_status")
    status = None if status_choice == _ALL else status_choice

    with db_session() as session:
        total = count_recipients(session, campaign_id=campaign_id, status=status)
    page_count = max(1, math.ceil(total / PAGE_SIZE))
    page = st.number_input("Page", min_value=1, max_value=page_count, value=1, key="recipient_page")
    offset = (int(page) - 1) * PAGE_SIZE
    with db_session() as session:
        rows = list_recipients(
            session, campaign_id=campaign_id, offset=offset, limit=PAGE_SIZE, status=status
        )

    st.dataframe(recipients_frame(rows), hide_index=True)
    shown_to = min(offset + PAGE_SIZE, total)
    st.caption(
        f"Recipients {offset + 1 if total else 0}-{shown_to} of {total}; phone numbers masked."
    )

    full_phone = st.checkbox("Put full phone numbers in the export", key="export_full_phone")
    st.download_button(
        "Download all recipients as CSV",
        data=recipients_csv_callback(get_engine(), campaign_id=campaign_id, full_phone=full_phone),
        file_name=f"campaign-{campaign_id}-recipients.csv",
        mime="text/csv",
        on_click="ignore",
    )
