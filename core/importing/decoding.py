"""Detection of an upload's file kind and text encoding, without asking the operator.

Encodings are tried in this order. A byte-order mark names UTF-8, UTF-16 LE/BE or UTF-32 LE/BE.
UTF-16 without a mark is recognised by the NUL bytes next to its digits, delimiters and line breaks. Then strict UTF-8 is tried, then
Windows-1252 (the single-byte encoding of Western European Excel), and Latin-1 for the five bytes
that cp1252 leaves undefined. Every failure raises InputError with one sentence saying why and what to do.

A file that is UTF-8 except for some lines (rows pasted in from a cp1252 file) is decoded line by
line: valid UTF-8 lines as UTF-8, the others as cp1252, and a warning lists the cp1252 lines.
Decoding the whole file as cp1252 would garble every UTF-8 name ("Müller" read as "MÃ¼ller").
"""

import io
import logging
import re
import zipfile
from typing import NamedTuple

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_SAMPLE = 64 * 1024

# ASCII characters counted in UTF-16 detection, and the minimum share of byte pairs that must be
# one of them next to a NUL. A line with a phone, a delimiter and a break is mostly made of them.
# Random bytes form such a pair about once in 3,600 pairs.
_STRUCTURE = np.zeros(256, dtype=bool)
_STRUCTURE[list(b"0123456789+,;\t| \r\n")] = True
_MIN_STRUCTURE_SHARE = 0.1

# Control characters other than TAB, LF, FF and CR; a text file has almost none.
_CONTROL = {chr(code) for code in range(32)} - {"\t", "\n", "\x0c", "\r"}
_MAX_CONTROL_SHARE = 0.01


def file_kind(data: bytes, filename: str) -> str:
    """Return "xlsx" or "text", or raise InputError for an empty, old-Excel or other binary file."""
    name = filename or "the file"
    if not data or data.isspace():
        raise InputError(f"{name!r} is empty; export the recipient list again with a phone column.")
    if data.startswith(_OLE2_MAGIC):
        raise InputError(
            f"{name!r} is an old Excel 97-2003 (.xls) or password-protected workbook; "
            "save it as .xlsx without a password, or as CSV, and upload that."
        )
    if data.startswith(_ZIP_MAGIC):
        return _zip_kind(data, name)
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise InputError(
            f"{name!r} is named like an Excel workbook but is not one; save it again from Excel as .xlsx or CSV."
        )
    return "text"


def _zip_kind(data: bytes, name: str) -> str:
    try:
        members = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError):
        # A damaged directory raises BadZipFile, an unknown ZIP version NotImplementedError,
        # and offsets past the end ValueError, OSError or EOFError.
        raise InputError(
            f"{name!r} is a damaged ZIP or Excel file; save it again as .xlsx or CSV."
        ) from None
    if "xl/workbook.xml" in members:
        return "xlsx"
    raise InputError(
        f"{name!r} is a ZIP archive but not an Excel .xlsx workbook (an .ods, .docx or other archive); "
        "save the recipient list as .xlsx or CSV."
    )


class DecodedText(NamedTuple):
    """A decoded file: its text, the encoding's name, and warnings for the operator."""

    text: str
    encoding: str
    warnings: list[str]


def decode_text(data: bytes, filename: str) -> DecodedText:
    """Decode a text file; return the text, the encoding's name and any warnings."""
    name = filename or "the file"
    text, encoding, warnings = _decode(data, name)

    sample = text[:_SAMPLE]
    control = sum(1 for char in sample if char in _CONTROL)
    if "\x00" in text or control > len(sample) * _MAX_CONTROL_SHARE:
        raise InputError(
            f"{name!r} contains binary data, so it is not a CSV or text file; upload a CSV or .xlsx file."
        )
    if not text.strip():
        raise InputError(
            f"{name!r} has no text; export the recipient list again with a phone column."
        )
    return DecodedText(text, encoding, warnings)


