"""Reading the sheets of an .xlsx workbook with openpyxl in read-only mode, one at a time.

Number cells are turned into the text Excel displays. Integers up to 15 digits keep all their
digits (an int cell 35799000003 reads "35799000003"). A number cell shown in scientific notation
(a format such as 0.00E+00), or too large for Excel's 15 significant digits, reads as scientific
text such as "3.58E+10". The phone checks then reject it as they reject that text in a CSV,
because its digits are lost, and they never guess them.
"""

import datetime as dt
import io
import logging
import re
from collections.abc import Iterator

from core.errors import InputError
from core.importing.grid import Grid, grid_from_rows

log = logging.getLogger(__name__)

_EXCEL_DIGITS = 15
_SCIENTIFIC_FORMAT = re.compile(r"E[+-]", re.IGNORECASE)
_FORMAT_DECIMALS = re.compile(r"\.([0#?]+)E", re.IGNORECASE)
_MAX_DETAIL = 200  # characters of the parser's message quoted in the error


def read_sheets(data: bytes, name: str, *, only: str | None = None) -> Iterator[tuple[Grid, str]]:
    """Yield the cells and the title of every sheet with a filled cell, in workbook order.

    `only` names the one sheet to read, ignoring case and surrounding spaces. Raises InputError
    when it is not in the workbook, and when no sheet (or not `only`) has a filled cell.
    """
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file raises many types, see _damaged
        raise _damaged(exc, name, "") from None

    try:
        sheets = _requested_sheets(workbook, name, only)
        found = False
        for sheet in sheets:
            rows, lines = _read_sheet(sheet, name)
            if rows:
                found = True
                yield grid_from_rows(rows, lines, name=name), sheet.title
    finally:
        workbook.close()

    if not found and only is not None:
        raise InputError(
            f"Sheet {sheets[0].title!r} of {name!r} has no filled cells; choose the sheet with the recipients."
        )
    if not found:
        raise InputError(
            f"{name!r} has no filled cells in any sheet; put the recipients on the first sheet."
        )


def _requested_sheets(workbook, name: str, only: str | None) -> list:
    if only is None:
        return list(workbook.worksheets)
    for sheet in workbook.worksheets:
        if sheet.title.strip().casefold() == only.strip().casefold():
            return [sheet]
    raise InputError(
        f"Sheet {only!r} is not in {name!r}; its sheets are: {', '.join(workbook.sheetnames)}. "
        "Name one of them."
    )


def _read_sheet(sheet, name: str) -> tuple[list[list[str]], list[int]]:
    try:
        return _sheet_rows(sheet)
    except Exception as exc:  # noqa: BLE001 - a damaged file raises many types, see _damaged
        raise _damaged(exc, name, sheet.title) from None


def _damaged(exc: Exception, name: str, sheet: str) -> Exception:
    """Return the InputError for a workbook that openpyxl failed to read.

    openpyxl parses a sheet's XML lazily, while its rows are read. A damaged or hostile file
    raises whatever its parser and converters raise: ParseError (a truncated sheet, an invalid
    character, entities expanded past expat's limit), BadZipFile, zlib.error, KeyError,
    ValueError, TypeError and others. Each becomes one sentence, except MemoryError, which is
    returned unchanged for the caller to raise.
    """
    if isinstance(exc, MemoryError):
        return exc
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:_MAX_DETAIL]
    log.warning("cannot read workbook %s (sheet %r): %s", name, sheet or "none read yet", detail)
    if sheet:
        return InputError(
            f"Sheet {sheet!r} of {name!r} cannot be read because the workbook is damaged "
            f"({detail}); open it in Excel, save it again as .xlsx or CSV, and upload that."
        )
    return InputError(
        f"{name!r} is not a readable .xlsx workbook ({detail}); open it in Excel, save it again "
        "as .xlsx or CSV, and upload that."
    )


def _sheet_rows(sheet) -> tuple[list[list[str]], list[int]]:
    # A workbook's stored dimensions can be wrong (some writers store A1); read every row instead.
    sheet.reset_dimensions()
    rows, lines = [], []
    for row in sheet.iter_rows():
        cells = [_cell_text(cell) for cell in row]
        # openpyxl pads a row up to its last stored cell, which can be a blank cell with only a
        # style, so trailing blanks carry nothing and are dropped before the grid is built.
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells:
            continue
        rows.append(cells)
        lines.append(next(cell.row for cell in row if getattr(cell, "row", None)))
    return rows, lines


def _cell_text(cell) -> str:
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return number_text(value, getattr(cell, "number_format", "General") or "General")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def number_text(value: float, number_format: str) -> str:
    """Render a number cell as text, in scientific notation where Excel shows it or lost digits."""
    if _SCIENTIFIC_FORMAT.search(number_format):
        decimals = _FORMAT_DECIMALS.search(number_format)
        return f"{value:.{len(decimals.group(1)) if decimals else 0}E}"

    if abs(value) >= 10**_EXCEL_DIGITS:
        # Beyond 15 significant digits Excel has already rounded the value.
        return f"{value:.5E}"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(value, f".{_EXCEL_DIGITS}g")
    return str(value)
