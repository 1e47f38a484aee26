"""The Campaigns and Campaign pages in a real Chromium against a real Streamlit server."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from core.models import Campaign, Recipient
from tests.browser_support import chromium_page, dashboard_server, needs_chromium
from tests.dashboard_support import (
    add_unmatched_report,
    fresh_dashboard_database,
    mark_sent,
    seed_campaign,
    set_report,
)

# Lists the texts of metrics and buttons that are wider than their box (cut off with an ellipsis).
# Widths are read once the web fonts are loaded, as the fallback font is narrower.
CUT_OFF_TEXTS = """
async () => {
  await document.fonts.ready;
  const boxes = document.querySelectorAll(
    '[data-testid="stMetric"] *, [data-testid="stButton"] button *'
  );
  return Array.from(boxes)
    .filter((box) => box.scrollWidth > box.clientWidth + 1)
    .map((box) => box.textContent);
}
"""

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


@pytest.fixture
def dashboard(dashboard_engine, tmp_path):
    url = dashboard_engine.url.render_as_string(hide_password=False)
    with dashboard_server(url, tmp_path / "streamlit.log") as base, chromium_page() as page:
        yield base, page


def _metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_browser_deep_link_first_runs_entry_script(dashboard_engine, dashboard):
    base, page = dashboard
    campaign_id = seed_campaign(dashboard_engine, name="Browser sale")

    # The first request of a fresh server is a deep link, as after a restart.
    page.goto(f"{base}/campaign?id={campaign_id}")

    expect(page.get_by_text(f"#{campaign_id} Browser sale")).to_be_visible(timeout=20_000)
    expect(_metric(page, "Recipients")).to_have_text("5")
    expect(page.get_by_text("Sending through: SMS.to, but no API key is set")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Callback health")).to_be_visible()


def test_browser_campaign_refreshes_while_reports_arrive(dashboard_engine, dashboard):
    base, page = dashboard
    campaign_id = seed_campaign(dashboard_engine, status="sending")
    page.goto(f"{base}/campaign?id={campaign_id}")
    expect(_metric(page, "Delivered")).to_have_text("0", timeout=20_000)

    set_report(dashboard_engine, phone="+35799000001", status="DELIVERED", price="0.035")

    # No reload: the live fragment reruns by itself every few seconds.
    expect(_metric(page, "Delivered")).to_have_text("1", timeout=20_000)
    expect(_metric(page, "Cost (EUR)")).to_have_text("0.035")


def test_browser_recipients_export_masks_unless_asked(dashboard_engine, dashboard):
    base, page = dashboard
    campaign_id = seed_campaign(dashboard_engine)
    page.goto(f"{base}/campaign?id={campaign_id}")
    button = page.get_by_role("button", name="Download all recipients as CSV")
    expect(button).to_be_visible(timeout=20_000)

    with page.expect_download() as masked:
        button.click()
    page.get_by_text("Put full phone numbers in the export").click()
    page.wait_for_timeout(1000)
    with page.expect_download() as full:
        button.click()

    masked_text = masked.value.path().read_text(encoding="utf-8-sig")
    full_text = full.value.path().read_text(encoding="utf-8-sig")
    assert "'+357******01" in masked_text
    assert "+35799000001" not in masked_text
    assert "'+35799000001" in full_text


def _cut_off_texts(page) -> list[str]:
    # The sidebar slides in after the first draw and narrows the columns, so widths settle late.
    page.wait_for_timeout(2000)
    return page.evaluate(CUT_OFF_TEXTS)


def _set_status(engine, campaign_id: int, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=status))


def test_browser_status_and_controls_follow_database(dashboard_engine, dashboard):
    base, page = dashboard
    campaign_id = seed_campaign(dashboard_engine, status="sending")
    # An accepted recipient with no report keeps the page refreshing after completion.
    mark_sent(dashboard_engine, phone="+35799000001")
    page.goto(f"{base}/campaign?id={campaign_id}")
    pause = page.get_by_role("button", name="Pause", exact=True)
    expect(pause).to_be_enabled(timeout=20_000)

    _set_status(dashboard_engine, campaign_id, "completed")

    # No reload: the status and the controls refresh with the live figures.
    expect(page.get_by_text("status completed")).to_be_visible(timeout=20_000)
    expect(pause).to_be_disabled()
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_be_disabled()


def test_browser_campaign_labels_not_cut_off(dashboard_engine, dashboard):
    base, page = dashboard
    phones = [f"+357990{index:05d}" for index in range(523)]
    campaign_id = seed_campaign(dashboard_engine, phones=phones, status="completed")
    with dashboard_engine.begin() as connection:
        connection.execute(update(Recipient).values(status="FAILED"))
    page.goto(f"{base}/campaign?id={campaign_id}")
    expect(page.get_by_role("button", name="Retry failed (523)")).to_be_visible(timeout=20_000)

    assert _cut_off_texts(page) == []


def test_browser_callback_health_labels_not_cut_off(dashboard_engine, dashboard):
    base, page = dashboard
    add_unmatched_report(dashboard_engine, reason="unknown tracking id")
    page.goto(f"{base}/callback_health")
    expect(_metric(page, "Last report")).to_have_text("2025-01-06", timeout=20_000)

    assert _cut_off_texts(page) == []
