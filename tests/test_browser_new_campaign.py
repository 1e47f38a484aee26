"""The New campaign page in real Chromium: upload, live preview, and a double-clicked launch."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlmodel import Session

from core.models import Campaign
from tests.browser_support import chromium_page, dashboard_server, needs_chromium
from tests.dashboard_support import fresh_dashboard_database

pytestmark = [pytest.mark.browser, needs_chromium]

LAUNCHED = re.compile(r"Campaign #1 launched: 3 recipients queued")
CSV = "phone,name\n+35799000221,Anna\n+35799000222,Bob\n+35799000223,Chris\nabc,Broken\n"


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


@pytest.fixture
def dashboard(dashboard_engine, tmp_path):
    url = dashboard_engine.url.render_as_string(hide_password=False)
    with dashboard_server(url, tmp_path / "streamlit.log") as base, chromium_page() as page:
        yield base, page


def _campaigns(engine) -> list[Campaign]:
    with Session(engine) as session:
        return list(session.execute(select(Campaign)).scalars())


def _fill_form(page, base: str, tmp_path) -> None:
    upload = tmp_path / "recipients.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.goto(base)
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(upload)
    expect(page.get_by_text("Import verdicts")).to_be_visible(timeout=20_000)

    message = page.get_by_role("textbox", name="Message")
    message.fill("Test campaign for {name}")
    message.press("Control+Enter")
    expect(page.get_by_text("Totals per country")).to_be_visible(timeout=20_000)


def test_browser_upload_shows_verdicts_and_rejected_row(dashboard, tmp_path):
    base, page = dashboard

    _fill_form(page, base, tmp_path)

    rejected = page.get_by_role("button", name="Download the rejected rows as CSV (1 row)")
    expect(rejected).to_be_visible()
    with page.expect_download() as download:
        rejected.click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    assert text.splitlines()[1].startswith("5,abc,invalid")


def test_browser_double_click_launches_once(dashboard_engine, dashboard, tmp_path):
    base, page = dashboard
    _fill_form(page, base, tmp_path)

    page.get_by_role("button", name="Launch campaign").dblclick()

    expect(page.get_by_text(LAUNCHED)).to_be_visible(timeout=20_000)
    page.wait_for_timeout(2000)
    assert len(_campaigns(dashboard_engine)) == 1
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def test_browser_reload_after_launch_shows_same_campaign(dashboard_engine, dashboard, tmp_path):
    base, page = dashboard
    _fill_form(page, base, tmp_path)
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_text(LAUNCHED)).to_be_visible(timeout=20_000)

    # A reload starts a new Streamlit session; only the address keeps the launch key.
    page.reload()

    expect(page.get_by_text(LAUNCHED)).to_be_visible(timeout=20_000)
    expect(page.get_by_text("This form launched it once")).to_be_visible()
    expect(page.get_by_role("button", name="Launch campaign")).to_have_count(0)
    assert len(_campaigns(dashboard_engine)) == 1


def test_browser_sidebar_after_launch_opens_fresh_form(dashboard_engine, dashboard, tmp_path):
    base, page = dashboard
    _fill_form(page, base, tmp_path)
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_text(LAUNCHED)).to_be_visible(timeout=20_000)
    nav = page.get_by_test_id("stSidebarNav")

    nav.get_by_role("link", name="Campaigns", exact=True).click()
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    nav.get_by_role("link", name="New campaign", exact=True).click()

    expect(page.get_by_test_id("stFileUploader")).to_be_visible(timeout=20_000)
    expect(page.get_by_text(LAUNCHED)).to_have_count(0)
    expect(page.get_by_role("button", name="Launch campaign")).to_be_visible()
