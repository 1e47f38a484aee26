"""Damaged and hostile .xlsx workbooks: every read failure is one InputError sentence."""

import io
import zipfile

import pytest
from openpyxl import Workbook

from core.errors import InputError
from core.importing import import_file


def _workbook() -> bytes:
    book = Workbook()
    book.active.append(["phone", "name"])
    book.active.append(["+35799000101", "Anna"])
    book.active.append(["+35799000102", "Bob"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _patched(member: str, change) -> bytes:
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_workbook())) as source,
        zipfile.ZipFile(output, "w") as target,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == member:
                data = change(data)
            target.writestr(item, data)
    return output.getvalue()


_ROW = b'<sheetData><row r="9"><c r="A9" t="inlineStr"><is><t>%s</t></is></c></row>'
_LAUGHS = '<!ENTITY a0 "aaaaaaaaaa">' + "".join(
    f'<!ENTITY a{level} "' + f"&a{level - 1};" * 10 + '">' for level in range(1, 10)
)
SHEET = "xl/worksheets/sheet1.xml"
DAMAGED = [
    ("sheet_truncated", SHEET, lambda data: data[: len(data) // 2]),
    ("sheet_emptied", SHEET, lambda data: b""),
    ("sheet_not_xml", SHEET, lambda data: b"\x00\x01 not xml"),
    ("invalid_reference", SHEET, lambda data: data.replace(b"<sheetData>", _ROW % b"&#xD800;")),
    ("undefined_entity", SHEET, lambda data: data.replace(b"<sheetData>", _ROW % b"&nope;")),
    (
        "entity_expansion",
        SHEET,
        lambda data: (
            f'<?xml version="1.0"?><!DOCTYPE x [{_LAUGHS}]>'.encode()
            + data.replace(b"<sheetData>", _ROW % b"&a9;")
        ),
    ),
    ("bad_row_number", SHEET, lambda data: data.replace(b'r="2"', b'r="two"', 1)),
    ("workbook_truncated", "xl/workbook.xml", lambda data: data[: len(data) // 2]),
    ("styles_truncated", "xl/styles.xml", lambda data: data[: len(data) // 2]),
]


@pytest.mark.parametrize(
    "member, change", [case[1:] for case in DAMAGED], ids=[case[0] for case in DAMAGED]
)
def test_xlsx_damaged_raises_one_sentence(member, change):
    with pytest.raises(InputError) as raised:
        import_file(_patched(member, change), filename="list.xlsx", default_country="CY")

    message = str(raised.value)
    assert "'list.xlsx'" in message
    assert "\n" not in message
    assert message.endswith("upload that.")


def test_xlsx_undamaged_copy_reads():
    result = import_file(
        _patched(SHEET, lambda data: data), filename="list.xlsx", default_country="CY"
    )

    assert result.rows["e164"].tolist() == ["+35799000101", "+35799000102"]


def _unknown_zip_version() -> bytes:
    data = bytearray(_workbook())
    directory = data.index(b"PK\x01\x02")
    data[directory + 6 : directory + 8] = (166).to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [_unknown_zip_version(), b"PK\x03\x04" + b"\xff" * 100 + b"PK\x05\x06" + b"\xff" * 18],
    ids=["unknown_zip_version", "directory_past_end"],
)
def test_xlsx_damaged_zip_raises_one_sentence(data):
    with pytest.raises(InputError, match="'list.xlsx' is a damaged ZIP"):
        import_file(data, filename="list.xlsx", default_country="CY")
