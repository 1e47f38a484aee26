"""Recipient import: from an uploaded CSV or XLSX file to a verdict for every row, and stored lists.

Public API (the dashboard, the launch and the command line use only these):

- `import_file(data, *, filename, default_country, phone_column=None, suppressed=frozenset(),
  sheet=None)` returns an `ImportResult`: the detected format, encoding, delimiter and header,
  the workbook sheet read (the requested one, else the first with a phone column), the columns,
  the chosen phone column and the candidates, `warnings` (sentences about what the operator
  should check, such as lines read as cp1252 in a UTF-8 file), and `rows`, a DataFrame with
  line, raw_phone, e164, region, verdict, reason_code, reason, duplicate_of_line and the other
  columns. Raises `core.errors.InputError` when the file cannot be read.
- `check_placeholders(rows, placeholders)` marks `ok` rows that leave a placeholder's column
  empty as `missing_value`, once the message is known.
- `store_import(session, *, result, name)` writes a RecipientList and its ListRow rows;
  `list_recipient_lists`, `get_recipient_list`, `read_list_rows`, `rejected_rows` and
  `count_list_rows` read them back; `suppressed_numbers_for(session)` reads the opt-outs.
- `rejected_rows_csv(rows)` builds the rejected-rows download; `neutralise_cell` is its
  formula-injection defence for any other CSV export.
- `classify_phone(cell, default_region)` and `to_e164(value, default_region)` normalise a
  single number with exactly the rules of the import.
"""

from core.importing.export import neutralise_cell, rejected_rows_csv
from core.importing.importer import ImportResult, import_file
from core.importing.phones import PhoneVerdict, classify_phone, to_e164
from core.importing.reasons import (
    DUPLICATE,
    INVALID,
    MISSING_VALUE,
    OK,
    REASON_CODES,
    SUPPRESSED,
    VERDICTS,
)
from core.importing.store import (
    count_list_rows,
    get_recipient_list,
    list_recipient_lists,
    read_list_rows,
    rejected_rows,
    store_import,
    suppressed_numbers_for,
)
from core.importing.verdicts import ROW_COLUMNS, check_placeholders

__all__ = [
    "DUPLICATE",
    "INVALID",
    "MISSING_VALUE",
    "OK",
    "REASON_CODES",
    "ROW_COLUMNS",
    "SUPPRESSED",
    "VERDICTS",
    "ImportResult",
    "PhoneVerdict",
    "check_placeholders",
    "classify_phone",
    "count_list_rows",
    "get_recipient_list",
    "import_file",
    "list_recipient_lists",
    "neutralise_cell",
    "read_list_rows",
    "rejected_rows",
    "rejected_rows_csv",
    "store_import",
    "suppressed_numbers_for",
    "to_e164",
]
