"""Match parsed delivery reports to recipients and apply them, a batch at a time.

A report is matched by `messageId == Recipient.provider_message_id` (single sends, where
trackingId equals messageId), else by `(trackingId == Recipient.provider_campaign_id, phone)`
(bulk sends, whose reports carry a per-recipient messageId that the sender never saw). Every
lookup goes through an index, and a batch costs a fixed number of statements, so the cost per
report does not grow with the number of reports already stored.

The functions take a Session or a Connection and work inside the caller's transaction.
"""

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, select, text, update

from core.models import DeliveryReport, Recipient
from core.reports import counters
from core.reports.ledger import ReportFacts, derive_cost, higher_status, status_floor
from core.reports.parse import ParsedReport
from core.statuses import precedence_key, rank

log = logging.getLogger(__name__)

NO_RECIPIENT_YET = "no recipient with this message id / campaign id yet"
PHONE_NOT_IN_CAMPAIGN = "phone is not among the recipients sent with this campaign id"
PHONE_MISSING = "report has no phone, which a report for a campaign id needs to be matched"

_RECIPIENT = Recipient.__table__
_REPORT = DeliveryReport.__table__
_IN_CHUNK = 500  # values per IN list, well below every database's parameter limit


@dataclass(slots=True)
class PendingReport:
    """A report on its way to DeliveryReport: new (id None) or stored unmatched (id set)."""

    inbound_id: int
    received_at: datetime
    tracking_id: str
    message_id: str
    phone: str
    phone_raw: str
    status: str
    parts: int | None
    price: Decimal | None
    price_raw: str
    id: int | None = None
    recipient_id: int | None = None
    campaign_id: int | None = None
    duplicate: bool = False
    out_of_order: bool = False
    unmatched_reason: str = ""

    @classmethod
    def from_parsed(cls, parsed: ParsedReport, *, inbound_id: int, received_at: datetime):
        return cls(
            inbound_id=inbound_id,
            received_at=received_at,
            tracking_id=parsed.tracking_id,
            message_id=parsed.message_id,
            phone=parsed.phone,
            phone_raw=parsed.phone_raw,
            status=parsed.status,
            parts=parsed.parts,
            price=parsed.price,
            price_raw=parsed.price_raw,
        )

    @property
    def facts(self) -> ReportFacts:
        return ReportFacts(self.status, self.parts, self.price)


@dataclass(slots=True)
class _RecipientState:
    status: str | None
    report_count: int
    first_report_at: datetime | None
    last_report_at: datetime | None
    status_at: datetime | None
    history: list[ReportFacts]
    changed: bool = False


def find_recipients(session, reports: list[PendingReport]) -> None:
    """Set `recipient_id` and `campaign_id` of each report that matches, else its unmatched reason."""
    for report in reports:
        report.recipient_id = None
        report.unmatched_reason = ""

    _match_by_message_id(session, reports)
    bulk = [r for r in reports if r.recipient_id is None and r.tracking_id and r.phone]
    _match_by_campaign_and_phone(session, bulk)
    _explain_unmatched(session, [r for r in reports if r.recipient_id is None])


def apply_matched(session, reports: list[PendingReport]) -> Counter:
    """Mark duplicates and out-of-order reports, and update the recipients they change.

    `reports` are taken in arrival order. That order decides only which copy of a duplicate is
    marked and which report counts as out of order, because the recipients' final state depends
    on the set of reports alone. Returns counter deltas.
    """
    matched = [report for report in reports if report.recipient_id is not None]
    if not matched:
        return Counter()

    states = _load_states(session, sorted({report.recipient_id for report in matched}))
    deltas = Counter()
    for report in matched:
        deltas += _apply_one(states[report.recipient_id], report)

    _write_states(session, states)
    return deltas


