"""Read-side views of a campaign, computed in SQL on a real SQLite file."""

from decimal import Decimal

import pytest
from sqlmodel import Session

from core.campaign_stats import (
    count_delivery_times,
    count_recipients,
    count_stages,
    get_campaign_by_launch_key,
    is_finished,
    iter_recipients,
    list_campaign_choices,
    list_country_costs,
    list_recipients,
)
from core.models import Campaign
from tests.dashboard_support import mark_sent, seed_campaign, set_report


def test_count_stages_every_stage_present(engine):
    campaign_id = seed_campaign(engine)

    with Session(engine) as session:
        stages = count_stages(session, campaign_id=campaign_id)

    assert stages == {
        "queued": 5, "sent": 0, "delivered": 0, "failed": 0, "expired": 0, "rejected": 0,
        "no report yet": 0, "uncertain": 0, "not sent": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("DELIVERED", "delivered"),
        ("FAILED", "failed"),
        ("UNDELIVERED", "failed"),
        ("EXPIRED", "expired"),
        ("REJECTED", "rejected"),
        ("UNSUBSCRIBED", "rejected"),
        ("SENT", "sent"),
        ("ENROUTE", "sent"),
        ("SOMETHING_NEW", "sent"),
        ("NOT_SENT", "rejected"),
        ("UNCERTAIN", "uncertain"),
        ("CANCELLED", "not sent"),
        ("SUPPRESSED", "not sent"),
    ],
)
def test_count_stages_status_to_stage(engine, status, stage):
    campaign_id = seed_campaign(engine)
    set_report(engine, phone="+35799000001", status=status)

    with Session(engine) as session:
        stages = count_stages(session, campaign_id=campaign_id)

    assert stages[stage] == 1
    assert stages["queued"] == 4


def test_count_stages_accepted_without_report(engine):
    campaign_id = seed_campaign(engine)
    mark_sent(engine, phone="+35799000002")

    with Session(engine) as session:
        stages = count_stages(session, campaign_id=campaign_id)

    assert stages["no report yet"] == 1


@pytest.mark.parametrize(
    ("delay_s", "bucket"),
    [(3, "under 10 s"), (10, "10-30 s"), (45, "30-60 s"), (400, "5-15 min"), (30000, "over 6 h")],
)
def test_count_delivery_times_bucket(engine, delay_s, bucket):
    campaign_id = seed_campaign(engine)
    set_report(engine, phone="+35799000001", status="DELIVERED", delay_s=delay_s)

    with Session(engine) as session:
        buckets = count_delivery_times(session, campaign_id=campaign_id)

    assert buckets[bucket] == 1
    assert sum(buckets.values()) == 1


def test_count_delivery_times_ignores_failed(engine):
    campaign_id = seed_campaign(engine)
    set_report(engine, phone="+35799000001", status="FAILED")

    with Session(engine) as session:
        buckets = count_delivery_times(session, campaign_id=campaign_id)

    assert sum(buckets.values()) == 0


def test_list_country_costs_sums_exactly(engine):
    campaign_id = seed_campaign(engine)
    set_report(engine, phone="+35799000001", status="DELIVERED", price="0.0351")
    set_report(engine, phone="+35799000002", status="DELIVERED", price="0.0352")

    with Session(engine) as session:
        (cyprus,) = list_country_costs(session, campaign_id=campaign_id)

    assert cyprus.region == "CY"
    assert cyprus.recipients == 5
    assert cyprus.estimated_cost == Decimal("0.175")
    assert cyprus.cost == Decimal("0.0703")


def test_list_recipients_pages_in_line_order(engine):
    phones = [f"+357990{index:05d}" for index in range(12)]
    campaign_id = seed_campaign(engine, phones=phones)

    with Session(engine) as session:
        page = list_recipients(session, campaign_id=campaign_id, offset=10, limit=5)

    assert [recipient.phone for recipient in page] == phones[10:]


def test_count_recipients_by_status(engine):
    campaign_id = seed_campaign(engine)
    set_report(engine, phone="+35799000001", status="DELIVERED")

    with Session(engine) as session:
        delivered = count_recipients(session, campaign_id=campaign_id, status="DELIVERED")
        total = count_recipients(session, campaign_id=campaign_id)

    assert delivered == 1
    assert total == 5


def test_iter_recipients_reads_every_batch(engine):
    phones = [f"+357990{index:05d}" for index in range(7)]
    campaign_id = seed_campaign(engine, phones=phones)
    seed_campaign(engine, name="Other", key="other", phones=["+35799999999"])

    with Session(engine) as session:
        seen = [
            recipient.phone
            for recipient in iter_recipients(session, campaign_id=campaign_id, batch_size=3)
        ]

    assert seen == phones


def test_get_campaign_by_launch_key_finds_and_misses(engine):
    campaign_id = seed_campaign(engine, key="form-1")

    with Session(engine) as session:
        found = get_campaign_by_launch_key(session, launch_key="form-1")
        missing = get_campaign_by_launch_key(session, launch_key="form-2")

    assert found.id == campaign_id
    assert missing is None


def test_list_campaign_choices_newest_first(engine):
    first = seed_campaign(engine, name="First", key="k1")
    second = seed_campaign(engine, name="Second", key="k2", phones=["+35799000100"])

    with Session(engine) as session:
        choices = list_campaign_choices(session)

    assert choices == [(second, "Second"), (first, "First")]


@pytest.mark.parametrize(
    ("status", "stages", "finished"),
    [
        ("sending", {"sent": 0, "no report yet": 0}, False),
        ("paused", {"sent": 0, "no report yet": 0}, False),
        ("completed", {"sent": 0, "no report yet": 0}, True),
        ("completed", {"sent": 1, "no report yet": 0}, False),
        ("completed", {"sent": 0, "no report yet": 2}, False),
        ("completed", {"uncertain": 1}, False),
        ("cancelled", {"queued": 4, "sent": 0, "no report yet": 0}, True),
    ],
)
def test_is_finished_table(status, stages, finished):
    campaign = Campaign(message="x", launch_key="k", status=status)

    assert is_finished(campaign, stages) is finished
