"""JSON views of messages and campaigns, in the fields SMS.to's lookups return.

NOTE: SMS.to documents the field names of `GET /message/{id}` and `GET /v2/campaigns/{id}` but
not their full shapes, so the sandbox returns flat objects with those names, and a flat Laravel
page (`data`, `current_page`, `per_page`, `total`, `last_page`) for `GET /v2/messages`.
"""

import datetime as dt
import time
from collections.abc import Iterator

from core.sandbox.bodies import HttpError
from core.sandbox.fates import validate_number
from core.sandbox.ledger import CAMPAIGN, CODE, FINAL_CODES, STATUSES, Batch, Ledger, format_time
from core.sandbox.processing import region_price

FAILED_REASONS = {
    "REJECTED": "Rejected: the number is invalid or cannot be routed",
    "UNSUBSCRIBED": "The recipient opted out of messages from this account",
    "FAILED": "The operator could not deliver the message",
    "UNDELIVERED": "The handset could not be reached",
    "EXPIRED": "No final status arrived within the validity period",
}
# Final statuses other than DELIVERED, counted as failed_messages of a campaign.
_FAILED_CODES = FINAL_CODES - {CODE["DELIVERED"]}


def message_view(batch: Batch, index: int) -> dict:
    status = batch.status(index)
    return {
        "_id": batch.message_id(index),
        "campaign_id": batch.tracking_id if batch.kind == CAMPAIGN else None,
        "to": batch.phone(index),
        "message": batch.text,
        "status": status,
        "sender_id": batch.sender_id,
        "sms_count": batch.parts[index],
        "client_cost": batch.price(index, region_price),
        "failed_reason": FAILED_REASONS.get(status),
        "created_at": format_time(batch.created_at),
        "sent_at": format_time(batch.sent_at),
    }


def campaign_view(batch: Batch) -> dict:
    counts = {status: batch.statuses.count(code) for code, status in enumerate(STATUSES)}
    finished = sum(counts[STATUSES[code]] for code in FINAL_CODES)
    return {
        "_id": batch.tracking_id,
        "status": _campaign_status(batch, finished),
        "message": batch.text,
        "sender_id": batch.sender_id,
        "recipients_count": batch.size,
        "sms_count": sum(batch.parts),
        "estimated_cost": batch.estimated_cost,
        "client_total_cost": sum(
            (batch.price(i, region_price) for i in range(batch.size)), start=0
        ),
        "delivered_messages": counts["DELIVERED"],
        "failed_messages": sum(counts[STATUSES[code]] for code in _FAILED_CODES),
        "pending_messages": counts["QUEUED"] + counts["SCHEDULED"],
        "sent_messages": counts["SENT"],
        "counts": {status: count for status, count in counts.items() if count},
        "created_at": format_time(batch.created_at),
        "scheduled_for": format_time(batch.start_at) if batch.start_at > batch.created_at else None,
    }


def _campaign_status(batch: Batch, finished: int) -> str:
    if finished == batch.size:
        return "COMPLETED"
    if batch.start_at > time.time():
        return "SCHEDULED"
    return "ONGOING"


def list_messages(ledger: Ledger, query: dict[str, str]) -> dict:
    """Return one page of messages, newest first, filtered like `GET /v2/messages`."""
    limit = _int_param(query, "limit", 100, 1, 1000)
    page = _int_param(query, "page", 1, 1, 10**9)
    status = query.get("status", "").strip().upper() or None
    phone = _phone_param(query.get("to"))
    since = _time_param(query, "created_at_from", end=False)
    until = _time_param(query, "created_at_to", end=True)

    first = (page - 1) * limit
    total = 0
    data: list[dict] = []
    for batch in reversed(ledger.batches):
        if (since is not None and batch.created_at < since) or (
            until is not None and batch.created_at >= until
        ):
            continue
        for index in _matching(batch, status, phone):
            if first <= total < first + limit:
                data.append(message_view(batch, index))
            total += 1

    last_page = max(1, -(-total // limit))
    return {
        "success": True,
        "data": data,
        "current_page": page,
        "per_page": limit,
        "total": total,
        "last_page": last_page,
    }


def _matching(batch: Batch, status: str | None, phone: str | None) -> Iterator[int]:
    code = CODE.get(status) if status else None
    if status and code is None:
        return
    for index in range(batch.size - 1, -1, -1):
        if code is not None and batch.statuses[index] != code:
            continue
        if phone is not None and batch.phone(index) != phone:
            continue
        yield index


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise HttpError(400, f"The {name} parameter {value!r} must be a whole number.") from None
    return min(max(number, low), high)


def _phone_param(value: str | None) -> str | None:
    if not value:
        return None
    valid = validate_number(value.strip())
    return f"+{valid[0]}" if valid else value.strip()


def _time_param(query: dict[str, str], name: str, *, end: bool) -> float | None:
    """Parse a UTC time; with `end`, return the first instant after the second or day it names."""
    value = query.get(name, "").strip()
    if not value:
        return None
    for pattern, resolution in (("%Y-%m-%d %H:%M:%S", 1), ("%Y-%m-%d", 86400)):
        try:
            start = dt.datetime.strptime(value, pattern).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            continue
        return start + resolution if end else start
    raise HttpError(
        400, f"The {name} parameter {value!r} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS."
    )
