"""Helpers for the dispatcher tests: settings aimed at a sandbox, launches, and table reads."""

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.campaigns import LaunchRequest, RecipientInput, launch_campaign
from core.dispatch import Dispatcher, reconcile
from core.dispatch.ratelimit import SharedRateLimiter
from core.dispatch.sender import RetryPolicy
from core.models import Campaign, Chunk, Recipient
from core.settings import Settings
from core.smsto import SmsToClient
from tests.sandbox_server import SandboxServer, run_sandbox


@pytest.fixture(scope="module")
def quiet_sandbox_process() -> Iterator[SandboxServer]:
    """One sandbox per test module, with delivery reports off (nothing listens for them)."""
    with run_sandbox(seed=1, no_reports=True) as server:
        yield server


@pytest.fixture
def sandbox(quiet_sandbox_process: SandboxServer) -> SandboxServer:
    """The module's quiet sandbox, reset to an empty ledger and no faults."""
    quiet_sandbox_process.reset()
    return quiet_sandbox_process


# Back-off short enough for tests, still exponential with jitter.
QUICK_RETRY = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, rate_limited_hold_seconds=0.05)


def phones(count: int, *, start: int = 0) -> list[str]:
    """Return `count` distinct fake Cyprus mobile numbers in E.164."""
    return [f"+35799{index:06d}" for index in range(start, start + count)]


def make_settings(sandbox, **overrides) -> Settings:
    values = {
        "database_url": "sqlite://",
        "smsto_api_key": sandbox.api_key,
        "smsto_api_url": sandbox.base_url,
        "smsto_auth_url": sandbox.base_url,
        "smsto_callback_base_url": "http://127.0.0.1:9",
        "smsto_sender_id": "Console",
        "chunk_size": 10,
        "rate_limit_per_second": 150,
    }
    return Settings(_env_file=None, **(values | overrides))


def client_factory(settings: Settings, *, timeout: float = 10.0):
    def make():
        return SmsToClient(
            api_key=settings.api_key,
            api_url=settings.smsto_api_url,
            auth_url=settings.smsto_auth_url,
            timeout=timeout,
        )

    return make


def make_dispatcher(engine, settings: Settings, *, timeout: float = 10.0, **options) -> Dispatcher:
    options = {"retry": QUICK_RETRY, "poll_interval": 0.05, "concurrency": 2} | options
    return Dispatcher(engine, settings, client_factory(settings, timeout=timeout), **options)


def reconcile_with_lookups(engine, sandbox, *, limit: int = 150) -> list[int]:
    """Run one pass of lookups for due uncertain chunks, as a dispatcher's maintenance does."""
    client = client_factory(make_settings(sandbox))()
    limiter = SharedRateLimiter(engine, limit=limit)
    try:
        return reconcile.reconcile_from_lookups(engine, client=client, limiter=limiter)
    finally:
        client.close()


def launch(
    engine,
    numbers: list[str],
    *,
    message: str = "Hello",
    key: str = "launch-1",
    fields=None,
    **extra,
) -> int:
    """Launch a campaign on `numbers` and return its id; `fields[i]` are number i's placeholders."""
    fields = fields or [{} for _ in numbers]
    recipients = [
        RecipientInput(phone=phone, region="CY", fields=row) for phone, row in zip(numbers, fields)
    ]
    request = LaunchRequest(launch_key=key, message=message, recipients=recipients, **extra)
    return launch_campaign(engine, request).campaign.id


def campaign(engine, campaign_id: int):
    with engine.connect() as connection:
        return connection.execute(
            select(Campaign.__table__).where(Campaign.id == campaign_id)
        ).one()


def chunks(engine, campaign_id: int) -> list:
    query = select(Chunk.__table__).where(Chunk.campaign_id == campaign_id).order_by(Chunk.seq)
    with engine.connect() as connection:
        return connection.execute(query).all()


def chunk_states(engine, campaign_id: int) -> Counter:
    return Counter(chunk.state for chunk in chunks(engine, campaign_id))


def recipients(engine, campaign_id: int) -> list:
    query = (
        select(Recipient.__table__)
        .where(Recipient.campaign_id == campaign_id)
        .order_by(Recipient.id)
    )
    with engine.connect() as connection:
        return connection.execute(query).all()


def recipient_statuses(engine, campaign_id: int) -> Counter:
    return Counter(recipient.status for recipient in recipients(engine, campaign_id))


def ledger_counts(sandbox) -> Counter:
    """Count the sandbox's accepted messages per phone number."""
    return Counter(entry["phone"] for entry in sandbox.ledger())


def dispatch_process(
    database_url: str, sandbox, workdir: Path, *, once: bool, **settings
) -> subprocess.Popen:
    """Start `python -m core.cli dispatch` with settings in its environment, in `workdir`.

    The working folder has no `.env`, so only the variables given here configure it.
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SMSTO_API_KEY": sandbox.api_key,
        "SMSTO_API_URL": sandbox.base_url,
        "SMSTO_AUTH_URL": sandbox.base_url,
        "SMSTO_CALLBACK_BASE_URL": "http://127.0.0.1:9",
        **{name.upper(): str(value) for name, value in settings.items()},
    }
    command = [sys.executable, "-m", "core.cli", "dispatch"] + (["--once"] if once else [])
    log_path = workdir / f"dispatch-{len(list(workdir.glob('dispatch-*.log')))}.log"
    # The child keeps its own handle on the log, so this one can close at once.
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
