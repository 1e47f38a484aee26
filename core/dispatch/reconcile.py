"""Settling uncertain chunks from delivery reports and from SMS.to's message lookups.

A chunk is uncertain when its request may have reached SMS.to but no response was stored. Two kinds
of evidence prove that SMS.to accepted it, and then its id is adopted as if the response had come:

- a delivery report for one of the chunk's numbers, received after the chunk was sent, whose
  trackingId no other chunk has;
- a message listed by `GET /v2/messages?to=<number>&created_at_from=<sending time>` whose
  `_id` (single send) or `campaign_id` (bulk or personalised send) no other chunk has; a
  campaign must also have as many messages in `GET /v2/campaigns/{id}` as the chunk sent.

Absence of evidence proves nothing (SMS.to may list a message late), so an uncertain chunk is
never re-sent from here; lookups are repeated on a widening schedule, then left to the operator.

NOTE: if other software sends through the same SMS.to account to the same numbers at the same
time, its message could be taken for the chunk's; the id checks above make this unlikely only.
"""

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.engine import Engine

from core.dispatch import outcomes, states
from core.dispatch.clock import as_utc, utc_now
from core.dispatch.ratelimit import RateLimitTimeout, SharedRateLimiter
from core.dispatch.sender import describe_error
from core.models import Chunk, DeliveryReport, Recipient
from core.smsto import errors

log = logging.getLogger(__name__)

_chunk = Chunk.__table__.c
_recipient = Recipient.__table__.c
_report = DeliveryReport.__table__.c

# Seconds from a lookup that found nothing to the next one; after the last, lookups stop.
LOOKUP_DELAYS = (30, 120, 600, 3600, 6 * 3600)
# Margin for clocks that differ between this machine, the webhook server's and SMS.to's.
CLOCK_SKEW = timedelta(seconds=60)
# Numbers of one chunk looked up before the chunk counts as not found this time.
PHONES_PER_LOOKUP = 3
MAX_CHUNKS_PER_PASS = 20


@dataclass(frozen=True)
class _Uncertain:
    id: int
    campaign_id: int
    shape: str
    sending_at: datetime
    lookup_count: int


def reconcile_uncertain(
    engine: Engine, *, client, limiter: SharedRateLimiter, stop: threading.Event | None = None
) -> list[int]:
    """Settle what evidence allows; return the ids of chunks now accepted."""
    settled = reconcile_from_reports(engine)
    settled += reconcile_from_lookups(engine, client=client, limiter=limiter, stop=stop)
    return settled


def _uncertain_chunks(
    engine: Engine, *, due_before: datetime | None = None, limit: int | None = None
) -> list[_Uncertain]:
    query = select(
        _chunk.id, _chunk.campaign_id, _chunk.shape, _chunk.sending_at, _chunk.lookup_count
    ).where(_chunk.state == states.UNCERTAIN)
    if due_before is not None:
        query = query.where(
            _chunk.lookup_count < len(LOOKUP_DELAYS) + 1,
            or_(_chunk.next_attempt_at.is_(None), _chunk.next_attempt_at <= due_before),
        ).order_by(_chunk.next_attempt_at)
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit)).all()
    return [
        _Uncertain(
            row.id,
            row.campaign_id,
            row.shape,
            as_utc(row.sending_at) or utc_now(),
            row.lookup_count,
        )
        for row in rows
    ]


def _id_in_use(engine: Engine, provider_id: str, chunk_id: int) -> bool:
    id_in_use = exists().where(
        _chunk.id != chunk_id,
        or_(_chunk.provider_message_id == provider_id, _chunk.provider_campaign_id == provider_id),
    )
    with engine.connect() as connection:
        return bool(connection.execute(select(id_in_use)).scalar())


# Evidence from delivery reports.


def reconcile_from_reports(engine: Engine) -> list[int]:
    """Adopt the trackingId of a report for an uncertain chunk's number; return the chunk ids."""
    settled = []
    for chunk in _uncertain_chunks(engine):
        for tracking_id, message_id in _report_candidates(engine, chunk):
            if not _fits_shape(chunk.shape, tracking_id, message_id) or _id_in_use(
                engine, tracking_id, chunk.id
            ):
                continue
            if _adopt(engine, chunk, tracking_id, source="a delivery report"):
                settled.append(chunk.id)
            break
    return settled