def _decode(data: bytes, name: str) -> tuple[str, str, list[str]]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], encoding.replace("-sig", ""), name, label=encoding)

    bomless_utf16 = _bomless_utf16(data[:_SAMPLE])
    if bomless_utf16:
        return _strict(data, bomless_utf16, name, label=bomless_utf16)

    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass

    # Bytes that are not UTF-8 become lone surrogates U+DC80..U+DCFF, and any other non-ASCII
    # character is a valid UTF-8 sequence, which a file written in cp1252 alone rarely has.
    escaped = data.decode("utf-8", errors="surrogateescape")
    if _UTF8_SEQUENCE.search(escaped):
        return _decode_mixed(escaped, name)
    return *_single_byte(data), []


def _single_byte(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; Latin-1 maps every byte.
        return data.decode("latin-1"), "latin-1"


_UTF8_SEQUENCE = re.compile("[^\x00-\x7f\udc80-\udcff]")
_LINE_WITH_INVALID_BYTES = re.compile("[^\r\n]*[\udc80-\udcff][^\r\n]*")
_SHOWN_LINES = 5


def _decode_mixed(escaped: str, name: str) -> tuple[str, str, list[str]]:
    """Decode each line that is not valid UTF-8 as cp1252; warn with the physical line numbers."""
    bad_lines: list[int] = []
    position, line = 0, 1

    def redecode(match: re.Match) -> str:
        nonlocal position, line
        # Matches start at line starts, so a CR LF pair is never split between two segments.
        segment = escaped[position : match.start()]
        line += segment.count("\n") + segment.count("\r") - segment.count("\r\n")
        position = match.start()
        bad_lines.append(line)
        return _single_byte(match.group().encode("utf-8", errors="surrogateescape"))[0]

    text = _LINE_WITH_INVALID_BYTES.sub(redecode, escaped)
    warning = _mixed_warning(name, bad_lines)
    log.warning("%s", warning)
    return text, "utf-8+cp1252", [warning]


def _mixed_warning(name: str, lines: list[int]) -> str:
    shown = ", ".join(str(line) for line in lines[:_SHOWN_LINES])
    if len(lines) > _SHOWN_LINES:
        shown += f" and {len(lines) - _SHOWN_LINES} more"
    if len(lines) == 1:
        which = f"line {shown} is not valid UTF-8 and was"
    else:
        which = f"{len(lines)} lines ({shown}) are not valid UTF-8 and were"
    those = "that line" if len(lines) == 1 else "those lines"
    return (
        f"{name!r} is UTF-8, but {which} read as Windows-1252 (cp1252); check the names on "
        f"{those}, or save the file again as CSV UTF-8."
    )


def _strict(data: bytes, codec: str, name: str, *, label: str) -> tuple[str, str, list[str]]:
    try:
        return data.decode(codec), label, []
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name!r} looks like {label} text but byte {exc.start} cannot be decoded; "
            "save the file again as CSV UTF-8."
        ) from None


def _bomless_utf16(sample: bytes) -> str | None:
    """Return "utf-16-le" or "utf-16-be" when the sample reads as UTF-16 text without a BOM.

    An ASCII character in UTF-16 is its byte next to a NUL: (byte, NUL) in LE and (NUL, byte) in
    BE. Only the characters every recipient file has many of are counted (digits, "+",
    delimiters, spaces and line breaks), because a name such as "一" (U+4E00) or "Ā" (U+0100)
    puts a NUL on the other side of its pair.
    """
    pairs = np.frombuffer(sample[: len(sample) // 2 * 2], dtype=np.uint8).reshape(-1, 2)
    if len(pairs) < 2:
        return None
    little = int(((pairs[:, 1] == 0) & _STRUCTURE[pairs[:, 0]]).sum())
    big = int(((pairs[:, 0] == 0) & _STRUCTURE[pairs[:, 1]]).sum())
    if little >= len(pairs) * _MIN_STRUCTURE_SHARE and little > big * 4:
        return "utf-16-le"
    if big >= len(pairs) * _MIN_STRUCTURE_SHARE and big > little * 4:
        return "utf-16-be"
    return None
