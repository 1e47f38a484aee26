"""Attacks on the delivery-report path with two or more sessions on one real PostgreSQL database.

Each test makes sessions meet in a fixed order by holding a row or table lock from a third
session, then releasing it, so a race that depends on timing happens on every run.
"""

import asyncio
import contextlib
import json
import logging
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from core.db import session_scope
from core.reports import counters
from core.reports.ingest import IngestWriter
from core.reports.matcher import Matcher, drain_pending
from core.reports.matching import rematch_for_provider_ids
from core.settings import Settings
from tests.processes import companion_server
from tests.reports_fixtures import (
    all_reports,
    form_body,
    make_campaign,
    recipient_by_phone,
    store_and_match,
    store_bodies,
    table_locked,
    timed_submit,
)
from tests.test_webhook_crash import kill_mid_burst, restart_until_matched, stored_keys
from webhook_server import create_app

pytestmark = pytest.mark.postgres

# The lock an ALTER TABLE on recipient takes: every reader of the table waits for it.
RECIPIENT_ALTER_LOCK = "LOCK TABLE recipient IN ACCESS EXCLUSIVE MODE"


def wait_for_lock_waiters(engine, count: int, *, unless_done: threading.Thread | None = None,
                          timeout: float = 5.0) -> None:
    """Wait until `count` sessions wait for a lock, or until the thread `unless_done` has ended."""
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar_one()
            connection.rollback()
            if waiting >= count or (unless_done is not None and not unless_done.is_alive()):
                return
            time.sleep(0.02)
    raise TimeoutError(f"fewer than {count} sessions waited for a lock within {timeout} s")


def run_in_thread(target, errors: list) -> threading.Thread:
    def run():
        try:
            target()
        except Exception as error:  # noqa: BLE001  (the test asserts on the collected errors)
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def add_counts_in_transaction(engine, counts: dict[str, int]):
    def add():
        with engine.begin() as connection:
            counters.add_counts(connection, counts)

    return add


def test_counters_opposite_orders_no_deadlock(pg_engine):
    # Two ingest writers (two servers) whose batches list the same totals in opposite orders.
    first = {counters.BODIES_ACCEPTED: 1, counters.OPTOUTS_ACCEPTED: 1}
    second = {counters.OPTOUTS_ACCEPTED: 1, counters.BODIES_ACCEPTED: 1}
    with pg_engine.begin() as connection:
        counters.add_counts(connection, {counters.BODIES_ACCEPTED: 1, counters.OPTOUTS_ACCEPTED: 1})

    errors: list = []
    with pg_engine.connect() as holder:
        holder.begin()
        counters.add_counts(holder, {counters.BODIES_ACCEPTED: 1})
        threads = [run_in_thread(add_counts_in_transaction(pg_engine, first), errors)]
        wait_for_lock_waiters(pg_engine, 1)
        threads.append(run_in_thread(add_counts_in_transaction(pg_engine, second), errors))
        wait_for_lock_waiters(pg_engine, 2)
        holder.commit()
    for thread in threads:
        thread.join(10)

    with pg_engine.connect() as connection:
        totals = counters.read_counts(connection)
    assert errors == []
    assert totals[counters.BODIES_ACCEPTED] == 4
    assert totals[counters.OPTOUTS_ACCEPTED] == 3


def rematch_in_transaction(engine, provider_id: str, matched: list):
    def rematch():
        with session_scope(engine) as session:
            matched.append(rematch_for_provider_ids(session, ids=[provider_id]))

    return rematch


def test_rematch_concurrent_matches_once(pg_engine):
    # The dispatcher's rematch and a matcher's sweep (or the sweeps of two servers) on one report.
    store_and_match(pg_engine, [form_body({"messageId": "m-1", "trackingId": "m-1", "status": "DELIVERED",
                                           "price": "0.035", "parts": "1"})])
    campaign = make_campaign(pg_engine, phones=["+35799000001"], message_ids={"+35799000001": "m-1"})
    recipient_id = campaign.recipient_ids["+35799000001"]

    errors: list = []
    matched: list = []
    with pg_engine.connect() as holder:
        holder.begin()
        holder.execute(text("SELECT id FROM recipient WHERE id = :id FOR UPDATE"), {"id": recipient_id})
        threads = [run_in_thread(rematch_in_transaction(pg_engine, "m-1", matched), errors)]
        wait_for_lock_waiters(pg_engine, 1)
        # The second either waits for the recipient too, or finds the report locked and ends.
        threads.append(run_in_thread(rematch_in_transaction(pg_engine, "m-1", matched), errors))
        wait_for_lock_waiters(pg_engine, 2, unless_done=threads[1])
        holder.commit()
    for thread in threads:
        thread.join(10)

    reports = all_reports(pg_engine)
    with pg_engine.connect() as connection:
        totals = counters.read_counts(connection)
    assert errors == []
    assert sorted(matched) == [0, 1]
    assert [(report.matched, report.duplicate) for report in reports] == [(True, False)]
    assert totals[counters.REPORTS_MATCHED] == 1
    assert totals[counters.REPORTS_UNMATCHED] == 0


