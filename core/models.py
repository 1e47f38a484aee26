"""Storage tables (SQLModel). Times are timezone-aware UTC; money is `Decimal` in a `Money` column."""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.money import Money


def utcnow() -> datetime:
    """Return the current time as timezone-aware UTC, the form every table stores."""
    return datetime.now(UTC)


# An imported recipient file, kept so that a campaign can be launched on it and looked at later.
class RecipientList(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    source_filename: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    default_country: str
    phone_column: str = ""
    columns_json: str = "[]"  # the file's column names, in order
    encoding: str = ""
    delimiter: str = ""
    row_count: int = 0
    accepted_count: int = 0
    rejected_count: int = 0
    duplicate_count: int = 0
    suppressed_count: int = 0
    has_header: bool = True


# One line of an imported file with its verdict: ok, invalid, duplicate, suppressed, missing_value.
class ListRow(SQLModel, table=True):
    __table_args__ = (Index("ix_listrow_list_line", "list_id", "line"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="recipientlist.id")
    line: int  # line number in the file as the operator sees it (header is line 1)
    raw_phone: str = ""
    e164: str | None = None
    region: str | None = None
    verdict: str
    reason_code: str = ""  # stable machine code, e.g. scientific_notation_digits_lost
    reason: str = ""  # the operator sentence
    duplicate_of_line: int | None = None
    fields_json: str = "{}"  # the row's other columns, for placeholders


# A campaign: one message template sent to the recipients of one launch.
class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    message: str = Field(sa_column=Column(Text, nullable=False))
    sender_id: str | None = None
    # queued, scheduled, sending, paused, cancelled, completed, stopped
    status: str = "queued"
    status_reason: str = ""
    launch_key: str = Field(unique=True)  # makes a double click or a rerun launch once
    list_id: int | None = Field(default=None, foreign_key="recipientlist.id")
    parent_campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    default_country: str = ""
    personalised: bool = False
    recipient_count: int = 0
    estimated_cost: Decimal | None = Field(default=None, sa_column=Column(Money))
    scheduled_for: datetime | None = None  # UTC
    timezone: str | None = None  # the zone the operator scheduled in, for display
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


# A group of recipients sent in one request to SMS.to; the unit of at-most-once dispatch.
# state: queued, sending, accepted, uncertain, failed, cancelled, skipped (every recipient opted
# out) and resent (uncertain, then re-sent by the operator in new chunks).
class Chunk(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("campaign_id", "seq"),
        Index("ix_chunk_state", "state", "campaign_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    seq: int
    state: str = "queued"
    shape: str = ""  # single, bulk, personalised
    recipient_count: int = 0
    provider_message_id: str | None = Field(default=None, index=True)
    provider_campaign_id: str | None = Field(default=None, index=True)
    attempts: int = 0
    last_error: str = ""
    claimed_by: str | None = None
    sending_at: datetime | None = None
    accepted_at: datetime | None = None
    next_attempt_at: datetime | None = None  # queued: back-off end; uncertain: next lookup
    lookup_count: int = 0  # provider lookups made to reconcile an uncertain chunk


# One recipient of one campaign; its status is derived from its delivery reports by precedence.
class Recipient(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone"),
        Index("ix_recipient_bulk_match", "provider_campaign_id", "phone"),
        Index("ix_recipient_chunk", "chunk_id"),
        Index("ix_recipient_campaign_status", "campaign_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    phone: str  # E.164
    region: str | None = None
    line: int | None = None
    fields_json: str = "{}"
    estimated_parts: int | None = None
    estimated_cost: Decimal | None = Field(default=None, sa_column=Column(Money))
    chunk_id: int | None = None
    provider_message_id: str | None = Field(default=None, index=True)
    provider_campaign_id: str | None = None
    # PENDING until a report arrives; sent_at is when SMS.to accepted the request.
    status: str = "PENDING"
    status_rank: int = 0
    parts: int | None = None
    price: Decimal | None = Field(default=None, sa_column=Column(Money))
    price_rank: int = -1  # precedence of the report that set `price`
    report_count: int = 0
    sent_at: datetime | None = None
    status_at: datetime | None = None  # when the report that set `status` was received
    first_report_at: datetime | None = None
    last_report_at: datetime | None = None


# A phone number that opted out; import and dispatch both skip it.
class Suppression(SQLModel, table=True):
    phone: str = Field(primary_key=True)  # E.164
    source: str = ""
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow)


# Append-only log of every delivery-report request body, written before the 200 is sent.
class InboundReport(SQLModel, table=True):
    __table_args__ = (Index("ix_inbound_processed", "processed", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow)
    kind: str = "delivery"  # delivery or optout
    content_type: str = ""
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    auth: str = ""  # signature, token, none (no secret configured) or rejected
    auth_error: str = ""  # why a body was rejected: missing, invalid or stale signature or token
    parse_error: str = ""
    processed: bool = False


# One parsed delivery report (a body may hold several); matched to a recipient or kept unmatched.
class DeliveryReport(SQLModel, table=True):
    __table_args__ = (
        Index("ix_report_tracking_phone", "tracking_id", "phone"),
        Index("ix_report_recipient", "recipient_id"),
        Index("ix_report_unmatched", "matched", "tracking_id"),
        Index("ix_report_campaign", "campaign_id", "matched"),
        Index("ix_report_phone", "phone", "received_at"),  # reconciles uncertain chunks
    )

    id: int | None = Field(default=None, primary_key=True)
    inbound_id: int = Field(foreign_key="inboundreport.id", index=True)
    received_at: datetime = Field(default_factory=utcnow)
    tracking_id: str = ""
    message_id: str = ""
    phone: str = ""  # normalised E.164 when it could be normalised, else as received
    phone_raw: str = ""
    status: str = ""
    parts: int | None = None
    price: Decimal | None = Field(default=None, sa_column=Column(Money))
    price_raw: str = ""
    recipient_id: int | None = None
    campaign_id: int | None = None
    matched: bool = False
    duplicate: bool = False
    out_of_order: bool = False  # ranked below the recipient's status when it was applied
    unmatched_reason: str = ""


# Running totals of the delivery-report pipeline (accepted, rejected, duplicate, ...), kept in the
# same transactions as the rows they count, so health never has to scan the report tables.
class ReportCounter(SQLModel, table=True):
    name: str = Field(primary_key=True)
    value: int = 0


# A running dispatcher; its chunks in `sending` become uncertain once its heartbeat expires.
class DispatcherHeartbeat(SQLModel, table=True):
    id: str = Field(primary_key=True)  # host:pid:random, the `claimed_by` of its chunks
    host: str
    pid: int
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    stopped_at: datetime | None = None


# One of the `rate_limit_per_second` request slots shared by every dispatcher of an installation;
# a slot is reused only when its last use is more than a second old.
class RateSlot(SQLModel, table=True):
    id: int = Field(primary_key=True)
    used_at: float = 0.0  # Unix time in seconds
