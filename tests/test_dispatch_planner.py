"""Planning campaigns into chunks, once, and claiming chunks safely from several dispatchers."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from core.dispatch import states
from core.dispatch.claim import claim_next_chunk
from core.dispatch.clock import utc_now
from core.dispatch.planner import list_due_campaigns, plan_campaign, plan_due_campaigns, shape_for
from core.models import Campaign, Chunk, Recipient
from tests.dispatch_support import campaign, chunks, launch, phones, recipients


@pytest.mark.parametrize(
    ("count", "chunk_size", "sizes"),
    [
        (25, 10, [10, 10, 5]),
        (10, 10, [10]),
        (1, 10, [1]),
        (7, 1, [1] * 7),
        (9, 4, [4, 4, 1]),
    ],
)
def test_plan_chunk_sizes(engine, count, chunk_size, sizes):
    campaign_id = launch(engine, phones(count))

    assert plan_campaign(engine, campaign_id=campaign_id, chunk_size=chunk_size) is True

    planned = chunks(engine, campaign_id)
    members = Counter(row.chunk_id for row in recipients(engine, campaign_id))
    assert [chunk.recipient_count for chunk in planned] == sizes
    assert [members[chunk.id] for chunk in planned] == sizes
    assert [chunk.seq for chunk in planned] == list(range(len(sizes)))
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_SENDING


@pytest.mark.parametrize(
    ("count", "personalised", "shape"),
    [
        (1, False, states.SINGLE),
        (1, True, states.SINGLE),
        (2, False, states.BULK),
        (2, True, states.PERSONALISED),
    ],
)
def test_plan_shape_for(count, personalised, shape):
    assert shape_for(count, personalised=personalised) == shape


def test_plan_skips_other_campaign_ids_in_range(engine):
    # Campaign A's recipients have ids on both sides of campaign B's.
    first = launch(engine, phones(3), key="a")
    launch(engine, phones(3, start=100), key="b")
    with engine.begin() as connection:
        rows = [
            {"campaign_id": first, "phone": phone, "status": "PENDING"}
            for phone in phones(3, start=200)
        ]
        connection.execute(insert(Recipient.__table__), rows)

    plan_campaign(engine, campaign_id=first, chunk_size=4)

    members = Counter(row.chunk_id for row in recipients(engine, first))
    assert sorted(members.values()) == [2, 4]
    assert sum(members.values()) == 6


def test_plan_runs_once(engine):
    campaign_id = launch(engine, phones(5))

    first = plan_campaign(engine, campaign_id=campaign_id, chunk_size=2)
    second = plan_campaign(engine, campaign_id=campaign_id, chunk_size=2)

    assert first is True
    assert second is False
    assert len(chunks(engine, campaign_id)) == 3


def test_plan_concurrent_planners_plan_once(engine):
    campaign_id = launch(engine, phones(200))
    barrier = threading.Barrier(4)
    results = []

    def plan():
        barrier.wait()
        results.append(plan_campaign(engine, campaign_id=campaign_id, chunk_size=10))

    threads = [threading.Thread(target=plan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, False, True]
    assert len(chunks(engine, campaign_id)) == 20


@pytest.mark.parametrize(
    ("status", "offset_minutes", "due"),
    [
        (states.CAMPAIGN_QUEUED, None, True),
        (states.CAMPAIGN_SCHEDULED, -1, True),
        (states.CAMPAIGN_SCHEDULED, 10, False),
        (states.CAMPAIGN_PAUSED, None, False),
        (states.CAMPAIGN_CANCELLED, None, False),
    ],
)
def test_plan_due_campaigns(engine, status, offset_minutes, due):
    campaign_id = launch(engine, phones(2))
    scheduled_for = (
        None if offset_minutes is None else utc_now() + timedelta(minutes=offset_minutes)
    )
    with engine.begin() as connection:
        connection.execute(
            update(Campaign.__table__).values(status=status, scheduled_for=scheduled_for)
        )

    planned = plan_due_campaigns(engine, chunk_size=10)

    assert (campaign_id in planned) is due
    assert list_due_campaigns(engine) == []


def test_plan_rejects_chunk_size_zero(engine):
    campaign_id = launch(engine, phones(2))
    with pytest.raises(ValueError, match="chunk_size is 0"):
        plan_campaign(engine, campaign_id=campaign_id, chunk_size=0)


# Claiming.


def test_claim_marks_chunk_sending(engine):
    campaign_id = launch(engine, phones(3))
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=2)

    claimed = claim_next_chunk(engine, owner="me")

    (first, second) = chunks(engine, campaign_id)
    assert claimed.chunk_id == first.id
    assert first.state == states.SENDING
    assert first.claimed_by == "me"
    assert first.sending_at is not None
    assert first.attempts == 1
    assert second.state == states.QUEUED


def test_claim_takes_oldest_campaign_first(engine):
    older = launch(engine, phones(2), key="old")
    newer = launch(engine, phones(2, start=50), key="new")
    plan_due_campaigns(engine, chunk_size=1)

    claimed = [claim_next_chunk(engine, owner="me") for _ in range(4)]

    assert [chunk.campaign_id for chunk in claimed] == [older, older, newer, newer]
    assert [chunk.seq for chunk in claimed] == [0, 1, 0, 1]
    assert claim_next_chunk(engine, owner="me") is None


@pytest.mark.parametrize(
    ("campaign_status", "backing_off"),
    [
        (states.CAMPAIGN_PAUSED, False),
        (states.CAMPAIGN_STOPPED, False),
        (states.CAMPAIGN_SENDING, True),
    ],
)
def test_claim_skips_unclaimable(engine, campaign_status, backing_off):
    campaign_id = launch(engine, phones(2))
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=10)
    later = utc_now() + timedelta(minutes=5) if backing_off else None
    with engine.begin() as connection:
        connection.execute(update(Campaign.__table__).values(status=campaign_status))
        connection.execute(update(Chunk.__table__).values(next_attempt_at=later))

    assert claim_next_chunk(engine, owner="me") is None


def _claim_all(engine, owners: int) -> Counter:
    barrier = threading.Barrier(owners)
    claimed: list[int] = []
    lock = threading.Lock()

    def work(owner: str):
        barrier.wait()
        while (chunk := claim_next_chunk(engine, owner=owner)) is not None:
            with lock:
                claimed.append(chunk.chunk_id)

    threads = [threading.Thread(target=work, args=(f"owner-{index}",)) for index in range(owners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(claimed)


def test_claim_concurrent_claims_are_distinct(engine):
    campaign_id = launch(engine, phones(60))
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=1)

    claimed = _claim_all(engine, owners=6)

    assert len(claimed) == 60
    assert max(claimed.values()) == 1


@pytest.mark.postgres
def test_claim_postgres_skip_locked_claims_are_distinct(pg_engine):
    campaign_id = launch(pg_engine, phones(60))
    plan_campaign(pg_engine, campaign_id=campaign_id, chunk_size=1)

    claimed = _claim_all(pg_engine, owners=6)

    assert len(claimed) == 60
    assert max(claimed.values()) == 1
    assert len({chunk.claimed_by for chunk in chunks(pg_engine, campaign_id)}) > 1
