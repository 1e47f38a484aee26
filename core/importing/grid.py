"""The grid of string cells that a CSV or a sheet is read into, built with bounded memory.

Rows of a file can have different lengths, and a column of the grid has a cell in every row, so
short rows are padded with empty cells. One stray cell far to the right (a value in Excel's last
column XFD, or a line of 16,383 commas) would make every row 16,384 cells wide and a file of a
few kilobytes need gigabytes. Two limits prevent that:

- a grid wider than `MAX_COLUMNS` keeps only the columns that have a value in some row (header
  included), and a file with more such columns is rejected;
- the empty cells added to short rows may number at most `MAX_PADDING_CELLS`.

Dropping empty columns renumbers the ones after them: names column_N of a file without a header,
and a phone column given as a number, count the kept columns.
"""

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InputError

log = logging.getLogger(__name__)

# A recipient list needs a phone column and the placeholder columns; 1,000 is far beyond that
# and bounds the per-column work of the import.
MAX_COLUMNS = 1000
# Each padding cell costs at least 4 bytes of Arrow offsets and 8 bytes of list pointer while
# the column is built, so 20 million of them need about 240 MB.
MAX_PADDING_CELLS = 20_000_000


@dataclass
class Grid:
    """Cells of a file as string columns (no header handling yet) and each record's line number."""

    columns: list[pa.Array]
    lines: np.ndarray


def grid_from_rows(rows: list[list[str]], lines: list[int] | np.ndarray, *, name: str) -> Grid:
    """Build the columns of `rows`, padding short rows; raise InputError past the limits above."""
    line_numbers = np.asarray(lines, dtype=np.int64)
    if not rows:
        return Grid(columns=[], lines=line_numbers)

    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max())
    if width <= MAX_COLUMNS and (lengths == width).all():
        columns = [pa.array(column, type=pa.string()) for column in zip(*rows)]
        return Grid(columns=columns, lines=line_numbers)

    kept = np.arange(width) if width <= MAX_COLUMNS else _used_columns(rows, name)
    _check_padding(lengths, kept, line_numbers, name)
    columns = [
        pa.array([row[index] if index < len(row) else "" for row in rows], type=pa.string())
        for index in kept.tolist()
    ]
    return Grid(columns=columns, lines=line_numbers)


def limit_columns(grid: Grid, *, name: str) -> Grid:
    """Drop the columns without any value from a grid wider than MAX_COLUMNS (a parsed CSV)."""
    if len(grid.columns) <= MAX_COLUMNS:
        return grid
    used = [column for column in grid.columns if _has_value(column)]
    _check_width(len(used), len(grid.columns), name)
    log.info("%s: kept %d of %d columns, the others are empty", name, len(used), len(grid.columns))
    return Grid(columns=used, lines=grid.lines)


def _has_value(column: pa.Array) -> bool:
    return bool(pc.any(pc.not_equal(pc.utf8_trim_whitespace(column), "")).as_py())


def _used_columns(rows: list[list[str]], name: str) -> np.ndarray:
    used: set[int] = set()
    for row in rows:
        used.update(index for index, cell in enumerate(row) if cell and not cell.isspace())
    width = max(map(len, rows))
    _check_width(len(used), width, name)
    log.info("%s: kept %d of %d columns, the others are empty", name, len(used), width)
    return np.array(sorted(used), dtype=np.int64)


def _check_width(used: int, width: int, name: str) -> None:
    if used > MAX_COLUMNS:
        raise InputError(
            f"{name!r} has {used:,} columns with values (of {width:,}); the import reads at most "
            f"{MAX_COLUMNS:,}, so delete the columns that the message does not use and upload it again."
        )


def _check_padding(lengths: np.ndarray, kept: np.ndarray, lines: np.ndarray, name: str) -> None:
    present = int(np.searchsorted(kept, lengths).sum())
    padding = len(lengths) * len(kept) - present
    if padding <= MAX_PADDING_CELLS:
        return

    widest = int(np.argmax(lengths))
    raise InputError(
        f"{name!r} has rows of very different lengths: line {lines[widest]} has "
        f"{lengths[widest]:,} cells, while the median row has {int(np.median(lengths)):,}, so "
        f"the import would have to add {padding:,} empty cells (at most {MAX_PADDING_CELLS:,}); "
        "delete the extra cells of the long rows and upload the file again."
    )
