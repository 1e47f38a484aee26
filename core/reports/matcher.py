"""The matcher: turns stored InboundReport bodies into DeliveryReport rows applied to recipients.

`process_pending_batch` handles one batch in one transaction. `Matcher` runs it in a background
thread of the companion server whenever the ingest writer has committed new bodies, and sweeps
the waiting unmatched reports now and then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from core.db import session_scope
from core.models import DeliveryReport, InboundReport
from core.reports import counters
from core.reports.matching import (
    PendingReport,
    apply_matched,
    find_recipients,
    report_rows,
    sweep_unmatched,
)
from core.reports.parse import ReportParseError, parse_report_body

log = logging.getLogger(__name__)

_INBOUND = InboundReport.__table__
_REPORT = DeliveryReport.__table__


def process_pending_batch(
    engine: Engine, *, limit: int = 500, write_lock: threading.Lock | None = None
) -> int:
    """Parse, match and apply up to `limit` unprocessed bodies; return how many bodies it took.

    Parsing happens before the write transaction so that the lock is held only for the indexed
    lookups and the writes. The claim (`processed = true ... RETURNING`) inside the transaction
    makes two matchers never process the same body.
    """
    with engine.connect() as connection:
        rows = connection.execute(
            select(_INBOUND.c.id, _INBOUND.c.received_at, _INBOUND.c.body, _INBOUND.c.content_type)
            .where(_INBOUND.c.processed.is_(False))
            .order_by(_INBOUND.c.id)
            .limit(limit)
        ).all()
    if not rows:
        return 0

    reports_by_body, failures = _parse_rows(rows)
    with write_lock or threading.Lock(), engine.begin() as connection:
        claimed = _claim(connection, [row.id for row in rows])
        reports = [r for body_id in sorted(claimed) for r in reports_by_body.get(body_id, [])]
        _record_failures(connection, {k: v for k, v in failures.items() if k in claimed})
        _store_reports(connection, reports)
    return len(claimed)


def _parse_rows(rows) -> tuple[dict[int, list[PendingReport]], dict[int, str]]:
    reports: dict[int, list[PendingReport]] = {}
    failures: dict[int, str] = {}
    for row in rows:
        try:
            parsed = parse_report_body(row.body, row.content_type)
        except ReportParseError as error:
            # Bodies are checked before they are acknowledged, so this means the rules changed.
            failures[row.id] = f"{error.code}: {error.message}"
            continue
        reports[row.id] = [
            PendingReport.from_parsed(item, inbound_id=row.id, received_at=row.received_at)
            for item in parsed
        ]
    return reports, failures


def _claim(connection, body_ids: list[int]) -> set[int]:
    statement = (
        update(_INBOUND)
        .where(_INBOUND.c.id.in_(body_ids), _INBOUND.c.processed.is_(False))
        .values(processed=True)
        .returning(_INBOUND.c.id)
    )
    return set(connection.execute(statement).scalars())


def _record_failures(connection, failures: dict[int, str]) -> None:
    for body_id, message in failures.items():
        log.error("stored report body %d no longer parses: %s", body_id, message)
        connection.execute(
            update(_INBOUND).where(_INBOUND.c.id == body_id).values(parse_error=message[:1000])
        )


def _store_reports(connection, reports: list[PendingReport]) -> None:
    if not reports:
        return

    find_recipients(connection, reports)
    deltas = apply_matched(connection, reports)
    connection.execute(insert(_REPORT), report_rows(reports))

    matched = sum(1 for report in reports if report.recipient_id is not None)
    deltas += Counter(
        {
            counters.REPORTS_PARSED: len(reports),
            counters.REPORTS_MATCHED: matched,
            counters.REPORTS_UNMATCHED: len(reports) - matched,
        }
    )
    counters.add_counts(connection, deltas)


def drain_pending(engine: Engine, *, limit: int = 500) -> int:
    """Process batches until no body waits; return how many bodies it took (tests, benchmarks)."""
    total = 0
    while taken := process_pending_batch(engine, limit=limit):
        total += taken
    return total


class Matcher:
    """A background thread that runs `process_pending_batch` and `sweep_unmatched`."""

    def __init__(
        self,
        engine: Engine,
        *,
        write_lock: threading.Lock | None = None,
        batch_size: int = 500,
        idle_seconds: float = 1.0,
        sweep_seconds: float = 30.0,
        ingest_busy: Callable[[], bool] | None = None,
        busy_share: float = 0.5,
    ) -> None:
        self._engine = engine
        self._write_lock = write_lock or threading.Lock()
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._sweep_seconds = sweep_seconds
        # While requests are being stored, the matcher works at most `busy_share` of the time so
        # that acknowledging reports (which SMS.to waits for) keeps the interpreter first.
        self._ingest_busy = ingest_busy or (lambda: False)
        self._busy_share = busy_share
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="report-matcher", daemon=True)
        self._thread.start()
        log.info("report matcher started (batch %d)", self._batch_size)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        log.info("report matcher stopped")

    def notify(self) -> None:
        """Wake the matcher because new bodies are stored; safe from any thread."""
        self._wake.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                taken, seconds = self._step()
                failures = 0
            except Exception:  # the thread must outlive a failed batch; the next try retries it
                failures += 1
                log.exception("matching a batch of reports failed (attempt %d)", failures)
                self._stop.wait(min(30.0, 0.5 * 2**failures))
                continue

            if taken >= self._batch_size:
                self._pace(seconds)
                continue
            self._wake.wait(self._idle_seconds)
            self._wake.clear()

    def _step(self) -> tuple[int, float]:
        started = time.monotonic()
        taken = process_pending_batch(
            self._engine, limit=self._batch_size, write_lock=self._write_lock
        )
        if started >= self._next_sweep:
            self._sweep()
            self._next_sweep = time.monotonic() + self._sweep_seconds
        return taken, time.monotonic() - started

    def _sweep(self) -> None:
        with self._write_lock, session_scope(self._engine) as session:
            matched = sweep_unmatched(session)
        if matched:
            log.info("sweep matched %d waiting reports", matched)

    def _pace(self, seconds: float) -> None:
        if self._ingest_busy() and 0 < self._busy_share < 1:
            self._stop.wait(seconds * (1 - self._busy_share) / self._busy_share)
