"""Plotly figures built from core's aggregates: each takes counts, never recipient rows."""

from collections.abc import Mapping, Sequence
from datetime import datetime

import plotly.graph_objects as go

from core.campaign_stats import CountryCost
from dashboard.tables import FAILED_STATUSES

_DELIVERED = "DELIVERED"
_HEIGHT = 320
_NO_DATA = "Nothing to show yet"


def stage_funnel(stages: Mapping[str, int]) -> go.Figure:
    """Show how many recipients are at each stage, leaving out the stages that have none."""
    # Rows of 0 would push the stages that have recipients into a thin strip of the chart.
    occupied = {name: count for name, count in stages.items() if count}
    figure = go.Figure(
        go.Funnel(
            y=[name.capitalize() for name in occupied],
            x=list(occupied.values()),
            textinfo="value+percent total",
        )
    )
    return _layout(figure, "Where each recipient stands")


def delivery_timeline(timeline: Sequence[tuple[datetime, str, int]]) -> go.Figure:
    """Plot delivered and failed recipients per time bucket, from `core.campaigns.status_timeline`."""
    delivered: dict[datetime, int] = {}
    failed: dict[datetime, int] = {}
    for bucket, status, count in timeline:
        if status == _DELIVERED:
            delivered[bucket] = delivered.get(bucket, 0) + count
        elif status in FAILED_STATUSES:
            failed[bucket] = failed.get(bucket, 0) + count

    figure = go.Figure()
    figure.add_trace(go.Bar(x=list(delivered), y=list(delivered.values()), name="delivered"))
    figure.add_trace(go.Bar(x=list(failed), y=list(failed.values()), name="failed"))
    figure.update_layout(barmode="stack", xaxis_title="time (UTC)", yaxis_title="recipients")
    return _layout(figure, "Delivered and failed over time")


def delivery_times(buckets: Mapping[str, int]) -> go.Figure:
    """Show delivered recipients per bucket of time from acceptance to the DELIVERED report."""
    figure = go.Figure(go.Bar(x=list(buckets), y=list(buckets.values()), name="delivered"))
    figure.update_layout(xaxis_title="time to deliver", yaxis_title="recipients")
    return _layout(figure, "Time to deliver")


def cost_by_country(costs: Sequence[CountryCost]) -> go.Figure:
    """Compare the estimated cost with the cost SMS.to reported, per destination country."""
    regions = [item.region for item in costs]
    figure = go.Figure()
    # Plotly draws floats, so the conversion is for drawing only. The tables show the Decimal.
    figure.add_trace(
        go.Bar(x=regions, y=[float(item.estimated_cost) for item in costs], name="estimated")
    )
    figure.add_trace(go.Bar(x=regions, y=[float(item.cost) for item in costs], name="reported"))
    figure.update_layout(barmode="group", xaxis_title="country", yaxis_title="cost (EUR)")
    return _layout(figure, "Cost per country: estimated and reported")


def _layout(figure: go.Figure, title: str) -> go.Figure:
    figure.update_layout(title=title, height=_HEIGHT, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    if not any(len(trace.x or ()) for trace in figure.data):
        # Plotly would draw default axes (0 to 6, -1 to 4) that read like data.
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
        figure.add_annotation(
            text=_NO_DATA, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
        )
    return figure
