"""`smsto-console import`: JSON and readable output, storing, and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.db import make_engine, session_scope
from core.importing import count_list_rows, list_recipient_lists
from core.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["import", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_import_json_shape(database, capsys):
    code, out, _ = run(
        capsys, str(DATA / "csv_duplicates_formats.csv"), "--country", "CY", "--json"
    )

    payload = json.loads(out)
    assert code == 0
    assert payload["rows"] == 6
    assert payload["accepted"] == [
        {"line": 2, "e164": "+35799000051"},
        {"line": 7, "e164": "+35799000052"},
    ]
    assert payload["rejected"] == []
    assert payload["duplicates"] == [{"line": line, "duplicate_of": 2} for line in (3, 4, 5, 6)]
    assert isinstance(payload["list_id"], int)


def test_cli_import_json_rejected(database, capsys):
    code, out, _ = run(
        capsys, str(DATA / "csv_excel_sci_notation.csv"), "--country", "CY", "--json", "--no-store"
    )

    payload = json.loads(out)
    assert code == 0
    assert payload["rejected"] == [
        {"line": 2, "raw": "3.5799E+10", "reason": "scientific_notation_digits_lost"},
        {"line": 3, "raw": "3.57990E+10", "reason": "scientific_notation_digits_lost"},
    ]
    assert payload["list_id"] is None


def test_cli_import_stores_list(database, capsys):
    code, out, _ = run(
        capsys, str(DATA / "csv_semicolon_delimiter.csv"), "--country", "cy", "--name", "Spring"
    )

    engine = make_engine(database)
    with session_scope(engine) as session:
        lists = list_recipient_lists(session)
        counts = count_list_rows(session, list_id=lists[0].id)
    assert code == 0
    assert f"Stored as list {lists[0].id}." in out
    assert lists[0].name == "Spring"
    assert counts["ok"] == 2


def test_cli_import_no_store_writes_nothing(database, capsys):
    code, out, _ = run(capsys, str(DATA / "csv_utf8_bom_header.csv"), "--no-store")

    assert code == 0
    assert "Not stored" in out
    assert not Path(database.removeprefix("sqlite:///")).exists()


def test_cli_import_readable_summary(database, capsys):
    code, out, _ = run(capsys, str(DATA / "csv_excel_sci_notation.csv"), "--no-store")

    assert code == 0
    assert (
        "Read csv_excel_sci_notation.csv (utf-8, comma-separated, with a header row); phone column 'phone'."
        in out
    )
    assert "3 rows: 1 ok, 2 invalid." in out
    assert "line 2: '3.5799E+10': The cell contains 3.5799E+10" in out


def test_cli_import_phone_column_override(database, tmp_path, capsys):
    path = tmp_path / "two.csv"
    path.write_text("phone,backup\n+35799000101,+35799000201\n", encoding="utf-8")

    code, out, _ = run(capsys, str(path), "--phone-column", "backup", "--json", "--no-store")

    assert code == 0
    assert json.loads(out)["accepted"] == [{"line": 2, "e164": "+35799000201"}]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "is empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, ".xls"),
        (bytes(range(256)), "binary"),
    ],
)
def test_cli_import_unreadable_exits_2(database, tmp_path, capsys, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)

    code, out, err = run(capsys, str(path), "--no-store")

    assert code == 2
    assert out == ""
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


def test_cli_import_missing_file_exits_2(database, tmp_path, capsys):
    code, _, err = run(capsys, str(tmp_path / "absent.csv"))

    assert code == 2
    assert "absent.csv" in err


def test_cli_import_as_a_process(tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "PYTHONPATH": str(ROOT)}

    completed = subprocess.run(
        [sys.executable, "-m", "core.cli", "import", str(bad)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    assert completed.returncode == 2
    # Log lines may come first; the error is the last line.
    assert (
        completed.stderr.strip()
        .splitlines()[-1]
        .startswith("error: 'bad.xlsx' is named like an Excel workbook")
    )
