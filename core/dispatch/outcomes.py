"""Recording what happened to a chunk's request, each outcome in one transaction.

Every update is guarded by the chunk's state, so a late or repeated call cannot move a chunk
backwards (a chunk the operator re-sent stays `resent`, a cancelled campaign stays cancelled).
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, update
from sqlalchemy.engine import Connection, Engine

from core.db import session_scope
from core.dispatch import completion, states
from core.dispatch.claim import ClaimedChunk
from core.dispatch.clock import utc_now
from core.models import Campaign, Chunk, Recipient
from core.statuses import PENDING

log = logging.getLogger(__name__)

_campaign = Campaign.__table__.c
_chunk = Chunk.__table__.c
_recipient = Recipient.__table__.c

RETRY_REASON_PREFIX = "Retrying: "

# SMS.to queues a send and processes it afterwards, so a lookup made at once may miss it.
FIRST_LOOKUP_DELAY = timedelta(seconds=5)

_NEVER_SENT = (states.SUPPRESSED, states.NOT_SENT, states.CANCELLED_STATUS)


def record_accepted(
    engine: Engine,
    *,
    chunk_id: int,
    campaign_id: int,
    message_id: str | None,
    campaign_ref: str | None,
    accepted_at: datetime | None = None,
) -> bool:
    """Store SMS.to's id on the chunk and its recipients and mark the chunk accepted.

    `campaign_ref` is SMS.to's `campaign_id`. Returns False when the chunk was no longer sending
    or uncertain; its ids are stored on it all the same, because SMS.to did accept the request.
    """
    now = accepted_at or utc_now()
    with engine.begin() as connection:
        accepted = _accept_chunk(connection, chunk_id, message_id, campaign_ref, now)
        if accepted:
            _stamp_recipients(connection, chunk_id, message_id, campaign_ref, now)
            _clear_retry_reason(connection, campaign_id)

    if not accepted:
        log.error(
            "campaign %s chunk %s was accepted by SMS.to as %s after it had left the sending "
            "state; its recipients may have been sent twice",
            campaign_id, chunk_id, message_id or campaign_ref,
        )  # fmt: skip
        return False

    rematch_reports(engine, provider_id=message_id or campaign_ref, chunk_id=chunk_id)
    completion.complete_if_done(engine, campaign_id=campaign_id)
    return True


def adopt_provider_id(
    engine: Engine,
    *,
    chunk_id: int,
    campaign_id: int,
    message_id: str | None,
    campaign_ref: str | None,
    accepted_at: datetime,
    source: str,
) -> bool:
    """Mark an uncertain chunk accepted under an id found in a report or a lookup.

    Refused (False) when the chunk is no longer uncertain or another chunk already has that id,
    because one SMS.to id belongs to one request.
    """
    provider_id = message_id or campaign_ref
    other = Chunk.__table__.alias("other")
    id_in_use = exists().where(
        other.c.id != chunk_id,
        (other.c.provider_message_id == provider_id)
        | (other.c.provider_campaign_id == provider_id),
    )
    ids = {"provider_message_id": message_id, "provider_campaign_id": campaign_ref}
    with engine.begin() as connection:
        adopted = connection.execute(
            update(Chunk.__table__)
            .where(_chunk.id == chunk_id, _chunk.state == states.UNCERTAIN, ~id_in_use)
            .values(
                state=states.ACCEPTED,
                accepted_at=accepted_at,
                last_error=f"Reconciled from {source}.",
                next_attempt_at=None,
                **ids,
            )
            .returning(_chunk.id)
        ).first()
        if adopted is not None:
            _stamp_recipients(connection, chunk_id, message_id, campaign_ref, accepted_at)

    if adopted is None:
        return False
    log.info(
        "campaign %s chunk %s reconciled from %s: SMS.to accepted it as %s",
        campaign_id,
        chunk_id,
        source,
        provider_id,
    )
    rematch_reports(engine, provider_id=provider_id, chunk_id=chunk_id)
    completion.complete_if_done(engine, campaign_id=campaign_id)
    return True


def _accept_chunk(connection: Connection, chunk_id, message_id, campaign_ref, now) -> bool:
    ids = {"provider_message_id": message_id, "provider_campaign_id": campaign_ref}
    statement = (
        update(Chunk.__table__)
        .where(_chunk.id == chunk_id, _chunk.state.in_((states.SENDING, states.UNCERTAIN)))
        .values(state=states.ACCEPTED, accepted_at=now, last_error="", next_attempt_at=None, **ids)
        .returning(_chunk.id)
    )
    if connection.execute(statement).first() is not None:
        return True

    connection.execute(update(Chunk.__table__).where(_chunk.id == chunk_id).values(**ids))
    return False


def _stamp_recipients(connection: Connection, chunk_id, message_id, campaign_ref, now) -> None:
    # A single send is matched by message id, a bulk or personalised one by (campaign id, phone).
    ids = (
        {"provider_message_id": message_id}
        if message_id
        else {"provider_campaign_id": campaign_ref}
    )
    connection.execute(
        update(Recipient.__table__)
        .where(_recipient.chunk_id == chunk_id, _recipient.status.not_in(_NEVER_SENT))
        .values(sent_at=now, **ids)
    )
    # Kept apart so that the usual case leaves `status` (and its index) untouched.
    connection.execute(
        update(Recipient.__table__)
        .where(_recipient.chunk_id == chunk_id, _recipient.status == states.UNCERTAIN_STATUS)
        .values(status=PENDING)
    )


def _clear_retry_reason(connection: Connection, campaign_id: int) -> None:
    connection.execute(
        update(Campaign.__table__)
        .where(_campaign.id == campaign_id, _campaign.status_reason.startswith(RETRY_REASON_PREFIX))
        .values(status_reason="")
    )


def rematch_reports(engine: Engine, *, provider_id: str | None, chunk_id: int) -> None:
    """Match reports that arrived before the send's response was stored and waited unmatched.

    Runs after the accepted record is committed, so a failure here cannot lose that record.
    """
    if not provider_id:
        return
    from core.reports.matching import rematch_for_provider_ids

    try:
        with session_scope(engine) as session:
            rematch_for_provider_ids(session, ids=[provider_id])
    except Exception:
        log.exception("chunk %s: matching the reports that waited for its id failed", chunk_id)


def record_uncertain(engine: Engine, *, claimed: ClaimedChunk, reason: str) -> None:
    """Mark a chunk whose request may have reached SMS.to as uncertain; it is never re-sent."""
    with engine.begin() as connection:
        moved = mark_uncertain(connection, chunk_ids=[claimed.chunk_id], reason=reason)
    if moved:
        log.warning(
            "campaign %s chunk %s is uncertain and will not be re-sent: %s",
            claimed.campaign_id, claimed.chunk_id, reason,
        )  # fmt: skip
    completion.complete_if_done(engine, campaign_id=claimed.campaign_id)


def mark_uncertain(connection: Connection, *, chunk_ids: list[int], reason: str) -> list[int]:
    """Move `sending` chunks to uncertain and their recipients to UNCERTAIN; return moved ids."""
    if not chunk_ids:
        return []
    statement = (
        update(Chunk.__table__)
        .where(_chunk.id.in_(chunk_ids), _chunk.state == states.SENDING)
        .values(
            state=states.UNCERTAIN,
            last_error=reason,
            next_attempt_at=utc_now() + FIRST_LOOKUP_DELAY,
        )
        .returning(_chunk.id)
    )
    moved = list(connection.execute(statement).scalars())
    if moved:
        connection.execute(
            update(Recipient.__table__)
            .where(_recipient.chunk_id.in_(moved), _recipient.status == PENDING)
            .values(status=states.UNCERTAIN_STATUS)
        )
    return moved


def record_retry(engine: Engine, *, claimed: ClaimedChunk, error: str, delay: float) -> None:
    """Put a chunk that was certainly not sent back in the queue, due after `delay` seconds."""
    due = utc_now() + timedelta(seconds=delay)
    with engine.begin() as connection:
        _release(connection, claimed, error=error, next_attempt_at=due)
        _set_reason(connection, claimed.campaign_id, f"{RETRY_REASON_PREFIX}{error}")
    log.warning(
        "campaign %s chunk %s: attempt %d not sent (%s); retrying in %.1f s",
        claimed.campaign_id, claimed.chunk_id, claimed.attempts, error, delay,
    )  # fmt: skip


def record_halt(
    engine: Engine, *, claimed: ClaimedChunk, error: str, campaign_status: str, reason: str
) -> None:
    """Put the chunk back in the queue and pause or stop its campaign (balance, API key)."""
    with engine.begin() as connection:
        _release(connection, claimed, error=error, next_attempt_at=None)
        connection.execute(
            update(Campaign.__table__)
            .where(_campaign.id == claimed.campaign_id, _campaign.status == states.CAMPAIGN_SENDING)
            .values(status=campaign_status, status_reason=reason)
        )
    log.error(
        "campaign %s %s at chunk %s: %s",
        claimed.campaign_id,
        campaign_status,
        claimed.chunk_id,
        error,
    )


def record_failed(engine: Engine, *, claimed: ClaimedChunk, error: str) -> None:
    """Mark a chunk that SMS.to rejected as invalid as failed, and its recipients as NOT_SENT."""
    with engine.begin() as connection:
        failed = connection.execute(
            update(Chunk.__table__)
            .where(_chunk.id == claimed.chunk_id, _chunk.state == states.SENDING)
            .values(state=states.FAILED, last_error=error)
            .returning(_chunk.id)
        ).first()
        if failed is not None:
            connection.execute(
                update(Recipient.__table__)
                .where(_recipient.chunk_id == claimed.chunk_id, _recipient.status == PENDING)
                .values(status=states.NOT_SENT)
            )
    log.error(
        "campaign %s chunk %s failed and was not sent: %s",
        claimed.campaign_id,
        claimed.chunk_id,
        error,
    )
    completion.complete_if_done(engine, campaign_id=claimed.campaign_id)


def _release(connection: Connection, claimed: ClaimedChunk, *, error: str, next_attempt_at) -> None:
    connection.execute(
        update(Chunk.__table__)
        .where(
            _chunk.id == claimed.chunk_id,
            _chunk.state == states.SENDING,
            _chunk.claimed_by == claimed.owner,
        )
        .values(
            state=states.QUEUED, last_error=error, next_attempt_at=next_attempt_at, claimed_by=None
        )
    )


def _set_reason(connection: Connection, campaign_id: int, reason: str) -> None:
    connection.execute(
        update(Campaign.__table__)
        .where(_campaign.id == campaign_id, _campaign.status == states.CAMPAIGN_SENDING)
        .values(status_reason=reason[:500])
    )
