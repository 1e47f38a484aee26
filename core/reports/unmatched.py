"""Reports that match no recipient (yet), listed with the reason, overall or per campaign.

A report whose trackingId names a known campaign but whose phone is not among its recipients is
filed under that campaign. A report whose ids are not known yet has no campaign until it matches.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from core.models import DeliveryReport

_REPORT = DeliveryReport.__table__


@dataclass(frozen=True, slots=True)
class UnmatchedReport:
    id: int
    received_at: datetime
    campaign_id: int | None
    tracking_id: str
    message_id: str
    phone: str
    status: str
    parts: int | None
    price: Decimal | None
    reason: str


def list_unmatched(
    session, *, campaign_id: int | None = None, limit: int = 100
) -> list[UnmatchedReport]:
    """Return the newest unmatched reports first, of one campaign or of all."""
    statement = (
        select(
            _REPORT.c.id,
            _REPORT.c.received_at,
            _REPORT.c.campaign_id,
            _REPORT.c.tracking_id,
            _REPORT.c.message_id,
            _REPORT.c.phone,
            _REPORT.c.status,
            _REPORT.c.parts,
            _REPORT.c.price,
            _REPORT.c.unmatched_reason.label("reason"),
        )
        .where(_REPORT.c.matched.is_(False))
        .order_by(_REPORT.c.id.desc())
        .limit(limit)
    )
    if campaign_id is not None:
        statement = statement.where(_REPORT.c.campaign_id == campaign_id)
    return [UnmatchedReport(**row) for row in session.execute(statement).mappings()]


def count_unmatched(session, *, campaign_id: int | None = None) -> dict[str, int]:
    """Return the number of unmatched reports per reason, of one campaign or of all."""
    statement = (
        select(_REPORT.c.unmatched_reason, func.count())
        .where(_REPORT.c.matched.is_(False))
        .group_by(_REPORT.c.unmatched_reason)
    )
    if campaign_id is not None:
        statement = statement.where(_REPORT.c.campaign_id == campaign_id)
    return {reason: int(count) for reason, count in session.execute(statement)}
