"""Completing campaigns: a sending campaign is completed once no chunk is queued or sending.

Uncertain chunks do not hold a campaign open, because only the operator can settle those that
reconciliation cannot; the campaign's `status_reason` states how many are left.
"""

import logging

from sqlalchemy import exists, func, select, update
from sqlalchemy.engine import Connection, Engine

from core.dispatch import states
from core.dispatch.clock import utc_now
from core.models import Campaign, Chunk

log = logging.getLogger(__name__)

_campaign = Campaign.__table__.c
_chunk = Chunk.__table__.c


def complete_if_done(engine: Engine, *, campaign_id: int) -> bool:
    """Mark a sending campaign completed once none of its chunks is queued or sending."""
    open_chunks = exists().where(
        _chunk.campaign_id == campaign_id, _chunk.state.in_(states.OPEN_CHUNK_STATES)
    )
    with engine.begin() as connection:
        if connection.execute(select(open_chunks)).scalar():
            return False

        reason = _uncertain_summary(connection, campaign_id)
        done = connection.execute(
            update(Campaign.__table__)
            .where(
                _campaign.id == campaign_id,
                _campaign.status == states.CAMPAIGN_SENDING,
                ~open_chunks,
            )
            .values(status=states.CAMPAIGN_COMPLETED, status_reason=reason, finished_at=utc_now())
            .returning(_campaign.id)
        ).first()

    if done is not None:
        log.info("campaign %s completed%s", campaign_id, f": {reason}" if reason else "")
    return done is not None


def complete_finished_campaigns(engine: Engine) -> list[int]:
    """Complete every sending campaign that has no queued or sending chunk left (after a resume)."""
    open_chunks = exists().where(
        _chunk.campaign_id == _campaign.id, _chunk.state.in_(states.OPEN_CHUNK_STATES)
    )
    query = select(_campaign.id).where(_campaign.status == states.CAMPAIGN_SENDING, ~open_chunks)
    with engine.connect() as connection:
        candidates = list(connection.execute(query).scalars())
    return [
        campaign_id
        for campaign_id in candidates
        if complete_if_done(engine, campaign_id=campaign_id)
    ]


def _uncertain_summary(connection: Connection, campaign_id: int) -> str:
    query = select(func.count(), func.coalesce(func.sum(_chunk.recipient_count), 0)).where(
        _chunk.campaign_id == campaign_id, _chunk.state == states.UNCERTAIN
    )
    chunks, recipients = connection.execute(query).one()
    if not chunks:
        return ""
    return (
        f"{chunks} chunk(s) with {recipients} recipient(s) are uncertain: SMS.to may have "
        "accepted them. Review them and re-send only those you decide to."
    )
