"""Claiming one queued chunk for sending, safely when several dispatchers share a database.

The claim commits the chunk as `sending`, with its owner and the time, before any request is
made. That record is what makes sending at most once: a chunk left in `sending` by a crash is
never sent again on its own (see `core.dispatch.heartbeat`).

PostgreSQL locks the chosen row with `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers pick
different chunks without waiting. SQLite has one writer at a time, so a single
`UPDATE ... WHERE id = (SELECT ...) AND state = 'queued' RETURNING` is atomic there.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.engine import Connection, Engine

from core.dispatch import states
from core.dispatch.clock import as_utc, utc_now
from core.models import Campaign, Chunk

log = logging.getLogger(__name__)

_campaign = Campaign.__table__.c
_chunk = Chunk.__table__.c

_CLAIMED_COLUMNS = (_chunk.id, _chunk.campaign_id, _chunk.seq, _chunk.shape, _chunk.attempts)


@dataclass(frozen=True)
class ClaimedChunk:
    """A chunk this dispatcher committed as `sending`; `attempts` counts this one."""

    chunk_id: int
    campaign_id: int
    seq: int
    shape: str
    attempts: int
    owner: str
    sending_at: datetime


def claim_next_chunk(
    engine: Engine, *, owner: str, now: datetime | None = None
) -> ClaimedChunk | None:
    """Commit the next due queued chunk of a sending campaign as `sending`; None when there is none.

    Chunks are taken oldest campaign first, in sequence order, skipping those still backing off.
    """
    now = now or utc_now()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            row = _claim_locking(connection, owner, now)
        else:
            row = _claim_atomic_update(connection, owner, now)

    if row is None:
        return None
    chunk_id, campaign_id, seq, shape, attempts = row
    log.debug(
        "campaign %s chunk %s claimed by %s (attempt %d)", campaign_id, chunk_id, owner, attempts
    )
    return ClaimedChunk(chunk_id, campaign_id, seq, shape, attempts, owner, as_utc(now))


def _next_due(now: datetime):
    sending_campaigns = select(_campaign.id).where(_campaign.status == states.CAMPAIGN_SENDING)
    return (
        select(_chunk.id)
        .where(
            _chunk.state == states.QUEUED,
            or_(_chunk.next_attempt_at.is_(None), _chunk.next_attempt_at <= now),
            _chunk.campaign_id.in_(sending_campaigns),
        )
        .order_by(_chunk.campaign_id, _chunk.seq)
        .limit(1)
    )


def _mark_sending(chunk_id, owner: str, now: datetime):
    return (
        update(Chunk.__table__)
        .where(_chunk.id == chunk_id, _chunk.state == states.QUEUED)
        .values(
            state=states.SENDING,
            claimed_by=owner,
            sending_at=now,
            attempts=_chunk.attempts + 1,
            next_attempt_at=None,
        )
        .returning(*_CLAIMED_COLUMNS)
    )


def _claim_atomic_update(connection: Connection, owner: str, now: datetime):
    # The sub-select and the update run under SQLite's single write lock, so two dispatchers
    # cannot both see the same chunk as queued. The state condition is a second guard.
    statement = _mark_sending(_next_due(now).scalar_subquery(), owner, now)
    return connection.execute(statement).first()


def _claim_locking(connection: Connection, owner: str, now: datetime):
    locked = _next_due(now).with_for_update(skip_locked=True, of=Chunk.__table__)
    chunk_id = connection.execute(locked).scalar_one_or_none()
    if chunk_id is None:
        return None
    return connection.execute(_mark_sending(chunk_id, owner, now)).first()


def has_claimable(engine: Engine, *, include_backing_off: bool = False) -> bool:
    """Return whether a sending campaign has a queued chunk that is due.

    With `include_backing_off`, chunks still waiting for their back-off to end count too.
    """
    sending_campaigns = select(_campaign.id).where(_campaign.status == states.CAMPAIGN_SENDING)
    conditions = [_chunk.state == states.QUEUED, _chunk.campaign_id.in_(sending_campaigns)]
    if not include_backing_off:
        now = utc_now()
        conditions.append(or_(_chunk.next_attempt_at.is_(None), _chunk.next_attempt_at <= now))

    with engine.connect() as connection:
        return bool(connection.execute(select(exists().where(*conditions))).scalar())
