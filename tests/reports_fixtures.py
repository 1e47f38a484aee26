"""Helpers for the delivery-report tests: campaigns and recipients written through the models,
reports stored the way the webhook stores them, and the matcher run to the end."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlmodel import select

from core.db import session_scope
from core.models import Campaign, DeliveryReport, InboundReport, Recipient
from core.reports.ingest import InboundRecord, StorageUnavailable, write_inbound_batch
from core.reports.matcher import drain_pending


@dataclass
class CampaignRows:
    id: int
    recipient_ids: dict[str, int]  # phone -> Recipient.id


def make_campaign(
    engine,
    *,
    phones: list[str],
    provider_campaign_id: str | None = None,
    message_ids: dict[str, str] | None = None,
    status: str = "PENDING",
    name: str = "test campaign",
) -> CampaignRows:
    """Write a campaign with one recipient per phone, as the dispatcher leaves them after sending."""
    message_ids = message_ids or {}
    with session_scope(engine) as session:
        campaign = Campaign(name=name, message="Hello", launch_key=f"{name}-{len(phones)}-{id(phones)}")
        session.add(campaign)
        session.flush()
        recipients = [
            Recipient(
                campaign_id=campaign.id,
                phone=phone,
                status=status,
                provider_campaign_id=provider_campaign_id,
                provider_message_id=message_ids.get(phone),
            )
            for phone in phones
        ]
        session.add_all(recipients)
        session.flush()
        return CampaignRows(campaign.id, {r.phone: r.id for r in recipients})


def store_bodies(engine, bodies: list[tuple[str, bytes]]) -> None:
    """Store (content type, body) pairs as accepted delivery-report bodies, in order."""
    records = [InboundRecord("delivery", body, content_type, auth="none") for content_type, body in bodies]
    with engine.begin() as connection:
        write_inbound_batch(connection, records)


def store_and_match(engine, bodies: list[tuple[str, bytes]]) -> int:
    store_bodies(engine, bodies)
    return drain_pending(engine)


def json_body(report: dict) -> tuple[str, bytes]:
    return "application/json", json.dumps(report).encode()


def form_body(report: dict) -> tuple[str, bytes]:
    fields = {key: value for key, value in report.items() if value is not None}
    return "application/x-www-form-urlencoded", urlencode(fields).encode()


def recipient_by_phone(engine, campaign_id: int) -> dict[str, Recipient]:
    with session_scope(engine) as session:
        rows = session.exec(select(Recipient).where(Recipient.campaign_id == campaign_id)).all()
        return {row.phone: row for row in rows}


def all_reports(engine) -> list[DeliveryReport]:
    with session_scope(engine) as session:
        return list(session.exec(select(DeliveryReport).order_by(DeliveryReport.id)).all())


def all_inbound(engine) -> list[InboundReport]:
    with session_scope(engine) as session:
        return list(session.exec(select(InboundReport).order_by(InboundReport.id)).all())


def _hold_lock(engine, statement: str, started: threading.Event, release: threading.Event, seconds: float) -> None:
    with engine.connect() as holder:
        holder.begin()
        holder.exec_driver_sql(statement)
        started.set()
        release.wait(seconds)
        holder.rollback()


@contextmanager
def table_locked(engine, statement: str, *, seconds: float = 20.0) -> Iterator[threading.Thread]:
    """Run `statement` (a LOCK TABLE) in another session and keep the lock for `seconds` at most.

    The lock is released when the block ends, or earlier when `seconds` pass; joining the yielded
    thread waits for that release.
    """
    started, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(engine, statement, started, release, seconds))
    holder.start()
    started.wait()
    try:
        yield holder
    finally:
        release.set()
        holder.join()


async def timed_submit(writer, body: bytes) -> tuple[str, float]:
    """Submit a delivery body to `writer`; return "stored" or "unavailable" and the seconds it took."""
    began = time.monotonic()
    try:
        await writer.submit(InboundRecord("delivery", body))
        outcome = "stored"
    except StorageUnavailable:
        outcome = "unavailable"
    return outcome, time.monotonic() - began
