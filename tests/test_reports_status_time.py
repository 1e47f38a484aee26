"""The time of a recipient's current status, which the delivery-over-time charts plot."""

from sqlmodel import select

from core.db import session_scope
from core.models import DeliveryReport
from tests.reports_fixtures import json_body, make_campaign, recipient_by_phone, store_and_match

PHONE = "+35799000301"


def _report(status: str) -> tuple[str, bytes]:
    return json_body({"trackingId": "cmp-time", "messageId": "m-1", "phone": PHONE, "status": status, "parts": 1, "price": 0.015})


def _received_at(engine, status: str):
    with session_scope(engine) as session:
        query = select(DeliveryReport.received_at).where(DeliveryReport.status == status)
        return session.exec(query).first()


def test_status_time_set_by_winning_report(engine):
    campaign = make_campaign(engine, phones=[PHONE], provider_campaign_id="cmp-time")

    store_and_match(engine, [_report("SENT")])
    store_and_match(engine, [_report("DELIVERED")])

    recipient = recipient_by_phone(engine, campaign.id)[PHONE]
    assert recipient.status == "DELIVERED"
    assert recipient.status_at == _received_at(engine, "DELIVERED")


def test_status_time_kept_by_late_lower_report(engine):
    campaign = make_campaign(engine, phones=[PHONE], provider_campaign_id="cmp-time")

    store_and_match(engine, [_report("DELIVERED")])
    store_and_match(engine, [_report("SENT")])

    recipient = recipient_by_phone(engine, campaign.id)[PHONE]
    assert recipient.status_at == _received_at(engine, "DELIVERED")
