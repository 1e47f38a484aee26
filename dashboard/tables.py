"""Tables (pandas DataFrames) that the pages show, built from core's summaries and rows."""

import json
from collections.abc import Iterable, Sequence

import pandas as pd

from core.campaign_stats import CountryCost
from core.campaigns import CampaignSummary
from core.dispatch import states
from core.models import Recipient
from core.money import format_money
from core.redact import mask_phone
from core.reports.unmatched import UnmatchedReport
from core.statuses import FINAL

# Statuses counted as failed: final reports other than DELIVERED, and requests SMS.to rejected.
FAILED_STATUSES = (FINAL - {"DELIVERED"}) | {states.NOT_SENT}
# Recipients never handed to SMS.to on purpose: cancelled, or opted out before their chunk.
NOT_SENT_STATUSES = frozenset({states.CANCELLED_STATUS, states.SUPPRESSED})


def campaign_link(campaign_id: int) -> str:
    """Return the relative address of a campaign's page, for links inside a table."""
    return f"campaign?id={campaign_id}"


def campaign_summaries_frame(summaries: Iterable[CampaignSummary]) -> pd.DataFrame:
    """Build one row per campaign: status, delivered, failed, pending and not sent counts, cost.

    The link to the campaign's page comes first, so it is in view on a narrow screen.
    """
    rows = [_summary_row(summary) for summary in summaries]
    columns = [
        "page",
        "id",
        "name",
        "status",
        "created",
        "recipients",
        "delivered",
        "failed",
        "pending",
        "not sent",
        "cost",
        "estimated cost",
        "unmatched reports",
    ]
    return pd.DataFrame(rows, columns=columns)


def outcome_counts(by_status: dict[str, int]) -> dict[str, int]:
    """Split counts per status into delivered, failed, not sent and pending (everything else)."""
    delivered = by_status.get("DELIVERED", 0)
    failed = sum(count for status, count in by_status.items() if status in FAILED_STATUSES)
    not_sent = sum(count for status, count in by_status.items() if status in NOT_SENT_STATUSES)
    pending = sum(by_status.values()) - delivered - failed - not_sent
    return {"delivered": delivered, "failed": failed, "not sent": not_sent, "pending": pending}


def _summary_row(summary: CampaignSummary) -> dict:
    outcomes = outcome_counts(summary.by_status)
    return {
        "id": summary.campaign_id,
        "name": summary.name,
        "status": summary.status,
        "created": summary.created_at,
        "recipients": summary.recipients,
        **outcomes,
        "cost": format_money(summary.cost),
        "estimated cost": format_money(summary.estimated_cost),
        "unmatched reports": summary.unmatched_reports,
        "page": campaign_link(summary.campaign_id),
    }


def country_costs_frame(costs: Sequence[CountryCost]) -> pd.DataFrame:
    rows = [
        {
            "country": item.region,
            "recipients": item.recipients,
            "estimated cost": format_money(item.estimated_cost),
            "cost": format_money(item.cost),
        }
        for item in costs
    ]
    return pd.DataFrame(rows, columns=["country", "recipients", "estimated cost", "cost"])


def recipients_frame(recipients: Iterable[Recipient], *, full_phone: bool = False) -> pd.DataFrame:
    """Build one row per recipient, with the phone masked unless `full_phone` is set (exports)."""
    rows = [_recipient_row(recipient, full_phone) for recipient in recipients]
    return pd.DataFrame(rows, columns=RECIPIENT_COLUMNS)


RECIPIENT_COLUMNS = [
    "line",
    "phone",
    "country",
    "status",
    "parts",
    "cost",
    "estimated parts",
    "estimated cost",
    "sent at",
    "status at",
    "reports",
    "fields",
]


def _recipient_row(recipient: Recipient, full_phone: bool) -> dict:
    return {
        "line": recipient.line,
        "phone": recipient.phone if full_phone else mask_phone(recipient.phone),
        "country": recipient.region or "",
        "status": recipient.status,
        "parts": recipient.parts,
        "cost": format_money(recipient.price),
        "estimated parts": recipient.estimated_parts,
        "estimated cost": format_money(recipient.estimated_cost),
        "sent at": recipient.sent_at,
        "status at": recipient.status_at,
        "reports": recipient.report_count,
        "fields": _fields_text(recipient.fields_json),
    }


def _fields_text(fields_json: str) -> str:
    fields = json.loads(fields_json or "{}")
    return ", ".join(f"{name}={value}" for name, value in fields.items())


def unmatched_frame(reports: Iterable[UnmatchedReport]) -> pd.DataFrame:
    """Build one row per unmatched report with its reason and a masked phone."""
    rows = [
        {
            "received": report.received_at,
            "campaign": report.campaign_id,
            "tracking id": report.tracking_id,
            "message id": report.message_id,
            "phone": mask_phone(report.phone),
            "status": report.status,
            "parts": report.parts,
            "price": format_money(report.price),
            "reason": report.reason,
        }
        for report in reports
    ]
    columns = [
        "received", "campaign", "tracking id", "message id", "phone", "status", "parts", "price",
        "reason",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
