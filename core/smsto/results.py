"""Parsed successful responses of SMS.to; each keeps the raw JSON body as `raw`."""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class SendResult:
    """The id SMS.to returned for a send: a `message_id` for one SMS, else a `campaign_id`."""

    message_id: str | None
    campaign_id: str | None
    raw: dict = field(repr=False)

    @property
    def provider_id(self) -> str:
        """The id to match delivery reports with: `messageId` or `trackingId`."""
        return self.message_id or self.campaign_id or ""

    @property
    def id_kind(self) -> str:
        """Which id SMS.to returned: "message_id" or "campaign_id"."""
        return "message_id" if self.message_id else "campaign_id"


@dataclass(frozen=True)
class Estimate:
    """SMS.to's estimate of a send: parts over all recipients and their cost."""

    sms_count: int
    estimated_cost: Decimal
    contact_count: int
    invalid_count: int
    errors: list = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Balance:
    """The account balance, in `currency` (EUR for every account seen so far)."""

    balance: Decimal
    currency: str
    raw: dict = field(default_factory=dict, repr=False)
