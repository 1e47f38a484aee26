"""Planning: split a due campaign's recipients into chunks, once, in one transaction.

A campaign is due when it is queued, or scheduled with `scheduled_for` in the past. Planning
moves it to `sending` with a compare-and-set update, so when several dispatchers find the same
campaign only one plans it. Chunks hold `chunk_size` recipients in id order; each recipient gets
its `chunk_id` in the same transaction, so a crash leaves either no chunks or all of them.
"""

import logging
from datetime import datetime

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from core.dispatch import states
from core.dispatch.clock import utc_now
from core.models import Campaign, Chunk, Recipient
from core.statuses import PENDING

log = logging.getLogger(__name__)

_campaign = Campaign.__table__.c
_chunk = Chunk.__table__.c
_recipient = Recipient.__table__.c


def list_due_campaigns(engine: Engine, *, now: datetime | None = None) -> list[int]:
    """Return the ids of campaigns waiting to be planned, oldest first."""
    query = select(_campaign.id).where(_due(now or utc_now())).order_by(_campaign.id)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def plan_due_campaigns(
    engine: Engine, *, chunk_size: int, now: datetime | None = None
) -> list[int]:
    """Plan every due campaign; return the ids this call planned (others may plan some first)."""
    planned = []
    for campaign_id in list_due_campaigns(engine, now=now):
        if plan_campaign(engine, campaign_id=campaign_id, chunk_size=chunk_size, now=now):
            planned.append(campaign_id)
    return planned


def plan_campaign(
    engine: Engine, *, campaign_id: int, chunk_size: int, now: datetime | None = None
) -> bool:
    """Move a due campaign to `sending` and write its chunks; False when it was not due.

    Raises ValueError for a chunk size below 1.
    """
    if chunk_size < 1:
        raise ValueError(
            f"chunk_size is {chunk_size}; it must be at least 1 recipient per request."
        )
    now = now or utc_now()

    with engine.begin() as connection:
        # The claim comes first so that, on SQLite, this transaction takes the write lock at once.
        personalised = _claim_campaign(connection, campaign_id, now)
        if personalised is None:
            return False

        bounds = _chunk_bounds(connection, campaign_id, chunk_size)
        _write_chunks(connection, campaign_id, bounds, personalised=personalised)
        if not bounds:
            _complete_empty(connection, campaign_id, now)

    recipients = sum(count for _, _, count in bounds)
    log.info(
        "campaign %s planned: %d recipients in %d chunks", campaign_id, recipients, len(bounds)
    )
    return True


def _due(now: datetime):
    scheduled_due = and_(
        _campaign.status == states.CAMPAIGN_SCHEDULED,
        _campaign.scheduled_for.is_not(None),
        _campaign.scheduled_for <= now,
    )
    return or_(_campaign.status == states.CAMPAIGN_QUEUED, scheduled_due)


def _claim_campaign(connection: Connection, campaign_id: int, now: datetime) -> bool | None:
    statement = (
        update(Campaign.__table__)
        .where(_campaign.id == campaign_id, _due(now))
        .values(
            status=states.CAMPAIGN_SENDING,
            status_reason="",
            started_at=func.coalesce(_campaign.started_at, now),
        )
        .returning(_campaign.personalised)
    )
    return connection.execute(statement).scalar_one_or_none()


def _unplanned(campaign_id: int):
    return and_(
        _recipient.campaign_id == campaign_id,
        _recipient.chunk_id.is_(None),
        _recipient.status == PENDING,
    )


def _chunk_bounds(
    connection: Connection, campaign_id: int, chunk_size: int
) -> list[tuple[int, int, int]]:
    """Return (first id, last id, count) per chunk, computed in SQL without loading every id."""
    row_number = func.row_number().over(order_by=_recipient.id).label("row_number")
    numbered = select(_recipient.id, row_number).where(_unplanned(campaign_id)).subquery()
    starts = list(
        connection.execute(
            select(numbered.c.id)
            .where((numbered.c.row_number - 1) % chunk_size == 0)
            .order_by(numbered.c.id)
        ).scalars()
    )
    if not starts:
        return []

    summary = select(func.max(_recipient.id), func.count()).where(_unplanned(campaign_id))
    last_id, total = connection.execute(summary).one()

    bounds = []
    for index, first in enumerate(starts):
        is_last = index == len(starts) - 1
        last = last_id if is_last else starts[index + 1] - 1
        count = total - chunk_size * index if is_last else chunk_size
        bounds.append((first, last, count))
    return bounds


def shape_for(count: int, *, personalised: bool) -> str:
    """Choose the request shape: one SMS, the same text to many, or one text per recipient."""
    if count == 1:
        return states.SINGLE
    return states.PERSONALISED if personalised else states.BULK


def _write_chunks(
    connection: Connection,
    campaign_id: int,
    bounds: list[tuple[int, int, int]],
    *,
    personalised: bool,
) -> None:
    if not bounds:
        return

    first_seq = _next_seq(connection, campaign_id)
    rows = [
        {
            "campaign_id": campaign_id,
            "seq": first_seq + index,
            "state": states.QUEUED,
            "shape": shape_for(count, personalised=personalised),
            "recipient_count": count,
        }
        for index, (_, _, count) in enumerate(bounds)
    ]
    connection.execute(insert(Chunk.__table__), rows)

    ids = dict(
        connection.execute(
            select(_chunk.seq, _chunk.id).where(
                _chunk.campaign_id == campaign_id, _chunk.seq >= first_seq
            )
        ).all()
    )
    assignments = [
        {"chunk": ids[first_seq + index], "first": first, "last": last}
        for index, (first, last, _) in enumerate(bounds)
    ]
    assign = (
        update(Recipient.__table__)
        .where(
            _unplanned(campaign_id),
            _recipient.id.between(bindparam("first"), bindparam("last")),
        )
        .values(chunk_id=bindparam("chunk"))
    )
    connection.execute(assign, assignments)


def _next_seq(connection: Connection, campaign_id: int) -> int:
    # Chunks added later (re-sent uncertain recipients) continue the numbering.
    query = select(func.coalesce(func.max(_chunk.seq), -1) + 1).where(
        _chunk.campaign_id == campaign_id
    )
    return connection.execute(query).scalar_one()


def _complete_empty(connection: Connection, campaign_id: int, now: datetime) -> None:
    connection.execute(
        update(Campaign.__table__)
        .where(_campaign.id == campaign_id)
        .values(
            status=states.CAMPAIGN_COMPLETED,
            status_reason="No recipient was left to send to.",
            finished_at=now,
        )
    )
