# ruff: noqa: F401, F811  (pytest fixtures are imported and then requested by name)
"""Uncertain chunks: settled from delivery reports and lookups, listed, and re-sent on purpose."""

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from core.db import session_scope
from core.dispatch import controls, outcomes, reconcile, states
from core.dispatch.claim import claim_next_chunk
from core.dispatch.clock import utc_now
from core.dispatch.planner import plan_campaign
from core.errors import InputError
from core.models import Chunk, DeliveryReport, InboundReport
from tests.dispatch_support import (
    campaign,
    chunk_states,
    chunks,
    client_factory,
    launch,
    ledger_counts,
    make_dispatcher,
    make_settings,
    phones,
    quiet_sandbox_process,
    recipient_statuses,
    recipients,
    reconcile_with_lookups,
    sandbox,
)


def _uncertain_campaign(
    engine, numbers: list[str], *, chunk_size: int = 10, key: str = "launch-1"
) -> int:
    """Plan a campaign and leave every chunk uncertain, as a crash before the response would."""
    campaign_id = launch(engine, numbers, key=key)
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=chunk_size)
    claimed = [claim_next_chunk(engine, owner="crashed") for _ in chunks(engine, campaign_id)]
    with engine.begin() as connection:
        outcomes.mark_uncertain(
            connection, chunk_ids=[chunk.chunk_id for chunk in claimed], reason="test"
        )
    return campaign_id


def _store_report(
    engine, *, tracking_id: str, message_id: str, phone: str, received_at=None
) -> int:
    """Store a delivery report that matched nothing, as the webhook does before ids are known."""
    with engine.begin() as connection:
        inbound_id = connection.execute(
            insert(InboundReport.__table__)
            .values(body=b"{}", received_at=utc_now(), processed=True)
            .returning(InboundReport.id)
        ).scalar_one()
        return connection.execute(
            insert(DeliveryReport.__table__)
            .values(
                inbound_id=inbound_id,
                received_at=received_at or utc_now(),
                tracking_id=tracking_id,
                message_id=message_id,
                phone=phone,
                phone_raw=phone,
                status="DELIVERED",
                parts=1,
                matched=False,
                unmatched_reason="no recipient with this message id / campaign id yet",
            )
            .returning(DeliveryReport.id)
        ).scalar_one()


# From delivery reports.


def test_reconcile_report_adopts_campaign_id(engine):
    numbers = phones(3)
    campaign_id = _uncertain_campaign(engine, numbers)
    report_id = _store_report(engine, tracking_id="camp-1", message_id="msg-9", phone=numbers[1])

    settled = reconcile.reconcile_from_reports(engine)

    (chunk,) = chunks(engine, campaign_id)
    assert settled == [chunk.id]
    assert chunk.state == states.ACCEPTED
    assert chunk.provider_campaign_id == "camp-1"
    assert {row.provider_campaign_id for row in recipients(engine, campaign_id)} == {"camp-1"}
    with engine.connect() as connection:
        report = connection.execute(
            select(DeliveryReport.__table__).where(DeliveryReport.id == report_id)
        ).one()
    assert report.matched is True
    assert recipient_statuses(engine, campaign_id) == {"DELIVERED": 1, "PENDING": 2}


def test_reconcile_report_adopts_single_message_id(engine):
    numbers = phones(1)
    campaign_id = _uncertain_campaign(engine, numbers)
    _store_report(engine, tracking_id="m-1", message_id="m-1", phone=numbers[0])

    reconcile.reconcile_from_reports(engine)

    (row,) = recipients(engine, campaign_id)
    assert row.provider_message_id == "m-1"
    assert row.status == "DELIVERED"


@pytest.mark.parametrize(
    "case",
    ["id-of-another-chunk", "received-before-send", "other-phone", "single-report-for-bulk"],
)
def test_reconcile_report_ignored(engine, case):
    numbers = phones(3)
    if case == "id-of-another-chunk":
        other = launch(engine, phones(2, start=500), key="other")
        plan_campaign(engine, campaign_id=other, chunk_size=10)
        claimed = claim_next_chunk(engine, owner="me")
        outcomes.record_accepted(
            engine,
            chunk_id=claimed.chunk_id,
            campaign_id=other,
            message_id=None,
            campaign_ref="camp-1",
        )
    campaign_id = _uncertain_campaign(engine, numbers, key="uncertain")
    report = {"tracking_id": "camp-1", "message_id": "msg-9", "phone": numbers[0]}
    if case == "received-before-send":
        report["received_at"] = utc_now() - timedelta(hours=1)
    elif case == "other-phone":
        report["phone"] = "+35799999999"
    elif case == "single-report-for-bulk":
        report["message_id"] = "camp-1"
    _store_report(engine, **report)

    assert reconcile.reconcile_from_reports(engine) == []
    assert chunk_states(engine, campaign_id) == {states.UNCERTAIN: 1}


# From SMS.to's lookups.


def _due_now(engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(Chunk.__table__).values(next_attempt_at=utc_now() - timedelta(seconds=1))
        )


