"""The durable write path: group commit, stored fields, opt-outs, overload and a locked database."""

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from core.db import session_scope
from core.reports import counters
from core.reports.ingest import (
    InboundRecord,
    IngestOverloaded,
    IngestWriter,
    StorageUnavailable,
    SuppressionEntry,
    write_inbound_batch,
)
from core.reports.optout import is_suppressed
from tests.reports_fixtures import all_inbound, timed_submit


def test_write_batch_round_trip(engine):
    moment = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=3)))
    record = InboundRecord("delivery", b"messageId=m&status=SENT", "text/plain", auth="token",
                           received_at=moment)
    with engine.begin() as connection:
        write_inbound_batch(connection, [record])

    [stored] = all_inbound(engine)
    assert stored.received_at == moment
    assert (stored.kind, stored.content_type, stored.auth) == ("delivery", "text/plain", "token")
    assert stored.body == b"messageId=m&status=SENT"
    assert stored.processed is False


@pytest.mark.parametrize(("record", "processed", "counter"), [
    (InboundRecord("delivery", b"x", auth="none"), False, counters.BODIES_ACCEPTED),
    (InboundRecord("delivery", b"x", auth="rejected", auth_error="missing_signature"), True,
     counters.BODIES_REJECTED_AUTH),
    (InboundRecord("delivery", b"x", auth="none", parse_error="invalid_body: x"), True,
     counters.BODIES_REJECTED_BODY),
    (InboundRecord("optout", b"x", auth="none"), True, counters.OPTOUTS_ACCEPTED),
])
def test_write_batch_marks_and_counts(engine, record, processed, counter):
    with engine.begin() as connection:
        write_inbound_batch(connection, [record])
        totals = counters.read_counts(connection)

    assert all_inbound(engine)[0].processed is processed
    assert totals == {counter: 1}


def test_write_batch_optout_in_same_transaction(engine):
    entry = SuppressionEntry("+35799000001", "smsto-optout", "opted out")
    with pytest.raises(RuntimeError), engine.begin() as connection:
        write_inbound_batch(connection, [InboundRecord("optout", b"x", suppression=entry)])
        raise RuntimeError("roll back")

    with session_scope(engine) as session:
        assert is_suppressed(session, "+35799000001") is False
    assert all_inbound(engine) == []


async def submit_many(writer: IngestWriter, count: int) -> list:
    await writer.start()
    try:
        records = [InboundRecord("delivery", f"messageId=m{n}&status=SENT".encode()) for n in range(count)]
        return await asyncio.gather(*(writer.submit(r) for r in records), return_exceptions=True)
    finally:
        await writer.stop()


def test_writer_group_commit(engine):
    commits = []
    event.listen(engine, "commit", lambda connection: commits.append(1))

    results = asyncio.run(submit_many(IngestWriter(engine), 300))

    assert results == [None] * 300
    assert len(all_inbound(engine)) == 300
    assert len(commits) < 30


def test_writer_overloaded_rejects(engine):
    results = asyncio.run(submit_many(IngestWriter(engine, max_queue=10, linger_seconds=0.05), 50))

    assert sum(isinstance(r, IngestOverloaded) for r in results) == 40
    assert len(all_inbound(engine)) == 10


def hold_write_lock(path: str, seconds: float, started: threading.Event) -> None:
    connection = sqlite3.connect(path)
    connection.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    connection.rollback()
    connection.close()


async def submit_while_locked(engine, path: str, lock_seconds: float, **options) -> tuple:
    writer = IngestWriter(engine, **options)
    await writer.start()
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, lock_seconds, started))
    holder.start()
    started.wait()

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    outcome, elapsed = await timed_submit(writer, b"messageId=m&status=SENT")
    ticking.cancel()
    await writer.stop()
    holder.join()
    return outcome, elapsed, ticks


def test_writer_waits_for_lock_without_blocking_loop(engine, tmp_path):
    outcome, elapsed, ticks = asyncio.run(submit_while_locked(engine, str(tmp_path / "test.db"), 0.5))

    assert outcome == "stored"
    assert elapsed >= 0.4
    assert ticks >= 20  # the event loop kept running while the lock was held


def test_writer_gives_up_on_long_lock(engine, tmp_path):
    outcome, elapsed, _ = asyncio.run(submit_while_locked(
        engine, str(tmp_path / "test.db"), 1.5, busy_retry_seconds=0.3, timeout_seconds=5))

    assert outcome == "unavailable"
    assert elapsed < 1.4


def test_writer_queue_timeout(engine, tmp_path):
    # A record not stored within timeout_seconds gets StorageUnavailable before SMS.to gives up,
    # even while its batch is still retrying a locked database.
    outcome, elapsed, _ = asyncio.run(submit_while_locked(
        engine, str(tmp_path / "test.db"), 1.5, busy_retry_seconds=3, timeout_seconds=0.3))

    assert outcome == "unavailable"
    assert elapsed < 1.0


def test_writer_stopped_rejects(engine):
    async def scenario():
        writer = IngestWriter(engine)
        await writer.start()
        await writer.stop()
        await writer.submit(InboundRecord("delivery", b"x"))

    with pytest.raises(StorageUnavailable):
        asyncio.run(scenario())


def test_received_at_defaults_to_now():
    record = InboundRecord("delivery", b"x")
    assert abs(record.received_at - datetime.now(UTC)) < timedelta(seconds=5)


def test_writer_commits_synced_to_disk(engine):
    async def scenario():
        writer = IngestWriter(engine)
        await writer.start()
        await writer.submit(InboundRecord("delivery", b"messageId=m&status=SENT"))
        level = writer._connection.exec_driver_sql("PRAGMA synchronous").scalar_one()
        writer._connection.commit()
        await writer.stop()
        return level

    assert asyncio.run(scenario()) == 2  # FULL, where the engine's own connections use NORMAL


def test_writer_recovers_after_unexpected_error(engine):
    async def scenario():
        writer = IngestWriter(engine)
        await writer.start()
        await writer.submit(InboundRecord("delivery", b"messageId=first&status=SENT"))
        writer._connection.begin()  # a connection left inside a transaction breaks the next batch
        outcomes = []
        for key in ("second", "third"):
            try:
                await writer.submit(InboundRecord("delivery", f"messageId={key}&status=SENT".encode()))
                outcomes.append("stored")
            except StorageUnavailable:
                outcomes.append("unavailable")
        await writer.stop()
        return outcomes

    outcomes = asyncio.run(scenario())

    assert outcomes == ["unavailable", "stored"]
    assert [row.body for row in all_inbound(engine)] == [b"messageId=first&status=SENT", b"messageId=third&status=SENT"]


def test_failed_write_log_hides_number(engine, caplog):
    # A database error's text would carry the statement's parameters: here a phone number.
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE suppression")
    entry = SuppressionEntry("+35799000123", "smsto-optout", "opted out")

    async def scenario():
        writer = IngestWriter(engine)
        await writer.start()
        try:
            await writer.submit(InboundRecord("optout", b"unsubscribed_number=%2B35799000123", suppression=entry))
        finally:
            await writer.stop()

    with pytest.raises(StorageUnavailable) as raised:
        asyncio.run(scenario())

    assert "suppression" in caplog.text
    assert "35799000123" not in caplog.text
    assert "35799000123" not in str(raised.value)
