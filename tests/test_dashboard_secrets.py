"""No page of the dashboard shows the SMS.to API key or the webhook secret, whatever it renders."""

import pytest
from streamlit.testing.v1 import AppTest

from core.settings import Settings, get_settings
from dashboard.state import sending_mode
from tests.dashboard_support import APP, fresh_dashboard_database, seed_campaign, set_report

API_KEY = "live-key-0123456789abcdef"
WEBHOOK_SECRET = "webhook-secret-fedcba9876543210"
PAGES = [
    "app_pages/new_campaign.py",
    "app_pages/lists.py",
    "app_pages/campaigns.py",
    "app_pages/campaign.py",
    "app_pages/callback_health.py",
]


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("SMSTO_API_KEY", API_KEY)
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)
    engine = next(fresh_dashboard_database(tmp_path, monkeypatch))
    # The fixture above deletes SMSTO_API_KEY for the other tests; set it again for these.
    monkeypatch.setenv("SMSTO_API_KEY", API_KEY)
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def _rendered_text(at: AppTest) -> str:
    """Return the protobuf text of every element on the page, main area and sidebar."""
    pieces = []
    stack = [at._tree]
    while stack:
        node = stack.pop()
        proto = getattr(node, "proto", None)
        if proto is not None:
            pieces.append(str(proto))
        stack.extend(getattr(node, "children", {}).values())
    return "\n".join(pieces)


@pytest.mark.parametrize("page", PAGES)
def test_dashboard_page_never_shows_secrets(dashboard_engine, page):
    campaign_id = seed_campaign(dashboard_engine)
    set_report(dashboard_engine, phone="+35799000001", status="DELIVERED", price="0.035")
    at = AppTest.from_file(APP, default_timeout=15)
    at.run()
    at.switch_page(page)
    at.query_params["id"] = str(campaign_id)
    at.run()
    text = _rendered_text(at)

    assert not at.exception
    assert API_KEY not in text
    assert WEBHOOK_SECRET not in text


def test_sidebar_names_mode_not_key(dashboard_engine):
    # AppTest drops what the entry script draws once a test has switched pages, so the sidebar
    # is checked on the default page.
    at = AppTest.from_file(APP, default_timeout=15).run()
    captions = [caption.value for caption in at.sidebar.caption]

    assert captions == ["Sending through: SMS.to (API key configured)"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"smsto_api_key": API_KEY}, "SMS.to (API key configured)"),
        ({}, "SMS.to, but no API key is set, so nothing can be sent"),
        (
            {"smsto_api_key": "sandbox", "smsto_api_url": "http://127.0.0.1:8765"},
            "the sandbox provider at http://127.0.0.1:8765",
        ),
    ],
)
def test_sending_mode_table(monkeypatch, values, expected):
    monkeypatch.delenv("SMSTO_API_KEY", raising=False)
    monkeypatch.delenv("SMSTO_API_URL", raising=False)

    mode = sending_mode(Settings(_env_file=None, **values))

    assert mode == expected
    assert API_KEY not in mode
