"""Reading uploads: every encoding, delimiter and header layout a spreadsheet writes, quoted
line breaks and blank lines with the file's own line numbers, and files that cannot be read."""

import codecs
import csv
import io
import zipfile

import pytest

from core.errors import InputError
from core.importing import import_file

WESTERN_ROWS = [
    ("+357 99 000101", "Müller, Anna", "Paphos"),
    ("0035799000102", "José | Pérez", "Nicosia; old town"),
    ("99 000 103", "Zoë\tFrançois", "Limassol"),
]
GREEK_ROWS = [("+35799000111", "Ελένη", "Λευκωσία"), ("99000112", "Γιώργος", "Λεμεσός")]
E164 = {
    "+357 99 000101": "+35799000101",
    "0035799000102": "+35799000102",
    "99 000 103": "+35799000103",
    "+35799000111": "+35799000111",
    "99000112": "+35799000112",
}

ENCODINGS = {
    # label reported by the import -> how to turn text into bytes
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8-sig": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    "utf-16-le": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "cp1252": lambda text: text.encode("cp1252"),
}
DELIMITERS = [",", ";", "\t", "|"]


def csv_text(rows, *, delimiter=",", header=("phone", "name", "city"), line_end="\r\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def imported(data: bytes, filename="list.csv", **options):
    return import_file(
        data, filename=filename, default_country=options.pop("default_country", "CY"), **options
    )


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("delimiter", DELIMITERS)
@pytest.mark.parametrize("header", [True, False])
def test_reading_encoding_delimiter_header(encoding, delimiter, header):
    rows = WESTERN_ROWS if encoding == "cp1252" else WESTERN_ROWS + GREEK_ROWS
    text = csv_text(rows, delimiter=delimiter, header=("phone", "name", "city") if header else None)

    result = imported(ENCODINGS[encoding](text))

    assert result.encoding == encoding
    assert result.delimiter == delimiter
    assert result.has_header is header
    assert result.rows["line"].tolist() == list(
        range(2 if header else 1, len(rows) + (2 if header else 1))
    )
    assert result.rows["e164"].tolist() == [E164[row[0]] for row in rows]
    name_column = "name" if header else "column_2"
    assert result.rows[name_column].tolist() == [row[1] for row in rows]


def test_reading_cp1252_undefined_byte_falls_back_to_latin1():
    data = "phone,name\n+35799000101,Anna\n".encode("ascii") + b"+35799000102,Bad \x81 byte\n"

    result = imported(data)

    assert result.encoding == "latin-1"
    assert result.rows["name"].tolist() == ["Anna", "Bad \x81 byte"]


@pytest.mark.parametrize("codec, label", [("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")])
def test_reading_utf16_without_bom(codec, label):
    data = csv_text(GREEK_ROWS, delimiter="\t").encode(codec)

    result = imported(data)

    assert result.encoding == label
    assert result.rows["city"].tolist() == ["Λευκωσία", "Λεμεσός"]


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_reading_quoted_line_breaks_keep_physical_lines(line_end):
    text = (
        line_end.join(
            [
                "phone,name,note",
                '+35799000101,"Anna, A.","first line',
                "second line",
                'third line"',
                "+35799000102,Bob,plain",
                '"+35799000103","Chris ""C"" Doe","a, b' + line_end + 'c"',
                "+35799000104,Dora,last",
            ]
        )
        + line_end
    )

    result = imported(text.encode())

    assert result.rows["line"].tolist() == [2, 5, 6, 8]
    assert result.rows["note"].tolist()[0] == f"first line{line_end}second line{line_end}third line"
    assert result.rows["name"].tolist() == ["Anna, A.", "Bob", 'Chris "C" Doe', "Dora"]


def test_reading_quoted_line_break_text_kept():
    text = 'phone,note\n+35799000101,"one\ntwo"\n'

    result = imported(text.encode())

    assert result.rows["note"].tolist() == ["one\ntwo"]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_reading_blank_lines_skipped_but_counted(line_end):
    text = line_end.join(
        ["phone,name", "", "+35799000101,Anna", "   ", "\t", "+35799000102,Bob", " , ", "", ""]
    )

    result = imported(text.encode())

    assert result.rows["line"].tolist() == [3, 6]
    assert len(result.rows) == 2


def test_reading_blank_lines_single_column():
    text = "phone\n\n+35799000101\n  \n+35799000102\n"

    result = imported(text.encode())

    assert result.rows["line"].tolist() == [3, 5]


def test_reading_padded_cells_are_stripped():
    text = "  phone  ;  name  \n   +35799000101   ;   Anna Maria   \n"

    result = imported(text.encode())

    assert result.columns == ["phone", "name"]
    assert result.rows["name"].tolist() == ["Anna Maria"]
    assert result.rows["e164"].tolist() == ["+35799000101"]


def test_reading_ragged_rows_padded_and_extra_cells_named():
    text = "phone,name\n+35799000101\n+35799000102,Bob,extra\n"

    result = imported(text.encode())

    assert result.columns == ["phone", "name", "column_3"]
    assert result.rows["name"].tolist() == ["", "Bob"]
    assert result.rows["column_3"].tolist() == ["", "extra"]
    assert result.rows["line"].tolist() == [2, 3]


@pytest.mark.parametrize(
    "first_line, has_header",
    [
        ("phone,name", True),
        ("Contact,Client", True),  # no phone-like value: a header even without a known name
        ("Τηλέφωνο,Όνομα", True),
        ("+35799000100,Zero", False),
        ("99 000 100,Zero", False),
        ("3.5799E+10,Zero", False),  # a destroyed number is still data
        ("'+35799000100,Zero", False),
        ("+35799000100,mobile", False),  # a valid number is data beside a phone header name
        ("99000100,Contact", False),
        ("Zero,SMS,0035799000100", False),
        ("mobile,12345678", True),  # a phone header name beside an invalid number
    ],
)
def test_reading_header_detection(first_line, has_header):
    text = first_line + "\n+35799000101,Anna\n+35799000102,Bob\n"

    result = imported(text.encode())

    assert result.has_header is has_header
    assert len(result.rows) == (2 if has_header else 3)


def test_reading_without_header_numbers_lines_from_one():
    result = imported(b"+35799000101,Anna\n+35799000102,Bob\n")

    assert result.columns == ["column_1", "column_2"]
    assert result.phone_column == "column_1"
    assert result.rows["line"].tolist() == [1, 2]


def test_reading_duplicate_and_empty_header_names():
    result = imported(b"phone,name,,name\n+35799000101,A,B,C\n")

    assert result.columns == ["phone", "name", "column_3", "name_2"]


def test_reading_tab_in_comma_file():
    result = imported(b"phone,comment\n+357\t99\t000086,tab inside\n+35799000087,plain\n")

    assert result.delimiter == ","
    assert result.rows["e164"].tolist() == ["+35799000086", "+35799000087"]


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_reading_excel_sep_line(delimiter):
    text = f"sep={delimiter}\r\nphone{delimiter}name\r\n+35799000101{delimiter}Anna\r\n"

    result = imported(text.encode())

    assert result.delimiter == delimiter
    assert result.columns == ["phone", "name"]
    assert result.rows["line"].tolist() == [3]


def test_reading_single_column_without_delimiter():
    result = imported(b"phone\n+35799000101\n99000102\n")

    assert result.columns == ["phone"]
    assert result.rows["e164"].tolist() == ["+35799000101", "+35799000102"]


def test_reading_utf8_sig_strips_bom_from_header():
    result = imported(codecs.BOM_UTF8 + b"phone,name\n+35799000101,A\n")

    assert result.columns[0] == "phone"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


UNREADABLE = [
    ("empty", b"", "list.csv", "empty"),
    ("whitespace", b" \r\n\t\n", "list.csv", "empty"),
    ("binary", bytes(range(256)) * 4, "list.csv", "binary"),
    ("old excel", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "list.xls", ".xls"),
    (
        "ods archive",
        _zip(
            {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}
        ),
        "list.ods",
        "ZIP",
    ),
    ("damaged zip", b"PK\x03\x04" + b"\x00" * 40, "list.xlsx", "damaged"),
    ("text named xlsx", b"phone\n+35799000101\n", "list.xlsx", "not one"),
    (
        "broken utf-16",
        codecs.BOM_UTF16_LE + "phone\n".encode("utf-16-le") + b"\x00\xd8\x41",
        "list.csv",
        "utf-16-le",
    ),
    (
        "unclosed quote",
        b'phone,name\n+35799000101,"Anna\n+35799000102,Bob\n',
        "list.csv",
        "never closed",
    ),
    ("no phone column", b"name,city\nAnna,Paphos\nBob,Nicosia\n", "list.csv", "phone"),
]


@pytest.mark.parametrize(
    "data, filename, fragment",
    [case[1:] for case in UNREADABLE],
    ids=[case[0] for case in UNREADABLE],
)
def test_reading_unreadable_file_raises_one_sentence(data, filename, fragment):
    with pytest.raises(InputError) as raised:
        imported(data, filename=filename)

    message = str(raised.value)
    assert fragment in message
    assert filename in message
    assert "\n" not in message
    assert message.endswith(".")


def test_reading_unknown_country_raises():
    with pytest.raises(InputError, match="XX"):
        imported(b"phone\n+35799000101\n", default_country="XX")


LONG_NOTE = "x" * 200_000


@pytest.mark.parametrize(
    "text",
    [
        f"phone,notes\n+35799000101,{LONG_NOTE}\n+35799000102,B\n",
        f'phone,notes\n+35799000101,"{LONG_NOTE}\nsecond line"\n+35799000102,B\n',
        f'phone;notes\n+35799000101;"{LONG_NOTE}"\n+35799000102;B\n',
    ],
    ids=["plain", "quoted_line_break", "semicolon"],
)
def test_reading_cell_beyond_csv_field_limit(text):
    result = imported(text.encode())

    assert result.rows["e164"].tolist() == ["+35799000101", "+35799000102"]
    assert len(result.rows["notes"].iloc[0]) >= len(LONG_NOTE)