@pytest.mark.parametrize(
    ("count", "id_field"), [(5, "provider_campaign_id"), (1, "provider_message_id")]
)
def test_reconcile_lookup_adopts_sent_chunk(engine, sandbox, count, id_field):
    sandbox.configure(faults={"drop_rate": 1.0})
    numbers = phones(count)
    campaign_id = launch(engine, numbers)
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)
    _due_now(engine)

    settled = reconcile_with_lookups(engine, sandbox)

    entries = sandbox.ledger()
    expected = entries[0]["message_id"] if count == 1 else entries[0]["tracking_id"]
    (chunk,) = chunks(engine, campaign_id)
    assert settled == [chunk.id]
    assert chunk.state == states.ACCEPTED
    assert getattr(chunk, id_field) == expected
    assert {getattr(row, id_field) for row in recipients(engine, campaign_id)} == {expected}
    assert recipient_statuses(engine, campaign_id) == {"PENDING": count}


def test_reconcile_lookup_finds_nothing_for_unsent_chunk(engine, sandbox):
    campaign_id = _uncertain_campaign(engine, phones(3))
    _due_now(engine)

    settled = reconcile_with_lookups(engine, sandbox)

    (chunk,) = chunks(engine, campaign_id)
    assert settled == []
    assert chunk.state == states.UNCERTAIN
    assert chunk.lookup_count == 1
    assert chunk.next_attempt_at.replace(tzinfo=None) > (utc_now() + timedelta(seconds=20)).replace(
        tzinfo=None
    )
    assert sandbox.stats()["requests"] == reconcile.PHONES_PER_LOOKUP


def test_reconcile_lookup_ignores_message_of_another_chunk(engine, sandbox):
    # The number got a message from an earlier campaign, whose id is stored on its chunk.
    numbers = phones(2)
    earlier = launch(engine, numbers, key="earlier")
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)
    later = _uncertain_campaign(engine, numbers, key="later")
    _due_now(engine)

    settled = reconcile_with_lookups(engine, sandbox)

    assert settled == []
    assert chunk_states(engine, earlier) == {states.ACCEPTED: 1}
    assert chunk_states(engine, later) == {states.UNCERTAIN: 1}


# Listing and re-sending.


def test_list_uncertain_chunks_names_recipients(engine):
    numbers = phones(4)
    campaign_id = _uncertain_campaign(engine, numbers, chunk_size=2)

    with session_scope(engine) as session:
        listed = controls.list_uncertain_chunks(session, campaign_id=campaign_id)

    assert [chunk.phones for chunk in listed] == [numbers[:2], numbers[2:]]
    assert {chunk.campaign_id for chunk in listed} == {campaign_id}
    assert all(chunk.sending_at is not None for chunk in listed)


def test_resend_uncertain_sends_chosen_chunks_once(engine, sandbox):
    numbers = phones(4)
    campaign_id = _uncertain_campaign(engine, numbers, chunk_size=2)
    first = chunks(engine, campaign_id)[0]

    new_ids = controls.resend_uncertain(engine, campaign_id=campaign_id, chunk_ids=[first.id])
    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert len(new_ids) == 1
    assert ledger_counts(sandbox) == Counter(numbers[:2])
    assert chunk_states(engine, campaign_id) == {
        states.RESENT: 1,
        states.ACCEPTED: 1,
        states.UNCERTAIN: 1,
    }
    assert recipient_statuses(engine, campaign_id) == {"PENDING": 2, states.UNCERTAIN_STATUS: 2}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


@pytest.mark.parametrize("case", ["accepted-chunk", "other-campaign", "empty"])
def test_resend_uncertain_rejects_bad_choice(engine, case):
    campaign_id = _uncertain_campaign(engine, phones(2), chunk_size=1)
    first, second = chunks(engine, campaign_id)
    outcomes.adopt_provider_id(
        engine, chunk_id=second.id, campaign_id=campaign_id, message_id="m-1", campaign_ref=None,
        accepted_at=utc_now(), source="test",
    )  # fmt: skip
    chosen = {"accepted-chunk": [second.id], "other-campaign": [first.id + 100], "empty": []}[case]

    with pytest.raises(InputError):
        controls.resend_uncertain(engine, campaign_id=campaign_id, chunk_ids=chosen)
    assert chunk_states(engine, campaign_id) == {states.UNCERTAIN: 1, states.ACCEPTED: 1}


def test_dispatcher_reconciles_while_running(engine, sandbox):
    sandbox.configure(faults={"drop_rate": 1.0})
    numbers = phones(3)
    campaign_id = launch(engine, numbers)
    dispatcher = make_dispatcher(engine, make_settings(sandbox), reconcile_interval=0.05)
    dispatcher.run_once(timeout=30)
    _due_now(engine)

    summary = make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert summary.reconciled_chunks == [chunks(engine, campaign_id)[0].id]
    assert chunk_states(engine, campaign_id) == {states.ACCEPTED: 1}
    assert ledger_counts(sandbox) == Counter(numbers)


def test_reconcile_lookup_rejects_campaign_of_other_size(engine, sandbox):
    # Another sender's campaign reached one of the chunk's numbers after the chunk was claimed.
    numbers = phones(2)
    campaign_id = _uncertain_campaign(engine, numbers)
    with client_factory(make_settings(sandbox))() as client:
        client.send_bulk(to=[numbers[0], "+35799777777", "+35799777778"], message="Other")
    _due_now(engine)

    settled = reconcile_with_lookups(engine, sandbox)

    assert settled == []
    assert chunk_states(engine, campaign_id) == {states.UNCERTAIN: 1}
