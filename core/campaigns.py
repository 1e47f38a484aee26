"""Launching campaigns and reading their state.

A launch only writes the campaign and its recipients, in one transaction guarded by a launch key,
so a double click, a Streamlit rerun or a repeated CLI call creates one campaign. Sending is the
dispatcher's job. Every aggregate here is computed in SQL, never by loading a campaign's rows.
"""

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Integer, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.errors import LaunchError
from core.models import Campaign, DeliveryReport, Recipient, utcnow
from core.statuses import PENDING

log = logging.getLogger(__name__)

_INSERT_BATCH = 10_000
# A time picked a moment ago may pass while the operator clicks; that is still "now".
_SCHEDULE_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class RecipientInput:
    """One accepted recipient of a launch: an E.164 number and its placeholder values."""

    phone: str
    region: str | None = None
    line: int | None = None
    fields: dict[str, str] = field(default_factory=dict)
    estimated_parts: int | None = None
    estimated_cost: Decimal | None = None


@dataclass(frozen=True)
class LaunchRequest:
    """Everything a launch writes; `launch_key` makes repeating it harmless."""

    launch_key: str
    message: str
    recipients: Sequence[RecipientInput]
    name: str = ""
    sender_id: str | None = None
    list_id: int | None = None
    default_country: str = ""
    personalised: bool = False
    scheduled_for: datetime | None = None
    timezone: str | None = None
    parent_campaign_id: int | None = None


@dataclass(frozen=True)
class LaunchResult:
    campaign: Campaign
    created: bool  # False when the launch key had already launched this campaign


# Writes the campaign's recipient list in the launch's session and returns the list's id.
StoreList = Callable[[Session], int]


def launch_campaign(
    engine: Engine, request: LaunchRequest, *, store_list: StoreList | None = None
) -> LaunchResult:
    """Write the campaign and its recipients in one transaction, or return the one already launched.

    The engine (not a session) is taken because a concurrent launch with the same key surfaces as
    a unique-constraint error at commit, after which a fresh session must read the winner.
    `store_list` runs in that same transaction, and only once the launch key is known to be new,
    so a repeated or lost launch stores no list.
    """
    _check_request(request)

    existing = find_launch(engine, request)
    if existing is not None:
        return existing

    try:
        campaign = _write_campaign(engine, request, store_list)
    except IntegrityError:
        winner = _find_by_launch_key(engine, request.launch_key)
        if winner is None:
            raise
        log.info("concurrent launch resolved to campaign %s", winner.id)
        return LaunchResult(winner, created=False)

    log.info("campaign %s launched with %d recipients", campaign.id, campaign.recipient_count)
    return LaunchResult(campaign, created=True)


def _check_request(request: LaunchRequest) -> None:
    if not request.launch_key.strip():
        raise LaunchError("The launch key is empty; every launch needs a unique key.")
    if not request.message.strip():
        raise LaunchError("The message is empty; write the text to send before launching.")
    if not request.recipients:
        raise LaunchError("The campaign has no accepted recipients; import a list with valid numbers.")

    scheduled = request.scheduled_for
    if scheduled is not None and scheduled.tzinfo is None:
        raise LaunchError("The scheduled time has no time zone; give it in UTC or with a zone.")
    if scheduled is not None and scheduled < utcnow() - _SCHEDULE_GRACE:
        raise LaunchError(
            f"The scheduled time {request.scheduled_for:%Y-%m-%d %H:%M} UTC is in the past; "
            "pick a later time, or launch without a schedule to send now."
        )

    phones = [recipient.phone for recipient in request.recipients]
    if len(set(phones)) != len(phones):
        raise LaunchError("The recipients contain the same number twice; import the list again.")


def find_launch(engine: Engine, request: LaunchRequest) -> LaunchResult | None:
    """Return the campaign that the request's launch key already launched, or None.

    Raises LaunchError when the key launched another message or list.
    """
    existing = _find_by_launch_key(engine, request.launch_key)
    if existing is None:
        return None

    _check_same_launch(existing, request)
    log.info("launch key already used by campaign %s; nothing new created", existing.id)
    return LaunchResult(existing, created=False)


def _check_same_launch(existing: Campaign, request: LaunchRequest) -> None:
    # A repeated click repeats the same launch; the same key with another message is a mistake.
    if existing.message != request.message or existing.recipient_count != len(request.recipients):
        raise LaunchError(
            f"The launch key {request.launch_key!r} already launched campaign {existing.id} with "
            "another message or list; use a new key to launch a new campaign."
        )


def _find_by_launch_key(engine: Engine, launch_key: str) -> Campaign | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.exec(select(Campaign).where(Campaign.launch_key == launch_key)).scalars().first()


def _write_campaign(engine: Engine, request: LaunchRequest, store_list: StoreList | None) -> Campaign:
    with Session(engine, expire_on_commit=False) as session:
        list_id = store_list(session) if store_list is not None else request.list_id
        campaign = Campaign(
            name=request.name,
            message=request.message,
            sender_id=request.sender_id,
            status="scheduled" if request.scheduled_for else "queued",
            launch_key=request.launch_key,
            list_id=list_id,
            parent_campaign_id=request.parent_campaign_id,
            default_country=request.default_country,
            personalised=request.personalised,
            recipient_count=len(request.recipients),
            estimated_cost=_sum_estimates(request.recipients),
            scheduled_for=request.scheduled_for,
            timezone=request.timezone,
        )
        session.add(campaign)
        session.flush()

        _insert_recipients(session, campaign.id, request.recipients)
        session.commit()
        return campaign


