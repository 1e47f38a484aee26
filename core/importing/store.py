"""Stored recipient lists: writing an import as a RecipientList with its ListRow rows, and
reading lists back for the dashboard and a launch.

Rows are written with multi-row INSERT statements through the session's DBAPI cursor, never as
ORM objects (a million ORM rows take minutes). The placeholder fields of a row are
stored as a JSON object in `fields_json`, built column-wise.
"""

import json
import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from sqlalchemy import func, select
from sqlmodel import Session

from core.importing.importer import ImportResult
from core.importing.reasons import DUPLICATE, INVALID, OK, SUPPRESSED, VERDICTS
from core.importing.verdicts import ROW_COLUMNS, count_verdicts
from core.models import ListRow, RecipientList, Suppression

log = logging.getLogger(__name__)

_BATCH = 50_000
_ROWS_PER_STATEMENT = 90
_INSERT_COLUMNS = ("list_id", *ROW_COLUMNS, "fields_json")
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def suppressed_numbers_for(session: Session) -> set[str]:
    """Return every E.164 number on the suppression list, to pass to `import_file`."""
    return set(session.execute(select(Suppression.phone)).scalars())


def store_import(
    session: Session, *, result: ImportResult, name: str, source_filename: str | None = None
) -> RecipientList:
    """Write the import as a RecipientList and one ListRow per row; return the flushed list.

    The caller's session commits (e.g. `session_scope`), so the list and its rows land together.
    """
    counts = result.counts or count_verdicts(result.rows["verdict"])
    recipient_list = RecipientList(
        name=name,
        source_filename=source_filename if source_filename is not None else result.filename,
        default_country=result.default_country,
        phone_column=result.phone_column,
        columns_json=json.dumps(result.columns),
        encoding=result.encoding,
        delimiter=result.delimiter,
        row_count=len(result.rows),
        accepted_count=counts[OK],
        rejected_count=counts[INVALID],
        duplicate_count=counts[DUPLICATE],
        suppressed_count=counts[SUPPRESSED],
        has_header=result.has_header,
    )
    session.add(recipient_list)
    session.flush()

    _insert_rows(session, recipient_list.id, result.rows, result.field_columns)
    log.info("stored list %s (%d rows)", recipient_list.id, len(result.rows))
    return recipient_list


def _insert_rows(
    session: Session, list_id: int, rows: pd.DataFrame, field_columns: list[str]
) -> None:
    count = len(rows)
    if count == 0:
        return

    # Columns stay Arrow arrays; only one batch at a time becomes Python objects, which bounds
    # the memory a million rows need.
    columns = [
        pa.array(np.full(count, list_id, dtype=np.int64)).dictionary_encode(),
        pa.array(rows["line"].to_numpy(dtype=np.int64)),
        _arrow_strings(rows["raw_phone"]),
        _arrow_strings(rows["e164"]),
        _arrow_strings(rows["region"]).dictionary_encode(),
        _arrow_strings(rows["verdict"]).dictionary_encode(),
        _arrow_strings(rows["reason_code"]).dictionary_encode(),
        _arrow_strings(rows["reason"]),
        pa.array(
            rows["duplicate_of_line"].to_numpy(dtype="float64", na_value=np.nan), from_pandas=True
        ).cast(pa.int64()),
        fields_json(rows, field_columns),
    ]

    connection = session.connection()
    if connection.dialect.paramstyle not in _PLACEHOLDER:
        _insert_with_core(connection, columns, count)
        return

    # Multi-row VALUES statements of `_ROWS_PER_STATEMENT` rows cost a quarter less than one
    # executemany row by row; 90 rows of 10 values stay under SQLite's oldest limit of 999.
    cursor = connection.connection.cursor()
    mark = _PLACEHOLDER[connection.dialect.paramstyle]
    width = len(columns)
    try:
        for start in range(0, count, _BATCH):
            size = min(_BATCH, count - start)
            values = _flat_values(columns, start, size)
            full = size - size % _ROWS_PER_STATEMENT
            statement = _insert_statement(mark, _ROWS_PER_STATEMENT)
            for offset in range(0, full * width, _ROWS_PER_STATEMENT * width):
                cursor.execute(statement, values[offset : offset + _ROWS_PER_STATEMENT * width])
            if full < size:
                cursor.execute(_insert_statement(mark, size - full), values[full * width :])
    finally:
        cursor.close()


def _flat_values(columns: list[pa.Array], start: int, size: int) -> list:
    """Return rows start..start+size as one flat list of Python values, row after row."""
    values: list = [None] * (size * len(columns))
    for index, column in enumerate(columns):
        values[index :: len(columns)] = _python_values(column.slice(start, size))
    return values


def _python_values(column: pa.Array) -> list:
    if isinstance(column, pa.DictionaryArray):
        # Few distinct values: convert each once and reuse the objects.
        distinct = np.array(column.dictionary.to_pylist() + [None], dtype=object)
        indices = column.indices.to_numpy(zero_copy_only=False)
        indices = np.where(
            column.is_null().to_numpy(zero_copy_only=False), len(distinct) - 1, indices
        )
        return distinct[indices.astype(np.int64)].tolist()
    return column.to_pylist()


