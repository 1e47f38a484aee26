"""Data for bench_reports.py: campaigns written straight into the tables, report bodies for them,
the one-million-report ledger run and the matching-cost sample."""

import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, insert, select, text

from core.models import Campaign, Recipient
from core.money import from_units
from core.reports import counters
from core.reports.ingest import InboundRecord, write_inbound_batch
from core.reports.matcher import drain_pending
from core.statuses import is_billable

FORM = "application/x-www-form-urlencoded"
PART_PRICE = Decimal("0.015")
FINAL_WEIGHTS = {"DELIVERED": 80, "FAILED": 5, "UNDELIVERED": 4, "EXPIRED": 4, "REJECTED": 5,
                 "UNSUBSCRIBED": 2}


@dataclass
class BenchRecipient:
    id: int
    phone: str
    tracking_id: str  # the bulk campaign id, or the message id of a single send
    message_id: str | None


@dataclass
class BenchCampaign:
    id: int
    recipients: list[BenchRecipient]

    def bodies(self, *, reports_per_recipient: int, seed: int = 1) -> list[bytes]:
        """SENT then DELIVERED (and so on) per recipient, shuffled."""
        statuses = ["SENT", "DELIVERED", "DELIVERED"][:reports_per_recipient]
        bodies = [report_body(r, status, 1) for r in self.recipients for status in statuses]
        random.Random(seed).shuffle(bodies)
        return bodies


def report_body(recipient: BenchRecipient, status: str, parts: int) -> bytes:
    message_id = recipient.message_id or f"m{recipient.id}"
    price = PART_PRICE * parts
    return (
        f"trackingId={recipient.tracking_id}&messageId={message_id}&phone=%2B{recipient.phone[1:]}"
        f"&status={status}&parts={parts}&price={price}"
    ).encode()


def insert_campaign(engine, *, recipients: int, prefix: str, single_share: float, phone_base: int) -> BenchCampaign:
    """Write a campaign of `recipients`, sent in bulk chunks of 1000 plus a share of single sends."""
    single_every = round(1 / single_share) if single_share else 0
    with engine.begin() as connection:
        campaign_id = connection.execute(insert(Campaign.__table__).values(
            name=prefix, message="Hello", launch_key=f"bench-{prefix}-{time.monotonic_ns()}",
            status="sending", status_reason="", default_country="", personalised=False,
            recipient_count=recipients, created_at=datetime.now(UTC),
        )).inserted_primary_key[0]
        rows = []
        for number in range(recipients):
            single = single_every and number % single_every == 0
            rows.append({
                "campaign_id": campaign_id, "phone": f"+{phone_base + number}", "fields_json": "{}",
                "status": "PENDING", "status_rank": 0, "price_rank": -1, "report_count": 0,
                "provider_campaign_id": None if single else f"{prefix}-{number // 1000}",
                "provider_message_id": f"{prefix}-single-{number}" if single else None,
                "sent_at": datetime.now(UTC),
            })
        connection.execute(insert(Recipient.__table__), rows)
        stored = connection.execute(
            select(Recipient.id, Recipient.phone, Recipient.provider_campaign_id, Recipient.provider_message_id)
            .where(Recipient.campaign_id == campaign_id).order_by(Recipient.id)
        ).all()
    members = [BenchRecipient(rid, phone, bulk or single, single) for rid, phone, bulk, single in stored]
    return BenchCampaign(campaign_id, members)


def store_bodies(engine, bodies: list[bytes], batch: int = 2000) -> float:
    """Store bodies as the ingest writer does, `batch` per transaction; return the seconds taken."""
    started = time.perf_counter()
    for start in range(0, len(bodies), batch):
        records = [InboundRecord("delivery", body, FORM, auth="none") for body in bodies[start : start + batch]]
        with engine.begin() as connection:
            write_inbound_batch(connection, records)
    return time.perf_counter() - started


