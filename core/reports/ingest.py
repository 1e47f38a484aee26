"""The durable write path: every request body is committed to InboundReport before the response is sent.

`IngestWriter` is a group committer. Each request handler enqueues its record and awaits a future;
one writer task takes every record queued so far (up to `max_batch`, after letting the requests
already received join, for at most `linger_seconds`) and writes them in one transaction with an
executemany INSERT. The futures resolve only after the commit, which on SQLite is synced to disk,
so a 200 always means the raw body is stored, and one commit serves many requests.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from core.db import make_engine
from core.models import InboundReport, Suppression, utcnow
from core.reports import counters
from core.reports.connections import discard, is_lock_error, limit_statement_time, open_nonblocking

log = logging.getLogger(__name__)

_INBOUND = InboundReport.__table__
_SUPPRESSION = Suppression.__table__
_QUIET_PASSES = 2
# A batch being written normally ends by its deadline, so the watchdog waits this much longer
# before it fails the batch's requests itself.
_IN_FLIGHT_GRACE_SECONDS = 0.5


class StorageUnavailable(RuntimeError):
    """The database did not store a body; the request gets a 503 response so that SMS.to retries."""


class IngestOverloaded(StorageUnavailable):
    """More bodies are waiting than `max_queue`, so the request gets a 503 instead of a queue slot."""


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    phone: str  # E.164
    source: str
    reason: str


@dataclass(slots=True)
class InboundRecord:
    """One request body as it will be stored in InboundReport."""

    kind: str  # delivery or optout
    body: bytes
    content_type: str = ""
    auth: str = ""
    auth_error: str = ""
    parse_error: str = ""
    received_at: datetime = field(default_factory=utcnow)
    suppression: SuppressionEntry | None = None  # added to Suppression in the same transaction

    @property
    def awaits_matching(self) -> bool:
        return (
            self.kind == "delivery" and self.auth != "rejected" and not self.parse_error
        )

    @property
    def counter_name(self) -> str:
        if self.auth == "rejected":
            return counters.BODIES_REJECTED_AUTH
        if self.parse_error:
            return counters.BODIES_REJECTED_BODY
        if self.kind == "optout":
            return counters.OPTOUTS_ACCEPTED
        return counters.BODIES_ACCEPTED


# On SQLite the rows are bound as SQLite stores them (the datetime as SQLAlchemy's SQLite DATETIME
# text) and sent through the sqlite3 connection itself, skipping SQLAlchemy's per-statement and
# per-row work, which cost about as much as the insert. A test reads them back through the model.
_SQLITE_INSERT = (
    "INSERT INTO inboundreport (received_at, kind, content_type, body, auth, auth_error, "
    "parse_error, processed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_ADD_COUNT = (
    "INSERT INTO reportcounter (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)


def write_inbound_batch(connection, records: list[InboundRecord]) -> None:
    """Insert `records` (and their opt-outs and counters) with executemany, in the caller's transaction."""
    entries = [record.suppression for record in records if record.suppression is not None]
    counts = Counter(record.counter_name for record in records)
    if connection.dialect.name == "sqlite" and not entries:
        # The sqlite3 connection runs in the transaction that `connection.begin()` opened.
        driver = connection.connection.driver_connection
        try:
            driver.executemany(_SQLITE_INSERT, [_sqlite_row(record) for record in records])
            driver.executemany(_SQLITE_ADD_COUNT, list(counts.items()))
        except sqlite3.Error as error:
            # Raised as SQLAlchemy's error classes, like the statements SQLAlchemy runs itself.
            raise DBAPIError.instance(_SQLITE_INSERT, None, error, sqlite3.Error) from error
        return

    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_row(record) for record in records])
    else:
        connection.execute(insert(_INBOUND), [_row(record) for record in records])
    if entries:
        _insert_suppressions(connection, entries)
    counters.add_counts(connection, counts)


def _sqlite_row(record: InboundRecord) -> tuple:
    received_at = record.received_at
    if received_at.tzinfo is not UTC:
        received_at = received_at.astimezone(UTC)
    return (
        received_at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
        record.kind,
        record.content_type[:200],
        record.body,
        record.auth,
        record.auth_error,
        record.parse_error,
        int(not record.awaits_matching),
    )


def _row(record: InboundRecord) -> dict:
    return {
        "received_at": record.received_at,
        "kind": record.kind,
        "content_type": record.content_type[:200],
        "body": record.body,
        "auth": record.auth,
        "auth_error": record.auth_error,
        "parse_error": record.parse_error,
        # Only accepted delivery bodies wait for the matcher; the others are final as stored.
        "processed": not record.awaits_matching,
    }


def _insert_suppressions(connection, entries: list[SuppressionEntry]) -> None:
    insert_for_dialect = (
        postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    )
    rows = [
        {"phone": entry.phone, "source": entry.source, "reason": entry.reason, "created_at": utcnow()}
        for entry in entries
    ]
    # The first opt-out of a number is kept; a repeated one changes nothing.
    connection.execute(insert_for_dialect(_SUPPRESSION).on_conflict_do_nothing(), rows)


