"""Verdicts: duplicates after normalisation, suppressed numbers, and missing placeholder values."""

import pytest

from core.errors import InputError
from core.importing import check_placeholders, import_file

TEXT = (
    "phone,name,city\n"
    "+35799000101,Anna,Paphos\n"  # 2
    "99 000 101,Anna again,Paphos\n"  # 3: duplicate of 2
    "bad,Nobody,\n"  # 4: invalid
    "+35799000102,,Nicosia\n"  # 5: no name
    "0035799000103,Chris,\n"  # 6: no city
    "+35799000103,Chris again,Larnaca\n"  # 7: duplicate of 6
    "+35799000104,Dora,Limassol\n"  # 8
)


def imported(text=TEXT, **options):
    return import_file(text.encode(), filename="list.csv", default_country="CY", **options)


def verdicts(result) -> dict[int, str]:
    return dict(zip(result.rows["line"], result.rows["verdict"]))


def test_verdicts_duplicates_keep_first_occurrence():
    result = imported()

    assert verdicts(result) == {
        2: "ok",
        3: "duplicate",
        4: "invalid",
        5: "ok",
        6: "ok",
        7: "duplicate",
        8: "ok",
    }
    duplicates = result.rows[result.rows["verdict"] == "duplicate"]
    assert duplicates["duplicate_of_line"].tolist() == [2, 6]
    assert (
        duplicates["reason"].tolist()[0]
        == "Same number as line 2; only the first occurrence is kept."
    )


def test_verdicts_counts_every_verdict():
    assert imported().counts == {
        "ok": 4,
        "invalid": 1,
        "duplicate": 2,
        "suppressed": 0,
        "missing_value": 0,
    }


def test_verdicts_invalid_rows_never_count_as_duplicates():
    result = imported("phone\nbad\nbad\n22123456\n22123456\n")

    assert result.rows["verdict"].tolist() == ["invalid"] * 4
    assert result.rows["duplicate_of_line"].isna().all()


def test_verdicts_suppressed_on_every_occurrence():
    result = imported(suppressed={"+35799000101", "+35799999999"})

    assert verdicts(result)[2] == "suppressed"
    assert verdicts(result)[3] == "suppressed"
    assert result.counts["suppressed"] == 2
    assert result.rows.set_index("line").loc[2, "reason_code"] == "suppressed"


def test_verdicts_suppression_does_not_touch_invalid_rows():
    result = imported("phone\n22123456\n", suppressed={"+35722123456"})

    assert result.rows["verdict"].tolist() == ["invalid"]
    assert result.rows["reason_code"].tolist() == ["landline"]


def test_verdicts_accepted_rows_have_no_reason():
    accepted = imported().accepted

    assert set(accepted["reason"]) == {""}
    assert set(accepted["reason_code"]) == {""}


def test_placeholders_mark_empty_values():
    rows = check_placeholders(imported().rows, ["name", "city"])

    by_line = rows.set_index("line")
    assert by_line.loc[5, "verdict"] == "missing_value"
    assert (
        by_line.loc[5, "reason"]
        == "The message uses the column 'name', which this row leaves empty."
    )
    assert by_line.loc[6, "verdict"] == "missing_value"
    assert by_line.loc[6, "reason_code"] == "missing_value"
    assert by_line.loc[2, "verdict"] == "ok"


def test_placeholders_name_every_empty_column():
    rows = check_placeholders(imported("phone,name,city\n+35799000101,,\n").rows, ["name", "city"])

    assert rows["reason"].tolist() == [
        "The message uses the columns 'name' and 'city', which this row leaves empty."
    ]


def test_placeholders_leave_rejected_rows_alone():
    rows = check_placeholders(imported().rows, ["city"])

    by_line = rows.set_index("line")
    assert by_line.loc[4, "verdict"] == "invalid"
    assert by_line.loc[7, "verdict"] == "duplicate"


def test_placeholders_do_not_change_the_input():
    rows = imported().rows

    check_placeholders(rows, ["name"])

    assert "missing_value" not in set(rows["verdict"])


def test_placeholders_none_used():
    rows = imported().rows

    assert check_placeholders(rows, []).equals(rows)


def test_placeholders_unknown_column_raises():
    with pytest.raises(InputError, match=r"\{surname\}"):
        check_placeholders(imported().rows, ["name", "surname"])


def test_placeholders_whitespace_only_value_is_empty():
    rows = check_placeholders(imported('phone,name\n+35799000101,"   "\n').rows, ["name"])

    assert rows["verdict"].tolist() == ["missing_value"]