def rematch_for_provider_ids(session, *, ids: list[str]) -> int:
    """Match the stored unmatched reports that carry one of `ids` as trackingId or messageId.

    The dispatcher calls this right after it records a chunk's message_id or campaign_id, in
    the same session, so a report that arrived before the send response is applied at once.
    Returns how many reports are now matched.
    """
    wanted = sorted({provider_id for provider_id in ids if provider_id})
    if not wanted:
        return 0

    reports = _load_unmatched(session, wanted)
    if not reports:
        return 0

    find_recipients(session, reports)
    deltas = apply_matched(session, reports)
    _update_reports(session, reports)

    now_matched = sum(1 for report in reports if report.recipient_id is not None)
    deltas[counters.REPORTS_MATCHED] += now_matched
    deltas[counters.REPORTS_UNMATCHED] -= now_matched
    counters.add_counts(session, deltas)
    if now_matched:
        log.info("rematched %d waiting reports for %d provider ids", now_matched, len(wanted))
    return now_matched


def sweep_unmatched(session, *, limit: int = 500, window: int = 5000) -> int:
    """Rematch waiting reports whose trackingId or messageId is now known; return how many matched.

    A safety net for reports that a dispatcher in another process did not rematch (it crashed
    between recording an id and calling `rematch_for_provider_ids`, or ran concurrently).
    """
    # NOTE: only the newest `window` waiting reports are looked at, which bounds the lookups per
    # sweep; older ones match when the dispatcher records their id and calls the rematch.
    known = text(
        "SELECT DISTINCT d.tracking_id, d.message_id FROM ("
        " SELECT id, tracking_id, message_id FROM deliveryreport"
        " WHERE matched = :false AND unmatched_reason = :reason ORDER BY id DESC LIMIT :window"
        ") AS d WHERE"
        " EXISTS (SELECT 1 FROM recipient AS r WHERE r.provider_campaign_id = d.tracking_id)"
        " OR EXISTS (SELECT 1 FROM recipient AS r WHERE r.provider_message_id = d.message_id)"
        " OR EXISTS (SELECT 1 FROM recipient AS r WHERE r.provider_message_id = d.tracking_id)"
        " LIMIT :limit"
    )
    parameters = {"false": False, "reason": NO_RECIPIENT_YET, "window": window, "limit": limit}
    rows = session.execute(known, parameters).all()
    ids = {value for row in rows for value in row if value}
    return rematch_for_provider_ids(session, ids=sorted(ids)) if ids else 0


def report_rows(reports: Iterable[PendingReport]) -> list[dict]:
    """Return DeliveryReport rows for an executemany INSERT of new reports."""
    return [
        {
            "inbound_id": report.inbound_id,
            "received_at": report.received_at,
            "tracking_id": report.tracking_id,
            "message_id": report.message_id,
            "phone": report.phone,
            "phone_raw": report.phone_raw,
            "status": report.status,
            "parts": report.parts,
            "price": report.price,
            "price_raw": report.price_raw,
            "recipient_id": report.recipient_id,
            "campaign_id": report.campaign_id,
            "matched": report.recipient_id is not None,
            "duplicate": report.duplicate,
            "out_of_order": report.out_of_order,
            "unmatched_reason": report.unmatched_reason,
        }
        for report in reports
    ]


