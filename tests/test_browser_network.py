"""The dashboard in real Chromium makes the browser contact no host but the dashboard itself."""

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.browser_support import chromium_page, dashboard_server, needs_chromium
from tests.dashboard_support import fresh_dashboard_database, seed_campaign

pytestmark = [pytest.mark.browser, needs_chromium]

PAGES = ["Campaigns", "Lists", "Campaign", "Callback health", "New campaign"]


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


def test_browser_requests_stay_on_loopback(dashboard_engine, tmp_path):
    seed_campaign(dashboard_engine, name="Network check", status="completed")
    url = dashboard_engine.url.render_as_string(hide_password=False)
    outside: list[str] = []

    def only_loopback(route):
        # Every other request is recorded and aborted, so the test itself sends nothing out.
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with dashboard_server(url, tmp_path / "streamlit.log") as base, chromium_page() as page:
        page.route("**/*", only_loopback)
        page.goto(base)
        expect(page.get_by_role("heading", name="New campaign")).to_be_visible(timeout=20_000)
        nav = page.get_by_test_id("stSidebarNav")
        for link in PAGES:
            nav.get_by_role("link", name=link, exact=True).click()
            expect(page.get_by_role("heading", name=link).first).to_be_visible(timeout=20_000)
        page.wait_for_timeout(1_000)  # late requests such as the favicon

    assert outside == []