def measure_sample(engine, label: str, recipients: int = 5_000) -> float:
    """Match a fresh 10,000-report sample (2 per recipient); return the seconds per report."""
    campaign = insert_campaign(engine, recipients=recipients, prefix=label, single_share=0.1,
                               phone_base=3577_000_0000)
    bodies = campaign.bodies(reports_per_recipient=2)
    store_bodies(engine, bodies)
    started = time.perf_counter()
    drain_pending(engine, limit=500)
    return (time.perf_counter() - started) / len(bodies)


def build_ledger(engine, *, reports: int, recipients: int, seed: int = 7) -> dict:
    """Store and match `reports` shuffled reports for one campaign and compare with the ledger."""
    campaign = insert_campaign(engine, recipients=recipients, prefix="cmp", single_share=0.1,
                               phone_base=3579_100_0000)
    bodies, expected, duplicates = _ledger_bodies(campaign, reports, random.Random(seed))

    store_seconds = store_bodies(engine, bodies)
    started = time.perf_counter()
    drain_pending(engine, limit=1000)
    match_seconds = time.perf_counter() - started

    actual_counts, actual_cost, mismatches = _read_back(engine, campaign.id, expected)
    expected_counts = Counter(status for status, _ in expected.values())
    expected_cost = sum((price for _, price in expected.values()), Decimal(0))
    with engine.connect() as connection:
        totals = counters.read_counts(connection)
    return {
        "reports": len(bodies),
        "recipients": recipients,
        "store_rate": len(bodies) / store_seconds,
        "match_rate": len(bodies) / match_seconds,
        "expected_counts": dict(expected_counts),
        "actual_counts": actual_counts,
        "expected_cost": str(expected_cost),
        "actual_cost": str(actual_cost),
        "expected_duplicates": duplicates,
        "actual_duplicates": totals.get(counters.REPORTS_DUPLICATE, 0),
        "unmatched": totals.get(counters.REPORTS_UNMATCHED, 0),
        "recipient_mismatches": mismatches,
        "equal": (dict(expected_counts) == actual_counts and expected_cost == actual_cost
                  and mismatches == 0 and duplicates == totals.get(counters.REPORTS_DUPLICATE, 0)),
    }


def _ledger_bodies(campaign: BenchCampaign, reports: int, rng: random.Random):
    statuses, weights = list(FINAL_WEIGHTS), list(FINAL_WEIGHTS.values())
    bodies: list[bytes] = []
    expected: dict[int, tuple[str, Decimal]] = {}
    for recipient in campaign.recipients:
        final = rng.choices(statuses, weights)[0]
        parts = 2 if rng.random() < 0.1 else 1
        bodies.append(report_body(recipient, final, parts))
        if rng.random() < 0.5:
            bodies.append(report_body(recipient, "SENT", parts))
        expected[recipient.id] = (final, PART_PRICE * parts if is_billable(final) else Decimal(0))

    # Exact repeats, as SMS.to's retries after a slow response produce them.
    duplicates = max(0, reports - len(bodies))
    bodies += [bodies[rng.randrange(len(bodies))] for _ in range(duplicates)]
    rng.shuffle(bodies)
    return bodies, expected, duplicates


def _read_back(engine, campaign_id: int, expected: dict) -> tuple[dict, Decimal, int]:
    with engine.connect() as connection:
        grouped = connection.execute(text(
            "SELECT status, count(*), coalesce(sum(price), 0) FROM recipient "
            "WHERE campaign_id = :c GROUP BY status"), {"c": campaign_id}).all()
        rows = connection.execute(
            select(Recipient.id, Recipient.status, Recipient.price).where(Recipient.campaign_id == campaign_id)
        ).all()
        total = connection.execute(select(func.count()).select_from(Recipient.__table__)).scalar_one()
    counts = {status: count for status, count, _ in grouped}
    cost = sum((from_units(units) for _, _, units in grouped), Decimal(0))
    mismatches = sum(1 for rid, status, price in rows if expected[rid] != (status, price))
    assert total >= len(rows)
    return counts, cost, mismatches
