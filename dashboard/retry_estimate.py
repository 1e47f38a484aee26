"""How many recipients "retry failed" would send to again, and what that is estimated to cost."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session

from core.dispatch.controls import DEFAULT_RETRY_STATUSES
from core.models import Recipient


@dataclass(frozen=True)
class RetryEstimate:
    """The recipients a retry would queue, the sum of their estimates, and those without one."""

    recipients: int
    estimated_cost: Decimal
    unpriced: int


# NOTE: a read query of recipients, kept beside its only caller; it fits core.campaign_stats.
def estimate_retry(session: Session, *, campaign_id: int) -> RetryEstimate:
    """Count the recipients `retry_failed` would copy by default and sum their estimated cost.

    A retry copies each recipient's estimated parts and cost from this campaign, so the sum is
    the retry campaign's own estimate.
    """
    recipient = Recipient.__table__.c
    query = select(
        func.count(),
        func.sum(recipient.estimated_cost),
        func.count(recipient.estimated_cost),
    ).where(
        recipient.campaign_id == campaign_id,
        recipient.status.in_(DEFAULT_RETRY_STATUSES),
    )
    recipients, cost, priced = session.execute(query).one()
    return RetryEstimate(recipients, cost or Decimal(0), recipients - priced)
