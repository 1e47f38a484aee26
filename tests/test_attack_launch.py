"""Hostile launches through `smsto-console launch` and `dispatch`, as real processes on SQLite."""

import csv
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, func, select

from core.db import init_db, make_engine
from core.models import Campaign, Recipient, RecipientList, Suppression
from tests.processes import ROOT
from tests.sandbox_server import run_sandbox


@pytest.fixture
def cli_env(tmp_path):
    url = f"sqlite:///{tmp_path / 'attack-launch.db'}"
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    return {**os.environ, "DATABASE_URL": url, "DEFAULT_COUNTRY": "CY"}


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def count_rows(env: dict[str, str], table) -> int:
    engine = make_engine(env["DATABASE_URL"])
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(table)).one()
    engine.dispose()
    return count


def write_csv(path, rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return str(path)


@pytest.fixture
def people(tmp_path) -> str:
    return write_csv(
        tmp_path / "people.csv",
        [
            ["phone", "name", "region"],
            ["+35799000001", "Anna", "Nicosia"],
            ["+35799000002", "Bob", "Paphos"],
        ],
    )


# Defects.


def test_cli_launch_repeated_key_stores_one_list(cli_env, people):
    first = run_cli(cli_env, "launch", people, "--message", "Hi {name}", "--launch-key", "K1")
    second = run_cli(cli_env, "launch", people, "--message", "Hi {name}", "--launch-key", "K1")

    assert (first.returncode, second.returncode) == (0, 0)
    assert count_rows(cli_env, Campaign) == 1
    assert count_rows(cli_env, RecipientList) == 1


@pytest.mark.parametrize("phone", ["+870301234567", "+881612345678", "+8823421234"])
def test_cli_launch_accepted_satellite_number(cli_env, tmp_path, phone):
    path = write_csv(tmp_path / "satellite.csv", [["phone", "name"], [phone, "Ship"]])

    imported = run_cli(cli_env, "import", path, "--no-store", "--json")
    launched = run_cli(cli_env, "launch", path, "--message", "Hi {name}", "--json")
    accepted = [row["e164"] for row in json.loads(imported.stdout)["accepted"]]

    # Either outcome is consistent: the import rejects the number, or the launch sends to it.
    assert accepted == [] or launched.returncode == 0


def test_cli_launch_all_suppressed_says_so(cli_env, people):
    engine = make_engine(cli_env["DATABASE_URL"])
    with Session(engine) as session:
        for phone in ("+35799000001", "+35799000002"):
            session.add(Suppression(phone=phone, source="test", reason="opted out in a test"))
        session.commit()
    engine.dispose()

    result = run_cli(cli_env, "launch", people, "--message", "Hi {name}", "--json")

    assert result.returncode == 2
    assert "--phone-column" not in result.stderr
    assert "opted out" in result.stderr or "suppressed" in result.stderr


def test_cli_status_huge_campaign_id(cli_env):
    result = run_cli(cli_env, "status", "9" * 30, "--json")

    assert result.returncode == 2
    assert result.stderr.startswith("error: ")


# Launches the product handles.


def test_cli_launch_concurrent_same_key_one_campaign(cli_env, people):
    command = ["launch", people, "--message", "Hi {name}", "--launch-key", "RACE", "--json"]

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: run_cli(cli_env, *command), range(3)))
    campaign_ids = {json.loads(result.stdout)["campaign_id"] for result in results}

    assert [result.returncode for result in results] == [0, 0, 0]
    assert len(campaign_ids) == 1
    assert count_rows(cli_env, Campaign) == 1
    assert count_rows(cli_env, Recipient) == 2


@pytest.mark.parametrize(
    "message",
    ["Hi from {region}", "Your number is {e164}", "Row {line}", "{verdict}"],
    ids=["file_column_renamed", "e164", "line", "verdict"],
)
def test_cli_launch_builtin_placeholder_refused(cli_env, people, message):
    # The preview could fill these from the import's own columns, but the dispatcher renders
    # from the file's fields only, so a launch would end with every recipient NOT_SENT.
    result = run_cli(cli_env, "launch", people, "--message", message, "--json")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert count_rows(cli_env, Campaign) == 0


@pytest.mark.parametrize(
    "options",
    [
        ["--message", "Hi {name}", "--sender-id", "WayTooLongSender"],
        ["--message", "Hi {name}", "--sender-id", "Καφέ"],
        ["--message", "Use code { for {name}"],
        ["--message", "   "],
    ],
    ids=["sender_too_long", "sender_not_latin", "lone_brace", "blank_message"],
)
def test_cli_launch_refused_writes_nothing(cli_env, people, options):
    result = run_cli(cli_env, "launch", people, *options, "--json")

    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert count_rows(cli_env, Campaign) == 0
    assert count_rows(cli_env, RecipientList) == 0


# Names that put extension, astral, combining and line-break characters on part boundaries.
HOSTILE_NAMES = [
    "a" * 140 + "€",
    "a" * 146 + "{}",
    "😀" * 34,
    "Ελένη\r\nX",
    "x\r",
    "e\u0301" * 3,
    "שלום עולם",
    "[~]" * 30,
    "a\\" * 51,
    "€" * 76,
]
HOSTILE_TEMPLATES = ["{name}", "Code {{A1}} {name}", "€" * 10 + "{name}\r\n", "{ name }{name}"]


def test_launch_estimated_parts_match_sandbox(cli_env, tmp_path):
    rows = [["phone", "name"]]
    rows += [[f"+3579900{index:04d}", name] for index, name in enumerate(HOSTILE_NAMES)]
    path = write_csv(tmp_path / "hostile.csv", rows)
    for template in HOSTILE_TEMPLATES:
        launched = run_cli(cli_env, "launch", path, "--message", template, "--json")
        assert launched.returncode == 0, launched.stderr

    with run_sandbox(seed=1, no_reports=True) as sandbox:
        env = {
            **cli_env,
            "SMSTO_API_KEY": sandbox.api_key,
            "SMSTO_API_URL": sandbox.base_url,
            "SMSTO_AUTH_URL": sandbox.base_url,
            "SMSTO_CALLBACK_BASE_URL": "http://127.0.0.1:9",
        }
        dispatched = run_cli(env, "dispatch", "--once")
        ledger = sandbox.ledger()

    sent_parts = {(entry["tracking_id"], entry["phone"]): entry["parts"] for entry in ledger}
    engine = make_engine(cli_env["DATABASE_URL"])
    with Session(engine) as session:
        recipients = session.exec(select(Recipient)).all()
        estimates = {
            (recipient.provider_campaign_id or recipient.provider_message_id, recipient.phone): (
                recipient.estimated_parts
            )
            for recipient in recipients
        }
    engine.dispose()

    assert dispatched.returncode == 0, dispatched.stderr
    assert len(ledger) == len(HOSTILE_NAMES) * len(HOSTILE_TEMPLATES)
    assert estimates == sent_parts