async def submit_while_matcher_waits(engine, *, hold_seconds: float) -> tuple[str, float]:
    write_lock = threading.Lock()
    matcher = Matcher(engine, write_lock=write_lock, idle_seconds=0.05)
    writer = IngestWriter(engine, write_lock=write_lock, timeout_seconds=3.0, on_commit=matcher.notify)

    # This lock makes the matcher wait for the recipient rows.
    with table_locked(engine, "LOCK TABLE recipient IN EXCLUSIVE MODE", seconds=hold_seconds) as holder:
        await writer.start()
        await matcher.start()
        await asyncio.to_thread(wait_for_lock_waiters, engine, 1)

        outcome, elapsed = await timed_submit(writer, b"messageId=m-2&status=SENT")
        await asyncio.to_thread(holder.join)

    await writer.stop()
    await matcher.stop()
    return outcome, elapsed


def test_matcher_lock_wait_keeps_writer_free(pg_engine):
    # An operator's lock on the recipient table must not stop reports from being stored.
    make_campaign(pg_engine, phones=["+35799000001"], message_ids={"+35799000001": "m-1"})
    store_bodies(pg_engine, [form_body({"messageId": "m-1", "trackingId": "m-1", "status": "SENT"})])

    outcome, elapsed = asyncio.run(submit_while_matcher_waits(pg_engine, hold_seconds=4))

    assert outcome == "stored"
    assert elapsed < 2.0


def get_health(base_url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"{base_url}/api/callback-health", timeout=20)


def test_webhook_free_while_health_waits(pg_engine, postgres_url):
    # Health requests waiting on a table lock (ALTER TABLE recipient, say) took every pooled
    # connection, so report writes waited for the pool far past the 4 s SMS.to waits.
    env = {"DATABASE_URL": postgres_url, "DISPATCHER_ENABLED": "false", "WEBHOOK_SECRET": ""}
    with companion_server(env) as base_url:
        with table_locked(pg_engine, RECIPIENT_ALTER_LOCK):
            readers = [threading.Thread(target=get_health, args=(base_url,)) for _ in range(20)]
            for reader in readers:
                reader.start()
            # SQLAlchemy's default pool has 15 connections (5 plus 10 overflow), and the matcher keeps one.
            wait_for_lock_waiters(pg_engine, 14)

            began = time.monotonic()
            response = httpx.post(f"{base_url}/webhooks/smsto", content=b"messageId=m-1&status=SENT",
                                  headers={"content-type": "application/x-www-form-urlencoded"}, timeout=20)
            elapsed = time.monotonic() - began

        for reader in readers:
            reader.join()

    assert response.status_code == 200
    assert elapsed < 4.0


def test_report_racing_send_record_matches(pg_engine):
    # The matcher stores a report for m-1 as unmatched while the dispatcher records m-1 and runs
    # its rematch, and each transaction misses the other's uncommitted rows.
    store_bodies(pg_engine, [form_body({"messageId": "m-1", "trackingId": "m-1", "status": "SENT"})])
    with pg_engine.begin() as connection:
        counters.add_counts(connection, {counters.REPORTS_PARSED: 0, counters.BODIES_ACCEPTED: 0})

    errors: list = []
    with pg_engine.connect() as holder:
        holder.begin()
        holder.exec_driver_sql("LOCK TABLE reportcounter IN EXCLUSIVE MODE")
        matcher = run_in_thread(lambda: drain_pending(pg_engine), errors)
        wait_for_lock_waiters(pg_engine, 1)

        campaign = make_campaign(pg_engine, phones=["+35799000001"], message_ids={"+35799000001": "m-1"})
        with session_scope(pg_engine) as session:
            rematched = rematch_for_provider_ids(session, ids=["m-1"])
        holder.commit()
    matcher.join(10)

    recipient = recipient_by_phone(pg_engine, campaign.id)["+35799000001"]
    assert errors == []
    assert rematched == 0
    assert [report.matched for report in all_reports(pg_engine)] == [True]
    assert recipient.status == "SENT"


