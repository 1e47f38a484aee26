"""Prices that go wrong as floats, sent as delivery reports and summed by `smsto-console status`."""

import json
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from core.campaign_stats import list_country_costs
from core.cli import main
from core.db import session_scope
from core.models import Recipient
from core.reports.matcher import drain_pending
from core.settings import Settings, get_settings
from tests.reports_fixtures import make_campaign
from webhook_server import create_app

# Prices exact in decimal but not in binary floating point, at the 9-decimal limit, or negative zero.
PRICES = ["0.1", "0.2", "0.3", "0.000000001", "0.123456789", "0.7", "1e-9", "0.1000000000", "-0"]
PHONES = [f"+357990{index:05d}" for index in range(300)]


@pytest.fixture
def server(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'money.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    app = create_app(Settings(_env_file=None, database_url=url, dispatcher_enabled=False))
    with TestClient(app) as client:
        yield client
    get_settings.cache_clear()


def _report(index: int, phone: str) -> bytes:
    # The price is written as a bare JSON number, which a float-based parser would round.
    fields = {
        "trackingId": "MONEY",
        "messageId": f"m{index}",
        "phone": phone,
        "status": "DELIVERED",
    }
    price = PRICES[index % len(PRICES)]
    return json.dumps(fields).encode()[:-1] + b',"parts":1,"price":' + price.encode() + b"}"


def test_status_cost_exact_over_many_reports(server, capsys):
    engine = server.app.state.engine
    campaign = make_campaign(engine, phones=PHONES, provider_campaign_id="MONEY")
    with engine.begin() as connection:
        connection.execute(update(Recipient).values(region="CY"))

    codes = {
        server.post(
            "/webhooks/smsto",
            content=_report(index, phone),
            headers={"content-type": "application/json"},
        ).status_code
        for index, phone in enumerate(PHONES)
    }
    drain_pending(engine)
    code = main(["status", str(campaign.id), "--json"])
    payload = json.loads(capsys.readouterr().out)
    with session_scope(engine) as session:
        [country] = list_country_costs(session, campaign_id=campaign.id)
    expected = sum(
        (Decimal(PRICES[index % len(PRICES)]) for index in range(len(PHONES))), Decimal(0)
    )

    assert codes == {200}
    assert code == 0
    assert payload["by_status"]["DELIVERED"] == len(PHONES)
    assert Decimal(payload["cost"]) == expected
    assert payload["cost"] == "50.874074103"
    assert country.cost == expected
