"""The rejected-rows download: a CSV that spreadsheet programs open safely."""

import csv
import io
import math

import pandas as pd

from core.importing.reasons import OK
from core.importing.verdicts import ROW_COLUMNS

# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EXPORT_COLUMNS = ("line", "raw_phone", "verdict", "reason_code", "reason", "duplicate_of_line")


def neutralise_cell(value: object) -> str:
    """Return `value` as CSV text, with a leading apostrophe when a spreadsheet would run it.

    The apostrophe is the standard defence against formula injection; it also keeps a phone such
    as +35799000001 as text. Importing such a file again strips the apostrophe.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    text = str(value)
    if text.lstrip(" ").startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def rejected_rows_csv(rows: pd.DataFrame) -> bytes:
    """Return the rows that will not be sent as UTF-8 CSV (with BOM), formulas neutralised.

    `rows` is `ImportResult.rows`, the result of `read_list_rows`, or either after
    `check_placeholders`. Columns: line, raw_phone, verdict, reason_code, reason,
    duplicate_of_line, then the file's other columns.
    """
    rejected = rows[rows["verdict"] != OK]
    fields = [column for column in rows.columns if column not in ROW_COLUMNS]
    columns = [*_EXPORT_COLUMNS, *fields]

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise_cell(column) for column in columns])
    for values in rejected[columns].itertuples(index=False, name=None):
        writer.writerow([neutralise_cell(value) for value in values])
    # The BOM makes Excel read the file as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
