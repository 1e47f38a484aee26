"""The delivery-report pipeline on a real PostgreSQL server: writer, matcher, rematch, opt-outs."""

import asyncio
from decimal import Decimal

import pytest

from core.db import session_scope
from core.reports import counters
from core.reports.health import callback_health
from core.reports.ingest import InboundRecord, IngestWriter, SuppressionEntry
from core.reports.matcher import Matcher
from core.reports.matching import rematch_for_provider_ids
from core.reports.optout import suppressed_numbers
from tests.conftest import load_case
from tests.reports_fixtures import (
    all_inbound,
    all_reports,
    json_body,
    make_campaign,
    recipient_by_phone,
    store_and_match,
    table_locked,
    timed_submit,
)

pytestmark = pytest.mark.postgres

OUT_OF_ORDER = load_case("dlr_out_of_order.json")


def test_postgres_out_of_order_and_duplicates(pg_engine):
    campaign = make_campaign(pg_engine, phones=OUT_OF_ORDER["setup"]["recipients"],
                             provider_campaign_id="cmp-test-0018", status="QUEUED")
    events = [json_body(event["body"]) for event in OUT_OF_ORDER["events"]]
    store_and_match(pg_engine, events + events[:2])

    rows = recipient_by_phone(pg_engine, campaign.id)
    assert {phone: row.status for phone, row in rows.items()} == {
        "+35799000181": "DELIVERED", "+35799000182": "UNDELIVERED", "+35799000183": "DELIVERED"}
    assert sum(row.price for row in rows.values()) == Decimal("0.045")
    assert sum(report.duplicate for report in all_reports(pg_engine)) == 2


def test_postgres_rematch_and_counters(pg_engine):
    store_and_match(pg_engine, [json_body({"trackingId": "m-1", "messageId": "m-1", "status": "SENT"})])
    campaign = make_campaign(pg_engine, phones=["+35799000001"], message_ids={"+35799000001": "m-1"})

    with session_scope(pg_engine) as session:
        matched = rematch_for_provider_ids(session, ids=["m-1"])
    with session_scope(pg_engine) as session:
        health = callback_health(session)

    assert matched == 1
    assert recipient_by_phone(pg_engine, campaign.id)["+35799000001"].status == "SENT"
    assert (health.matched, health.unmatched) == (1, 0)


async def run_writer_and_matcher(engine) -> list:
    writer = IngestWriter(engine)
    matcher = Matcher(engine, idle_seconds=0.05)
    await writer.start()
    await matcher.start()
    try:
        entry = SuppressionEntry("+35799000009", "smsto-optout", "opted out")
        records = [InboundRecord("delivery", f'{{"trackingId":"C1","phone":"+3579900000{n}","status":"DELIVERED"}}'
                                 .encode(), "application/json") for n in range(1, 4)]
        records.append(InboundRecord("optout", b"unsubscribed_number=%2B35799000009", suppression=entry))
        results = await asyncio.gather(*(writer.submit(record) for record in records))
        for _ in range(100):
            with engine.connect() as connection:
                if counters.read_counts(connection).get(counters.REPORTS_MATCHED) == 3:
                    break
            await asyncio.sleep(0.05)
        return results
    finally:
        await writer.stop()
        await matcher.stop()


def test_postgres_writer_and_matcher_threads(pg_engine):
    campaign = make_campaign(pg_engine, phones=[f"+3579900000{n}" for n in range(1, 4)], provider_campaign_id="C1")

    results = asyncio.run(run_writer_and_matcher(pg_engine))

    assert results == [None] * 4
    assert len(all_inbound(pg_engine)) == 4
    assert {row.status for row in recipient_by_phone(pg_engine, campaign.id).values()} == {"DELIVERED"}
    with session_scope(pg_engine) as session:
        assert suppressed_numbers(session, ["+35799000009", "+35799000001"]) == {"+35799000009"}


async def submit_while_table_locked(engine, *, hold_seconds: float, timeout_seconds: float) -> tuple:
    writer = IngestWriter(engine, timeout_seconds=timeout_seconds)
    await writer.start()

    # This lock blocks inserts into InboundReport.
    with table_locked(engine, "LOCK TABLE inboundreport IN EXCLUSIVE MODE", seconds=hold_seconds) as holder:
        outcome, elapsed = await timed_submit(writer, b"messageId=locked&status=SENT")
        holder.join()

    await writer.submit(InboundRecord("delivery", b"messageId=after&status=SENT"))
    await writer.stop()
    return outcome, elapsed


def test_postgres_writer_ends_by_deadline(pg_engine):
    # The batch has left the queue, so only the statement timeout ends it before SMS.to gives up.
    outcome, elapsed = asyncio.run(submit_while_table_locked(pg_engine, hold_seconds=3, timeout_seconds=0.5))

    assert outcome == "unavailable"
    assert elapsed < 1.5
    assert [row.body for row in all_inbound(pg_engine)] == [b"messageId=after&status=SENT"]
