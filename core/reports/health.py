"""Callback health for the dashboard: what came in, what was rejected, what waits, and how late.

Counts come from the running totals in ReportCounter (see `core.reports.counters`), so this stays
cheap at millions of reports. The lag from send to first report is measured over the most recent
`LAG_SAMPLE` recipients that have both times, which bounds the work per call.
"""

import math
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, select

from core.models import InboundReport, Recipient
from core.reports import counters

LAG_SAMPLE = 10_000

_INBOUND = InboundReport.__table__
_RECIPIENT = Recipient.__table__


@dataclass(frozen=True, slots=True)
class CallbackHealth:
    accepted: int  # delivery-report bodies stored and acknowledged with 200
    rejected_signature: int  # bodies rejected with 401: missing, invalid or stale signature or token
    rejected_body: int  # bodies rejected with 400, 413 or 422: not a valid report, or too large
    optouts: int  # opt-out bodies accepted
    reports: int  # reports parsed out of accepted bodies (an array body contains several)
    matched: int  # reports filed against a recipient, duplicates included
    unmatched: int  # reports waiting for a recipient (see core.reports.unmatched)
    duplicate: int  # matched reports equal to one the recipient already had
    out_of_order: int  # reports ranked below the recipient's status when they arrived
    waiting_bodies: int  # accepted bodies the matcher has not processed yet
    last_report_at: datetime | None  # when the last accepted delivery-report body arrived (UTC)
    lag_median_seconds: float | None  # from Recipient.sent_at to its first report
    lag_p95_seconds: float | None
    lag_sample_size: int

    def as_dict(self) -> dict:
        """Return the fields as JSON-ready values (times in ISO 8601)."""
        data = asdict(self)
        if self.last_report_at is not None:
            data["last_report_at"] = self.last_report_at.isoformat()
        return data


def callback_health(session, *, lag_sample: int = LAG_SAMPLE) -> CallbackHealth:
    """Collect the callback health figures in a few indexed queries."""
    totals = counters.read_counts(session)
    lags = _recent_lags(session, lag_sample)
    return CallbackHealth(
        accepted=totals.get(counters.BODIES_ACCEPTED, 0),
        rejected_signature=totals.get(counters.BODIES_REJECTED_AUTH, 0),
        rejected_body=totals.get(counters.BODIES_REJECTED_BODY, 0),
        optouts=totals.get(counters.OPTOUTS_ACCEPTED, 0),
        reports=totals.get(counters.REPORTS_PARSED, 0),
        matched=totals.get(counters.REPORTS_MATCHED, 0),
        unmatched=totals.get(counters.REPORTS_UNMATCHED, 0),
        duplicate=totals.get(counters.REPORTS_DUPLICATE, 0),
        out_of_order=totals.get(counters.REPORTS_OUT_OF_ORDER, 0),
        waiting_bodies=_waiting_bodies(session),
        last_report_at=_last_report_at(session),
        lag_median_seconds=statistics.median(lags) if lags else None,
        lag_p95_seconds=_nearest_rank(lags, 0.95),
        lag_sample_size=len(lags),
    )


def _waiting_bodies(session) -> int:
    statement = select(func.count()).where(_INBOUND.c.processed.is_(False))
    return int(session.execute(statement).scalar_one())


def _last_report_at(session) -> datetime | None:
    statement = (
        select(_INBOUND.c.received_at)
        .where(_INBOUND.c.kind == "delivery", _INBOUND.c.auth != "rejected", _INBOUND.c.parse_error == "")
        .order_by(_INBOUND.c.id.desc())
        .limit(1)
    )
    return session.execute(statement).scalar()


def _recent_lags(session, sample: int) -> list[float]:
    statement = (
        select(_RECIPIENT.c.sent_at, _RECIPIENT.c.first_report_at)
        .where(_RECIPIENT.c.sent_at.is_not(None), _RECIPIENT.c.first_report_at.is_not(None))
        .order_by(_RECIPIENT.c.id.desc())
        .limit(sample)
    )
    lags = []
    for sent_at, first_report_at in session.execute(statement):
        # Both are stored in UTC; SQLite returns them without an offset, so compare them naive.
        delta = first_report_at.replace(tzinfo=None) - sent_at.replace(tzinfo=None)
        lags.append(delta.total_seconds())
    return sorted(lags)


def _nearest_rank(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[index]


def probe_report_log(engine) -> None:
    """Select no rows from InboundReport; raise the database's error when it cannot be read.

    A server whose database is down, or whose report log table is missing, gets 503 for every
    report, so its health check must fail too.
    """
    with engine.connect() as connection:
        connection.execute(select(_INBOUND.c.id).limit(0)).all()
