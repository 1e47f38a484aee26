"""CSV parsing with the file's physical line numbers kept for every record.

The delimiter is chosen among , ; TAB | as the one that splits the first lines into the same
number of fields (more than one). Records are parsed by pyarrow's CSV reader when every record
fits on one line, which is checked by counting: the records must be as many as the non-empty
lines, and then the n-th record is the n-th non-empty line. Any other file (a quoted field with a
line break, rows of different lengths) is parsed by the standard `csv` module, which tracks the
line where each record starts. Blank and whitespace-only lines are skipped but keep their numbers.
"""

import csv
import io
import logging
import re
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.errors import InputError
from core.importing.grid import Grid, grid_from_rows, limit_columns

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
_SNIFF_LINES = 200
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def allow_cells_up_to(length: int) -> None:
    """Raise the csv module's field size limit (131,072 characters by default) to `length`.

    A cell can be as long as the whole text, which is already in memory, so the limit protects
    nothing here, and a long notes cell would otherwise fail the import. The limit is
    process-wide and only ever raised.
    """
    if csv.field_size_limit() < length:
        csv.field_size_limit(length)


def sniff_delimiter(text: str) -> str:
    """Return the delimiter that splits the first lines most consistently (comma when none does)."""
    sample_lines = [
        line for line in _LINE_BREAK.split(text[: 256 * 1024], _SNIFF_LINES + 1)[:_SNIFF_LINES]
    ]
    sample = "\n".join(sample_lines)
    allow_cells_up_to(len(sample))
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [
                len(row)
                for row in csv.reader(io.StringIO(sample), delimiter=delimiter)
                if any(cell.strip() for cell in row)
            ]
        except csv.Error as exc:
            # The sample ends where it was cut, so its last record can be broken; a delimiter
            # the sample cannot be split by is no candidate.
            log.debug("sniffing delimiter %r failed: %s", delimiter, exc)
            continue
        if not counts:
            continue
        width, frequency = Counter(counts).most_common(1)[0]
        score = (frequency / len(counts), width)
        if width > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def parse_csv(text: str, delimiter: str, name: str) -> Grid:
    """Split `text` into records; raise InputError when a quote is never closed."""
    allow_cells_up_to(len(text))
    lines = split_lines(text)
    lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
    non_empty = np.flatnonzero(lengths > 0) + 1

    grid = _parse_with_pyarrow(text, delimiter, non_empty)
    if grid is None:
        grid = _parse_with_csv_module(text, delimiter, name)
    return _without_blank_records(limit_columns(grid, name=name))


def split_lines(text: str) -> list[str]:
    """Split at CR LF, CR or LF, the line breaks of the csv module, with str.split where it can."""
    if "\r" not in text:
        return text.split("\n")
    if "\n" not in text:
        return text.split("\r")
    unified = text.replace("\r\n", "\n")
    if "\r" not in unified:
        return unified.split("\n")
    return _LINE_BREAK.split(text)


def _parse_with_pyarrow(text: str, delimiter: str, non_empty_lines: np.ndarray) -> Grid | None:
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=_all_strings(text, delimiter),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (pa.ArrowException, ValueError) as exc:
        log.debug("pyarrow could not parse the file (%s); using the csv module", exc)
        return None

    if table.num_rows != len(non_empty_lines):
        log.debug("some records span several lines; using the csv module for line numbers")
        return None
    columns = [column.combine_chunks() for column in table.columns]
    return Grid(columns=columns, lines=non_empty_lines)


def _all_strings(text: str, delimiter: str) -> dict[str, pa.DataType]:
    try:
        first = next(
            csv.reader(io.StringIO(text[: 1024 * 1024], newline=""), delimiter=delimiter), []
        )
    except csv.Error:
        first = []
    return {f"f{index}": pa.string() for index in range(max(len(first), 1) + 64)}


def _parse_with_csv_module(text: str, delimiter: str, name: str) -> Grid:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    starts: list[int] = []
    next_start = 1
    try:
        for row in reader:
            rows.append(row)
            starts.append(next_start)
            next_start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{name!r} cannot be read as CSV from line {next_start} on ({exc}); a quote there is probably "
            "never closed: fix that line or export the file again."
        ) from None

    if rows and text.count('"') % 2 and any("\n" in cell or "\r" in cell for cell in rows[-1]):
        # An odd number of quotes and a last record that runs over lines: a quote never closed
        # swallowed the rest of the file into one cell.
        raise InputError(
            f"{name!r} has a quote on line {starts[-1]} that is never closed, so the rest of the file "
            "reads as one cell; fix the quotes on that line or export the file again."
        )

    return grid_from_rows(rows, starts, name=name)


def _without_blank_records(grid: Grid) -> Grid:
    if not grid.columns:
        return grid
    blank = np.ones(len(grid.lines), dtype=bool)
    for column in grid.columns:
        blank &= pc.equal(pc.utf8_trim_whitespace(column), "").to_numpy(zero_copy_only=False)
    if not blank.any():
        return grid
    keep = pa.array(~blank)
    return Grid(columns=[column.filter(keep) for column in grid.columns], lines=grid.lines[~blank])
