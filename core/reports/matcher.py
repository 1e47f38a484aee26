"""The matcher: turns stored InboundReport bodies into DeliveryReport rows applied to recipients.

`process_pending_batch` handles one batch in one transaction. `Matcher` runs it in the companion
server whenever the ingest writer has committed new bodies, and sweeps the waiting unmatched
reports now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from core.models import DeliveryReport, InboundReport, Recipient
from core.reports import counters
from core.reports.connections import discard, is_lock_error, open_nonblocking
from core.reports.matching import (
    NO_RECIPIENT_YET,
    PendingReport,
    apply_matched,
    find_recipients,
    in_chunks,
    rematch_for_provider_ids,
    report_rows,
    sweep_unmatched,
)
from core.reports.parse import ReportParseError, parse_report_body

log = logging.getLogger(__name__)

_INBOUND = InboundReport.__table__
_REPORT = DeliveryReport.__table__
_RECIPIENT = Recipient.__table__


def process_pending_batch(connection: Connection, *, limit: int = 500) -> int:
    """Parse, match and apply up to `limit` unprocessed bodies; return how many bodies it took.

    `connection` must not be in a transaction. Parsing happens before the write transaction, so
    the write lock is held only for the indexed lookups and the writes. The claim (`processed =
    true ... RETURNING`) inside the transaction makes two matchers never process the same body.
    """
    rows = connection.execute(
        select(_INBOUND.c.id, _INBOUND.c.received_at, _INBOUND.c.body, _INBOUND.c.content_type)
        .where(_INBOUND.c.processed.is_(False))
        .order_by(_INBOUND.c.id)
        .limit(limit)
    ).all()
    connection.rollback()  # end the read transaction before the write one begins
    if not rows:
        return 0

    reports_by_body, failures = _parse_rows(rows)
    with connection.begin():
        claimed = _claim(connection, [row.id for row in rows])
        reports = [r for body_id in sorted(claimed) for r in reports_by_body.get(body_id, [])]
        _record_failures(connection, {k: v for k, v in failures.items() if k in claimed})
        _store_reports(connection, reports)
    if connection.dialect.name == "postgresql":
        _rematch_after_commit(connection, reports)
    return len(claimed)


def _rematch_after_commit(connection, reports: list[PendingReport]) -> None:
    """Match this batch's reports that found no recipient, if their ids are known by now.

    On PostgreSQL the dispatcher may record a send's ids while this batch runs, and its rematch
    then misses the reports this batch has not committed yet. The dispatcher's commit comes
    before its rematch and this one runs after this batch's commit, so one of the two reads both.
    SQLite needs none of this, because its write transactions run one at a time.
    """
    ids = {
        value
        for report in reports
        if report.unmatched_reason == NO_RECIPIENT_YET
        for value in (report.tracking_id, report.message_id)
        if value
    }
    if not ids:
        return

    # An indexed check first, so that reports whose ids no recipient has yet (the usual early or
    # foreign report) are not rewritten.
    provider_ids = sorted(ids)
    known = any(_any_recipient_has(connection, chunk) for chunk in in_chunks(provider_ids))
    connection.rollback()
    if not known:
        return
    with connection.begin():
        rematch_for_provider_ids(connection, ids=provider_ids)


def _any_recipient_has(connection, provider_ids: list[str]) -> bool:
    by_message = _RECIPIENT.c.provider_message_id.in_(provider_ids)
    by_campaign = _RECIPIENT.c.provider_campaign_id.in_(provider_ids)
    statement = select(_RECIPIENT.c.id).where(or_(by_message, by_campaign)).limit(1)
    return connection.execute(statement).first() is not None


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
    with engine.connect() as connection:
        while taken := process_pending_batch(connection, limit=limit):
            total += taken
    return total


class Matcher:
    """An asyncio task that runs `process_pending_batch` and `sweep_unmatched` in a loop.

    On SQLite each batch runs on the event loop itself, like the ingest writer, on a connection
    that fails at once instead of waiting for a lock. A worker thread would slow both through GIL
    hand-offs while it holds the database's write lock. Batches are kept small because they block the loop
    while they run. Other databases run batches in one worker thread.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        write_lock: threading.Lock | None = None,
        batch_size: int = 200,
        idle_seconds: float = 1.0,
        sweep_seconds: float = 30.0,
        ingest_busy: Callable[[], bool] | None = None,
        busy_share: float = 0.05,
    ) -> None:
        self._engine = engine
        self._write_lock = write_lock or threading.Lock()
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._sweep_seconds = sweep_seconds
        # While requests are being stored, the matcher works at most `busy_share` of the time.
        # Acknowledging reports comes first because SMS.to waits at most 4 s, and stored bodies can wait.
        self._ingest_busy = ingest_busy or (lambda: False)
        self._busy_share = busy_share
        self._in_event_loop = engine.dialect.name == "sqlite"
        self._connection: Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._next_sweep = 0.0

    async def start(self) -> None:
        self._wake = asyncio.Event()
        if not self._in_event_loop:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-matcher")
        self._task = asyncio.create_task(self._run(), name="report-matcher")
        log.info("report matcher started (batch %d)", self._batch_size)

    async def stop(self) -> None:
        """Stop after the batch in progress; bodies not reached wait in the log for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        discard(self._connection)
        self._connection = None
        log.info("report matcher stopped")

    def notify(self) -> None:
        """Wake the matcher because new bodies are stored; call it on the event loop."""
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                taken, seconds = await self._step()
                failures = 0
            except OperationalError as error:
                if is_lock_error(error):
                    await asyncio.sleep(0.05)  # another process holds the write lock; retry soon
                    continue
                failures = await self._after_failure(failures)
                continue
            except Exception:  # noqa: BLE001  (the task must outlive a failed batch; the next try retries it)
                failures = await self._after_failure(failures)
                continue

            await self._pace(seconds)
            if taken >= self._batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._idle_seconds)
            self._wake.clear()

    async def _after_failure(self, failures: int) -> int:
        failures += 1
        log.exception("matching a batch of reports failed (attempt %d); retrying", failures)
        discard(self._connection)
        self._connection = None
        await asyncio.sleep(min(30.0, 0.5 * 2**failures))
        return failures

    async def _step(self) -> tuple[int, float]:
        if self._in_event_loop:
            return self._work()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._work)

    def _work(self) -> tuple[int, float]:
        started = time.monotonic()
        if self._connection is None:
            self._connection = open_nonblocking(self._engine)
        with self._write_lock:
            taken = process_pending_batch(self._connection, limit=self._batch_size)
            if started >= self._next_sweep:
                self._sweep()
                self._next_sweep = time.monotonic() + self._sweep_seconds
        return taken, time.monotonic() - started

    def _sweep(self) -> None:
        with self._connection.begin():
            matched = sweep_unmatched(self._connection)
        if matched:
            log.info("sweep matched %d waiting reports", matched)

    async def _pace(self, seconds: float) -> None:
        if self._ingest_busy() and 0 < self._busy_share < 1:
            await asyncio.sleep(seconds * (1 - self._busy_share) / self._busy_share)
        else:
            await asyncio.sleep(0)  # let waiting requests run between batches