def _sum_estimates(recipients: Iterable[RecipientInput]) -> Decimal | None:
    costs = [recipient.estimated_cost for recipient in recipients]
    if any(cost is None for cost in costs):
        return None
    return sum(costs, Decimal(0))


def _insert_recipients(session: Session, campaign_id: int, recipients: Sequence[RecipientInput]) -> None:
    table = Recipient.__table__
    for start in range(0, len(recipients), _INSERT_BATCH):
        rows = [
            {
                "campaign_id": campaign_id,
                "phone": recipient.phone,
                "region": recipient.region,
                "line": recipient.line,
                "fields_json": json.dumps(recipient.fields, ensure_ascii=False),
                "estimated_parts": recipient.estimated_parts,
                "estimated_cost": recipient.estimated_cost,
                "status": PENDING,
                "status_rank": 0,
            }
            for recipient in recipients[start : start + _INSERT_BATCH]
        ]
        session.execute(insert(table), rows)


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign's counts per status and its cost, as `status --json` prints them."""

    campaign_id: int
    name: str
    status: str
    recipients: int
    by_status: dict[str, int]
    cost: Decimal
    estimated_cost: Decimal | None
    unmatched_reports: int
    created_at: datetime | None = None

    def as_json(self) -> dict:
        return {
            "campaign_id": self.campaign_id,
            "recipients": self.recipients,
            "by_status": self.by_status,
            "cost": _plain(self.cost),
            "unmatched_reports": self.unmatched_reports,
        }


def _plain(amount: Decimal) -> str:
    text = format(amount.normalize(), "f")
    return text if text != "-0" else "0"


# Ids are signed 64-bit integers in SQLite and PostgreSQL. The drivers raise OverflowError on a
# larger value instead of finding no row, so lookups check the range first.
MAX_ID = 2**63 - 1


def get_campaign(session: Session, *, campaign_id: int) -> Campaign | None:
    """Return the campaign, or None when there is none with that id (any int is accepted)."""
    if not 1 <= campaign_id <= MAX_ID:
        return None
    return session.get(Campaign, campaign_id)


def summarise_campaign(session: Session, *, campaign_id: int) -> CampaignSummary | None:
    """Count recipients per status and sum their cost in SQL; None when there is no such campaign."""
    campaign = get_campaign(session, campaign_id=campaign_id)
    if campaign is None:
        return None

    recipient = Recipient.__table__.c
    rows = session.execute(
        select(recipient.status, func.count(), func.sum(recipient.price))
        .where(recipient.campaign_id == campaign_id)
        .group_by(recipient.status)
    ).all()
    by_status = {status: count for status, count, _ in rows}
    cost = sum((amount for _, _, amount in rows if amount is not None), Decimal(0))

    return CampaignSummary(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        recipients=sum(by_status.values()),
        by_status=by_status,
        cost=cost,
        estimated_cost=campaign.estimated_cost,
        unmatched_reports=count_unmatched_reports(session, campaign_id=campaign_id),
        created_at=campaign.created_at,
    )


def count_unmatched_reports(session: Session, *, campaign_id: int) -> int:
    """Count reports that name this campaign but matched none of its recipients."""
    report = DeliveryReport.__table__.c
    query = select(func.count()).where(report.campaign_id == campaign_id, report.matched.is_(False))
    return session.execute(query).scalar_one()


def list_campaign_summaries(session: Session, *, limit: int = 200) -> list[CampaignSummary]:
    """Summaries of the newest campaigns, newest first."""
    ids = session.execute(select(Campaign.id).order_by(Campaign.id.desc()).limit(limit)).scalars()
    summaries = [summarise_campaign(session, campaign_id=campaign_id) for campaign_id in ids]
    return [summary for summary in summaries if summary is not None]


def status_timeline(
    session: Session, *, campaign_id: int, bucket_seconds: int = 60
) -> list[tuple[datetime, str, int]]:
    """Count recipients per (time bucket, current status), bucketed by when that status arrived."""
    recipient = Recipient.__table__.c
    epoch = _epoch_seconds(session, recipient.status_at)
    bucket = (func.floor(epoch / bucket_seconds) * bucket_seconds).label("bucket")
    query = (
        select(bucket, recipient.status, func.count())
        .where(recipient.campaign_id == campaign_id, recipient.status_at.is_not(None))
        .group_by(bucket, recipient.status)
        .order_by(bucket)
    )
    return [
        (datetime.fromtimestamp(int(start), UTC), status, count)
        for start, status, count in session.execute(query)
    ]


def _epoch_seconds(session: Session, column):
    # Each database spells "seconds since 1970" its own way.
    if session.get_bind().dialect.name == "sqlite":
        return func.cast(func.strftime("%s", column), Integer)
    return func.extract("epoch", column)


def mark_started(session: Session, *, campaign: Campaign) -> None:
    if campaign.started_at is None:
        campaign.started_at = utcnow()
        session.add(campaign)
