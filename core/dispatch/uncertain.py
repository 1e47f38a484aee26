"""Uncertain chunks for the operator: list them with their recipients, and re-send them on purpose.

An uncertain chunk may have reached SMS.to (its response was lost), so the dispatcher never sends
it again by itself. Reconciliation settles most of them; for the rest the operator decides, and
a deliberate re-send moves the recipients into new queued chunks and is logged.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.dispatch import states
from core.dispatch.clock import as_utc
from core.dispatch.planner import shape_for
from core.errors import InputError, NotFoundError
from core.models import Campaign, Chunk, Recipient
from core.statuses import PENDING

log = logging.getLogger(__name__)

_campaign = Campaign.__table__.c
_chunk = Chunk.__table__.c
_recipient = Recipient.__table__.c


@dataclass(frozen=True)
class UncertainChunk:
    """An uncertain chunk and the recipients that may or may not have been sent."""

    chunk_id: int
    campaign_id: int
    seq: int
    shape: str
    sending_at: datetime | None
    attempts: int
    lookup_count: int
    last_error: str
    phones: list[str]


def list_uncertain_chunks(
    session: Session, *, campaign_id: int | None = None
) -> list[UncertainChunk]:
    """List uncertain chunks (of one campaign, or all) with their UNCERTAIN recipients' numbers."""
    query = (
        select(Chunk.__table__)
        .where(_chunk.state == states.UNCERTAIN)
        .order_by(_chunk.campaign_id, _chunk.seq)
    )
    if campaign_id is not None:
        query = query.where(_chunk.campaign_id == campaign_id)
    chunks = session.execute(query).all()

    listed = []
    for chunk in chunks:
        phones = session.execute(
            select(_recipient.phone)
            .where(_recipient.chunk_id == chunk.id, _recipient.status == states.UNCERTAIN_STATUS)
            .order_by(_recipient.id)
        ).scalars()
        listed.append(
            UncertainChunk(
                chunk_id=chunk.id,
                campaign_id=chunk.campaign_id,
                seq=chunk.seq,
                shape=chunk.shape,
                sending_at=as_utc(chunk.sending_at),
                attempts=chunk.attempts,
                lookup_count=chunk.lookup_count,
                last_error=chunk.last_error,
                phones=list(phones),
            )
        )
    return listed


def resend_uncertain(engine: Engine, *, campaign_id: int, chunk_ids: list[int]) -> list[int]:
    """Queue the UNCERTAIN recipients of the given uncertain chunks again; return the new chunk ids.

    This can send a second message to someone who got the first: it is the operator's decision.
    The old chunks become `resent`. Raises InputError naming a chunk that is not uncertain or not
    in the campaign, and NotFoundError for an unknown campaign.
    """
    if not chunk_ids:
        raise InputError("No chunk was chosen; pick the uncertain chunks to re-send.")

    with engine.begin() as connection:
        campaign = connection.execute(
            select(Campaign.__table__).where(_campaign.id == campaign_id)
        ).first()
        _check(connection, campaign, campaign_id, chunk_ids)
        new_ids = [_requeue(connection, campaign, chunk_id) for chunk_id in sorted(set(chunk_ids))]
        _reopen(connection, campaign)

    log.warning(
        "campaign %s: the operator re-sent uncertain chunks %s as chunks %s",
        campaign_id, sorted(set(chunk_ids)), new_ids,
    )  # fmt: skip
    return new_ids


def _check(connection, campaign, campaign_id: int, chunk_ids: list[int]) -> None:
    if campaign is None:
        raise NotFoundError(
            f"Campaign {campaign_id} does not exist; check the id on the Campaigns page."
        )
    if campaign.status == states.CAMPAIGN_CANCELLED:
        raise InputError(
            f"Campaign {campaign_id} is cancelled; launch a new campaign to send to these "
            "recipients."
        )

    found = dict(
        connection.execute(
            select(_chunk.id, _chunk.state).where(
                _chunk.id.in_(chunk_ids), _chunk.campaign_id == campaign_id
            )
        ).all()
    )
    for chunk_id in chunk_ids:
        if found.get(chunk_id) != states.UNCERTAIN:
            state = found.get(chunk_id, "not part of this campaign")
            raise InputError(
                f"Chunk {chunk_id} of campaign {campaign_id} is {state}, not uncertain; "
                "reload the list of uncertain chunks and choose again."
            )


def _requeue(connection, campaign, old_id: int) -> int:
    count = connection.execute(
        select(func.count()).where(
            _recipient.chunk_id == old_id, _recipient.status == states.UNCERTAIN_STATUS
        )
    ).scalar_one()
    seq = connection.execute(
        select(func.coalesce(func.max(_chunk.seq), -1) + 1).where(_chunk.campaign_id == campaign.id)
    ).scalar_one()
    new_id = connection.execute(
        insert(Chunk.__table__)
        .values(
            campaign_id=campaign.id,
            seq=seq,
            state=states.QUEUED,
            shape=shape_for(count, personalised=campaign.personalised),
            recipient_count=count,
        )
        .returning(_chunk.id)
    ).scalar_one()

    connection.execute(
        update(Recipient.__table__)
        .where(_recipient.chunk_id == old_id, _recipient.status == states.UNCERTAIN_STATUS)
        .values(chunk_id=new_id, status=PENDING)
    )
    moved = connection.execute(
        update(Chunk.__table__)
        .where(_chunk.id == old_id, _chunk.state == states.UNCERTAIN)
        .values(state=states.RESENT, last_error=f"Re-sent by the operator as chunk {new_id}.")
        .returning(_chunk.id)
    ).first()
    if moved is None:
        raise InputError(
            f"Chunk {old_id} was settled meanwhile; reload the list of uncertain chunks."
        )
    return new_id


def _reopen(connection, campaign) -> None:
    # A completed campaign sends again; a paused or stopped one waits for the operator's resume.
    if campaign.status == states.CAMPAIGN_COMPLETED:
        connection.execute(
            update(Campaign.__table__)
            .where(_campaign.id == campaign.id, _campaign.status == states.CAMPAIGN_COMPLETED)
            .values(status=states.CAMPAIGN_SENDING, status_reason="", finished_at=None)
        )
