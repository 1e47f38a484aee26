"""Derive a recipient's status, parts and cost from the set of its reports, in any arrival order.

- Status: the highest `precedence_key` over the reports (and the status the recipient already
  had, see `status_floor`), so a late SENT never overwrites DELIVERED.
- Price: the price of the highest-precedence billable report that carries a price. Among reports
  of the same status the larger price wins, then the larger parts, so ties never depend on order.
  It is never a sum. When the winning status is not billed (REJECTED, UNSUBSCRIBED) the price is 0.
- Parts: the same rule over the reports that carry parts.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from core.statuses import PENDING, is_billable, precedence_key, rank


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """The part of a report that decides a recipient's state; equal facts make a duplicate."""

    status: str
    parts: int | None
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class RecipientCost:
    price: Decimal | None  # None when no billable report carried a price (unknown, not zero)
    price_rank: int  # rank of the status whose report set `price`; -1 when unknown
    parts: int | None


def status_floor(stored_status: str, report_count: int) -> str | None:
    """Return the status reports are compared against before any report applies.

    A recipient with no report yet is PENDING, our placeholder, which must not outrank an early
    QUEUED report, so it gives no floor. Any other stored status (set by the dispatcher or an
    operator) is a floor that reports never lower.
    """
    if report_count == 0 and stored_status == PENDING:
        return None
    return stored_status


def higher_status(current: str | None, candidate: str) -> str:
    """Return whichever status has the higher precedence; `current` None loses to anything."""
    if current is None or precedence_key(candidate) > precedence_key(current):
        return candidate
    return current


def derive_cost(status: str, reports: Iterable[ReportFacts]) -> RecipientCost:
    """Return the price and parts of a recipient whose winning status is `status`."""
    reports = list(reports)
    parts = _parts(reports)
    if not is_billable(status):
        return RecipientCost(price=Decimal(0), price_rank=rank(status), parts=parts)

    priced = [report for report in reports if report.price is not None and is_billable(report.status)]
    if not priced:
        return RecipientCost(price=None, price_rank=-1, parts=parts)

    best = max(priced, key=_price_order)
    return RecipientCost(price=best.price, price_rank=rank(best.status), parts=parts)


def _price_order(report: ReportFacts) -> tuple:
    parts = -1 if report.parts is None else report.parts
    return (precedence_key(report.status), report.price, parts)


def _parts(reports: list[ReportFacts]) -> int | None:
    with_parts = [report for report in reports if report.parts is not None]
    if not with_parts:
        return None
    best = max(with_parts, key=lambda report: (precedence_key(report.status), report.parts))
    return best.parts
