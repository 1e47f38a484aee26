"""Dispatcher heartbeats, and turning a dead dispatcher's `sending` chunks into uncertain ones.

Each running dispatcher has a row with a unique id (`host:pid:random`, the `claimed_by` of its
chunks) and a heartbeat time it refreshes every few seconds. A dispatcher is gone when its row
records that it stopped, when its heartbeat is older than the expiry, or when it ran on this host
in a process that no longer exists. The last test lets a restarted dispatcher settle its
predecessor's chunks at once instead of waiting for the expiry.
"""

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Engine

from core.dispatch import completion, outcomes, states
from core.dispatch.clock import as_utc, utc_now
from core.models import Chunk, DispatcherHeartbeat

log = logging.getLogger(__name__)

_chunk = Chunk.__table__.c
_beat = DispatcherHeartbeat.__table__.c

DEFAULT_EXPIRY = timedelta(seconds=60)

FORGET_AFTER = timedelta(days=1)

# A request times out long before this, so a chunk still `sending` after it is stuck: its response
# could not be stored (a database failure) although its dispatcher still runs.
STALE_SENDING = timedelta(minutes=10)

# Ids of the dispatchers running in this process; several may share a pid (tests, threads).
_LIVE_IN_THIS_PROCESS: set[str] = set()
_LIVE_LOCK = threading.Lock()


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def register(engine: Engine, *, owner: str) -> None:
    """Insert this dispatcher's heartbeat row and remember it as alive in this process."""
    now = utc_now()
    row = DispatcherHeartbeat(
        id=owner, host=socket.gethostname(), pid=os.getpid(), started_at=now, heartbeat_at=now
    )
    with engine.begin() as connection:
        connection.execute(DispatcherHeartbeat.__table__.insert().values(**row.model_dump()))
        _forget_old(connection, now)
    with _LIVE_LOCK:
        _LIVE_IN_THIS_PROCESS.add(owner)
    log.info("dispatcher %s started", owner)


def _forget_old(connection, now: datetime) -> None:
    # Rows of dispatchers silent for a day are kept only while a `sending` chunk names them.
    still_named = select(_chunk.claimed_by).where(
        _chunk.state == states.SENDING, _chunk.claimed_by.is_not(None)
    )
    connection.execute(
        delete(DispatcherHeartbeat.__table__).where(
            _beat.heartbeat_at < now - FORGET_AFTER, _beat.id.not_in(still_named)
        )
    )


def beat(engine: Engine, *, owner: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(DispatcherHeartbeat.__table__)
            .where(_beat.id == owner)
            .values(heartbeat_at=utc_now())
        )


def unregister(engine: Engine, *, owner: str) -> None:
    """Record that this dispatcher stopped, so others settle anything it left in `sending`."""
    with _LIVE_LOCK:
        _LIVE_IN_THIS_PROCESS.discard(owner)
    with engine.begin() as connection:
        connection.execute(
            update(DispatcherHeartbeat.__table__)
            .where(_beat.id == owner)
            .values(stopped_at=utc_now())
        )
    log.info("dispatcher %s stopped", owner)


def settle_orphans(
    engine: Engine, *, expiry: timedelta = DEFAULT_EXPIRY, stale_after: timedelta = STALE_SENDING
) -> list[int]:
    """Make `sending` chunks uncertain when their dispatcher is gone or they are stale.

    Returns the ids of the chunks it moved.
    """
    with engine.connect() as connection:
        owners = set(
            connection.execute(
                select(_chunk.claimed_by).where(_chunk.state == states.SENDING).distinct()
            ).scalars()
        )
        rows = {
            row.id: row
            for row in connection.execute(
                select(DispatcherHeartbeat.__table__).where(_beat.id.in_(owners))
            )
        }

    now = utc_now()
    gone = [owner for owner in owners if _is_gone(owner, rows.get(owner), now, expiry)]
    orphaned = or_(
        _chunk.claimed_by.in_(gone),
        _chunk.claimed_by.is_(None),
        _chunk.sending_at < now - stale_after,
    )

    reason = "The dispatcher sending this chunk stopped before SMS.to's response was stored."
    with engine.begin() as connection:
        chunk_ids = list(
            connection.execute(
                select(_chunk.id).where(_chunk.state == states.SENDING, orphaned)
            ).scalars()
        )
        moved = outcomes.mark_uncertain(connection, chunk_ids=chunk_ids, reason=reason)
        campaigns = (
            set(
                connection.execute(select(_chunk.campaign_id).where(_chunk.id.in_(moved))).scalars()
            )
            if moved
            else set()
        )

    for chunk_id in moved:
        log.warning(
            "chunk %s was left sending by a dispatcher that is gone; it is now uncertain", chunk_id
        )
    for campaign_id in campaigns:
        completion.complete_if_done(engine, campaign_id=campaign_id)
    return moved


def _is_gone(owner: str | None, row, now: datetime, expiry: timedelta) -> bool:
    if owner is None or row is None or row.stopped_at is not None:
        return True
    if as_utc(row.heartbeat_at) < now - expiry:
        return True
    if row.host != socket.gethostname():
        return False
    if row.pid == os.getpid():
        with _LIVE_LOCK:
            return owner not in _LIVE_IN_THIS_PROCESS
    return not _process_alive(row.pid)


def _process_alive(pid: int) -> bool:
    # NOTE: only POSIX can probe a pid without side effects, because os.kill on Windows ends the
    # process. Elsewhere a dead dispatcher is found by its heartbeat expiry alone.
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A killed child that its parent has not waited for still accepts signal 0.
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[-1].split()[0] in ("Z", "X")
