"""Read-side views of one campaign for the dashboard: stages, delivery times, cost per country, pages.

Every figure is computed in SQL, and recipients are read one page or one batch at a time, so a
campaign of a million recipients never sits in memory at once.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Integer, and_, case, func, select
from sqlmodel import Session

from core.dispatch import states
from core.models import Campaign, Recipient
from core.statuses import PENDING

log = logging.getLogger(__name__)

# The stages shown for a campaign, in display order. Each recipient is in exactly one of them.
STAGES = [
    "queued",
    "sent",
    "delivered",
    "failed",
    "expired",
    "rejected",
    "no report yet",
    "uncertain",
    "not sent",
]
# Stages in which a recipient's status can still change without the operator.
OPEN_STAGES = ("sent", "no report yet", "uncertain")
_FAILED = ("FAILED", "UNDELIVERED")
# NOT_SENT is the dispatcher's status for a request that SMS.to rejected (400 or 422).
_REJECTED = ("REJECTED", "UNSUBSCRIBED", states.NOT_SENT)
_NOT_SENT = (states.CANCELLED_STATUS, states.SUPPRESSED)
_STILL_SENDING = ("queued", "scheduled", "sending", "paused")

# Upper edges, in seconds, of the time-to-deliver buckets; the last bucket is open-ended.
DELIVERY_BUCKETS: list[tuple[int, str]] = [
    (10, "under 10 s"),
    (30, "10-30 s"),
    (60, "30-60 s"),
    (120, "1-2 min"),
    (300, "2-5 min"),
    (900, "5-15 min"),
    (3600, "15-60 min"),
    (21600, "1-6 h"),
]
SLOWEST_BUCKET = "over 6 h"


@dataclass(frozen=True)
class CountryCost:
    """Estimated and reported cost of one destination country within a campaign."""

    region: str
    recipients: int
    estimated_cost: Decimal
    cost: Decimal


def get_campaign_by_launch_key(session: Session, *, launch_key: str) -> Campaign | None:
    """Return the campaign written with this launch key, or None when it was never launched."""
    query = select(Campaign).where(Campaign.launch_key == launch_key)
    return session.execute(query).scalars().first()


def list_campaign_choices(session: Session, *, limit: int = 200) -> list[tuple[int, str]]:
    """Return (id, name) of the newest campaigns, newest first, for a picker."""
    query = select(Campaign.id, Campaign.name).order_by(Campaign.id.desc()).limit(limit)
    return [(campaign_id, name) for campaign_id, name in session.execute(query)]


def count_stages(session: Session, *, campaign_id: int) -> dict[str, int]:
    """Count the campaign's recipients per stage of `STAGES`, every stage present.

    "queued" has not been accepted by SMS.to yet, "sent" was accepted and has a report that is
    not final (such as SENT or ENROUTE), and "no report yet" was accepted with no report so far.
    "uncertain" is in a chunk whose request may or may not have reached SMS.to, and "not sent"
    was cancelled or had opted out before its chunk was sent.
    """
    recipient = Recipient.__table__.c
    accepted = recipient.sent_at.is_not(None)
    stage = case(
        (recipient.status == "DELIVERED", "delivered"),
        (recipient.status.in_(_FAILED), "failed"),
        (recipient.status == "EXPIRED", "expired"),
        (recipient.status.in_(_REJECTED), "rejected"),
        (recipient.status == states.UNCERTAIN_STATUS, "uncertain"),
        (recipient.status.in_(_NOT_SENT), "not sent"),
        (and_(recipient.status == PENDING, accepted), "no report yet"),
        (recipient.status == PENDING, "queued"),
        else_="sent",
    ).label("stage")
    query = select(stage, func.count()).where(recipient.campaign_id == campaign_id).group_by(stage)

    counts = dict.fromkeys(STAGES, 0)
    for name, count in session.execute(query):
        counts[name] = count
    return counts


def count_delivery_times(session: Session, *, campaign_id: int) -> dict[str, int]:
    """Count delivered recipients per bucket of time from SMS.to's acceptance to the DELIVERED report.

    The time is measured to when the report was received here, so it includes SMS.to's delay in
    calling back. Recipients without a send time are left out.
    """
    recipient = Recipient.__table__.c
    seconds = _epoch(session, recipient.status_at) - _epoch(session, recipient.sent_at)
    bucket = case(
        *[(seconds < edge, label) for edge, label in DELIVERY_BUCKETS],
        else_=SLOWEST_BUCKET,
    ).label("bucket")
    query = (
        select(bucket, func.count())
        .where(
            recipient.campaign_id == campaign_id,
            recipient.status == "DELIVERED",
            recipient.sent_at.is_not(None),
            recipient.status_at.is_not(None),
        )
        .group_by(bucket)
    )

    counts = {label: 0 for _, label in DELIVERY_BUCKETS}
    counts[SLOWEST_BUCKET] = 0
    for label, count in session.execute(query):
        counts[label] = count
    return counts


def _epoch(session: Session, column):
    # Each database spells "seconds since 1970" its own way.
    if session.get_bind().dialect.name == "sqlite":
        return func.cast(func.strftime("%s", column), Integer)
    return func.extract("epoch", column)


def list_country_costs(session: Session, *, campaign_id: int) -> list[CountryCost]:
    """Sum estimated and reported cost per destination country, most expensive estimate first."""
    recipient = Recipient.__table__.c
    region = func.coalesce(recipient.region, "unknown").label("region")
    query = (
        select(
            region,
            func.count(),
            func.sum(recipient.estimated_cost),
            func.sum(recipient.price),
        )
        .where(recipient.campaign_id == campaign_id)
        .group_by(region)
    )

    costs = [
        CountryCost(name, count, estimated or Decimal(0), actual or Decimal(0))
        for name, count, estimated, actual in session.execute(query)
    ]
    return sorted(costs, key=lambda item: (-item.estimated_cost, item.region))


def count_recipients(session: Session, *, campaign_id: int, status: str | None = None) -> int:
    """Count the campaign's recipients, or those whose current status is `status`."""
    query = select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign_id)
    if status is not None:
        query = query.where(Recipient.status == status)
    return session.execute(query).scalar_one()


