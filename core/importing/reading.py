"""Reading an uploaded file into a table of string cells with named columns and line numbers.

A file has no header row when its first row contains a valid phone number, or a phone-like value
and no phone header name. So a first row of "phone,name" is a header, and first rows of
"+35799000001,Anna" and "+35799000001,mobile" are data. Files without a header get the column
names column_1, column_2, ...
"""

import logging
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from core.errors import InputError
from core.importing.columns import is_phone_header, is_phone_like, rank_columns, resolve_column
from core.importing.csvreader import Grid, parse_csv, sniff_delimiter
from core.importing.decoding import decode_text, file_kind
from core.importing.phones import classify_phone
from core.importing.xlsx import read_sheets

log = logging.getLogger(__name__)

_SEP_LINE = re.compile(r"sep=([,;\t|])[ \t]*(?:\r\n|\r|\n)", re.IGNORECASE)


@dataclass
class Table:
    """A file's cells by column name, with the physical line (or sheet row) of every record."""

    columns: list[str]
    cells: dict[str, pa.Array]
    lines: np.ndarray
    file_format: str  # "csv" or "xlsx"
    encoding: str  # "" for xlsx
    delimiter: str  # "" for xlsx
    has_header: bool
    sheet: str = ""
    warnings: list[str] = field(default_factory=list)  # sentences for the operator


def read_table(
    data: bytes,
    filename: str,
    *,
    default_region: str,
    sheet: str | None = None,
    phone_column: str | None = None,
) -> Table:
    """Detect the format, encoding, delimiter and header row, and read every record.

    `default_region` is the region of numbers written without a country code. It decides
    whether a number in the first row is valid, which makes that row data. For a workbook,
    `sheet` names the sheet to read. Without it, the first sheet with a phone column is read,
    or the first sheet with the `phone_column` that the caller named. A CSV file with `sheet`
    raises InputError.
    """
    name = filename or "the file"
    if file_kind(data, filename) == "xlsx":
        return _read_workbook(data, name, default_region, sheet=sheet, phone_column=phone_column)
    if sheet is not None:
        raise InputError(
            f"{name!r} is a CSV file, which has no sheets; leave the sheet out or upload the .xlsx workbook."
        )

    text, encoding, warnings = decode_text(data, filename)
    # Excel writes and honours a first line "sep=;" that names the delimiter.
    declared = _SEP_LINE.match(text)
    delimiter = declared.group(1) if declared else sniff_delimiter(text)
    grid = parse_csv(text, delimiter, name)
    if declared:
        grid = _without_first_line(grid)
    log.info("read %s as %s, delimiter %r, %d records", name, encoding, delimiter, len(grid.lines))
    table = _table(grid, default_region, file_format="csv", encoding=encoding, delimiter=delimiter)
    table.warnings.extend(warnings)
    return table


def _read_workbook(
    data: bytes, name: str, default_region: str, *, sheet: str | None, phone_column: str | None
) -> Table:
    first, skipped = None, []
    for grid, title in read_sheets(data, name, only=sheet):
        table = _table(
            grid, default_region, file_format="xlsx", encoding="", delimiter="", sheet=title
        )
        if sheet is not None or _has_phone_column(table, default_region, phone_column):
            if skipped:
                table.warnings.append(
                    f"Read sheet {title!r} of {name!r}, because the sheets before it have no "
                    f"phone column: {', '.join(map(repr, skipped))}."
                )
            return table
        if first is None:
            first = table
        skipped.append(title)

    if len(skipped) > 1 and phone_column is None:
        raise InputError(
            f"No sheet of {name!r} has a column that looks like phone numbers (sheets: "
            f"{', '.join(skipped)}); name the sheet and the phone column explicitly."
        )
    # read_sheets raises InputError when no sheet has a filled cell, so `first` is set here.
    return first


def _has_phone_column(table: Table, default_region: str, phone_column: str | None) -> bool:
    if phone_column:
        try:
            resolve_column(table.columns, phone_column)
        except InputError:
            return False
        return True
    # A header such as "Fill in the phone numbers below" matches a phone name, so the column
    # must also contain a value that looks like a number.
    candidates = rank_columns(table.cells, default_region)
    return any(candidate.like_share > 0 for candidate in candidates)


def _without_first_line(grid: Grid) -> Grid:
    keep = grid.lines != 1
    mask = pa.array(keep)
    return Grid(columns=[column.filter(mask) for column in grid.columns], lines=grid.lines[keep])


def _table(
    grid: Grid,
    default_region: str,
    *,
    file_format: str,
    encoding: str,
    delimiter: str,
    sheet: str = "",
) -> Table:
    first_row = [column[0].as_py() if len(column) else "" for column in grid.columns]
    has_header = (
        bool(grid.columns) and len(grid.lines) > 0 and looks_like_header(first_row, default_region)
    )

    if has_header:
        names = column_names(first_row)
        cells = {name: column.slice(1) for name, column in zip(names, grid.columns)}
        lines = grid.lines[1:]
    else:
        names = [f"column_{index}" for index in range(1, len(grid.columns) + 1)]
        cells = dict(zip(names, grid.columns))
        lines = grid.lines

    return Table(
        columns=names,
        cells=cells,
        lines=lines,
        file_format=file_format,
        encoding=encoding,
        delimiter=delimiter,
        has_header=has_header,
        sheet=sheet,
    )


def looks_like_header(first_row: list[str], default_region: str) -> bool:
    """Tell whether the first row names the columns rather than holding a recipient."""
    cells = [clean_name(cell) for cell in first_row]
    phone_like = [cell for cell in cells if is_phone_like(cell)]

    # A valid number is a recipient even beside a cell such as "mobile", "SMS" or "Contact",
    # which are phone header names too.
    if any(classify_phone(cell, default_region).e164 for cell in phone_like):
        return False
    if any(is_phone_header(cell) for cell in cells):
        return True
    return not phone_like


def clean_name(cell: str) -> str:
    """Strip a header cell of whitespace and invisible characters (a stray BOM, bidi marks)."""
    return "".join(char for char in cell if unicodedata.category(char) not in ("Cf", "Cc")).strip()


def column_names(header: list[str]) -> list[str]:
    """Name every column: the header text, column_N when empty, a suffix _2, _3 when repeated."""
    names: list[str] = []
    for index, cell in enumerate(header, start=1):
        base = clean_name(cell) or f"column_{index}"
        name, suffix = base, 2
        while name in names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
    return names
