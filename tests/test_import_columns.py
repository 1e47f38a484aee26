"""Finding the phone column by header name and by content, and the caller's override."""

import pytest

from core.errors import InputError
from core.importing import import_file
from core.importing.columns import header_match


def imported(text: str, **options):
    return import_file(text.encode("utf-8"), filename="list.csv", default_country="CY", **options)


@pytest.mark.parametrize(
    "name, match",
    [
        ("phone", "exact"),
        ("Phone", "exact"),
        ("PHONE NUMBER", "exact"),
        ("phone_number", "exact"),
        ("Mobile", "exact"),
        ("mobile-no", "exact"),
        ("MSISDN", "exact"),
        ("number", "exact"),
        ("Tel.", "exact"),
        ("cell", "exact"),
        ("To", "exact"),
        ("recipient", "exact"),
        ("Teléfono", "exact"),
        ("telefono", "exact"),
        ("Telefon", "exact"),
        ("Telefonnummer", "exact"),
        ("Handy", "exact"),
        ("Τηλέφωνο", "exact"),
        ("κινητό", "exact"),
        ("Téléphone", "exact"),
        ("Portable", "exact"),
        ("Celular", "exact"),
        ("Móvil", "exact"),
        ("телефон", "exact"),
        ("Mobile phone (work)", "partial"),
        ("Telefon privat", "partial"),
        ("customer_msisdn", "partial"),
        ("Tel nr", "partial"),
        ("name", ""),
        ("total", ""),
        ("hotel", ""),
        ("city", ""),
    ],
)
def test_columns_header_names(name, match):
    assert header_match(name) == match


def test_columns_chosen_by_name_over_position():
    result = imported("name,city,Handy\nAnna,Paphos,+35799000101\n")

    assert result.phone_column == "Handy"
    assert result.field_columns == ["name", "city"]


def test_columns_chosen_by_content_without_name():
    result = imported(
        "customer,contact_value,notes\nAnna,+35799000101,vip\nBob,99000102,\nChris,0035799000103,x\n"
    )

    assert result.phone_column == "contact_value"


def test_columns_content_beats_numeric_ids():
    text = "id,who,dial\n1000001,Anna,+35799000101\n1000002,Bob,+35799000102\n1000003,Chris,+35799000103\n"

    result = imported(text)

    assert result.phone_column == "dial"


def test_columns_mobile_preferred_to_landline():
    text = "phone,mobile\n22123456,99000101\n22123457,99000102\n"

    result = imported(text)

    assert result.phone_column == "mobile"
    assert [candidate.name for candidate in result.candidates] == ["mobile", "phone"]


def test_columns_candidates_carry_evidence():
    result = imported("phone,name\n+35799000101,A\nbad,B\n")

    candidate = result.candidates[0]
    assert candidate.name == "phone"
    assert candidate.header_match == "exact"
    assert candidate.ok_share == 0.5
    assert candidate.like_share == 0.5


@pytest.mark.parametrize("requested", ["backup", "BACKUP", " backup ", "3"])
def test_columns_override(requested):
    text = "phone,name,backup\n+35799000101,Anna,+35799000201\n"

    result = imported(text, phone_column=requested)

    assert result.phone_column == "backup"
    assert result.rows["e164"].tolist() == ["+35799000201"]
    assert result.field_columns == ["phone", "name"]


def test_columns_override_unknown_lists_columns():
    with pytest.raises(InputError, match="phone, name"):
        imported("phone,name\n+35799000101,Anna\n", phone_column="mobile")


def test_columns_override_without_header():
    result = imported("Anna,+35799000101\n", phone_column="column_2")

    assert result.rows["e164"].tolist() == ["+35799000101"]


def test_columns_reserved_name_renamed():
    result = imported("phone,verdict,line\n+35799000101,great,7\n")

    assert result.field_columns == ["file_verdict", "file_line"]
    assert result.rows["file_verdict"].tolist() == ["great"]
    assert result.rows["verdict"].tolist() == ["ok"]


def _long_file(header: str, row, count: int = 3000) -> str:
    return header + "\n" + "".join(row(index) + "\n" for index in range(count))


def test_columns_sparse_named_beats_order_numbers():
    text = _long_file("order_no,mobile", lambda index: f"{99100000 + index},")
    text += "99200000,+35799000101\n"

    result = imported(text)

    assert result.phone_column == "mobile"
    assert result.counts["ok"] == 1
    assert len(result.warnings) == 1
    assert "'order_no'" in result.warnings[0]


def test_columns_unnamed_phone_column_filled_late():
    text = _long_file("customer,value", lambda index: f"Customer {index},")
    text += "Late,+35799000101\nLater,99000102\n"

    result = imported(text)

    assert result.phone_column == "value"
    assert result.counts["ok"] == 2


def test_columns_named_column_of_names_loses():
    result = imported("Contact,value\nAnna,+35799000101\nBob,99000102\n")

    assert result.phone_column == "value"
    assert result.warnings == []


def test_columns_fuller_named_column_wins():
    text = _long_file("mobile,phone", lambda index: f",+357991{index:05d}", count=50)
    text += "+35799000101,+35799200000\n"

    result = imported(text)

    assert result.phone_column == "phone"
    assert result.warnings == []


def test_columns_requested_column_has_no_warning():
    text = _long_file("order_no,mobile", lambda index: f"{99100000 + index},", count=20)
    text += "99200000,+35799000101\n"

    result = imported(text, phone_column="mobile")

    assert result.phone_column == "mobile"
    assert result.warnings == []