def _insert_statement(mark: str, rows: int) -> str:
    row = "(" + ", ".join([mark] * len(_INSERT_COLUMNS)) + ")"
    return (
        f"INSERT INTO {ListRow.__tablename__} ({', '.join(_INSERT_COLUMNS)}) VALUES "
        + ", ".join([row] * rows)
    )


def _insert_with_core(connection, columns: list[pa.Array], count: int) -> None:
    for start in range(0, count, _BATCH):
        batch = zip(*(_python_values(column.slice(start, _BATCH)) for column in columns))
        connection.execute(
            ListRow.__table__.insert(), [dict(zip(_INSERT_COLUMNS, record)) for record in batch]
        )


def _arrow_strings(column: pd.Series) -> pa.Array:
    return pa.array(column, type=pa.string(), from_pandas=True)


def fields_json(rows: pd.DataFrame, field_columns: list[str]) -> pa.Array:
    """Return each row's field columns as a JSON object, built with vectorised string kernels."""
    if not field_columns:
        return pa.array(["{}"] * len(rows), type=pa.string())

    parts: list = []
    for index, name in enumerate(field_columns):
        parts.append(("{" if index == 0 else ",") + json.dumps(name) + ":")
        parts.append(_json_strings(pc.fill_null(_arrow_strings(rows[name]), "")))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _json_strings(values: pa.Array) -> pa.Array:
    quoted = pc.binary_join_element_wise('"', values, '"', "")

    # Quotes, backslashes and control characters need escapes; they are rare, so json.dumps
    # writes those rows.
    special = pc.match_substring_regex(values, r'["\\\x00-\x1f]').to_numpy(zero_copy_only=False)
    if not special.any():
        return quoted
    texts = quoted.to_numpy(zero_copy_only=False).astype(object)
    for row in np.flatnonzero(special):
        texts[row] = json.dumps(values[row].as_py(), ensure_ascii=False)
    return pa.array(texts, type=pa.string())


def list_recipient_lists(session: Session, *, limit: int = 100) -> list[RecipientList]:
    """Return the stored lists, newest first."""
    statement = select(RecipientList).order_by(RecipientList.id.desc()).limit(limit)
    return list(session.execute(statement).scalars())


def get_recipient_list(session: Session, *, list_id: int) -> RecipientList | None:
    """Return one stored list, or None when there is no list with that id."""
    return session.get(RecipientList, list_id)


def field_columns_of(recipient_list: RecipientList) -> list[str]:
    """Names of the field columns of a stored list, as `ImportResult.field_columns` had them."""
    columns = json.loads(recipient_list.columns_json or "[]")
    return [
        f"file_{name}" if name in ROW_COLUMNS else name
        for name in columns
        if name != recipient_list.phone_column
    ]


def count_list_rows(session: Session, *, list_id: int) -> dict[str, int]:
    """Count a stored list's rows per verdict, in SQL, with every verdict present."""
    statement = (
        select(ListRow.verdict, func.count())
        .where(ListRow.list_id == list_id)
        .group_by(ListRow.verdict)
    )
    counts = dict.fromkeys(VERDICTS, 0)
    counts.update({verdict: int(count) for verdict, count in session.execute(statement).all()})
    return counts


def read_list_rows(
    session: Session, *, list_id: int, verdicts: Iterable[str] | None = None
) -> pd.DataFrame:
    """Return a stored list's rows in line order, shaped like `ImportResult.rows`.

    `verdicts` keeps only rows with those verdicts (e.g. ["ok"] for a launch).
    """
    recipient_list = get_recipient_list(session, list_id=list_id)
    fields = field_columns_of(recipient_list) if recipient_list else []
    columns = [getattr(ListRow, name) for name in ROW_COLUMNS] + [ListRow.fields_json]
    statement = select(*columns).where(ListRow.list_id == list_id).order_by(ListRow.line)
    if verdicts is not None:
        statement = statement.where(ListRow.verdict.in_(list(verdicts)))

    records = session.execute(statement).all()
    frame = pd.DataFrame.from_records(records, columns=[*ROW_COLUMNS, "fields_json"])
    frame = _typed(frame)
    field_frame = _fields_frame(frame.pop("fields_json"), fields)
    return pd.concat([frame, field_frame], axis=1)


def rejected_rows(session: Session, *, list_id: int) -> pd.DataFrame:
    """Return the rows of a stored list that will not be sent, in line order."""
    return read_list_rows(session, list_id=list_id, verdicts=[INVALID, DUPLICATE, SUPPRESSED])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["line"] = frame["line"].astype("int64")
    for column in ("raw_phone", "e164", "region", "verdict", "reason_code", "reason"):
        frame[column] = frame[column].astype("str")
    frame["duplicate_of_line"] = frame["duplicate_of_line"].astype("Int64")
    return frame


def _fields_frame(documents: pd.Series, fields: list[str]) -> pd.DataFrame:
    if not fields or documents.empty:
        return pd.DataFrame(
            {name: pd.Series([], dtype="str") for name in fields}, index=documents.index
        )

    schema = pa.schema([(name, pa.string()) for name in fields])
    table = pajson.read_json(
        pa.BufferReader("\n".join(documents.tolist()).encode("utf-8")),
        parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
    )
    frame = table.to_pandas().fillna("").astype("str")
    frame.index = documents.index
    return frame
