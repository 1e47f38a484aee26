"""Stored lists on a real SQLite file: write, list, read back, count, and the rejected-rows CSV."""

import csv
import io
import json

import pandas as pd
import pytest
from sqlmodel import select

from core.db import session_scope
from core.importing import (
    count_list_rows,
    get_recipient_list,
    import_file,
    list_recipient_lists,
    neutralise_cell,
    read_list_rows,
    rejected_rows,
    rejected_rows_csv,
    store_import,
    suppressed_numbers_for,
)
from core.models import ListRow, Suppression

TEXT = (
    "phone,name,note\n"
    '+35799000101,"Anna ""A"" Back\\slash","line\nbreak"\n'
    "99000101,Anna again,\n"
    "=HYPERLINK(1),Mallory,-2\n"
    "3.5799E+10,Sci,\n"
    "+35799000102,Ελένη,tab\there\n"
    "+35799000103,Control\x01char,@x\n"
)


def stored(engine, text=TEXT, *, suppressed=frozenset()):
    result = import_file(
        text.encode(), filename="customers.csv", default_country="CY", suppressed=suppressed
    )
    with session_scope(engine) as session:
        list_id = store_import(session, result=result, name="Spring customers").id
    return result, list_id


def test_store_writes_list_summary(engine):
    _, list_id = stored(engine)

    with session_scope(engine) as session:
        saved = get_recipient_list(session, list_id=list_id)
        assert saved.name == "Spring customers"
        assert saved.source_filename == "customers.csv"
        assert saved.default_country == "CY"
        assert saved.phone_column == "phone"
        assert json.loads(saved.columns_json) == ["phone", "name", "note"]
        assert (saved.encoding, saved.delimiter, saved.has_header) == ("utf-8", ",", True)
        assert (saved.row_count, saved.accepted_count, saved.rejected_count) == (6, 3, 2)
        assert (saved.duplicate_count, saved.suppressed_count) == (1, 0)


def test_store_round_trip_equals_import(engine):
    result, list_id = stored(engine)

    with session_scope(engine) as session:
        rows = read_list_rows(session, list_id=list_id)

    pd.testing.assert_frame_equal(rows.reset_index(drop=True), result.rows.reset_index(drop=True))


def test_store_read_filters_by_verdict(engine):
    _, list_id = stored(engine)

    with session_scope(engine) as session:
        accepted = read_list_rows(session, list_id=list_id, verdicts=["ok"])
        rejected = rejected_rows(session, list_id=list_id)

    assert accepted["line"].tolist() == [2, 7, 8]
    # The first record's quoted line break takes line 3, so the next record starts on line 4.
    assert rejected["line"].tolist() == [4, 5, 6]
    assert set(rejected["verdict"]) == {"invalid", "duplicate"}


def test_store_counts_in_sql(engine):
    _, list_id = stored(engine)

    with session_scope(engine) as session:
        counts = count_list_rows(session, list_id=list_id)

    assert counts == {"ok": 3, "invalid": 2, "duplicate": 1, "suppressed": 0, "missing_value": 0}


def test_store_lists_newest_first(engine):
    _, first = stored(engine)
    _, second = stored(engine)

    with session_scope(engine) as session:
        lists = list_recipient_lists(session)

    assert [item.id for item in lists] == [second, first]


def test_store_missing_list_is_none(engine):
    with session_scope(engine) as session:
        assert get_recipient_list(session, list_id=999) is None


def test_store_fields_json_is_valid_json(engine):
    _, list_id = stored(engine)

    with session_scope(engine) as session:
        documents = (
            session.execute(select(ListRow.fields_json).where(ListRow.list_id == list_id))
            .scalars()
            .all()
        )

    parsed = [json.loads(document) for document in documents]
    assert parsed[0] == {"name": 'Anna "A" Back\\slash', "note": "line\nbreak"}
    assert parsed[4] == {"name": "Ελένη", "note": "tab\there"}
    assert parsed[5] == {"name": "Control\x01char", "note": "@x"}


