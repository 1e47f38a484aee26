"""`smsto-console launch` and `status` as an operator runs them, on a real SQLite file."""

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import update
from sqlmodel import Session, func, select

from core.campaign_cli import _require_accepted_rows
from core.db import make_engine
from core.errors import InputError
from core.importing import import_file
from core.models import Campaign, Recipient, RecipientList
from tests.processes import ROOT


@pytest.fixture
def cli_env(tmp_path):
    return {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "DEFAULT_COUNTRY": "CY"}


def _run(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def _list_count(env) -> int:
    with Session(make_engine(env["DATABASE_URL"])) as session:
        return session.exec(select(func.count()).select_from(RecipientList)).one()


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("phone,name\n+35799000001,Anna\n+35799000002,\n", encoding="utf-8")
    return path


def test_launch_missing_value_refused_without_list(cli_env, csv_file):
    result = _run(cli_env, "launch", str(csv_file), "--message", "Hi {name}", "--json")

    assert result.returncode == 2
    assert "--skip-missing" in result.stderr
    assert "Traceback" not in result.stderr
    assert _list_count(cli_env) == 0


def test_launch_skip_missing_queues_the_rest(cli_env, csv_file):
    result = _run(cli_env, "launch", str(csv_file), "--message", "Hi {name}", "--skip-missing", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["recipients"] == 1
    assert json.loads(result.stdout)["skipped"] == 1
    assert json.loads(result.stdout)["rejected"] == 0


def test_launch_text_counts_skipped_rows(cli_env, csv_file):
    result = _run(cli_env, "launch", str(csv_file), "--message", "Hi {name}", "--skip-missing")

    assert result.returncode == 0, result.stderr
    assert "1 recipients, 0 rows rejected, 1 rows skipped for a missing placeholder value." in result.stdout


def test_status_unknown_id_names_database(cli_env):
    result = _run(cli_env, "status", "99")

    assert result.returncode == 2
    assert "No campaign with id 99 in sqlite:///" in result.stderr
    assert "cli.db" in result.stderr


def test_launch_prints_no_log_lines(cli_env, csv_file):
    result = _run(cli_env, "launch", str(csv_file), "--message", "Hello", "--json")

    assert result.stderr == ""


def test_status_lists_every_status(cli_env, csv_file):
    launched = json.loads(_run(cli_env, "launch", str(csv_file), "--message", "Hello", "--json").stdout)

    status = json.loads(_run(cli_env, "status", str(launched["campaign_id"]), "--json").stdout)

    assert status["by_status"]["PENDING"] == 2
    assert status["cost"] == "0"
    assert status["currency"] == "EUR"
    assert status["status"] == "queued"
    assert set(status) == {
        "campaign_id", "status", "recipients", "by_status", "cost", "currency",
        "awaiting_final_report", "unmatched_reports",
    }


def test_status_text_names_currency(cli_env, csv_file):
    launched = json.loads(_run(cli_env, "launch", str(csv_file), "--message", "Hello", "--json").stdout)

    first_line = _run(cli_env, "status", str(launched["campaign_id"])).stdout.splitlines()[0]

    assert first_line.endswith("recipients, cost 0 EUR")


def test_status_completed_names_awaiting_reports(cli_env, csv_file):
    launched = json.loads(_run(cli_env, "launch", str(csv_file), "--message", "Hello", "--json").stdout)
    engine = make_engine(cli_env["DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(update(Campaign).values(status="completed"))
        connection.execute(update(Recipient).where(Recipient.phone == "+35799000001").values(status="SENT"))
        connection.execute(update(Recipient).where(Recipient.phone == "+35799000002").values(status="DELIVERED"))

    text = _run(cli_env, "status", str(launched["campaign_id"])).stdout
    status = json.loads(_run(cli_env, "status", str(launched["campaign_id"]), "--json").stdout)

    assert text.startswith(f"Campaign {launched['campaign_id']} (handed over to SMS.to, 1 awaiting a final report)")
    assert status["status"] == "completed"
    assert status["awaiting_final_report"] == 1


def test_status_unknown_campaign_is_one_sentence(cli_env):
    result = _run(cli_env, "status", "999", "--json")

    assert result.returncode == 2
    assert result.stderr.startswith("error: No campaign with id 999")


# (case id, file, opted-out numbers, text the error must contain, text it must not contain)
NO_SENDABLE_ROWS = [
    (
        "all_suppressed",
        b"phone\n+35799000001\n+35799000002\n",
        {"+35799000001", "+35799000002"},
        "all 2 numbers are suppressed (opted out). Opted-out numbers are never sent",
        "--phone-column",
    ),
    (
        "only_number_suppressed",
        b"phone\n+35799000001\n",
        {"+35799000001"},
        "its only number is suppressed (opted out)",
        "--phone-column",
    ),
    (
        "all_invalid",
        b"phone,name\nabc,Anna\n12,Bob\n",
        set(),
        "all 2 numbers are invalid. Check --phone-column ('phone' was read) and --country (default CY)",
        "opted out",
    ),
    (
        "mixed",
        b"phone\n+35799000001\n12\n+35799000001\n",
        {"+35799000001"},
        "of its 3 numbers, 2 are suppressed (opted out), 1 is invalid",
        "all 3",
    ),
]


@pytest.mark.parametrize(
    "data, suppressed, expected, unexpected",
    [case[1:] for case in NO_SENDABLE_ROWS],
    ids=[case[0] for case in NO_SENDABLE_ROWS],
)
def test_require_accepted_rows_names_verdicts(data, suppressed, expected, unexpected):
    result = import_file(data, filename="people.csv", default_country="CY", suppressed=suppressed)

    with pytest.raises(InputError) as raised:
        _require_accepted_rows(result, "CY")

    assert expected in str(raised.value)
    assert unexpected not in str(raised.value)
