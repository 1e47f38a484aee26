"""Stored recipient lists: writing an import as a RecipientList with its ListRow rows, and
reading lists back for the dashboard and a launch.

Rows are written with one executemany per batch of `_BATCH` rows through the DBAPI cursor,
never as ORM objects (a million ORM rows take minutes). The placeholder fields of a row are
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

    values = [
        [list_id] * count,
        rows["line"].astype("int64").tolist(),
        _strings(rows["raw_phone"]),
        _strings(rows["e164"]),
        _strings(rows["region"]),
        _strings(rows["verdict"]),
        _strings(rows["reason_code"]),
        _strings(rows["reason"]),
        rows["duplicate_of_line"]
        .astype(object)
        .where(rows["duplicate_of_line"].notna(), None)
        .tolist(),
        fields_json(rows, field_columns),
    ]
    records = list(zip(*values))

    connection = session.connection()
    paramstyle = connection.dialect.paramstyle
    for start in range(0, count, _BATCH):
        batch = records[start : start + _BATCH]
        if paramstyle in _PLACEHOLDER:
            marks = ", ".join([_PLACEHOLDER[paramstyle]] * len(_INSERT_COLUMNS))
            statement = f"INSERT INTO {ListRow.__tablename__} ({', '.join(_INSERT_COLUMNS)}) VALUES ({marks})"
            connection.exec_driver_sql(statement, batch)
        else:
            connection.execute(
                ListRow.__table__.insert(), [dict(zip(_INSERT_COLUMNS, record)) for record in batch]
            )


def _strings(column: pd.Series) -> list:
    return column.astype(object).where(column.notna(), None).tolist()


def fields_json(rows: pd.DataFrame, field_columns: list[str]) -> list[str]:
    """Return each row's field columns as a JSON object, built with vectorised string kernels."""
    if not field_columns:
        return ["{}"] * len(rows)

    parts: list = []
    for index, name in enumerate(field_columns):
        parts.append(("{" if index == 0 else ",") + json.dumps(name) + ":")
        parts.append(
            _json_strings(
                pa.array(rows[name].astype(object).where(rows[name].notna(), ""), type=pa.string())
            )
        )
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "").to_pylist()


def _json_strings(values: pa.Array) -> pa.Array:
    escaped = values
    for char, replacement in (
        ("\\", "\\\\"),
        ('"', '\\"'),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
    ):
        escaped = pc.replace_substring(escaped, char, replacement)
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")

    # Other control characters need \\u escapes; they are rare, so json.dumps handles those rows.
    rare = pc.match_substring_regex(values, r"[\x00-\x08\x0b\x0c\x0e-\x1f]").to_numpy(
        zero_copy_only=False
    )
    if not rare.any():
        return quoted
    texts = quoted.to_numpy(zero_copy_only=False).astype(object)
    for row in np.flatnonzero(rare):
        texts[row] = json.dumps(values[row].as_py())
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
