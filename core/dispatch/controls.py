"""Operator controls of a campaign: pause, resume, cancel, schedule and retry of failed recipients.

Every control is one transaction with compare-and-set updates, so it is safe while dispatchers
are sending: a chunk already `sending` always finishes, and only `resend_uncertain` queues a
recipient again.
The controls on uncertain chunks (list and re-send) are in `core.dispatch.uncertain`.
Each raises ControlError with a sentence for the operator when the campaign is in a state where
the control makes no sense, and NotFoundError when there is no such campaign.
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection, Engine

from core.campaigns import LaunchRequest, LaunchResult, RecipientInput, launch_campaign
from core.dispatch import states
from core.dispatch.clock import as_utc, utc_now
from core.dispatch.uncertain import UncertainChunk, list_uncertain_chunks, resend_uncertain
from core.errors import InputError, NotFoundError
from core.models import Campaign, Chunk, Recipient
from core.statuses import PENDING

log = logging.getLogger(__name__)

# The controls on uncertain chunks live beside their queries and are part of this API too.
__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "ControlError",
    "UncertainChunk",
    "cancel",
    "list_uncertain_chunks",
    "pause",
    "resend_uncertain",
    "resume",
    "retry_failed",
    "schedule",
]

_campaign = Campaign.__table__.c
_chunk = Chunk.__table__.c
_recipient = Recipient.__table__.c

# Failed recipients that a retry re-sends by default. REJECTED is left out because SMS.to rejects
# a number it cannot route (an invalid number), so sending to it again costs time and gives the
# same result; pass `statuses` to include it. UNSUBSCRIBED is never retried.
DEFAULT_RETRY_STATUSES = ("FAILED", "UNDELIVERED", "EXPIRED")
NEVER_RETRIED = frozenset({"UNSUBSCRIBED", states.SUPPRESSED, states.CANCELLED_STATUS})

_RETRY_COLUMNS = (
    _recipient.id,
    _recipient.phone,
    _recipient.region,
    _recipient.line,
    _recipient.fields_json,
    _recipient.estimated_parts,
    _recipient.estimated_cost,
)

_PAUSABLE = (states.CAMPAIGN_QUEUED, states.CAMPAIGN_SCHEDULED, states.CAMPAIGN_SENDING)
_RESUMABLE = (states.CAMPAIGN_PAUSED, states.CAMPAIGN_STOPPED)
_CANCELLABLE = _PAUSABLE + _RESUMABLE
_SCHEDULABLE = (states.CAMPAIGN_QUEUED, states.CAMPAIGN_SCHEDULED, states.CAMPAIGN_PAUSED)


class ControlError(InputError):
    """A control that cannot be applied to the campaign in its current state."""


def pause(engine: Engine, *, campaign_id: int, reason: str = "Paused by the operator.") -> None:
    """Stop claiming the campaign's chunks; the chunk being sent finishes."""
    _transition(engine, campaign_id, _PAUSABLE, states.CAMPAIGN_PAUSED, reason, "paused")
    log.info("campaign %s paused", campaign_id)


def resume(engine: Engine, *, campaign_id: int) -> str:
    """Let a paused or stopped campaign send again; return its new status.

    A campaign that was never planned goes back to queued (or scheduled, if its time is still
    ahead); one that has chunks goes back to sending.
    """
    with engine.begin() as connection:
        campaign = _load(connection, campaign_id)
        _require(campaign, _RESUMABLE, "resumed")
        target = _resume_target(connection, campaign)
        _compare_and_set(
            connection, campaign, _RESUMABLE, values={"status": target, "status_reason": ""}
        )

    log.info("campaign %s resumed as %s", campaign_id, target)
    return target


def _resume_target(connection: Connection, campaign) -> str:
    if connection.execute(select(exists().where(_chunk.campaign_id == campaign.id))).scalar():
        return states.CAMPAIGN_SENDING
    scheduled_for = as_utc(campaign.scheduled_for)
    if scheduled_for is not None and scheduled_for > utc_now():
        return states.CAMPAIGN_SCHEDULED
    return states.CAMPAIGN_QUEUED


def cancel(engine: Engine, *, campaign_id: int, reason: str = "Cancelled by the operator.") -> int:
    """Cancel what was not sent yet; return how many recipients were cancelled.

    Queued chunks become cancelled and their recipients (and any not yet in a chunk) CANCELLED.
    A chunk already `sending` finishes, and accepted or uncertain chunks keep their state.
    """
    with engine.begin() as connection:
        campaign = _load(connection, campaign_id)
        _require(campaign, _CANCELLABLE, "cancelled")
        values = {
            "status": states.CAMPAIGN_CANCELLED,
            "status_reason": reason,
            "finished_at": utc_now(),
        }
        _compare_and_set(connection, campaign, _CANCELLABLE, values=values)

        chunks = connection.execute(
            update(Chunk.__table__)
            .where(_chunk.campaign_id == campaign_id, _chunk.state == states.QUEUED)
            .values(state=states.CANCELLED, last_error=reason)
        ).rowcount
        cancelled_chunks = select(_chunk.id).where(
            _chunk.campaign_id == campaign_id, _chunk.state == states.CANCELLED
        )
        unsent = _recipient.chunk_id.is_(None) | _recipient.chunk_id.in_(cancelled_chunks)
        recipients = connection.execute(
            update(Recipient.__table__)
            .where(_recipient.campaign_id == campaign_id, _recipient.status == PENDING, unsent)
            .values(status=states.CANCELLED_STATUS)
        ).rowcount

    log.info(
        "campaign %s cancelled: %d chunks and %d recipients not sent",
        campaign_id,
        chunks,
        recipients,
    )
    return recipients