def test_store_reason_code_and_sentence(engine):
    _, list_id = stored(engine)

    with session_scope(engine) as session:
        row = session.execute(
            select(ListRow).where(ListRow.list_id == list_id, ListRow.line == 6)
        ).scalar_one()

    assert row.reason_code == "scientific_notation_digits_lost"
    assert row.reason.startswith("The cell contains 3.5799E+10")
    assert row.e164 is None


def test_store_many_rows_in_batches(engine):
    lines = "\n".join(f"+357990{index:05d},Name {index}" for index in range(60_000))
    _, list_id = stored(engine, "phone,name\n" + lines + "\n")

    with session_scope(engine) as session:
        counts = count_list_rows(session, list_id=list_id)
        rows = read_list_rows(session, list_id=list_id, verdicts=["ok"])

    assert counts["ok"] == 60_000
    assert rows["line"].tolist() == list(range(2, 60_002))
    assert rows["name"].iloc[-1] == "Name 59999"


def test_store_suppressed_numbers_for(engine):
    with session_scope(engine) as session:
        session.add(Suppression(phone="+35799000101", source="test"))
    with session_scope(engine) as session:
        suppressed = suppressed_numbers_for(session)

    result, list_id = stored(engine, suppressed=suppressed)

    assert suppressed == {"+35799000101"}
    assert result.counts["suppressed"] == 2
    with session_scope(engine) as session:
        assert get_recipient_list(session, list_id=list_id).suppressed_count == 2


def test_store_empty_list(engine):
    result, list_id = stored(engine, "phone,name\n")

    with session_scope(engine) as session:
        rows = read_list_rows(session, list_id=list_id)

    assert len(result.rows) == 0
    assert rows.columns.tolist()[-1] == "name"
    assert len(rows) == 0


@pytest.mark.parametrize(
    "value, text",
    [
        ("=1+1", "'=1+1"),
        ("+35799000101", "'+35799000101"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("  =1", "'  =1"),
        ("Anna", "Anna"),
        ("", ""),
        (None, ""),
        (float("nan"), ""),
        (pd.NA, ""),
        (7, "7"),
    ],
)
def test_export_neutralise_cell(value, text):
    assert neutralise_cell(value) == text


def test_export_rejected_rows_csv(engine):
    result, list_id = stored(engine)
    with session_scope(engine) as session:
        from_store = rejected_rows_csv(read_list_rows(session, list_id=list_id))

    data = rejected_rows_csv(result.rows)
    records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

    assert data == from_store
    assert data.startswith(b"\xef\xbb\xbf")
    assert records[0] == [
        "line",
        "raw_phone",
        "verdict",
        "reason_code",
        "reason",
        "duplicate_of_line",
        "name",
        "note",
    ]
    assert [record[0] for record in records[1:]] == ["4", "5", "6"]
    assert records[1][1] == "99000101"
    assert records[1][5] == "2"
    assert records[2][1] == "'=HYPERLINK(1)"
    assert records[2][7] == "'-2"
    assert records[3][3] == "scientific_notation_digits_lost"


def test_export_rejected_phone_with_plus_gets_apostrophe():
    result = import_file(
        b"phone\n+35799000101\n+35799000101\n", filename="x.csv", default_country="CY"
    )

    records = list(csv.reader(io.StringIO(rejected_rows_csv(result.rows).decode("utf-8-sig"))))

    assert records[1][1] == "'+35799000101"


def test_export_reimport_of_rejected_file_strips_apostrophe():
    result = import_file(
        b"phone\n+35799000101\n+35799000101\n", filename="x.csv", default_country="CY"
    )

    again = import_file(
        rejected_rows_csv(result.rows),
        filename="rejected.csv",
        default_country="CY",
        phone_column="raw_phone",
    )

    assert again.rows["e164"].tolist() == ["+35799000101"]


@pytest.mark.postgres
def test_store_round_trip_postgres(pg_engine):
    lines = "\n".join(f"+357990{index:05d},Name {index}" for index in range(1_000))
    result, list_id = stored(pg_engine, TEXT + lines + "\n")

    with session_scope(pg_engine) as session:
        rows = read_list_rows(session, list_id=list_id)
        counts = count_list_rows(session, list_id=list_id)

    pd.testing.assert_frame_equal(rows.reset_index(drop=True), result.rows.reset_index(drop=True))
    assert counts["ok"] == result.counts["ok"]
