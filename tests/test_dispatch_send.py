# ruff: noqa: F401, F811  (pytest fixtures are imported and then requested by name)
"""The dispatcher against the sandbox SMS.to: request shapes, ids, opt-outs, error responses."""

from collections import Counter

import pytest

from core.db import session_scope
from core.dispatch import states
from core.dispatch.sender import RetryPolicy
from core.models import Suppression
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


def test_send_bulk_chunks_send_each_recipient_once(engine, sandbox):
    numbers = phones(25)
    campaign_id = launch(engine, numbers)

    summary = make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert ledger_counts(sandbox) == Counter(numbers)
    assert summary.chunks == {states.ACCEPTED: 3}
    assert chunk_states(engine, campaign_id) == {states.ACCEPTED: 3}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


def test_send_bulk_ids_match_sandbox_ledger(engine, sandbox):
    numbers = phones(12)
    campaign_id = launch(engine, numbers)

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    tracking = {entry["phone"]: entry["tracking_id"] for entry in sandbox.ledger()}
    rows = recipients(engine, campaign_id)
    assert all(row.provider_campaign_id == tracking[row.phone] for row in rows)
    assert all(row.sent_at is not None for row in rows)
    assert {chunk.provider_campaign_id for chunk in chunks(engine, campaign_id)} == set(
        tracking.values()
    )


def test_send_single_recipient_uses_message_id(engine, sandbox):
    campaign_id = launch(engine, phones(1))

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    (entry,) = sandbox.ledger()
    (row,) = recipients(engine, campaign_id)
    (chunk,) = chunks(engine, campaign_id)
    assert chunk.shape == states.SINGLE
    assert row.provider_message_id == entry["message_id"]
    assert row.provider_campaign_id is None
    assert chunk.provider_message_id == entry["message_id"]


@pytest.mark.parametrize(
    ("count", "message", "personalised", "shapes"),
    [
        (1, "Hello", False, {states.SINGLE}),
        (10, "Hello", False, {states.BULK}),
        (11, "Hello", False, {states.BULK, states.SINGLE}),
        (10, "Hi {name}", True, {states.PERSONALISED}),
        (1, "Hi {name}", True, {states.SINGLE}),
    ],
)
def test_send_shape_choice(engine, sandbox, count, message, personalised, shapes):
    fields = [{"name": f"N{index}"} for index in range(count)]
    campaign_id = launch(
        engine, phones(count), message=message, fields=fields, personalised=personalised
    )

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert {chunk.shape for chunk in chunks(engine, campaign_id)} == shapes
    assert ledger_counts(sandbox) == Counter(phones(count))


def test_send_personalised_renders_each_text(engine, sandbox):
    # A 200-character name makes that one message two parts; the short one stays one part.
    fields = [{"name": "Ann"}, {"name": "x" * 200}]
    launch(engine, phones(2), message="Hi {name}", fields=fields, personalised=True)

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    parts = {entry["phone"]: entry["parts"] for entry in sandbox.ledger()}
    assert parts == {phones(2)[0]: 1, phones(2)[1]: 2}


def test_send_skips_suppressed_numbers(engine, sandbox):
    numbers = phones(5)
    campaign_id = launch(engine, numbers)
    with session_scope(engine) as session:
        session.add(Suppression(phone=numbers[1], source="test"))

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert ledger_counts(sandbox) == Counter(numbers[:1] + numbers[2:])
    assert recipient_statuses(engine, campaign_id)[states.SUPPRESSED] == 1


def test_send_all_suppressed_chunk_is_skipped(engine, sandbox):
    numbers = phones(2)
    campaign_id = launch(engine, numbers)
    with session_scope(engine) as session:
        session.add_all([Suppression(phone=phone, source="test") for phone in numbers])

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert sandbox.stats()["requests"] == 0
    assert chunk_states(engine, campaign_id) == {states.SKIPPED: 1}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


def test_send_401_stops_campaign(engine, sandbox):
    campaign_id = launch(engine, phones(20))
    settings = make_settings(sandbox, smsto_api_key="wrong-key")

    make_dispatcher(engine, settings).run_once(timeout=30)

    stopped = campaign(engine, campaign_id)
    assert stopped.status == states.CAMPAIGN_STOPPED
    assert "API key" in stopped.status_reason
    assert "SMSTO_API_KEY" in stopped.status_reason
    assert chunk_states(engine, campaign_id) == {states.QUEUED: 2}
    assert sandbox.ledger() == []


def test_send_402_pauses_with_balance_message(engine, sandbox):
    sandbox.configure(balance="0.02")
    campaign_id = launch(engine, phones(20))

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    paused = campaign(engine, campaign_id)
    assert paused.status == states.CAMPAIGN_PAUSED
    assert "balance" in paused.status_reason
    assert "EUR" in paused.status_reason  # SMS.to's own message names the amounts
    assert chunk_states(engine, campaign_id)[states.QUEUED] == 2


def test_send_400_fails_chunk_not_sent(engine, sandbox):
    campaign_id = launch(engine, phones(3), sender_id="A sender id far too long")

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=30)

    assert chunk_states(engine, campaign_id) == {states.FAILED: 1}
    assert recipient_statuses(engine, campaign_id) == {states.NOT_SENT: 3}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


