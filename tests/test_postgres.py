"""The same storage code on a real PostgreSQL server: launch, exact money sums, summaries."""

from decimal import Decimal

import pytest
from sqlalchemy import update

from core.campaigns import LaunchRequest, RecipientInput, launch_campaign, summarise_campaign
from core.db import session_scope
from core.models import Recipient

pytestmark = pytest.mark.postgres


def _request(key: str, count: int = 3) -> LaunchRequest:
    recipients = [RecipientInput(phone=f"+3579900{index:04d}", region="CY") for index in range(count)]
    return LaunchRequest(launch_key=key, message="Hello", recipients=recipients)


def test_postgres_launch_key_creates_one_campaign(pg_engine):
    first = launch_campaign(pg_engine, _request("pg-key"))
    second = launch_campaign(pg_engine, _request("pg-key"))

    assert first.created is True
    assert second.created is False
    assert second.campaign.id == first.campaign.id


def test_postgres_summary_cost_is_exact(pg_engine):
    launched = launch_campaign(pg_engine, _request("pg-cost", count=3))
    with session_scope(pg_engine) as session:
        session.execute(
            update(Recipient)
            .where(Recipient.campaign_id == launched.campaign.id)
            .values(status="DELIVERED", price=Decimal("0.015"))
        )

    with session_scope(pg_engine) as session:
        summary = summarise_campaign(session, campaign_id=launched.campaign.id)

    assert summary.cost == Decimal("0.045")
    assert summary.by_status == {"DELIVERED": 3}
