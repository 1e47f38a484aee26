# ruff: noqa: F401, F811  (pytest fixtures are imported and then requested by name)
"""A double click, a rerun and a reconnect with one launch key: one campaign, one send each.

The case (tests/data/st_double_launch.json): the operator clicks Launch, clicks it again a
second later while the first run is still busy, then the browser reconnects, which reruns the
script. The send request itself takes several seconds at SMS.to.
"""

import threading
import time
from collections import Counter

from sqlalchemy import func, select

from core.campaigns import LaunchRequest, RecipientInput, launch_campaign
from core.models import Campaign
from tests.conftest import load_case
from tests.dispatch_support import (
    ledger_counts,
    make_dispatcher,
    make_settings,
    quiet_sandbox_process,
    sandbox,
)

CASE = load_case("st_double_launch.json")
EXPECTED = load_case("st_double_launch.expected.json")


def _click(engine, results: list, barrier: threading.Barrier | None = None) -> None:
    setup = CASE["setup"]
    request = LaunchRequest(
        launch_key="form-token-1",  # stored with the form, so every click of it carries the same key
        message=setup["message"],
        recipients=[RecipientInput(phone=phone, region="CY") for phone in setup["recipients"]],
    )
    if barrier is not None:
        barrier.wait()
    results.append(launch_campaign(engine, request))


def test_double_launch_sends_once(engine, sandbox):
    sandbox.configure(
        faults={"slow_rate": 1.0, "slow_seconds": float(CASE["setup"]["send_call_takes_s"])}
    )
    results: list = []

    # Two clicks at once, from two script runs.
    barrier = threading.Barrier(2)
    clicks = [threading.Thread(target=_click, args=(engine, results, barrier)) for _ in range(2)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()

    # Two dispatchers pick the campaign up; while the slow send is in flight, the browser reconnects.
    dispatchers = [make_dispatcher(engine, make_settings(sandbox)) for _ in range(2)]
    running = [
        threading.Thread(target=dispatcher.run_once, kwargs={"timeout": 30})
        for dispatcher in dispatchers
    ]
    for thread in running:
        thread.start()
    time.sleep(1.0)
    _click(engine, results)
    for thread in running:
        thread.join()

    with engine.connect() as connection:
        campaigns = connection.execute(select(func.count()).select_from(Campaign)).scalar_one()
    ledger = ledger_counts(sandbox)
    assert campaigns == EXPECTED["campaigns_created"]
    assert len({result.campaign.id for result in results}) == 1
    assert [result.created for result in results].count(True) == 1
    assert results[-1].created is False  # the reconnect shows the existing campaign
    assert sandbox.stats()["requests"] == EXPECTED["send_requests_to_provider"]
    assert set(ledger.values()) == {EXPECTED["messages_per_recipient"]}
    assert ledger == Counter(CASE["setup"]["recipients"])
