# ruff: noqa: F401, F811  (pytest fixtures are imported and then requested by name)
"""Real `smsto-console dispatch` processes on one SQLite file: shared claims and rate limit,
and SIGKILL at random moments without a recipient ever getting two messages."""

import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from core.db import session_scope
from core.dispatch import controls, reconcile, states
from core.dispatch.clock import utc_now
from core.models import Chunk
from tests.dispatch_support import (
    campaign,
    chunks,
    dispatch_process,
    launch,
    ledger_counts,
    phones,
    quiet_sandbox_process,
    recipients,
    reconcile_with_lookups,
    sandbox,
)


def _database_url(tmp_path) -> str:
    # The `engine` fixture's file; the processes open the same one.
    return f"sqlite:///{tmp_path / 'test.db'}"


def _wait(process, timeout: float) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        raise


def _owners(engine, campaign_id: int) -> set[str]:
    return {chunk.claimed_by for chunk in chunks(engine, campaign_id)}


def test_two_dispatch_processes_share_claims_and_limit(engine, sandbox, tmp_path):
    numbers = phones(1200)
    campaign_id = launch(engine, numbers)
    settings = {"chunk_size": 10, "rate_limit_per_second": 20}

    processes = [
        dispatch_process(_database_url(tmp_path), sandbox, tmp_path, once=True, **settings)
        for _ in range(2)
    ]
    codes = [_wait(process, timeout=60) for process in processes]

    stats = sandbox.stats()
    assert codes == [0, 0]
    assert ledger_counts(sandbox) == Counter(numbers)
    assert stats["requests"] == 120
    assert stats["max_requests_in_one_second"] <= 20
    assert len(_owners(engine, campaign_id)) == 2
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


# Crashes.

CRASH_FAULTS = {
    "rate_limit_rate": 0.01,
    "server_error_rate": 0.05,
    "slow_rate": 0.1,
    "slow_seconds": 0.3,
    "drop_rate": 0.03,
}
CRASH_SETTINGS = {"chunk_size": 10, "rate_limit_per_second": 40}


def _progress(engine, campaign_id: int) -> int:
    query = select(func.count()).where(
        Chunk.campaign_id == campaign_id, Chunk.state != states.QUEUED
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def _run_until_progress_then_kill(engine, campaign_id, sandbox, tmp_path, rng) -> bool:
    """Start a dispatcher, wait until it moved at least one chunk, kill it at a random moment.

    Returns False when there was nothing left to send.
    """
    before = _progress(engine, campaign_id)
    planned = len(chunks(engine, campaign_id))
    if planned and before == planned:
        return False

    sandbox.configure(faults=CRASH_FAULTS | {"rate_limit_burst": 3})
    process = dispatch_process(
        _database_url(tmp_path), sandbox, tmp_path, once=False, **CRASH_SETTINGS
    )
    deadline = time.monotonic() + 20
    while _progress(engine, campaign_id) == before and time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "dispatch-0.log").read_text()
        time.sleep(0.01)

    time.sleep(rng.uniform(0.0, 0.6))
    os.kill(process.pid, signal.SIGKILL)
    # Waiting reaps the process, as its supervisor would; a zombie would still look alive.
    process.wait()
    return True


@pytest.mark.slow
def test_dispatch_killed_repeatedly_sends_at_most_once(engine, sandbox, tmp_path):
    rng = random.Random(20261204)
    numbers = phones(5000)
    campaign_id = launch(engine, numbers)

    kills = 0
    while kills < 12 and _run_until_progress_then_kill(engine, campaign_id, sandbox, tmp_path, rng):
        kills += 1
    final = dispatch_process(
        _database_url(tmp_path), sandbox, tmp_path, once=True, **CRASH_SETTINGS
    )
    final_code = _wait(final, timeout=90)
    _settle_uncertain_from_lookups(engine, sandbox)

    ledger = ledger_counts(sandbox)
    rows = recipients(engine, campaign_id)
    chunk_state = {chunk.id: chunk.state for chunk in chunks(engine, campaign_id)}
    uncertain_phones = {row.phone for row in rows if chunk_state[row.chunk_id] == states.UNCERTAIN}
    with session_scope(engine) as session:
        listed = controls.list_uncertain_chunks(session, campaign_id=campaign_id)

    reconciled = [
        chunk for chunk in chunks(engine, campaign_id) if chunk.last_error.startswith("Reconciled")
    ]
    print(f"kills {kills}, chunks {Counter(chunk_state.values())}, reconciled {len(reconciled)}")
    assert kills >= 10
    assert reconciled  # some chunks were accepted by the sandbox but lost their response
    assert final_code == 0
    assert max(ledger.values()) == 1
    assert set(ledger) <= set(numbers)
    assert {row.phone for row in rows if row.phone not in uncertain_phones} <= set(ledger)
    assert not uncertain_phones & set(ledger)  # lookups settled every uncertain chunk that was sent
    assert {phone for chunk in listed for phone in chunk.phones} == uncertain_phones
    assert set(chunk_state.values()) <= {states.ACCEPTED, states.UNCERTAIN}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED
    assert sandbox.stats()["max_requests_in_one_second"] <= CRASH_SETTINGS["rate_limit_per_second"]
    _assert_ids_match_ledger(engine, campaign_id, sandbox)


def _settle_uncertain_from_lookups(engine, sandbox) -> None:
    # Lookups are due some seconds after a chunk turns uncertain; the test makes them due now.
    with engine.begin() as connection:
        connection.execute(
            update(Chunk.__table__)
            .where(Chunk.state == states.UNCERTAIN)
            .values(next_attempt_at=utc_now())
        )
    due = select(func.count()).where(
        Chunk.state == states.UNCERTAIN, Chunk.lookup_count == 0, Chunk.next_attempt_at <= utc_now()
    )
    for _ in range(20):
        with engine.connect() as connection:
            if connection.execute(due).scalar_one() == 0:
                return
        reconcile_with_lookups(engine, sandbox, limit=CRASH_SETTINGS["rate_limit_per_second"])
    pytest.fail("uncertain chunks were still waiting for a lookup after 20 passes")


def _assert_ids_match_ledger(engine, campaign_id, sandbox) -> None:
    tracking = {entry["phone"]: entry for entry in sandbox.ledger()}
    for row in recipients(engine, campaign_id):
        entry = tracking.get(row.phone)
        if entry is None:
            continue
        if row.provider_message_id:
            assert row.provider_message_id == entry["message_id"], row.phone
        else:
            assert row.provider_campaign_id == entry["tracking_id"], row.phone
