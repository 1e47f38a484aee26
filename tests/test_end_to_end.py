"""The whole job through real processes: import a CSV, launch, send, receive every report.

Sandbox provider and companion server (with its dispatcher) run as real processes on loopback. A
201-recipient campaign with a chunk size of 200 is sent as one bulk request (campaign_id) and one
single send (message_id), so both matching paths are exercised. The final state is compared with
the sandbox's ledger, recipient by recipient, and the cost to the exact decimal.
"""

import json
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest

from tests.processes import ROOT, companion_server, free_port, spawned

pytestmark = pytest.mark.slow

RECIPIENTS = 201


def _write_csv(path) -> list[str]:
    phones = [f"+357990{index:05d}" for index in range(1, RECIPIENTS + 1)]
    lines = ["phone,name"] + [f"{phone},Person {index}" for index, phone in enumerate(phones)]
    lines.append("not a number,Broken")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return phones


def _cli(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _wait_for_reports(
    sandbox_url: str, env: dict[str, str], campaign_id: int, timeout: float = 90.0
) -> tuple[list, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ledger = httpx.get(f"{sandbox_url}/_sandbox/messages", timeout=10).json()
        status = _cli(env, "status", str(campaign_id), "--json")
        final_in_ledger = all(entry["status"] != "SENT" for entry in ledger)
        if (
            len(ledger) == RECIPIENTS
            and final_in_ledger
            and status["by_status"].get("PENDING", 0) == 0
            and status["by_status"].get("SENT", 0) == 0
        ):
            return ledger, status
        time.sleep(0.5)
    raise TimeoutError(f"reports still missing after {timeout} s: {status}")


@pytest.fixture
def product(tmp_path, request):
    sandbox_port = free_port()
    server_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "SMSTO_API_KEY": "sandbox",
        "SMSTO_API_URL": sandbox_url,
        "SMSTO_AUTH_URL": sandbox_url,
        "SMSTO_CALLBACK_BASE_URL": f"http://127.0.0.1:{server_port}",
        "CHUNK_SIZE": "200",
        "DEFAULT_COUNTRY": "CY",
    }
    # With a secret, the sandbox does not sign: the token in the callback URL must carry the proof.
    secret = getattr(request, "param", None)
    if secret:
        env["WEBHOOK_SECRET"] = secret
    sandbox_command = [
        sys.executable,
        "-m",
        "core.cli",
        "sandbox",
        "--port",
        str(sandbox_port),
        "--seed",
        "7",
    ]
    sandbox_log = tmp_path / "sandbox.log"
    with (
        spawned(sandbox_command, {}, f"{sandbox_url}/_sandbox/stats", sandbox_log),
        companion_server(env, port=server_port, log_path=tmp_path / "server.log"),
    ):
        yield sandbox_url, {**_base_env(), **env}


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_end_to_end_campaign_matches_ledger(product, tmp_path):
    sandbox_url, env = product
    phones = _write_csv(tmp_path / "list.csv")

    launched = _cli(
        env,
        "launch",
        str(tmp_path / "list.csv"),
        "--message",
        "Hello {name}, your order is ready.",
        "--country",
        "CY",
        "--json",
    )
    ledger, status = _wait_for_reports(sandbox_url, env, launched["campaign_id"])

    assert launched["recipients"] == RECIPIENTS
    assert launched["rejected"] == 1
    assert sorted(entry["phone"] for entry in ledger) == sorted(phones)
    assert (
        len({entry["tracking_id"] for entry in ledger}) == 2
    )  # one bulk campaign, one single send

    expected_by_status: dict[str, int] = {}
    for entry in ledger:
        expected_by_status[entry["status"]] = expected_by_status.get(entry["status"], 0) + 1
    observed = {key: value for key, value in status["by_status"].items() if value}
    assert observed == expected_by_status

    assert Decimal(status["cost"]) == sum((Decimal(entry["price"]) for entry in ledger), Decimal(0))
    assert status["unmatched_reports"] == 0


@pytest.mark.parametrize("product", [None, "e2e-secret-token"], indirect=True, ids=["open", "token"])
def test_end_to_end_each_recipient_matches_ledger(product, tmp_path):
    sandbox_url, env = product
    _write_csv(tmp_path / "list.csv")

    launched = _cli(
        env, "launch", str(tmp_path / "list.csv"), "--message", "Same text for all", "--json"
    )
    ledger, _ = _wait_for_reports(sandbox_url, env, launched["campaign_id"])
    ours = _recipients_in_database(env["DATABASE_URL"], launched["campaign_id"])

    theirs = {
        entry["phone"]: (entry["status"], Decimal(entry["price"]), entry["parts"])
        for entry in ledger
    }
    assert ours == theirs


def _recipients_in_database(url: str, campaign_id: int) -> dict:
    from sqlmodel import Session, select

    from core.db import make_engine
    from core.models import Recipient

    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.exec(select(Recipient).where(Recipient.campaign_id == campaign_id)).all()
    engine.dispose()
    return {row.phone: (row.status, row.price or Decimal(0), row.parts) for row in rows}