def _report_candidates(engine: Engine, chunk: _Uncertain) -> list[tuple[str, str]]:
    query = (
        select(_report.tracking_id, _report.message_id)
        .join(Recipient.__table__, _recipient.phone == _report.phone)
        .where(
            _recipient.chunk_id == chunk.id,
            _recipient.status == states.UNCERTAIN_STATUS,
            _report.received_at >= chunk.sending_at - CLOCK_SKEW,
            _report.tracking_id != "",
        )
        .distinct()
        .limit(20)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def _fits_shape(shape: str, tracking_id: str, message_id: str) -> bool:
    # A single send's report repeats the message id as trackingId; a campaign's never does.
    if not message_id:
        return True
    if shape == states.SINGLE:
        return message_id == tracking_id
    return message_id != tracking_id


def _adopt(engine: Engine, chunk: _Uncertain, provider_id: str, *, source: str) -> bool:
    single = chunk.shape == states.SINGLE
    return outcomes.adopt_provider_id(
        engine,
        chunk_id=chunk.id,
        campaign_id=chunk.campaign_id,
        message_id=provider_id if single else None,
        campaign_ref=None if single else provider_id,
        accepted_at=chunk.sending_at,
        source=source,
    )


# Evidence from SMS.to's lookups.


def reconcile_from_lookups(
    engine: Engine, *, client, limiter: SharedRateLimiter, stop: threading.Event | None = None
) -> list[int]:
    """Look up due uncertain chunks' numbers at SMS.to; return the ids of chunks now accepted."""
    settled = []
    for chunk in _uncertain_chunks(engine, due_before=utc_now(), limit=MAX_CHUNKS_PER_PASS):
        try:
            provider_id = _look_up(engine, client, limiter, chunk, stop)
        except RateLimitTimeout:
            break
        except errors.SmsToError as exc:
            log.warning(
                "campaign %s chunk %s: lookup failed, trying again later: %s",
                chunk.campaign_id,
                chunk.id,
                describe_error(exc),
            )
            _schedule_next_lookup(engine, chunk, counted=False)
            continue

        if provider_id and _adopt(engine, chunk, provider_id, source="SMS.to's message list"):
            settled.append(chunk.id)
        else:
            _schedule_next_lookup(engine, chunk, counted=True)
    return settled


def _look_up(
    engine: Engine, client, limiter: SharedRateLimiter, chunk: _Uncertain, stop
) -> str | None:
    since = (chunk.sending_at - CLOCK_SKEW).astimezone(dt.UTC)
    for phone in _phones(engine, chunk.id):
        limiter.acquire(stop)
        page = client.list_messages(
            to=phone, created_at_from=since.strftime("%Y-%m-%d %H:%M:%S"), limit=100
        )
        for message in _messages(page):
            provider_id = _candidate_id(message, chunk, since)
            if not provider_id or _id_in_use(engine, provider_id, chunk.id):
                continue
            if chunk.shape == states.SINGLE or _campaign_size_fits(
                engine, client, limiter, chunk, provider_id, stop
            ):
                return provider_id
    return None


_CAMPAIGN_COUNTS = ("delivered_messages", "failed_messages", "pending_messages", "sent_messages")


def _campaign_size_fits(
    engine: Engine, client, limiter, chunk: _Uncertain, campaign_id: str, stop
) -> bool:
    """Check with `GET /v2/campaigns/{id}` that the campaign has as many messages as the chunk sent.

    A campaign of another size that reached the same number is someone else's send.
    """
    limiter.acquire(stop)
    details = client.get_campaign(campaign_id)
    counts = [details.get(name) for name in _CAMPAIGN_COUNTS]
    # NOTE: SMS.to documents these four counts but not that they add up to the campaign's size.
    # When one is missing or none is counted yet, the size cannot be checked and is accepted.
    if not all(isinstance(count, int) for count in counts) or sum(counts) == 0:
        return True

    query = select(func.count()).where(
        _recipient.chunk_id == chunk.id, _recipient.status == states.UNCERTAIN_STATUS
    )
    with engine.connect() as connection:
        sent = connection.execute(query).scalar_one()
    if sum(counts) != sent:
        log.info(
            "campaign %s chunk %s: SMS.to campaign %s has %d messages, the chunk sent %d; not adopted",
            chunk.campaign_id, chunk.id, campaign_id, sum(counts), sent,
        )  # fmt: skip
        return False
    return True


def _phones(engine: Engine, chunk_id: int) -> list[str]:
    query = (
        select(_recipient.phone)
        .where(_recipient.chunk_id == chunk_id, _recipient.status == states.UNCERTAIN_STATUS)
        .order_by(_recipient.id)
        .limit(PHONES_PER_LOOKUP)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def _messages(page: dict) -> list[dict]:
    # A flat Laravel page has the items in `data`; a nested one has them in `data.data`.
    data = page.get("data")
    if isinstance(data, dict):
        data = data.get("data")
    return [item for item in data or [] if isinstance(item, dict)]


def _candidate_id(message: dict, chunk: _Uncertain, since: datetime) -> str | None:
    # NOTE: assumes `created_at` is UTC "YYYY-MM-DD HH:MM:SS", because SMS.to does not document
    # the zone. A message without a readable time stays a candidate, since the query filtered it.
    created = _parse_time(message.get("created_at"))
    if created is not None and created < since.replace(microsecond=0):
        return None
    if chunk.shape == states.SINGLE:
        message_id = message.get("_id") or message.get("id") or message.get("message_id")
        return str(message_id) if message_id and not message.get("campaign_id") else None
    campaign_id = message.get("campaign_id")
    return str(campaign_id) if campaign_id else None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return as_utc(parsed)


def _schedule_next_lookup(engine: Engine, chunk: _Uncertain, *, counted: bool) -> None:
    count = chunk.lookup_count + (1 if counted else 0)
    delay = LOOKUP_DELAYS[min(count, len(LOOKUP_DELAYS)) - 1] if count else LOOKUP_DELAYS[0]
    values = {"lookup_count": count, "next_attempt_at": utc_now() + timedelta(seconds=delay)}
    with engine.begin() as connection:
        connection.execute(
            update(Chunk.__table__)
            .where(_chunk.id == chunk.id, _chunk.state == states.UNCERTAIN)
            .values(**values)
        )
    if counted and count > len(LOOKUP_DELAYS):
        log.warning(
            "campaign %s chunk %s: no evidence after %d lookups; it stays uncertain",
            chunk.campaign_id,
            chunk.id,
            count,
        )
