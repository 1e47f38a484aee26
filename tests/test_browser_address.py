"""The browser address in real Chromium: every address pushed names the page that is shown."""

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.browser_support import chromium_page, dashboard_server, needs_chromium
from tests.dashboard_support import fresh_dashboard_database, seed_campaign

pytestmark = [pytest.mark.browser, needs_chromium]

# Records each address the app writes into the history, before the page's own scripts run.
RECORD_HISTORY = """
window.__addresses = [];
for (const name of ["pushState", "replaceState"]) {
  const original = history[name].bind(history);
  history[name] = (state, title, url) => {
    window.__addresses.push(String(url));
    return original(state, title, url);
  };
}
"""

# Sidebar link, the heading it shows, and the path of its address.
STEPS = [
    ("Campaigns", "Campaigns", "/campaigns"),
    ("New campaign", "New campaign", "/"),
    ("Campaign", "Campaign", "/campaign"),
    ("Callback health", "Callback health", "/callback_health"),
    ("Campaign", "Campaign", "/campaign"),
]


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


@pytest.fixture
def dashboard(dashboard_engine, tmp_path):
    url = dashboard_engine.url.render_as_string(hide_password=False)
    with dashboard_server(url, tmp_path / "streamlit.log") as base, chromium_page() as page:
        page.add_init_script(RECORD_HISTORY)
        yield base, page


def _path(address: str) -> str:
    return urlparse(address).path or "/"


def test_browser_sidebar_addresses_match_page(dashboard_engine, dashboard):
    base, page = dashboard
    seed_campaign(dashboard_engine, name="Address check", status="completed")
    page.goto(base)
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible(timeout=20_000)
    nav = page.get_by_test_id("stSidebarNav")

    for link, heading, path in STEPS:
        page.evaluate("window.__addresses = []")
        nav.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        # Long enough for the page's script to finish and any late address write to land.
        page.wait_for_timeout(1000)

        pushed = page.evaluate("window.__addresses")
        assert [_path(address) for address in pushed] == [path], (link, pushed)
        assert _path(page.url) == path, link


def test_browser_picker_keeps_campaign_in_address(dashboard_engine, dashboard):
    base, page = dashboard
    first = seed_campaign(dashboard_engine, name="First", key="k1", status="completed")
    seed_campaign(dashboard_engine, name="Second", key="k2", phones=["+35799000100"])
    page.goto(f"{base}/campaign")
    expect(page.get_by_text("Second")).to_be_visible(timeout=20_000)

    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=f"#{first} First").click()

    expect(page.get_by_role("heading", name=f"#{first} First")).to_be_visible()
    page.wait_for_timeout(1000)
    assert page.url.endswith(f"/campaign?id={first}")
