"""Building the request of a claimed chunk: its recipients, their texts and the request shape.

Opted-out numbers are skipped here, at send time, because a number can opt out after launch.
They and the recipients whose text cannot be rendered are marked (SUPPRESSED, NOT_SENT) before
the request is made, so the campaign's counts show them.
"""

import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from core.dispatch import completion, states
from core.dispatch.claim import ClaimedChunk
from core.dispatch.planner import shape_for
from core.errors import InputError
from core.models import Campaign, Chunk, Recipient, Suppression
from core.preview import render
from core.statuses import PENDING

log = logging.getLogger(__name__)

_chunk = Chunk.__table__.c
_recipient = Recipient.__table__.c
_suppression = Suppression.__table__.c


@dataclass
class Batch:
    """One request to SMS.to: `texts[i]` goes to `phones[i]`, or `texts[0]` to all in a bulk."""

    claimed: ClaimedChunk
    shape: str
    phones: list[str]
    texts: list[str]
    sender_id: str | None
    suppressed_ids: list[int] = field(default_factory=list)
    unrenderable_ids: list[int] = field(default_factory=list)


def prepare_batch(
    engine: Engine, *, claimed: ClaimedChunk, default_sender_id: str | None
) -> Batch | None:
    """Load and render a claimed chunk; None when no recipient is left (the chunk is skipped)."""
    with engine.connect() as connection:
        campaign = connection.execute(
            select(Campaign.message, Campaign.sender_id, Campaign.personalised).where(
                Campaign.id == claimed.campaign_id
            )
        ).one()
        rows = connection.execute(
            select(_recipient.id, _recipient.phone, _recipient.fields_json)
            .where(_recipient.chunk_id == claimed.chunk_id, _recipient.status == PENDING)
            .order_by(_recipient.id)
        ).all()
        opted_out = set(
            connection.execute(
                select(_recipient.id)
                .join(Suppression.__table__, _suppression.phone == _recipient.phone)
                .where(_recipient.chunk_id == claimed.chunk_id, _recipient.status == PENDING)
            ).scalars()
        )

    batch = _render(claimed, campaign, rows, opted_out, default_sender_id)
    _record_exclusions(engine, batch)
    if batch.phones:
        return batch

    _skip(engine, batch)
    return None


def _render(claimed: ClaimedChunk, campaign, rows, opted_out: set[int], default_sender_id) -> Batch:
    message, sender_id, personalised = campaign
    batch = Batch(claimed, "", [], [], sender_id or default_sender_id)
    # Rendering a text without placeholders still resolves `{{` and `}}`, as the preview counted.
    same_text = None if personalised else _render_one(claimed, message, "{}")

    for recipient_id, phone, fields_json in rows:
        if recipient_id in opted_out:
            batch.suppressed_ids.append(recipient_id)
            continue
        text = _render_one(claimed, message, fields_json) if personalised else same_text
        if text is None:
            batch.unrenderable_ids.append(recipient_id)
            continue
        batch.phones.append(phone)
        batch.texts.append(text)

    batch.shape = shape_for(len(batch.phones), personalised=personalised)
    return batch


def _render_one(claimed: ClaimedChunk, template: str, fields_json: str) -> str | None:
    try:
        return render(template, json.loads(fields_json or "{}"))
    except (InputError, ValueError) as exc:
        log.error(
            "campaign %s chunk %s: a recipient's text cannot be rendered: %s",
            claimed.campaign_id,
            claimed.chunk_id,
            exc,
        )
        return None


def _record_exclusions(engine: Engine, batch: Batch) -> None:
    if not (batch.suppressed_ids or batch.unrenderable_ids or batch.shape != batch.claimed.shape):
        return

    with engine.begin() as connection:
        _set_status(connection, batch.suppressed_ids, states.SUPPRESSED)
        _set_status(connection, batch.unrenderable_ids, states.NOT_SENT)
        if batch.phones:
            connection.execute(
                update(Chunk.__table__)
                .where(_chunk.id == batch.claimed.chunk_id)
                .values(shape=batch.shape)
            )

    claimed = batch.claimed
    if batch.suppressed_ids:
        log.info(
            "campaign %s chunk %s: %d opted-out recipients skipped",
            claimed.campaign_id,
            claimed.chunk_id,
            len(batch.suppressed_ids),
        )


def _set_status(connection: Connection, recipient_ids: list[int], status: str) -> None:
    if recipient_ids:
        connection.execute(
            update(Recipient.__table__)
            .where(_recipient.id.in_(recipient_ids), _recipient.status == PENDING)
            .values(status=status)
        )


def _skip(engine: Engine, batch: Batch) -> None:
    claimed = batch.claimed
    with engine.begin() as connection:
        connection.execute(
            update(Chunk.__table__)
            .where(_chunk.id == claimed.chunk_id, _chunk.state == states.SENDING)
            .values(
                state=states.SKIPPED,
                last_error="No recipient left to send to: every number opted out or had no text.",
            )
        )
    log.info(
        "campaign %s chunk %s skipped: no recipient left to send to",
        claimed.campaign_id,
        claimed.chunk_id,
    )
    completion.complete_if_done(engine, campaign_id=claimed.campaign_id)