class _DatabaseBusy(Exception):
    """Another connection holds SQLite's write lock; the batch is retried without blocking."""


class IngestWriter:
    """Group commit of InboundRecords; see the module docstring.

    On SQLite the batch is written on the event loop itself, on a dedicated connection whose busy
    timeout is 0. A write from a worker thread would hand the GIL back and forth at every SQLite
    call, which under load costs more than the write. A database locked by another process is
    retried after a short sleep, so the event loop never waits on the lock. Other databases are
    written from one worker thread.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 1000,
        linger_seconds: float = 0.002,
        max_queue: int = 20_000,
        busy_retry_seconds: float = 2.5,
        timeout_seconds: float = 3.0,
        write_lock: threading.Lock | None = None,
        on_commit=None,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._linger_seconds = linger_seconds
        self._max_queue = max_queue
        self._busy_retry_seconds = busy_retry_seconds
        self._timeout_seconds = timeout_seconds
        # Shared with the matcher of this process, so that the two take turns.
        self._write_lock = write_lock or threading.Lock()
        self._on_commit = on_commit
        self._in_event_loop = engine.dialect.name == "sqlite"
        self._write_engine = engine if self._in_event_loop else _private_engine(engine)
        self._connection = None
        self._pending: deque[tuple[InboundRecord, asyncio.Future, float]] = deque()
        self._in_flight: list[tuple[InboundRecord, asyncio.Future, float]] = []  # the batch being written
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._watchdog: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = False
        self.last_commit_at = 0.0  # time.monotonic() of the last batch written

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        if not self._in_event_loop:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-writer")
        self._task = asyncio.create_task(self._run(), name="report-writer")
        self._watchdog = asyncio.create_task(self._expire_waiting(), name="report-writer-watchdog")
        log.info(
            "report writer started (batch up to %d, linger %.1f ms)",
            self._max_batch,
            self._linger_seconds * 1000,
        )

    async def stop(self) -> None:
        """Write what is queued, then stop; later submissions raise StorageUnavailable."""
        self._stopping = True
        if self._task is not None:
            self._wakeup.set()
            await self._task
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._drop_connection()
        if self._write_engine is not self._engine:
            self._write_engine.dispose()
        log.info("report writer stopped")

    async def submit(self, record: InboundRecord) -> None:
        """Store `record`; return once it is committed, or raise StorageUnavailable.

        A record not stored within `timeout_seconds` (the database is locked or slow) gets
        StorageUnavailable, so its response goes out before SMS.to gives up after 4 s. A queued
        record is dropped from the queue, and a batch on a locked database stops retrying.
        """
        if self._stopping or not self.running:
            raise StorageUnavailable("The report writer is not running; retry later.")
        if len(self._pending) >= self._max_queue:
            raise IngestOverloaded(
                f"{len(self._pending)} bodies are already waiting to be stored; retry later."
            )

        future = asyncio.get_running_loop().create_future()
        self._pending.append((record, future, time.monotonic()))
        self._wakeup.set()
        await future

    async def _expire_waiting(self) -> None:
        # One timer for the whole queue, cheaper than a timeout per request.
        while True:
            await asyncio.sleep(0.1)
            limit = time.monotonic() - self._timeout_seconds
            while self._pending and self._pending[0][2] < limit:
                _, future, _ = self._pending.popleft()
                if not future.done():
                    message = f"The body was not stored within {self._timeout_seconds} s."
                    future.set_exception(StorageUnavailable(message))
            self._expire_in_flight(limit - _IN_FLIGHT_GRACE_SECONDS)

    def _expire_in_flight(self, limit: float) -> None:
        """Fail the requests of the batch being written that arrived before `limit`.

        statement_timeout does not end everything: a commit waiting for a synchronous standby that
        is down (seen on PostgreSQL 15), or a stalled network, keeps the batch going. Its requests
        get a 503 instead. The write may still commit later, and the retried body is then a duplicate,
        which the matcher recognises.
        """
        expired = 0
        for _, future, received in self._in_flight:
            if received < limit and not future.done():
                future.set_exception(StorageUnavailable("The write of the body did not finish in time."))
                expired += 1
        if expired:
            log.error("storing a batch timed out: %d requests got 503, and the write goes on", expired)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._linger()
                count = min(self._max_batch, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
                await self._store_batch(batch)
            if self._stopping:
                return

    async def _linger(self) -> None:
        """Let requests already received join the batch, then return; a full batch goes at once.

        A request read from its socket in one pass of the event loop reaches submit() in the next,
        so the batch goes after `_QUIET_PASSES` passes that add nothing, or after `linger_seconds`.
        A fixed sleep instead would leave the server idle while every client waits for the commit.
        """
        if self._linger_seconds <= 0 or self._stopping:
            return
        deadline = time.monotonic() + self._linger_seconds
        quiet_passes, queued = 0, len(self._pending)
        while quiet_passes < _QUIET_PASSES and queued < self._max_batch and time.monotonic() < deadline:
            await asyncio.sleep(0)
            quiet_passes = quiet_passes + 1 if len(self._pending) == queued else 0
            queued = len(self._pending)

    async def _store_batch(self, batch: list) -> None:
        records = [record for record, _, _ in batch]
        # Every request of the batch must get its response within timeout_seconds of arriving.
        # The queue is first in, first out, so the first record of the batch is the oldest.
        oldest = batch[0][2]
        deadline = min(time.monotonic() + self._busy_retry_seconds, oldest + self._timeout_seconds)
        self._in_flight = batch
        try:
            if self._in_event_loop:
                errors = await self._write_in_event_loop(records, deadline)
            else:
                loop = asyncio.get_running_loop()
                errors = await loop.run_in_executor(self._executor, self._write_in_thread, records, deadline)
        except Exception as error:  # the writer must outlive any single failed batch
            log.exception("storing %d report bodies failed unexpectedly", len(records))
            self._drop_connection()  # the next batch starts on a fresh connection, whatever its state
            errors = [error] * len(records)

        self.last_commit_at = time.monotonic()
        self._in_flight = []
        _settle(batch, errors)
        if self._on_commit is not None and any(record.awaits_matching for record in records):
            self._on_commit()

    async def _write_in_event_loop(self, records: list[InboundRecord], deadline: float) -> list[Exception | None]:
        started = time.monotonic()
        while True:
            if self._write_lock.acquire(blocking=False):
                try:
                    return self._write(records, self._dedicated_connection)
                except _DatabaseBusy:
                    pass
                finally:
                    self._write_lock.release()
            if time.monotonic() > deadline:
                return _locked_for(records, time.monotonic() - started)
            await asyncio.sleep(0.002)

    def _write_in_thread(self, records: list[InboundRecord], deadline: float) -> list[Exception | None]:
        # The batch has left the queue, so the watchdog fails its requests only after a grace
        # period. Both the wait for the matcher's turn and the statements end by the deadline.
        started = time.monotonic()
        if not self._write_lock.acquire(timeout=max(0.0, deadline - started)):
            return _locked_for(records, time.monotonic() - started)
        try:
            return self._write(records, self._write_engine.connect, deadline)
        finally:
            self._write_lock.release()

    def _write(self, records: list[InboundRecord], connect, deadline: float | None = None) -> list[Exception | None]:
        """Write `records` in one transaction; return one error (or None) per record."""
        try:
            with connect() as connection, connection.begin():
                if deadline is not None:
                    _end_statements_by(connection, deadline)
                write_inbound_batch(connection, records)
            return [None] * len(records)
        except StorageUnavailable as error:
            return [error] * len(records)
        except OperationalError as error:
            if is_lock_error(error):
                raise _DatabaseBusy() from error
            # The database is down, missing a table or read-only: every record failed.
            log.error("storing %d report bodies failed: %s", len(records), error)
            self._drop_connection()
            return [error] * len(records)
        except (DBAPIError, ValueError) as error:
            if len(records) == 1:
                log.error("storing a %s body failed: %s", records[0].kind, error)
                return [error]
            # One bad row fails the whole executemany; retry one by one so the others are stored.
            log.warning("storing %d bodies failed (%s); retrying them one by one", len(records), error)
            return [self._write([record], connect, deadline)[0] for record in records]

    @contextmanager
    def _dedicated_connection(self):
        # Fails at once on a lock held by another process; _write_in_event_loop retries.
        if self._connection is None:
            # After a 200 SMS.to does not send the report again, so the commit must reach the disk
            # before it: the engine's synchronous=NORMAL would survive a crash but not a power cut.
            self._connection = open_nonblocking(self._engine, synced_commits=True)
        yield self._connection

    def _drop_connection(self) -> None:
        discard(self._connection)
        self._connection = None


def _private_engine(engine: Engine) -> Engine:
    """Return an engine on the same database with a pool of one connection, for the writer alone.

    Requests waiting on a lock elsewhere (health views during an ALTER TABLE, say) can take every
    connection of the shared pool, and a write waiting for the pool would outlast SMS.to's 4 s.
    """
    return make_engine(engine.url, pool_size=1, max_overflow=0)


def _end_statements_by(connection, deadline: float) -> None:
    """Make PostgreSQL cancel this transaction's statements once `deadline` passes.

    Otherwise a lock held by another session delays the batch, and every response waiting for
    it, past the 4 s that SMS.to waits. The cancelled statement raises, so the batch gets a 503.
    """
    remaining_ms = int((deadline - time.monotonic()) * 1000)
    if remaining_ms < 1:
        raise StorageUnavailable("The batch reached its deadline before it could be written.")
    limit_statement_time(connection, remaining_ms)


def _locked_for(records: list[InboundRecord], waited: float) -> list[Exception]:
    error = StorageUnavailable(f"The database stayed locked for {waited:.1f} s.")
    log.error("storing %d report bodies failed: %s", len(records), error)
    return [error] * len(records)


def _settle(batch: list, errors: list[Exception | None]) -> None:
    for (_, future, _), error in zip(batch, errors, strict=True):
        if future.done():
            continue  # the request timed out or its client disconnected
        if error is None:
            future.set_result(None)
        elif isinstance(error, StorageUnavailable):
            future.set_exception(error)
        else:
            future.set_exception(StorageUnavailable(f"The body was not stored: {error}"))
