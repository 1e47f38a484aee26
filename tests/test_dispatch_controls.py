# ruff: noqa: F401, F811  (pytest fixtures are imported and then requested by name)
"""Operator controls: pause, resume, cancel, schedule, retry of failed recipients."""

import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from core.dispatch import controls, outcomes, states
from core.dispatch.claim import claim_next_chunk
from core.dispatch.clock import utc_now
from core.dispatch.planner import plan_campaign
from core.errors import InputError, NotFoundError
from core.models import Campaign, Recipient
from tests.dispatch_support import (
    campaign,
    chunk_states,
    chunks,
    launch,
    ledger_counts,
    make_dispatcher,
    make_settings,
    phones,
    quiet_sandbox_process,
    recipient_statuses,
    recipients,
    sandbox,
)


def test_pause_stops_sending_and_resume_finishes(engine, sandbox):
    numbers = phones(30)
    campaign_id = launch(engine, numbers)
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=10)

    controls.pause(engine, campaign_id=campaign_id)
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=10)
    paused_requests = sandbox.stats()["requests"]
    resumed_as = controls.resume(engine, campaign_id=campaign_id)
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert paused_requests == 0
    assert resumed_as == states.CAMPAIGN_SENDING
    assert ledger_counts(sandbox) == Counter(numbers)
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


@pytest.mark.parametrize(
    ("scheduled_in_minutes", "planned", "expected"),
    [
        (None, False, states.CAMPAIGN_QUEUED),
        (30, False, states.CAMPAIGN_SCHEDULED),
        (None, True, states.CAMPAIGN_SENDING),
    ],
)
def test_resume_target_status(engine, scheduled_in_minutes, planned, expected):
    campaign_id = launch(engine, phones(3))
    if planned:
        plan_campaign(engine, campaign_id=campaign_id, chunk_size=10)
    if scheduled_in_minutes is not None:
        when = utc_now() + timedelta(minutes=scheduled_in_minutes)
        with engine.begin() as connection:
            connection.execute(update(Campaign.__table__).values(scheduled_for=when))
    controls.pause(engine, campaign_id=campaign_id)

    assert controls.resume(engine, campaign_id=campaign_id) == expected
    assert campaign(engine, campaign_id).status == expected


@pytest.mark.parametrize(
    ("control", "status"),
    [
        (controls.pause, states.CAMPAIGN_COMPLETED),
        (controls.pause, states.CAMPAIGN_CANCELLED),
        (controls.resume, states.CAMPAIGN_SENDING),
        (controls.resume, states.CAMPAIGN_COMPLETED),
        (controls.cancel, states.CAMPAIGN_COMPLETED),
        (controls.cancel, states.CAMPAIGN_CANCELLED),
    ],
)
def test_control_rejects_wrong_status(engine, control, status):
    campaign_id = launch(engine, phones(1))
    with engine.begin() as connection:
        connection.execute(update(Campaign.__table__).values(status=status))

    with pytest.raises(controls.ControlError, match=f"is {status}"):
        control(engine, campaign_id=campaign_id)


def test_control_unknown_campaign(engine):
    with pytest.raises(NotFoundError, match="Campaign 99 does not exist"):
        controls.pause(engine, campaign_id=99)


def test_cancel_before_planning_cancels_everyone(engine, sandbox):
    campaign_id = launch(engine, phones(5))

    cancelled = controls.cancel(engine, campaign_id=campaign_id)
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=10)

    assert cancelled == 5
    assert recipient_statuses(engine, campaign_id) == {states.CANCELLED_STATUS: 5}
    assert sandbox.stats()["requests"] == 0
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_CANCELLED


def test_cancel_midway_lets_sending_chunk_finish(engine):
    campaign_id = launch(engine, phones(30))
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=10)
    first = claim_next_chunk(engine, owner="me")
    outcomes.record_accepted(
        engine,
        chunk_id=first.chunk_id,
        campaign_id=campaign_id,
        message_id=None,
        campaign_ref="c-1",
    )
    in_flight = claim_next_chunk(engine, owner="me")

    cancelled = controls.cancel(engine, campaign_id=campaign_id)
    outcomes.record_accepted(
        engine,
        chunk_id=in_flight.chunk_id,
        campaign_id=campaign_id,
        message_id=None,
        campaign_ref="c-2",
    )

    assert cancelled == 10
    assert chunk_states(engine, campaign_id) == {states.ACCEPTED: 2, states.CANCELLED: 1}
    assert recipient_statuses(engine, campaign_id) == {"PENDING": 20, states.CANCELLED_STATUS: 10}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_CANCELLED


def test_schedule_stores_utc_and_zone(engine):
    campaign_id = launch(engine, phones(2))
    local = datetime.now(ZoneInfo("Europe/Nicosia")).replace(
        tzinfo=None, microsecond=0
    ) + timedelta(days=1)

    stored = controls.schedule(
        engine, campaign_id=campaign_id, send_at=local, timezone="Europe/Nicosia"
    )

    row = campaign(engine, campaign_id)
    assert stored == local.replace(tzinfo=ZoneInfo("Europe/Nicosia")).astimezone(ZoneInfo("UTC"))
    assert row.status == states.CAMPAIGN_SCHEDULED
    assert row.timezone == "Europe/Nicosia"
    assert row.scheduled_for.replace(tzinfo=ZoneInfo("UTC")) == stored


