"""`import_file`: from the bytes of an upload to a verdict for every row."""

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InputError
from core.importing.columns import ColumnCandidate, choose_phone_column, rival_column_warnings
from core.importing.normalise import classify_column
from core.importing.phones import check_region
from core.importing.reading import Table, read_table
from core.importing.reasons import DUPLICATE, OK
from core.importing.verdicts import ROW_COLUMNS, assign_verdicts, count_verdicts, reason_sentences

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    """Everything an import found, for the dashboard, the command line and `store_import`.

    `rows` has one row per record of the file, in file order, with the columns of
    `verdicts.ROW_COLUMNS` (line, raw_phone, e164, region, verdict, reason_code, reason,
    duplicate_of_line) followed by `field_columns`, the file's other columns, whose values
    fill the message's placeholders. A field column named like a built-in column is renamed
    "file_<name>". `counts` has every verdict as a key.
    """

    filename: str
    default_country: str
    file_format: str  # "csv" or "xlsx"
    encoding: str  # e.g. "utf-8-sig", "utf-16-le", "cp1252", "utf-8+cp1252"; "" for xlsx
    delimiter: str  # one of , ; TAB |; "" for xlsx
    has_header: bool
    sheet: str  # the sheet read, for xlsx
    columns: list[str]  # the file's columns in order, phone column included
    phone_column: str
    candidates: list[ColumnCandidate]
    field_columns: list[str]
    rows: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    slow_rows: int = 0  # rows phonenumbers parsed one by one because the fast path was unsure
    warnings: list[str] = field(default_factory=list)  # what the operator should check

    @property
    def accepted(self) -> pd.DataFrame:
        """Rows that will be sent."""
        return self.rows[self.rows["verdict"] == OK]

    @property
    def rejected(self) -> pd.DataFrame:
        """Rows that will not be sent, whatever the reason."""
        return self.rows[self.rows["verdict"] != OK]

    def as_json(self) -> dict:
        """Return the summary that the command line prints with --json."""
        rows = self.rows
        accepted = rows[rows["verdict"] == OK]
        rejected = rows[~rows["verdict"].isin([OK, DUPLICATE])]
        duplicates = rows[rows["verdict"] == DUPLICATE]
        return {
            "rows": len(rows),
            "sheet": self.sheet,
            "warnings": self.warnings,
            "accepted": [
                {"line": int(line), "e164": e164}
                for line, e164 in zip(accepted["line"], accepted["e164"])
            ],
            "rejected": [
                {"line": int(line), "raw": raw, "reason": code}
                for line, raw, code in zip(
                    rejected["line"], rejected["raw_phone"], rejected["reason_code"]
                )
            ],
            "duplicates": [
                {"line": int(line), "duplicate_of": int(first)}
                for line, first in zip(duplicates["line"], duplicates["duplicate_of_line"])
            ],
        }


def import_file(
    data: bytes,
    *,
    filename: str,
    default_country: str,
    phone_column: str | None = None,
    suppressed: set[str] | frozenset[str] = frozenset(),
    sheet: str | None = None,
) -> ImportResult:
    """Read a CSV or XLSX upload and give every row a verdict.

    `default_country` (ISO code, e.g. "CY") applies to numbers written without a country code.
    `phone_column` overrides the detected phone column (a name, or a number counting from 1).
    `suppressed` contains the E.164 numbers that opted out (see `suppressed_numbers_for`).
    `sheet` names the sheet of a workbook to read; by default the first sheet with a phone
    column is read, and `ImportResult.sheet` names it.
    Raises InputError, with one sentence saying why and what to do, when the file cannot be
    read, the country is unknown or no phone column can be found.
    """
    region = check_region(default_country)
    name = filename or "the file"
    table = read_table(
        data, filename, default_region=region, sheet=sheet, phone_column=phone_column
    )
    if not table.columns:
        raise InputError(
            f"{name!r} has no columns; export the recipient list again with a phone column."
        )

    phone, candidates = choose_phone_column(table.cells, region, phone_column, name=name)
    if not phone_column:
        table.warnings.extend(rival_column_warnings(candidates))
    verdicts = classify_column(table.cells[phone], region)
    verdict, reason_code, duplicate_of = assign_verdicts(
        verdicts.code, verdicts.e164, table.lines, suppressed
    )
    reasons = reason_sentences(
        reason_code, verdicts.detail, verdicts.calling_code, duplicate_of, region
    )

    field_names, frame = _rows_frame(
        table, phone, verdict, reason_code, reasons, duplicate_of, verdicts
    )
    counts = count_verdicts(frame["verdict"])
    log.info("imported %s: %d rows, %s", name, len(frame), counts)
    return ImportResult(
        filename=filename,
        default_country=region,
        file_format=table.file_format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        has_header=table.has_header,
        sheet=table.sheet,
        columns=table.columns,
        phone_column=phone,
        candidates=candidates,
        field_columns=field_names,
        rows=frame,
        counts=counts,
        slow_rows=verdicts.slow_rows,
        warnings=table.warnings,
    )


def _rows_frame(table: Table, phone: str, verdict, reason_code, reasons, duplicate_of, verdicts):
    data = {
        "line": table.lines.astype(np.int64),
        "raw_phone": _text(table.cells[phone]),
        "e164": _text(verdicts.e164),
        "region": _text(verdicts.region),
        "verdict": _text(verdict),
        "reason_code": _text(reason_code),
        "reason": _text(reasons),
        "duplicate_of_line": pd.arrays.IntegerArray(duplicate_of, mask=duplicate_of == 0),
    }

    field_names = []
    for column in table.columns:
        if column == phone:
            continue
        name = f"file_{column}" if column in ROW_COLUMNS else column
        field_names.append(name)
        data[name] = _text(pc.utf8_trim_whitespace(pc.fill_null(table.cells[column], "")))
    return field_names, pd.DataFrame(data)


def _text(values) -> pd.Series:
    if not isinstance(values, pa.Array):
        values = pa.array(values, type=pa.string(), from_pandas=True)
    return values.to_pandas().astype("str")