def in_chunks(values: list, size: int = _IN_CHUNK) -> Iterable[list]:
    """Split `values` into lists short enough for one IN clause."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _match_by_message_id(session, reports: list[PendingReport]) -> None:
    ids = sorted({value for r in reports for value in (r.message_id, r.tracking_id) if value})
    found: dict[str, tuple[int, int]] = {}
    for chunk in in_chunks(ids):
        statement = (
            select(_RECIPIENT.c.id, _RECIPIENT.c.campaign_id, _RECIPIENT.c.provider_message_id)
            .where(_RECIPIENT.c.provider_message_id.in_(chunk))
            .order_by(_RECIPIENT.c.id.desc())
        )
        for recipient_id, campaign_id, provider_id in session.execute(statement):
            found[provider_id] = (recipient_id, campaign_id)  # the lowest id wins, deterministically

    for report in reports:
        hit = found.get(report.message_id) or found.get(report.tracking_id)
        if hit is not None:
            report.recipient_id, report.campaign_id = hit


def _match_by_campaign_and_phone(session, reports: list[PendingReport]) -> None:
    pairs = sorted({(report.tracking_id, report.phone) for report in reports})
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for chunk in in_chunks(pairs, _IN_CHUNK // 2):
        for recipient_id, campaign_id, tracking_id, phone in _select_pairs(session, chunk):
            found.setdefault((tracking_id, phone), (recipient_id, campaign_id))

    for report in reports:
        hit = found.get((report.tracking_id, report.phone))
        if hit is not None:
            report.recipient_id, report.campaign_id = hit


def _select_pairs(session, pairs: list[tuple[str, str]]):
    # A join with a VALUES list, because SQLite does not use an index for `(a, b) IN (VALUES ...)`.
    placeholders = ", ".join(f"(:t{i}, :p{i})" for i in range(len(pairs)))
    params = {}
    for i, (tracking_id, phone) in enumerate(pairs):
        params[f"t{i}"] = tracking_id
        params[f"p{i}"] = phone
    statement = text(
        f"WITH wanted(tracking_id, phone) AS (VALUES {placeholders}) "
        "SELECT r.id, r.campaign_id, r.provider_campaign_id, r.phone FROM wanted "
        "JOIN recipient AS r ON r.provider_campaign_id = wanted.tracking_id "
        "AND r.phone = wanted.phone ORDER BY r.id"
    )
    return session.execute(statement, params).all()


def _explain_unmatched(session, reports: list[PendingReport]) -> None:
    known_campaigns: dict[str, int | None] = {}
    for tracking_id in sorted({r.tracking_id for r in reports if r.tracking_id}):
        statement = (
            select(_RECIPIENT.c.campaign_id)
            .where(_RECIPIENT.c.provider_campaign_id == tracking_id)
            .limit(1)
        )
        campaign_id = session.execute(statement).scalar()
        if campaign_id is not None:
            known_campaigns[tracking_id] = campaign_id

    for report in reports:
        campaign_id = known_campaigns.get(report.tracking_id)
        report.campaign_id = campaign_id
        if campaign_id is None:
            report.unmatched_reason = NO_RECIPIENT_YET
        elif report.phone:
            report.unmatched_reason = PHONE_NOT_IN_CAMPAIGN
        else:
            report.unmatched_reason = PHONE_MISSING


def _load_states(session, recipient_ids: list[int]) -> dict[int, _RecipientState]:
    states: dict[int, _RecipientState] = {}
    lock = _dialect_name(session) == "postgresql"
    for chunk in in_chunks(recipient_ids):
        statement = select(
            _RECIPIENT.c.id,
            _RECIPIENT.c.status,
            _RECIPIENT.c.report_count,
            _RECIPIENT.c.first_report_at,
            _RECIPIENT.c.last_report_at,
            _RECIPIENT.c.status_at,
        ).where(_RECIPIENT.c.id.in_(chunk)).order_by(_RECIPIENT.c.id)
        if lock:
            # Two matchers on PostgreSQL must not both judge the same report new.
            statement = statement.with_for_update()
        for recipient_id, status, count, first_at, last_at, status_at in session.execute(statement):
            states[recipient_id] = _RecipientState(
                status_floor(status, count), count, first_at, last_at, status_at, []
            )

        # Only recipient_id in the WHERE clause: given `matched` too, SQLite picks the index on
        # (matched, tracking_id) and reads every matched report. Duplicates are skipped here.
        history = select(
            _REPORT.c.recipient_id,
            _REPORT.c.status,
            _REPORT.c.parts,
            _REPORT.c.price,
            _REPORT.c.duplicate,
        ).where(_REPORT.c.recipient_id.in_(chunk))
        for recipient_id, status, parts, price, duplicate in session.execute(history):
            if not duplicate:
                states[recipient_id].history.append(ReportFacts(status, parts, price))
    return states


def _apply_one(state: _RecipientState, report: PendingReport) -> Counter:
    facts = report.facts
    if facts in state.history:
        report.duplicate = True
        return Counter({counters.REPORTS_DUPLICATE: 1})

    deltas = Counter()
    if state.status is not None and precedence_key(report.status) < precedence_key(state.status):
        report.out_of_order = True
        deltas[counters.REPORTS_OUT_OF_ORDER] += 1

    previous = state.status
    state.status = higher_status(previous, report.status)
    # The time of the current status is the earliest arrival of that status, whatever the order.
    if state.status != previous:
        state.status_at = report.received_at
    elif report.status == state.status:
        state.status_at = _earliest(state.status_at, report.received_at)
    state.history.append(facts)
    state.report_count += 1
    state.first_report_at = _earliest(state.first_report_at, report.received_at)
    state.last_report_at = _latest(state.last_report_at, report.received_at)
    state.changed = True
    return deltas


def _write_states(session, states: dict[int, _RecipientState]) -> None:
    rows = []
    for recipient_id, state in states.items():
        if not state.changed:
            continue
        cost = derive_cost(state.status, state.history)
        rows.append(
            {
                "b_id": recipient_id,
                "b_status": state.status,
                "b_status_rank": rank(state.status),
                "b_parts": cost.parts,
                "b_price": cost.price,
                "b_price_rank": cost.price_rank,
                "b_report_count": state.report_count,
                "b_first_report_at": state.first_report_at,
                "b_last_report_at": state.last_report_at,
                "b_status_at": state.status_at,
            }
        )
    if not rows:
        return

    statement = (
        update(_RECIPIENT)
        .where(_RECIPIENT.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            status_rank=bindparam("b_status_rank"),
            parts=bindparam("b_parts"),
            price=bindparam("b_price", type_=_RECIPIENT.c.price.type),
            price_rank=bindparam("b_price_rank"),
            report_count=bindparam("b_report_count"),
            first_report_at=bindparam("b_first_report_at", type_=_RECIPIENT.c.first_report_at.type),
            last_report_at=bindparam("b_last_report_at", type_=_RECIPIENT.c.last_report_at.type),
            status_at=bindparam("b_status_at", type_=_RECIPIENT.c.status_at.type),
        )
    )
    session.execute(statement, rows)


def _load_unmatched(session, ids: list[str]) -> list[PendingReport]:
    reports: dict[int, PendingReport] = {}
    columns = [_REPORT.c[name] for name in _PENDING_COLUMNS]
    lock = _dialect_name(session) == "postgresql"
    for chunk in in_chunks(ids):
        by_tracking = select(*columns).where(
            _REPORT.c.matched.is_(False), _REPORT.c.tracking_id.in_(chunk)
        )
        by_message = select(*columns).where(
            _REPORT.c.matched.is_(False), _REPORT.c.tracking_id == "", _REPORT.c.message_id.in_(chunk)
        )
        for statement in (by_tracking, by_message):
            if lock:
                # Two rematches on PostgreSQL (the dispatcher's and a sweep, or two servers' sweeps)
                # must not both match one report. A report locked by the other is skipped, and one
                # it has already matched fails `matched = false` when the lock is taken.
                statement = statement.with_for_update(skip_locked=True)
            for row in session.execute(statement).mappings():
                reports[row["id"]] = PendingReport(**row)
    return [reports[report_id] for report_id in sorted(reports)]


_PENDING_COLUMNS = (
    "id", "inbound_id", "received_at", "tracking_id", "message_id", "phone", "phone_raw",
    "status", "parts", "price", "price_raw",
)


def _update_reports(session, reports: list[PendingReport]) -> None:
    rows = [
        {
            "b_id": report.id,
            "b_recipient_id": report.recipient_id,
            "b_campaign_id": report.campaign_id,
            "b_matched": report.recipient_id is not None,
            "b_duplicate": report.duplicate,
            "b_out_of_order": report.out_of_order,
            "b_reason": report.unmatched_reason,
        }
        for report in reports
    ]
    statement = (
        update(_REPORT)
        .where(_REPORT.c.id == bindparam("b_id"))
        .values(
            recipient_id=bindparam("b_recipient_id"),
            campaign_id=bindparam("b_campaign_id"),
            matched=bindparam("b_matched"),
            duplicate=bindparam("b_duplicate"),
            out_of_order=bindparam("b_out_of_order"),
            unmatched_reason=bindparam("b_reason"),
        )
    )
    session.execute(statement, rows)


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or _naive(candidate) < _naive(current) else current


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or _naive(candidate) > _naive(current) else current


def _naive(moment: datetime) -> datetime:
    # SQLite returns stored datetimes without their UTC offset; every stored time is UTC.
    return moment.replace(tzinfo=None)


def _dialect_name(session) -> str:
    bind = session.get_bind() if hasattr(session, "get_bind") else session
    return bind.dialect.name