def list_recipients(
    session: Session,
    *,
    campaign_id: int,
    offset: int = 0,
    limit: int = 100,
    status: str | None = None,
) -> list[Recipient]:
    """Return one page of the campaign's recipients in id order, optionally of one status."""
    query = select(Recipient).where(Recipient.campaign_id == campaign_id)
    if status is not None:
        query = query.where(Recipient.status == status)
    query = query.order_by(Recipient.id).offset(max(offset, 0)).limit(max(limit, 0))
    return list(session.execute(query).scalars())


def iter_recipients(
    session: Session, *, campaign_id: int, batch_size: int = 5000
) -> Iterator[Recipient]:
    """Yield every recipient of the campaign in id order, reading `batch_size` rows at a time.

    Batches are read by keyset (id greater than the last one seen), so the cost of a batch does
    not grow with its position as OFFSET would.
    """
    last_id = 0
    while True:
        query = (
            select(Recipient)
            .where(Recipient.campaign_id == campaign_id, Recipient.id > last_id)
            .order_by(Recipient.id)
            .limit(batch_size)
        )
        batch = list(session.execute(query).scalars())
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        session.expunge_all()


def is_finished(campaign: Campaign, stages: dict[str, int]) -> bool:
    """Tell whether a campaign expects no more change: nothing left to send and no report pending.

    A paused campaign is not finished, because it can be resumed. Recipients that SMS.to never
    reports on keep a campaign unfinished until an EXPIRED report or the operator ends it.
    """
    if campaign.status in _STILL_SENDING:
        return False
    return sum(stages.get(stage, 0) for stage in OPEN_STAGES) == 0
