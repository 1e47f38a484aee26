"""Excel .xlsx uploads written with openpyxl: number cells, scientific notation, sheet rows."""

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from core.importing import import_file


def workbook_bytes(rows, *, formats=None, empty_first_sheet=False, start_row=1) -> bytes:
    """Write `rows` (lists of cell values) to a workbook; `formats` maps (row, column) to a number format."""
    workbook = Workbook()
    sheet = workbook.active
    if empty_first_sheet:
        sheet.title = "Notes"
        sheet = workbook.create_sheet("Recipients")
    for offset, values in enumerate(rows):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=start_row + offset, column=column, value=value)
    for (row, column), number_format in (formats or {}).items():
        sheet.cell(row=row, column=column).number_format = number_format
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def imported(data: bytes):
    return import_file(data, filename="list.xlsx", default_country="CY")


@pytest.mark.parametrize(
    "value, number_format, verdict, raw",
    [
        (35799000003, "General", "ok", "35799000003"),
        (35799000003.0, "General", "ok", "35799000003"),
        (99000004, "0", "ok", "99000004"),
        ("+357 99 000005", "@", "ok", "+357 99 000005"),
        (3.5799e10, "0.00E+00", "invalid", "3.58E+10"),
        (35799000006, "0.0000E+00", "invalid", "3.5799E+10"),
        (1.2345678901234567e18, "General", "invalid", "1.23457E+18"),
    ],
)
def test_xlsx_number_cells(value, number_format, verdict, raw):
    data = workbook_bytes([["phone", "name"], [value, "Anna"]], formats={(2, 1): number_format})

    row = imported(data).rows.iloc[0]

    assert row["verdict"] == verdict
    assert row["raw_phone"] == raw
    if verdict == "invalid":
        assert row["reason_code"] == "scientific_notation_digits_lost"


def test_xlsx_scientific_cell_never_expands_to_a_number():
    data = workbook_bytes([["phone"], [3.5799e10], [35799000003]], formats={(2, 1): "0.00E+00"})

    result = imported(data)

    assert "+35799000000" not in set(result.rows["e164"].dropna())
    assert result.rows["e164"].tolist()[1] == "+35799000003"


def test_xlsx_lines_are_sheet_rows():
    data = workbook_bytes(
        [["phone", "name"], [35799000001, "A"], [None, None], [35799000002, "B"]], start_row=3
    )

    result = imported(data)

    assert result.has_header
    assert result.rows["line"].tolist() == [4, 6]


def test_xlsx_reads_first_sheet_with_cells():
    data = workbook_bytes([["phone"], ["+35799000001"]], empty_first_sheet=True)

    result = imported(data)

    assert result.sheet == "Recipients"
    assert result.rows["e164"].tolist() == ["+35799000001"]


def test_xlsx_without_header():
    data = workbook_bytes([[35799000001, "Anna"], [35799000002, "Bob"]])

    result = imported(data)

    assert result.has_header is False
    assert result.columns == ["column_1", "column_2"]
    assert result.rows["line"].tolist() == [1, 2]


def test_xlsx_field_cells_as_displayed_text():
    data = workbook_bytes(
        [
            ["phone", "credit", "count", "joined", "vip"],
            [35799000001, 1.5, 2.0, dt.datetime(2024, 5, 1), True],
        ]
    )

    row = imported(data).rows.iloc[0]

    assert row["credit"] == "1.5"
    assert row["count"] == "2"
    assert row["joined"] == "2024-05-01"
    assert row["vip"] == "TRUE"


def test_xlsx_reports_format():
    result = imported(workbook_bytes([["phone"], ["+35799000001"]]))

    assert result.file_format == "xlsx"
    assert result.encoding == ""
    assert result.delimiter == ""
