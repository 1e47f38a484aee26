"""Sections of the Callback health page."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from core.reports.health import CallbackHealth
from core.reports.unmatched import UnmatchedReport
from dashboard.tables import unmatched_frame

REFRESH_SECONDS = 10


def render_health(health: CallbackHealth) -> None:
    counts = st.columns(6)
    counts[0].metric("Accepted bodies", health.accepted)
    counts[1].metric("Rejected: signature", health.rejected_signature)
    counts[2].metric("Rejected: body", health.rejected_body)
    counts[3].metric("Duplicate reports", health.duplicate)
    counts[4].metric("Out-of-order reports", health.out_of_order)
    counts[5].metric("Unmatched reports", health.unmatched)

    # Values stay short enough for a fifth of a 1400 px window; the long ones go in the caption.
    timing = st.columns(5)
    timing[0].metric("Reports parsed", health.reports)
    timing[1].metric("Bodies waiting", health.waiting_bodies)
    timing[2].metric("Last report", age_text(health.last_report_at))
    timing[3].metric("Lag, median", _seconds_text(health.lag_median_seconds))
    timing[4].metric("Lag, p95", _seconds_text(health.lag_p95_seconds))
    st.caption(
        f"Last report received: {_time_text(health.last_report_at)}. Lag is the time from "
        f"SMS.to's acceptance to the first report, over the latest {health.lag_sample_size} "
        f"recipients that have both times. Opt-outs: {health.optouts}."
    )


def render_unmatched(reasons: Mapping[str, int], reports: Sequence[UnmatchedReport]) -> None:
    st.subheader("Unmatched reports")
    if not reasons:
        st.success("Every report matched a recipient.")
        return

    table = pd.DataFrame(
        sorted(reasons.items(), key=lambda item: -item[1]), columns=["reason", "reports"]
    )
    st.dataframe(table, hide_index=True)
    st.dataframe(unmatched_frame(reports), hide_index=True)
    st.caption(f"The newest {len(reports)} unmatched reports; phone numbers masked.")


def _time_text(moment: datetime | None) -> str:
    return "none yet" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def age_text(moment: datetime | None, *, now: datetime | None = None) -> str:
    """Return how long ago `moment` (UTC; naive means UTC) was, or its date when over two days."""
    if moment is None:
        return "none yet"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 120:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 120 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{moment:%Y-%m-%d}"


def _seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "no data"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