@contextlib.contextmanager
def commits_wait_for_missing_standby(engine):
    """Make every commit wait for a synchronous standby that does not exist, as when it is down."""
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("ALTER SYSTEM SET synchronous_standby_names = 'missing_standby'")
        connection.exec_driver_sql("SELECT pg_reload_conf()")
    time.sleep(0.3)  # the reload reaches the other sessions asynchronously
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql("ALTER SYSTEM RESET synchronous_standby_names")
            connection.exec_driver_sql("SELECT pg_reload_conf()")


async def submit_while_commits_hang(engine) -> tuple[str, float]:
    writer = IngestWriter(engine, timeout_seconds=3.0)
    await writer.start()
    try:
        with commits_wait_for_missing_standby(engine):
            outcome, elapsed = await timed_submit(writer, b"messageId=m-1&status=SENT")
    finally:
        await writer.stop()
    return outcome, elapsed


def test_writer_hung_commit_gets_response(pg_engine):
    # statement_timeout does not end a commit that waits for a synchronous standby, so only a
    # wait bounded in the writer gives the request its response before SMS.to gives up.
    outcome, elapsed = asyncio.run(asyncio.wait_for(submit_while_commits_hang(pg_engine), 8))

    assert outcome == "unavailable"
    assert elapsed < 4.0


def test_webhook_503_log_is_rate_limited(pg_engine, postgres_url, caplog):
    # While the database cannot store bodies, SMS.to keeps posting: one log line per request
    # would flood the log at the rate reports arrive.
    settings = Settings(database_url=postgres_url, dispatcher_enabled=False, webhook_secret=None)
    with TestClient(create_app(settings)) as client:
        with pg_engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE inboundreport CASCADE")
        with caplog.at_level(logging.ERROR, logger="webhook_server"):
            codes = [
                client.post("/webhooks/smsto", content=f"messageId=m-{n}&status=SENT".encode(),
                            headers={"content-type": "application/x-www-form-urlencoded"}).status_code
                for n in range(20)
            ]

    lines = [record for record in caplog.records if record.name == "webhook_server"]
    assert codes == [503] * 20
    assert len(lines) <= 1


def test_matcher_batch_of_array_bodies(pg_engine):
    # Array bodies of up to 64 KiB each carry about a thousand reports, so one batch can name more
    # provider ids than PostgreSQL accepts parameters in one statement (65535). Here 17 bodies
    # name 34,000 ids, and a lookup by both id columns would bind each of them twice.
    bodies = []
    for body_number in range(17):
        reports = [{"messageId": f"m-{body_number}-{n}", "trackingId": f"t-{body_number}-{n}", "status": "SENT"}
                   for n in range(1000)]
        bodies.append(("application/json", json.dumps(reports, separators=(",", ":")).encode()))
    store_bodies(pg_engine, bodies)

    processed = drain_pending(pg_engine)

    with pg_engine.connect() as connection:
        totals = counters.read_counts(connection)
    assert processed == 17
    assert totals[counters.REPORTS_UNMATCHED] == 17_000


def test_sigkill_postgres_keeps_acknowledged(pg_engine, postgres_url):
    # A 200 from a server on PostgreSQL also means a committed row, and a restart matches the rest.
    accepted, _, port = kill_mid_burst(postgres_url, kill_after=300)

    with pg_engine.connect() as connection:
        keys, stored = stored_keys(connection)
    assert len(accepted) >= 300
    assert set(accepted) - keys == set()

    health = restart_until_matched(postgres_url, port)
    assert health["waiting_bodies"] == 0
    assert health["reports"] == stored


def test_callback_health_bounded_under_lock(pg_engine, postgres_url):
    # A monitor polling the health view during an ALTER TABLE must get a response, not a hang that
    # keeps a pooled connection for as long as the lock lasts.
    env = {"DATABASE_URL": postgres_url, "DISPATCHER_ENABLED": "false", "WEBHOOK_SECRET": ""}
    with companion_server(env) as base_url:
        with table_locked(pg_engine, RECIPIENT_ALTER_LOCK):
            began = time.monotonic()
            try:
                response = httpx.get(f"{base_url}/api/callback-health", timeout=6)
                outcome = response.status_code
            except httpx.TimeoutException:
                outcome = "timed out"
            elapsed = time.monotonic() - began
        after = httpx.get(f"{base_url}/api/callback-health", timeout=6)

    assert outcome == 503
    assert elapsed < 4.0
    assert after.status_code == 200
