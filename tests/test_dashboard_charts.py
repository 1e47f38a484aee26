"""The Campaign page's charts: an empty chart shows a note instead of meaningless axes."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.campaign_stats import CountryCost
from dashboard import charts

WHEN = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
COST = CountryCost(region="CY", recipients=2, estimated_cost=Decimal("0.07"), cost=Decimal("0.07"))

EMPTY = [
    ("delivery_timeline", []),
    ("delivery_times", {}),
    ("cost_by_country", []),
    ("stage_funnel", {}),
    ("stage_funnel", {"queued": 0, "delivered": 0}),
]
FILLED = [
    ("delivery_timeline", [(WHEN, "DELIVERED", 3), (WHEN, "FAILED", 1)]),
    ("delivery_times", {"under 10 s": 4}),
    ("cost_by_country", [COST]),
    ("stage_funnel", {"queued": 1, "delivered": 2}),
]


def _annotations(figure) -> list[str]:
    return [annotation.text for annotation in figure.layout.annotations]


@pytest.mark.parametrize(("name", "data"), EMPTY)
def test_chart_empty_shows_note(name, data):
    figure = getattr(charts, name)(data)

    assert _annotations(figure) == ["Nothing to show yet"]
    assert figure.layout.xaxis.visible is False
    assert figure.layout.yaxis.visible is False


@pytest.mark.parametrize(("name", "data"), FILLED)
def test_chart_with_data_has_axes(name, data):
    figure = getattr(charts, name)(data)

    assert _annotations(figure) == []
    assert figure.layout.xaxis.visible is not False


def test_funnel_leaves_out_empty_stages():
    figure = charts.stage_funnel({"queued": 0, "sent": 3, "delivered": 5, "failed": 0})

    assert list(figure.data[0].y) == ["Sent", "Delivered"]
    assert list(figure.data[0].x) == [3, 5]
