"""Helpers for the dashboard tests: a fresh database per test and campaigns seeded through core."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.campaigns import LaunchRequest, RecipientInput, launch_campaign
from core.db import init_db, make_engine
from core.models import Campaign, DeliveryReport, InboundReport, Recipient
from core.settings import get_settings

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def fresh_dashboard_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Point the dashboard at a fresh SQLite file, as DATABASE_URL would, and yield its engine.

    Test modules wrap it in their own `dashboard_engine` fixture.
    """
    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("SMSTO_API_KEY", raising=False)
    get_settings.cache_clear()
    engine = make_engine(url)
    init_db(engine)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def seed_campaign(
    engine: Engine,
    *,
    name: str = "Spring sale",
    phones: list[str] | None = None,
    key: str | None = None,
    status: str = "queued",
) -> int:
    """Launch a campaign through core and return its id; recipients cost 0.035 EUR each."""
    phones = phones or [f"+3579900{index:04d}" for index in range(1, 6)]
    recipients = [
        RecipientInput(
            phone=phone, region="CY", line=index + 2, fields={"name": f"Person {index}"},
            estimated_parts=1, estimated_cost=Decimal("0.035"),
        )
        for index, phone in enumerate(phones)
    ]  # fmt: skip
    request = LaunchRequest(
        launch_key=key or f"seed-{name}", message="Hello {name}", recipients=recipients, name=name
    )
    campaign_id = launch_campaign(engine, request).campaign.id
    with engine.begin() as connection:
        connection.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=status))
    return campaign_id


def set_report(
    engine: Engine, *, phone: str, status: str, price: str | None = None, delay_s: int = 20
) -> None:
    """Record a recipient as accepted at START and reported `delay_s` seconds later."""
    values = {
        "status": status,
        "sent_at": START,
        "status_at": START + timedelta(seconds=delay_s),
        "last_report_at": START + timedelta(seconds=delay_s),
        "report_count": 1,
        "price": Decimal(price) if price is not None else None,
    }
    with engine.begin() as connection:
        connection.execute(update(Recipient).where(Recipient.phone == phone).values(**values))


def mark_sent(engine: Engine, *, phone: str) -> None:
    with engine.begin() as connection:
        connection.execute(update(Recipient).where(Recipient.phone == phone).values(sent_at=START))


def add_unmatched_report(
    engine: Engine, *, reason: str, campaign_id: int | None = None, phone: str = "+35799000777"
) -> None:
    """Store one delivery report that matched no recipient, as the matcher leaves it."""
    with Session(engine) as session:
        inbound = InboundReport(body=b"{}", received_at=START)
        session.add(inbound)
        session.flush()
        report = DeliveryReport(
            inbound_id=inbound.id, received_at=START, tracking_id="t-1", phone=phone,
            status="DELIVERED", matched=False, unmatched_reason=reason, campaign_id=campaign_id,
        )  # fmt: skip
        session.add(report)
        session.commit()
