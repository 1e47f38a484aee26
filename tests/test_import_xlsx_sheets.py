"""Choosing the sheet of a workbook: the first with a phone column, or the one the caller names."""

import io
import json

import pytest
from openpyxl import Workbook

from core.cli import main
from core.errors import InputError
from core.importing import import_file


def workbook_bytes(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def imported(data: bytes, **options):
    return import_file(data, filename="list.xlsx", default_country="CY", **options)


INSTRUCTIONS = [["Fill in the phone numbers on the next sheet"], ["Use the format +357..."]]
RECIPIENTS = [["phone", "name"], ["+35799000101", "Anna"], ["99000102", "Bob"]]
OTHERS = [["mobile"], ["+35799000201"]]


@pytest.mark.parametrize(
    "sheets",
    [
        {"Instructions": INSTRUCTIONS, "Recipients": RECIPIENTS},
        {"Template": [["phone", "name"]], "Recipients": RECIPIENTS},
        {"Names": [["name", "city"], ["Anna", "Paphos"]], "Recipients": RECIPIENTS},
        {"Empty": [], "Instructions": INSTRUCTIONS, "Recipients": RECIPIENTS, "Others": OTHERS},
    ],
    ids=["instructions", "header_only", "no_numbers", "several"],
)
def test_sheets_first_with_phone_column_read(sheets):
    result = imported(workbook_bytes(sheets))

    assert result.sheet == "Recipients"
    assert result.rows["e164"].tolist() == ["+35799000101", "+35799000102"]
    assert len(result.warnings) == 1
    assert "'Recipients'" in result.warnings[0]


def test_sheets_first_sheet_read_without_warning():
    result = imported(workbook_bytes({"Recipients": RECIPIENTS, "Others": OTHERS}))

    assert result.sheet == "Recipients"
    assert result.warnings == []


@pytest.mark.parametrize("requested", ["Others", "others", " OTHERS "])
def test_sheets_requested_sheet_read(requested):
    data = workbook_bytes({"Recipients": RECIPIENTS, "Others": OTHERS})

    result = imported(data, sheet=requested)

    assert result.sheet == "Others"
    assert result.rows["e164"].tolist() == ["+35799000201"]


def test_sheets_requested_phone_column_picks_sheet():
    data = workbook_bytes(
        {"Recipients": RECIPIENTS, "Others": [["name", "backup"], ["Z", "99000301"]]}
    )

    result = imported(data, phone_column="backup")

    assert result.sheet == "Others"
    assert result.rows["e164"].tolist() == ["+35799000301"]


def test_sheets_unknown_sheet_lists_sheets():
    data = workbook_bytes({"Recipients": RECIPIENTS, "Others": OTHERS})

    with pytest.raises(InputError, match="its sheets are: Recipients, Others"):
        imported(data, sheet="Missing")


def test_sheets_requested_empty_sheet_raises():
    data = workbook_bytes({"Recipients": RECIPIENTS, "Empty": []})

    with pytest.raises(InputError, match="'Empty' of 'list.xlsx' has no filled cells"):
        imported(data, sheet="Empty")


def test_sheets_none_with_phone_column_raises():
    data = workbook_bytes({"Instructions": INSTRUCTIONS, "Names": [["name"], ["Anna"]]})

    with pytest.raises(InputError, match="No sheet of 'list.xlsx'.*Instructions, Names"):
        imported(data)


def test_sheets_csv_with_sheet_raises():
    with pytest.raises(InputError, match="has no sheets"):
        import_file(b"phone\n+35799000101\n", filename="list.csv", default_country="CY", sheet="A")


def test_sheets_cli_option_and_json(tmp_path, capsys):
    path = tmp_path / "book.xlsx"
    path.write_bytes(workbook_bytes({"Recipients": RECIPIENTS, "Others": OTHERS}))

    code = main(
        ["import", str(path), "--country", "CY", "--no-store", "--json", "--sheet", "Others"]
    )
    payload = json.loads(capsys.readouterr().out)

    assert code == 0
    assert payload["sheet"] == "Others"
    assert payload["accepted"] == [{"line": 2, "e164": "+35799000201"}]
