"""Chunks left `sending` by a dispatcher that is gone become uncertain, and only those."""

import os
import socket
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from core.dispatch import heartbeat, states
from core.dispatch.claim import claim_next_chunk
from core.dispatch.clock import utc_now
from core.dispatch.planner import plan_campaign
from core.models import Chunk, DispatcherHeartbeat
from tests.dispatch_support import campaign, chunks, launch, phones, recipient_statuses


def _sending_chunk(engine, owner: str) -> int:
    campaign_id = launch(engine, phones(3))
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=10)
    claim_next_chunk(engine, owner=owner)
    return campaign_id


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _insert_heartbeat(
    engine, owner: str, *, pid: int, age_seconds: float = 0, stopped: bool = False
) -> None:
    now = utc_now()
    row = {
        "id": owner,
        "host": socket.gethostname(),
        "pid": pid,
        "started_at": now,
        "heartbeat_at": now - timedelta(seconds=age_seconds),
        "stopped_at": now if stopped else None,
    }
    with engine.begin() as connection:
        connection.execute(insert(DispatcherHeartbeat.__table__).values(**row))


@pytest.mark.parametrize(
    "case",
    ["no-heartbeat-row", "stopped", "heartbeat-expired", "dead-pid", "same-pid-not-live"],
)
def test_settle_orphans_owner_gone(engine, case):
    owner = f"gone-{case}"
    if case == "stopped":
        _insert_heartbeat(engine, owner, pid=os.getpid(), stopped=True)
    elif case == "heartbeat-expired":
        _insert_heartbeat(engine, owner, pid=os.getppid(), age_seconds=120)
    elif case == "dead-pid":
        _insert_heartbeat(engine, owner, pid=_dead_pid())
    elif case == "same-pid-not-live":
        # A restarted dispatcher that got its predecessor's pid (pid 1 in a container).
        _insert_heartbeat(engine, owner, pid=os.getpid())
    campaign_id = _sending_chunk(engine, owner)

    settled = heartbeat.settle_orphans(engine)

    (chunk,) = chunks(engine, campaign_id)
    assert settled == [chunk.id]
    assert chunk.state == states.UNCERTAIN
    assert recipient_statuses(engine, campaign_id) == {states.UNCERTAIN_STATUS: 3}
    assert campaign(engine, campaign_id).status == states.CAMPAIGN_COMPLETED


def test_settle_orphans_keeps_live_dispatcher(engine):
    owner = heartbeat.new_owner_id()
    heartbeat.register(engine, owner=owner)
    campaign_id = _sending_chunk(engine, owner)

    settled = heartbeat.settle_orphans(engine)
    heartbeat.unregister(engine, owner=owner)

    assert settled == []
    assert chunks(engine, campaign_id)[0].state == states.SENDING


def test_settle_orphans_keeps_other_live_process(engine):
    # The parent of this test process is alive and beat a moment ago.
    _insert_heartbeat(engine, "parent", pid=os.getppid())
    campaign_id = _sending_chunk(engine, "parent")

    assert heartbeat.settle_orphans(engine) == []
    assert chunks(engine, campaign_id)[0].state == states.SENDING


def test_settle_orphans_stale_sending_chunk(engine):
    owner = heartbeat.new_owner_id()
    heartbeat.register(engine, owner=owner)
    campaign_id = _sending_chunk(engine, owner)
    with engine.begin() as connection:
        connection.execute(
            update(Chunk.__table__).values(sending_at=utc_now() - timedelta(hours=1))
        )

    settled = heartbeat.settle_orphans(engine)
    heartbeat.unregister(engine, owner=owner)

    assert len(settled) == 1
    assert chunks(engine, campaign_id)[0].state == states.UNCERTAIN


def test_settle_orphans_leaves_other_states(engine):
    campaign_id = launch(engine, phones(3))
    plan_campaign(engine, campaign_id=campaign_id, chunk_size=1)

    assert heartbeat.settle_orphans(engine) == []
    assert {chunk.state for chunk in chunks(engine, campaign_id)} == {states.QUEUED}


def test_register_forgets_silent_dispatchers(engine):
    _insert_heartbeat(engine, "silent", pid=_dead_pid(), age_seconds=2 * 86400)
    _insert_heartbeat(engine, "silent-but-named", pid=_dead_pid(), age_seconds=2 * 86400)
    _insert_heartbeat(engine, "recent", pid=_dead_pid(), age_seconds=60)
    _sending_chunk(engine, "silent-but-named")

    owner = heartbeat.new_owner_id()
    heartbeat.register(engine, owner=owner)
    heartbeat.unregister(engine, owner=owner)

    with engine.connect() as connection:
        ids = set(connection.execute(select(DispatcherHeartbeat.id)).scalars())
    assert ids == {"silent-but-named", "recent", owner}
