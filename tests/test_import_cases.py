"""The recipient-import cases of tests/data (csv_* and phone_*), each checked against its
.expected.json. Each case stands for a whole kind; the other test_import_* files cover the kind."""

import json
from pathlib import Path

import pytest

from core.importing import import_file

DATA = Path(__file__).parent / "data"
CASES = sorted(
    path.name.removesuffix(".expected.json")
    for path in DATA.glob("*.expected.json")
    if path.name.startswith(("csv_", "phone_"))
)


def _with(key: str) -> list[str]:
    return [
        case
        for case in CASES
        if key in json.loads((DATA / f"{case}.expected.json").read_text(encoding="utf-8"))
    ]


def _run(case: str):
    expected = json.loads((DATA / f"{case}.expected.json").read_text(encoding="utf-8"))
    data = (DATA / f"{case}.csv").read_bytes()
    result = import_file(
        data, filename=f"{case}.csv", default_country=expected.get("default_country", "CY")
    )
    return expected, result


def _row(result, line: int) -> dict:
    rows = result.rows[result.rows["line"] == line]
    assert len(rows) == 1, f"no single row for line {line}"
    return rows.iloc[0].to_dict()


def test_import_cases_found():
    assert {
        "csv_duplicates_formats",
        "csv_excel_sci_notation",
        "csv_semicolon_delimiter",
        "csv_utf8_bom_header",
        "phone_invisible_unicode",
    } <= set(CASES)


@pytest.mark.parametrize("case", _with("read_as"))
def test_import_case_read_as(case):
    expected, result = _run(case)
    read_as = expected["read_as"]

    assert result.encoding == read_as["encoding"]
    assert result.delimiter == read_as["delimiter"]
    assert result.has_header == read_as["header"]


@pytest.mark.parametrize("case", _with("expected_header"))
def test_import_case_header(case):
    expected, result = _run(case)

    assert result.columns == expected["expected_header"]


@pytest.mark.parametrize("case", CASES)
def test_import_case_recipients(case):
    expected, result = _run(case)
    recipients = expected.get("expected_recipients") or [
        {"line": item["kept_line"], **item}
        for item in expected.get("expected_unique_recipients", [])
    ]

    for item in recipients:
        row = _row(result, item["line"])
        assert row["verdict"] == "ok", f"line {item['line']}: {row['reason']}"
        assert row["e164"] == item["e164"]
        for column in ("raw", "name", "credit"):
            if column in item:
                assert row["raw_phone" if column == "raw" else column] == item[column]
    assert result.counts["ok"] == len(recipients)


@pytest.mark.parametrize("case", CASES)
def test_import_case_rejected(case):
    expected, result = _run(case)
    rejected = expected.get("expected_rejected", [])

    for item in rejected:
        row = _row(result, item["line"])
        assert row["verdict"] == "invalid"
        assert row["reason_code"] == item["reason"]
        assert row["raw_phone"] == item["raw"]
    assert result.counts["invalid"] == len(rejected)


@pytest.mark.parametrize("case", CASES)
def test_import_case_duplicates(case):
    expected, result = _run(case)
    duplicates = expected.get("expected_duplicates", [])

    for item in duplicates:
        row = _row(result, item["line"])
        assert row["verdict"] == "duplicate"
        assert row["duplicate_of_line"] == item["duplicate_of_line"]
    assert result.counts["duplicate"] == len(duplicates)
    if "expected_send_count" in expected:
        assert result.counts["ok"] == expected["expected_send_count"]


@pytest.mark.parametrize("case", _with("must_not_send_to"))
def test_import_case_never_sends_to(case):
    expected, result = _run(case)

    sent = set(result.accepted["e164"])
    for number in expected["must_not_send_to"]:
        assert number not in sent
