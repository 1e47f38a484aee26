"""Delivery statuses and the fixed precedence that derives a recipient's current status.

The current status is the report with the highest precedence, never the latest to arrive, so the
arrival order of reports never changes the result and a final status never regresses (a late SENT
cannot overwrite DELIVERED). Within the final statuses, stronger evidence wins: a DELIVERED report
beats an EXPIRED one, because EXPIRED only means that no final report had come yet.
"""

PENDING = "PENDING"  # our own word for "no report yet"

# Rank bands: 0 accepted but not handed over, 1 handed over, 2 final.
_PRECEDENCE = [
    "QUEUED",
    "ACCEPTED",
    "SCHEDULED",
    "PENDING",
    "SENDING",
    "ONGOING",
    "ENROUTE",
    "SENT",
    "EXPIRED",
    "FAILED",
    "UNDELIVERED",
    "REJECTED",
    "UNSUBSCRIBED",
    "DELIVERED",
]
_RANK = {status: index * 10 for index, status in enumerate(_PRECEDENCE)}

# An unknown status is stored and shown, but it ranks just above PENDING and below SENDING:
# it proves that the provider accepted the message, and nothing more.
UNKNOWN_RANK = _RANK["PENDING"] + 5

FINAL = frozenset({"DELIVERED", "FAILED", "UNDELIVERED", "EXPIRED", "REJECTED", "UNSUBSCRIBED"})
NOT_BILLED = frozenset({"REJECTED", "UNSUBSCRIBED"})
KNOWN = frozenset(_PRECEDENCE)

# The dispatcher's own statuses for recipients that were never handed to SMS.to, or may have been.
SUPPRESSED = "SUPPRESSED"  # the number opted out before its chunk was sent
CANCELLED = "CANCELLED"  # the operator cancelled the campaign before it was sent
NOT_SENT = "NOT_SENT"  # SMS.to rejected the request (400/422) or the text could not be rendered
UNCERTAIN = "UNCERTAIN"  # its chunk is uncertain: maybe sent, never re-sent automatically
DISPATCH_STATUSES = (SUPPRESSED, CANCELLED, NOT_SENT, UNCERTAIN)

# The statuses shown in funnels and `status --json`, in display order.
DISPLAY_ORDER = [
    "DELIVERED",
    "SENT",
    "FAILED",
    "UNDELIVERED",
    "EXPIRED",
    "REJECTED",
    "UNSUBSCRIBED",
    *DISPATCH_STATUSES,
    PENDING,
]


def normalise_status(value: object) -> str:
    """Upper-case and trim a status as received; an empty value becomes "UNKNOWN"."""
    text = str(value or "").strip().upper()
    return text or "UNKNOWN"


def rank(status: str) -> int:
    """Return the precedence of a normalised status; higher wins."""
    return _RANK.get(status, UNKNOWN_RANK)


def precedence_key(status: str) -> tuple[int, str]:
    """Return a total order over statuses, so that two unknown statuses still compare the same way."""
    return (rank(status), status)


def is_final(status: str) -> bool:
    return status in FINAL


def awaiting_final_report(by_status: dict[str, int]) -> int:
    """Count the recipients of a handed-over campaign that have no final status yet.

    A campaign is "completed" once every chunk is handed over to SMS.to, which is seconds to
    hours before the last delivery report, so a reader needs this count beside that status.
    """
    return sum(
        count
        for status, count in by_status.items()
        if status not in FINAL and status not in DISPATCH_STATUSES
    )


def is_billable(status: str) -> bool:
    return status not in NOT_BILLED
