"""Encodings that spreadsheets and hand edits produce: UTF-8 files with some Windows-1252 lines,
and UTF-16 without a byte-order mark whatever the names' characters."""

import pytest

from core.errors import InputError
from core.importing import import_file


def imported(data: bytes):
    return import_file(data, filename="list.csv", default_country="CY")


UTF8_LINE = "+35799000101,Müller,Köln\r\n".encode()
CP1252_LINE = "+35799000102,Müller,Zürich\r\n".encode("cp1252")
ASCII_LINE = b"+35799000103,Anna,Paphos\r\n"


@pytest.mark.parametrize(
    "lines, bad_lines",
    [
        ([UTF8_LINE, CP1252_LINE, ASCII_LINE], [3]),
        ([CP1252_LINE, UTF8_LINE, ASCII_LINE], [2]),
        ([CP1252_LINE, ASCII_LINE, UTF8_LINE], [2]),
        ([UTF8_LINE, CP1252_LINE, CP1252_LINE.replace(b"02", b"03")], [3, 4]),
    ],
    ids=["cp1252_second", "cp1252_first", "utf8_last", "two_cp1252_lines"],
)
def test_encodings_mixed_lines_decoded_each(lines, bad_lines):
    result = imported(b"phone,name,city\r\n" + b"".join(lines))

    assert result.encoding == "utf-8+cp1252"
    assert set(result.rows["name"]) - {"Anna"} == {"Müller"}
    assert len(result.warnings) == 1
    assert all(str(line) in result.warnings[0] for line in bad_lines)


def test_encodings_mixed_line_numbers_with_bare_cr_and_lf():
    data = b"phone,name\r+35799000101,Anna\n" + UTF8_LINE + b"\r\n" + CP1252_LINE

    result = imported(data)

    assert result.rows["line"].tolist() == [2, 3, 5]
    assert "line 5 is not valid UTF-8" in result.warnings[0]


def test_encodings_mixed_many_lines_warning_is_short():
    rows = [UTF8_LINE] + [f"+357990002{index:02d},Zoë\n".encode("cp1252") for index in range(40)]

    result = imported(b"phone,name,city\n" + b"".join(rows))

    assert "40 lines (3, 4, 5, 6, 7 and 35 more)" in result.warnings[0]
    assert set(result.rows["name"]) == {"Müller", "Zoë"}


@pytest.mark.parametrize(
    "data, encoding",
    [
        ("phone,name\n+35799000101,Müller\n".encode(), "utf-8"),
        ("phone,name\n+35799000101,Müller\n".encode("cp1252"), "cp1252"),
        (b"phone,name\n+35799000101,M\x81ller\n", "latin-1"),
    ],
    ids=["utf8", "cp1252", "latin1"],
)
def test_encodings_single_encoding_has_no_warning(data, encoding):
    result = imported(data)

    assert result.encoding == encoding
    assert result.warnings == []


UTF16_NAMES = ["一郎", "Ādam", "山田\u3000太郎", "Ελένη", "Müller", "一" * 40, "Ā" * 40]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("name", UTF16_NAMES, ids=range(len(UTF16_NAMES)))
def test_encodings_utf16_without_bom(codec, name):
    text = f"phone;name\r\n+35799000101;{name}\r\n99000102;{name}\r\n"

    result = imported(text.encode(codec))

    assert result.encoding == codec
    assert result.rows["e164"].tolist() == ["+35799000101", "+35799000102"]
    assert result.rows["name"].tolist() == [name, name]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_encodings_utf16_without_bom_odd_length_rejected(codec):
    data = "phone\n+35799000101\n".encode(codec) + b"\x41"

    with pytest.raises(InputError, match=codec):
        imported(data)


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 64,
        b"\x00\x01\x02\x03" * 4096,
        bytes([0, 0, 0, 0, 7, 0, 9, 0]) * 2048,
    ],
    ids=["every_byte", "counter", "words"],
)
def test_encodings_binary_with_nuls_rejected(data):
    with pytest.raises(InputError, match="binary"):
        imported(data)