@pytest.mark.parametrize(
    "faults",
    [
        {"rate_limit_burst": 3},
        {"server_error_rate": 0.5},
    ],
    ids=["429-burst", "5xx"],
)
def test_send_retries_until_accepted(engine, sandbox, faults):
    sandbox.configure(faults=faults)
    numbers = phones(40)
    campaign_id = launch(engine, numbers)

    make_dispatcher(engine, make_settings(sandbox)).run_once(timeout=60)

    assert ledger_counts(sandbox) == Counter(numbers)
    assert chunk_states(engine, campaign_id) == {states.ACCEPTED: 4}
    assert max(chunk.attempts for chunk in chunks(engine, campaign_id)) > 1


def test_send_unreachable_provider_retries_later(engine, sandbox):
    campaign_id = launch(engine, phones(3))
    settings = make_settings(sandbox, smsto_api_url="http://127.0.0.1:9")

    make_dispatcher(engine, settings).run_once(timeout=1.0)

    (chunk,) = chunks(engine, campaign_id)
    assert chunk.state == states.QUEUED
    assert chunk.attempts >= 2
    assert "no connection" in chunk.last_error
    assert campaign(engine, campaign_id).status_reason.startswith("Retrying: ")


@pytest.mark.parametrize(
    ("faults", "timeout"),
    [
        ({"drop_rate": 1.0}, 10.0),
        ({"timeout_rate": 1.0, "timeout_seconds": 2.0}, 0.5),
        ({"server_error_rate": 1.0, "server_error_codes": [504]}, 10.0),
    ],
    ids=["dropped", "read-timeout", "504"],
)
def test_send_lost_response_makes_chunk_uncertain(engine, sandbox, faults, timeout):
    sandbox.configure(faults=faults)
    campaign_id = launch(engine, phones(3))

    summary = make_dispatcher(engine, make_settings(sandbox), timeout=timeout).run_once(timeout=30)

    (chunk,) = chunks(engine, campaign_id)
    assert summary.chunks == {states.UNCERTAIN: 1}
    assert chunk.state == states.UNCERTAIN
    assert chunk.attempts == 1
    assert recipient_statuses(engine, campaign_id) == {states.UNCERTAIN_STATUS: 3}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED
    assert "uncertain" in campaign(engine, campaign_id).status_reason


def test_send_same_dispatcher_runs_twice(engine, sandbox):
    dispatcher = make_dispatcher(engine, make_settings(sandbox))
    first = launch(engine, phones(3), key="first")
    dispatcher.run_once(timeout=30)
    second = launch(engine, phones(3, start=10), key="second")

    dispatcher.run_once(timeout=30)

    assert ledger_counts(sandbox) == Counter(phones(3) + phones(3, start=10))
    assert campaign(engine, first).status == states.CAMPAIGN_COMPLETED
    assert campaign(engine, second).status == states.CAMPAIGN_COMPLETED


@pytest.mark.postgres
def test_send_postgres_sends_each_once(pg_engine, sandbox):
    numbers = phones(95)
    campaign_id = launch(
        pg_engine, numbers, message="Hi {name}", fields=[{"name": "A"}] * 95, personalised=True
    )

    make_dispatcher(pg_engine, make_settings(sandbox), concurrency=4).run_once(timeout=60)

    assert ledger_counts(sandbox) == Counter(numbers)
    assert chunk_states(pg_engine, campaign_id) == {states.ACCEPTED: 10}
    assert {chunk.shape for chunk in chunks(pg_engine, campaign_id)} == {states.PERSONALISED}
    assert all(row.sent_at is not None for row in recipients(pg_engine, campaign_id))
    assert campaign(pg_engine, campaign_id).status == states.CAMPAIGN_COMPLETED


def test_send_client_factory_failure_stops_dispatcher(engine, sandbox):
    launch(engine, phones(3))

    def broken_factory():
        raise ValueError("no client")

    dispatcher = make_dispatcher(engine, make_settings(sandbox))
    dispatcher.client_factory = broken_factory
    thread = dispatcher.start_in_thread()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert sandbox.stats()["requests"] == 0


class OverflowingRetry(RetryPolicy):
    """A back-off that raises, as `timedelta` does for a delay of 1e12 seconds."""

    def delay(self, attempts: int, *, at_least: float = 0.0) -> float:
        raise OverflowError("date value out of range")


def test_send_bookkeeping_failure_queues_chunk(engine, sandbox):
    sandbox.configure(faults={"server_error_rate": 1.0})
    campaign_id = launch(engine, phones(3))
    retry = OverflowingRetry(cap_seconds=30.0)

    summary = make_dispatcher(engine, make_settings(sandbox), retry=retry).run_once(timeout=1.0)

    (chunk,) = chunks(engine, campaign_id)
    assert summary.chunks == {states.QUEUED: 1}
    assert chunk.state == states.QUEUED
    assert "Recording the response" in chunk.last_error
    assert "OverflowError" in chunk.last_error
    assert ledger_counts(sandbox) == Counter()
