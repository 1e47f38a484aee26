"""Rows of very different widths: bounded columns and padding, with a sentence past the limits."""

import io

import pytest
from openpyxl import Workbook

from core.errors import InputError
from core.importing import import_file
from core.importing.grid import MAX_COLUMNS, MAX_PADDING_CELLS


def imported(data: bytes, filename: str = "list.csv"):
    return import_file(data, filename=filename, default_country="CY")


def test_wide_trailing_commas_dropped():
    text = "phone,name\n+35799000101,Anna\n+35799000102,Bob" + "," * 16_383 + "\n"

    result = imported(text.encode())

    assert result.columns == ["phone", "name"]
    assert result.rows["name"].tolist() == ["Anna", "Bob"]


def test_wide_every_row_of_empty_columns():
    rows = ["phone,name" + "," * 1_200] + [
        f"+3579900010{index},N{index}" + "," * 1_200 for index in range(3)
    ]

    result = imported("\n".join(rows).encode())

    assert result.columns == ["phone", "name"]
    assert result.rows["e164"].tolist() == ["+35799000100", "+35799000101", "+35799000102"]


def test_wide_far_value_keeps_its_column():
    far = "," * 5_000 + "late"
    text = f"+35799000101,Anna{far}\n+35799000102,Bob\n"

    result = imported(text.encode())

    assert result.columns == ["column_1", "column_2", "column_3"]
    assert result.rows["column_3"].tolist() == ["late", ""]


def test_wide_narrow_file_keeps_empty_columns():
    result = imported(b"phone,,name\n+35799000101,,Anna\n+35799000102\n")

    assert result.columns == ["phone", "column_2", "name"]
    assert result.rows["name"].tolist() == ["Anna", ""]


def test_wide_too_many_used_columns_rejected():
    header = ",".join(["phone"] + [f"field {index}" for index in range(MAX_COLUMNS + 1)])
    text = header + "\n+35799000101,Anna\n+35799000102\n"

    with pytest.raises(InputError) as raised:
        imported(text.encode())

    assert f"{MAX_COLUMNS + 2:,} columns with values" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_wide_padding_limit_rejected():
    rows = MAX_PADDING_CELLS // (MAX_COLUMNS - 1) + 10
    text = "".join(f"+357990{index:05d}\n" for index in range(rows))
    text += "+35799999999" + ",x" * (MAX_COLUMNS - 1) + "\n"

    with pytest.raises(InputError) as raised:
        imported(text.encode())

    assert f"line {rows + 1} has {MAX_COLUMNS:,} cells" in str(raised.value)
    assert "empty cells" in str(raised.value)


def test_wide_xlsx_stray_last_column_cell():
    book = Workbook()
    sheet = book.active
    sheet.append(["phone", "name"])
    sheet.append(["+35799000101", "Anna"])
    sheet.cell(row=3, column=16_384, value="stray")
    sheet.append(["+35799000102", "Bob"])
    buffer = io.BytesIO()
    book.save(buffer)

    result = imported(buffer.getvalue(), filename="list.xlsx")

    assert result.columns == ["phone", "name", "column_3"]
    assert result.rows["column_3"].tolist() == ["", "stray", ""]
    assert result.rows["line"].tolist() == [2, 3, 4]
