"""The Campaign page, driven through AppTest against a real SQLite file."""

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.campaign_view import display_status
from tests.dashboard_support import (
    APP,
    add_unmatched_report,
    fresh_dashboard_database,
    mark_sent,
    seed_campaign,
    set_report,
)


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


PAGE = "app_pages/campaign.py"


def _open(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=15)
    at.run()
    at.switch_page(PAGE)
    at.query_params.update(query or {})
    at.run()
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_campaign_empty_database_says_so(dashboard_engine):
    at = _open()

    assert not at.exception
    assert "No campaign yet" in at.info[0].value


def test_campaign_query_param_selects_campaign(dashboard_engine):
    first = seed_campaign(dashboard_engine, name="First", key="k1")
    seed_campaign(dashboard_engine, name="Second", key="k2", phones=["+35799000100"])

    at = _open({"id": str(first)})

    assert at.selectbox[0].value == first
    assert at.subheader[0].value == f"#{first} First"


def test_campaign_defaults_to_newest_without_query_param(dashboard_engine):
    seed_campaign(dashboard_engine, name="First", key="k1")
    second = seed_campaign(dashboard_engine, name="Second", key="k2", phones=["+35799000100"])

    at = _open()

    assert at.selectbox[0].value == second
    assert "id" not in at.query_params


def test_campaign_address_follows_picker_after_opening(dashboard_engine):
    first = seed_campaign(dashboard_engine, name="First", key="k1")
    seed_campaign(dashboard_engine, name="Second", key="k2", phones=["+35799000100"])
    at = _open()

    at.selectbox[0].select(first).run()

    assert at.query_params["id"] == str(first)


@pytest.mark.parametrize("value", ["abc", "999"])
def test_campaign_bad_query_param_reports_error(dashboard_engine, value):
    seed_campaign(dashboard_engine)

    at = _open({"id": value})

    assert value in at.error[0].value
    assert not at.exception


def test_campaign_metrics_count_statuses_and_cost(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)
    set_report(dashboard_engine, phone="+35799000001", status="DELIVERED", price="0.035")
    set_report(dashboard_engine, phone="+35799000002", status="FAILED", price="0.035")

    metrics = _metrics(_open({"id": str(campaign_id)}))

    assert metrics["Recipients"] == "5"
    assert metrics["Delivered"] == "1"
    assert metrics["Failed"] == "1"
    assert metrics["Pending"] == "3"
    assert metrics["Cost (EUR)"] == "0.07"
    assert metrics["Estimated (EUR)"] == "0.175"


def test_campaign_draws_four_charts(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)
    set_report(dashboard_engine, phone="+35799000001", status="DELIVERED", price="0.035")

    at = _open({"id": str(campaign_id)})

    assert len(at.get("plotly_chart")) == 4


def test_campaign_recipient_table_masks_phones(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)

    table = _open({"id": str(campaign_id)}).dataframe[-1].value

    assert table["phone"].iloc[0] == "+357******01"
    assert len(table) == 5


def test_campaign_recipient_table_filters_by_status(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)
    set_report(dashboard_engine, phone="+35799000003", status="DELIVERED", price="0.035")
    at = _open({"id": str(campaign_id)})

    at.selectbox(key="recipient_status").select("DELIVERED").run()

    assert list(at.dataframe[-1].value["line"]) == [4]


def test_campaign_recipient_table_pages_through_large_campaign(dashboard_engine):
    phones = [f"+357990{index:05d}" for index in range(250)]
    campaign_id = seed_campaign(dashboard_engine, phones=phones)
    at = _open({"id": str(campaign_id)})

    at.number_input(key="recipient_page").set_value(3).run()

    table = at.dataframe[-1].value
    assert len(table) == 50
    assert table["line"].iloc[0] == 202


@pytest.mark.parametrize(
    ("status", "refreshing"),
    [("sending", True), ("paused", True), ("completed", False), ("cancelled", False)],
)
def test_campaign_refreshes_only_until_finished(dashboard_engine, status, refreshing):
    campaign_id = seed_campaign(dashboard_engine, status=status)
    for index in range(1, 6):
        set_report(dashboard_engine, phone=f"+3579900000{index}", status="DELIVERED")

    captions = [caption.value for caption in _open({"id": str(campaign_id)}).caption]

    assert any("Refreshing every" in text for text in captions) is refreshing


def test_campaign_completed_with_reports_pending_keeps_refreshing(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="completed")
    mark_sent(dashboard_engine, phone="+35799000001")

    captions = [caption.value for caption in _open({"id": str(campaign_id)}).caption]

    assert any("Refreshing every" in text for text in captions)


def test_campaign_lists_its_unmatched_reports(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)
    other_id = seed_campaign(dashboard_engine, name="Other", key="other", phones=["+35799000100"])
    add_unmatched_report(dashboard_engine, campaign_id=campaign_id, reason="phone not in campaign")
    add_unmatched_report(dashboard_engine, campaign_id=other_id, reason="phone not in campaign")

    at = _open({"id": str(campaign_id)})
    unmatched = [frame.value for frame in at.dataframe if "reason" in frame.value.columns]

    assert len(unmatched) == 1
    assert list(unmatched[0]["reason"]) == ["phone not in campaign"]


def _status_line(at: AppTest) -> str:
    return next(item.value for item in at.markdown if item.value.startswith("status"))


def test_campaign_status_sending_once_recipients_accepted(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="queued")
    set_report(dashboard_engine, phone="+35799000001", status="DELIVERED", price="0.035")

    line = _status_line(_open({"id": str(campaign_id)}))

    assert line.startswith("status **sending**")
    assert "stored as queued" in line


def test_campaign_completed_names_awaiting_reports(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="completed")
    for index in range(1, 5):
        set_report(dashboard_engine, phone=f"+3579900000{index}", status="DELIVERED", price="0.035")
    set_report(dashboard_engine, phone="+35799000005", status="SENT")

    line = _status_line(_open({"id": str(campaign_id)}))

    assert line.startswith("status **completed** (handed over to SMS.to, 1 awaiting a final report)")


def test_campaign_completed_all_final_no_note(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="completed")
    for index in range(1, 6):
        set_report(dashboard_engine, phone=f"+3579900000{index}", status="FAILED", price="0.035")

    line = _status_line(_open({"id": str(campaign_id)}))

    assert "awaiting" not in line


def test_campaign_failed_metric_names_its_statuses(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)

    [failed] = [metric for metric in _open({"id": str(campaign_id)}).metric if metric.label == "Failed"]

    assert "UNDELIVERED" in failed.help
    assert "EXPIRED" in failed.help


@pytest.mark.parametrize(
    ("stages", "status", "shown"),
    [
        ({"queued": 5}, "queued", "queued"),
        ({"queued": 4, "no report yet": 1}, "queued", "sending"),
        ({"queued": 4, "delivered": 1}, "scheduled", "sending"),
        ({"not sent": 5}, "queued", "queued"),
        ({"delivered": 5}, "completed", "completed"),
        ({"queued": 4, "delivered": 1}, "paused", "paused"),
    ],
)
def test_display_status_from_stages(stages, status, shown):
    assert display_status(status, stages) == shown
