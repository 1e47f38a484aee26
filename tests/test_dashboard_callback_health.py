"""The Callback health page, driven through AppTest against a real SQLite file."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from core.models import Recipient
from core.reports import counters
from dashboard.health_view import age_text
from tests.dashboard_support import (
    APP,
    START,
    add_unmatched_report,
    fresh_dashboard_database,
    seed_campaign,
    set_report,
)


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


PAGE = "app_pages/callback_health.py"


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=15)
    at.run()
    at.switch_page(PAGE).run()
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_callback_health_empty_database(dashboard_engine):
    at = _open()
    metrics = _metrics(at)

    assert not at.exception
    assert metrics["Accepted bodies"] == "0"
    assert metrics["Last report"] == "none yet"
    assert "Every report matched" in at.success[0].value


@pytest.mark.parametrize(
    ("counter", "label"),
    [
        (counters.BODIES_ACCEPTED, "Accepted bodies"),
        (counters.BODIES_REJECTED_AUTH, "Rejected: signature"),
        (counters.BODIES_REJECTED_BODY, "Rejected: body"),
        (counters.REPORTS_DUPLICATE, "Duplicate reports"),
        (counters.REPORTS_OUT_OF_ORDER, "Out-of-order reports"),
        (counters.REPORTS_UNMATCHED, "Unmatched reports"),
        (counters.REPORTS_PARSED, "Reports parsed"),
    ],
)
def test_callback_health_shows_counter(dashboard_engine, counter, label):
    with Session(dashboard_engine) as session:
        counters.add_counts(session, {counter: 7})
        session.commit()

    assert _metrics(_open())[label] == "7"


def test_callback_health_lag_from_send_to_first_report(dashboard_engine):
    seed_campaign(dashboard_engine)
    set_report(dashboard_engine, phone="+35799000001", status="DELIVERED", delay_s=30)
    _set_first_report(dashboard_engine, delay=timedelta(seconds=30))

    metrics = _metrics(_open())

    assert metrics["Lag, median"] == "30 s"


def _set_first_report(engine, *, delay: timedelta) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(Recipient)
            .where(Recipient.sent_at.is_not(None))
            .values(first_report_at=START + delay)
        )


def test_callback_health_unmatched_reasons_masked(dashboard_engine):
    add_unmatched_report(dashboard_engine, reason="unknown tracking id")
    add_unmatched_report(dashboard_engine, reason="unknown tracking id")
    add_unmatched_report(dashboard_engine, reason="phone not in campaign")

    at = _open()
    reasons, reports = at.dataframe[0].value, at.dataframe[1].value

    assert dict(zip(reasons["reason"], reasons["reports"])) == {
        "unknown tracking id": 2,
        "phone not in campaign": 1,
    }
    assert len(reports) == 3
    assert set(reports["phone"]) == {"+357******77"}


def test_callback_health_last_report_time_in_caption(dashboard_engine):
    add_unmatched_report(dashboard_engine, reason="unknown tracking id")

    at = _open()
    captions = " ".join(caption.value for caption in at.caption)

    assert _metrics(at)["Last report"] == "2025-01-06"
    assert "Last report received: 2025-01-06 09:00:00 UTC" in captions


@pytest.mark.parametrize(
    ("seconds_ago", "text"),
    [(0, "0 s ago"), (45, "45 s ago"), (600, "10 min ago"), (5 * 3600, "5 h ago"),
     (3 * 86400, "2025-01-03")],
)  # fmt: skip
def test_age_text_short_forms(seconds_ago, text):
    moment = START - timedelta(seconds=seconds_ago)

    assert age_text(moment, now=START) == text