def schedule(engine: Engine, *, campaign_id: int, send_at: datetime, timezone: str) -> datetime:
    """Schedule a campaign that has not started for `send_at` in the zone `timezone`; return UTC.

    A naive `send_at` is a wall-clock time in `timezone` (as the operator typed it); an aware one
    is converted. The zone is stored with the UTC time so pages can show the operator's time.
    """
    zone = _zone(timezone)
    local = send_at.replace(tzinfo=zone) if send_at.tzinfo is None else send_at.astimezone(zone)
    when = as_utc(local)
    if when <= utc_now():
        raise InputError(
            f"The time {local:%Y-%m-%d %H:%M} {timezone} is in the past; choose a later time or "
            "resume the campaign to send it now."
        )

    with engine.begin() as connection:
        campaign = _load(connection, campaign_id)
        _require(campaign, _SCHEDULABLE, "scheduled")
        if connection.execute(select(exists().where(_chunk.campaign_id == campaign_id))).scalar():
            raise ControlError(
                f"Campaign {campaign_id} has started sending, so it cannot be scheduled; "
                "pause it instead."
            )
        values = {
            "status": states.CAMPAIGN_SCHEDULED,
            "scheduled_for": when,
            "timezone": timezone,
            "status_reason": "",
        }
        _compare_and_set(connection, campaign, _SCHEDULABLE, values=values)

    log.info("campaign %s scheduled for %s UTC (%s)", campaign_id, when.isoformat(), timezone)
    return when


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"Time zone {name!r} is not a tz database name; use one such as Europe/Nicosia or UTC."
        ) from None


def retry_failed(
    engine: Engine,
    *,
    campaign_id: int,
    statuses: Iterable[str] = DEFAULT_RETRY_STATUSES,
    attempt: int = 1,
) -> LaunchResult:
    """Launch a new campaign, linked to this one, for its recipients whose status is in `statuses`.

    The launch key is derived from the parent, the attempt number and the recipients chosen, so
    a double click, a rerun or a reconnect creates one retry campaign; `created` is False for
    the repeats. Pass `attempt=2` to retry the same recipients of the same parent again on purpose.
    """
    wanted = sorted({status.upper() for status in statuses} - NEVER_RETRIED)
    if not wanted:
        raise InputError(
            "No status to retry was given; choose among FAILED, UNDELIVERED, EXPIRED, REJECTED."
        )

    with engine.connect() as connection:
        parent = _load(connection, campaign_id)
        rows = connection.execute(
            select(*_RETRY_COLUMNS)
            .where(_recipient.campaign_id == campaign_id, _recipient.status.in_(wanted))
            .order_by(_recipient.id)
        ).all()
    if not rows:
        raise ControlError(
            f"Campaign {campaign_id} has no recipient with status {', '.join(wanted)} to retry."
        )

    request = _retry_request(parent, rows, attempt)
    result = launch_campaign(engine, request)
    log.info(
        "campaign %s: retry attempt %d of %d recipients is campaign %s (%s)",
        campaign_id, attempt, len(rows), result.campaign.id,
        "new" if result.created else "already launched",
    )  # fmt: skip
    return result


def _retry_request(parent, rows, attempt: int) -> LaunchRequest:
    digest = hashlib.sha256(",".join(str(row.id) for row in rows).encode()).hexdigest()[:16]
    recipients = [
        RecipientInput(
            phone=row.phone,
            region=row.region,
            line=row.line,
            fields=json.loads(row.fields_json or "{}"),
            estimated_parts=row.estimated_parts,
            estimated_cost=row.estimated_cost,
        )
        for row in rows
    ]
    return LaunchRequest(
        launch_key=f"retry:{parent.id}:{attempt}:{digest}",
        message=parent.message,
        recipients=recipients,
        name=f"{parent.name or f'Campaign {parent.id}'} (retry {attempt})",
        sender_id=parent.sender_id,
        list_id=parent.list_id,
        default_country=parent.default_country,
        personalised=parent.personalised,
        parent_campaign_id=parent.id,
    )


def _load(connection: Connection, campaign_id: int):
    campaign = connection.execute(
        select(Campaign.__table__).where(_campaign.id == campaign_id)
    ).first()
    if campaign is None:
        raise NotFoundError(
            f"Campaign {campaign_id} does not exist; check the id on the Campaigns page."
        )
    return campaign


def _require(campaign, allowed: tuple[str, ...], action: str) -> None:
    if campaign.status not in allowed:
        raise ControlError(
            f"Campaign {campaign.id} is {campaign.status}, so it cannot be {action}; "
            f"only a campaign that is {' or '.join(allowed)} can."
        )


def _compare_and_set(
    connection: Connection, campaign, allowed: tuple[str, ...], *, values: dict
) -> None:
    # The status may have changed since it was read (a dispatcher completed the campaign).
    changed = connection.execute(
        update(Campaign.__table__)
        .where(_campaign.id == campaign.id, _campaign.status.in_(allowed))
        .values(**values)
        .returning(_campaign.id)
    ).first()
    if changed is None:
        raise ControlError(
            f"Campaign {campaign.id} changed state meanwhile; reload the page and try again."
        )


def _transition(
    engine: Engine, campaign_id: int, allowed, target: str, reason: str, action: str
) -> None:
    with engine.begin() as connection:
        campaign = _load(connection, campaign_id)
        _require(campaign, allowed, action)
        _compare_and_set(
            connection, campaign, allowed, values={"status": target, "status_reason": reason}
        )