@pytest.mark.parametrize(
    ("zone", "offset", "message"),
    [
        ("Mars/Olympus", timedelta(days=1), "not a tz database name"),
        ("", timedelta(days=1), "not a tz database name"),
        ("Europe/Nicosia", -timedelta(minutes=5), "in the past"),
    ],
)
def test_schedule_rejects_bad_input(engine, zone, offset, message):
    campaign_id = launch(engine, phones(2))
    send_at = datetime.now() + offset

    with pytest.raises(InputError, match=message):
        controls.schedule(engine, campaign_id=campaign_id, send_at=send_at, timezone=zone)


def test_schedule_rejects_started_campaign(engine):
    campaign_id = launch(engine, phones(2))
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=10)
    controls.pause(engine, campaign_id=campaign_id)

    with pytest.raises(controls.ControlError, match="has started sending"):
        controls.schedule(
            engine,
            campaign_id=campaign_id,
            send_at=datetime.now() + timedelta(days=1),
            timezone="UTC",
        )


def test_schedule_sends_only_when_due(engine, sandbox):
    campaign_id = launch(engine, phones(3))
    controls.schedule(
        engine, campaign_id=campaign_id, send_at=datetime.now() + timedelta(days=1), timezone="UTC"
    )

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=10)
    before = sandbox.stats()["requests"]
    with engine.begin() as connection:
        connection.execute(
            update(Campaign.__table__).values(scheduled_for=utc_now() - timedelta(seconds=1))
        )
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert before == 0
    assert sandbox.stats()["requests"] == 1
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


# Retry of failed recipients.


def _finish_with_statuses(engine, campaign_id: int, statuses: list[str]) -> None:
    with engine.begin() as connection:
        for recipient_id, status in enumerate(statuses, start=1):
            connection.execute(
                update(Recipient.__table__)
                .where(Recipient.id == recipient_id)
                .values(status=status)
            )
        connection.execute(update(Campaign.__table__).values(status=states.CAMPAIGN_COMPLETED))


STATUSES = ["DELIVERED", "FAILED", "UNDELIVERED", "EXPIRED", "REJECTED", "UNSUBSCRIBED", "PENDING"]


@pytest.mark.parametrize(
    ("retry_statuses", "retried"),
    [
        (controls.DEFAULT_RETRY_STATUSES, {"FAILED", "UNDELIVERED", "EXPIRED"}),
        (("FAILED", "REJECTED"), {"FAILED", "REJECTED"}),
        (("failed", "UNSUBSCRIBED"), {"FAILED"}),
    ],
)
def test_retry_failed_picks_statuses(engine, retry_statuses, retried):
    numbers = phones(len(STATUSES))
    parent = launch(
        engine,
        numbers,
        message="Hi {name}",
        fields=[{"name": "A"}] * len(STATUSES),
        personalised=True,
    )
    _finish_with_statuses(engine, parent, STATUSES)

    result = controls.retry_failed(engine, campaign_id=parent, statuses=retry_statuses)

    expected = {numbers[index] for index, status in enumerate(STATUSES) if status in retried}
    child = campaign(engine, result.campaign.id)
    assert result.created is True
    assert child.parent_campaign_id == parent
    assert child.personalised is True
    assert child.message == "Hi {name}"
    assert {row.phone for row in recipients(engine, child.id)} == expected


def test_retry_failed_double_click_makes_one_campaign(engine):
    parent = launch(engine, phones(len(STATUSES)))
    _finish_with_statuses(engine, parent, STATUSES)
    barrier = threading.Barrier(2)
    results = []

    def click():
        barrier.wait()
        results.append(controls.retry_failed(engine, campaign_id=parent))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rerun = controls.retry_failed(engine, campaign_id=parent)

    assert len({result.campaign.id for result in results + [rerun]}) == 1
    assert sorted(result.created for result in results) == [False, True]
    assert rerun.created is False


def test_retry_failed_second_attempt_is_new(engine):
    parent = launch(engine, phones(len(STATUSES)))
    _finish_with_statuses(engine, parent, STATUSES)

    first = controls.retry_failed(engine, campaign_id=parent)
    second = controls.retry_failed(engine, campaign_id=parent, attempt=2)

    assert second.created is True
    assert second.campaign.id != first.campaign.id


def test_retry_failed_without_failures(engine):
    parent = launch(engine, phones(2))
    _finish_with_statuses(engine, parent, ["DELIVERED", "DELIVERED"])

    with pytest.raises(controls.ControlError, match="no recipient with status"):
        controls.retry_failed(engine, campaign_id=parent)


def test_retry_failed_sends_to_failed_only(engine, sandbox):
    numbers = phones(len(STATUSES))
    parent = launch(engine, numbers)
    _finish_with_statuses(engine, parent, STATUSES)

    controls.retry_failed(engine, campaign_id=parent)
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert ledger_counts(sandbox) == Counter(numbers[1:4])
