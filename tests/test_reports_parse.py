"""Parsing of delivery-report bodies: every shape SMS.to or a gateway may send, and the rejects."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.reports.parse import (
    MAX_BODY_BYTES,
    ReportParseError,
    check_report_body,
    is_e164,
    normalise_report_phone,
    parse_report_body,
)
from tests.conftest import load_case

VARIANTS = load_case("dlr_body_variants.json")
EXPECTED = {row["phone"]: row for row in load_case("dlr_body_variants.expected.json")["final_rows"]}


@pytest.mark.parametrize("request_case", VARIANTS["requests"], ids=lambda case: case["id"])
def test_parse_body_variants_case(request_case):
    reports = parse_report_body(request_case["raw_body"].encode(), request_case["content_type"])

    for report in reports:
        expected = EXPECTED[report.phone]
        assert report.tracking_id == expected["trackingId"]
        assert report.status == expected["status"]
        assert report.parts == expected["parts"]
        assert report.price == (None if expected["price"] is None else Decimal(expected["price"]))


# One report written in every way seen in the field; each must parse to the same values.
SAME_REPORT = [
    ("form", "application/x-www-form-urlencoded",
     "trackingId=T1&messageId=M1&phone=%2B35799000001&status=DELIVERED&parts=2&price=0.03"),
    ("form_plus_as_space", "application/x-www-form-urlencoded",
     "trackingId=T1&messageId=M1&phone=+35799000001&status=DELIVERED&parts=2&price=0.03"),
    ("form_reordered", "application/x-www-form-urlencoded",
     "price=0.03&status=delivered&phone=35799000001&parts=2&messageId=M1&trackingId=T1"),
    ("form_without_content_type", "",
     "trackingId=T1&messageId=M1&phone=%2B35799000001&status=DELIVERED&parts=2&price=0.03"),
    ("form_as_text_plain", "text/plain",
     "trackingId=T1&messageId=M1&phone=%2B35799000001&status=DELIVERED&parts=2&price=0.03"),
    ("form_trailing_newline", "application/x-www-form-urlencoded",
     "trackingId=T1&messageId=M1&phone=%2B35799000001&status=DELIVERED&parts=2&price=0.03\n"),
    ("json", "application/json",
     '{"trackingId":"T1","messageId":"M1","phone":"+35799000001","status":"DELIVERED","parts":2,"price":0.03}'),
    ("json_strings", "application/json",
     '{"trackingId":"T1","messageId":"M1","phone":"+35799000001","status":"Delivered","parts":"2","price":"0.03"}'),
    ("json_charset", "application/json; charset=utf-8",
     '{"trackingId":"T1","messageId":"M1","phone":"35799000001","status":"DELIVERED","parts":2.0,"price":3e-2}'),
    ("json_bom", "application/json",
     '\ufeff{"trackingId":"T1","messageId":"M1","phone":"+35799000001","status":"DELIVERED","parts":2,"price":0.03}'),
    ("json_snake_case", "application/json",
     '{"tracking_id":"T1","message_id":"M1","phone":"+35799000001","status":"DELIVERED","parts":2,"price":0.03}'),
    ("json_array_of_one", "application/json",
     '[{"trackingId":"T1","messageId":"M1","phone":"+35799000001","status":"DELIVERED","parts":2,"price":0.03}]'),
    ("json_as_form_content_type", "application/x-www-form-urlencoded",
     '{"trackingId":"T1","messageId":"M1","phone":"+35799000001","status":"DELIVERED","parts":2,"price":0.03}'),
    ("json_extra_fields", "application/json",
     '{"trackingId":"T1","messageId":"M1","phone":"+35799000001","status":"DELIVERED","parts":2,"price":0.03,"x":[1]}'),
    ("json_invisible_in_phone", "application/json",
     '{"trackingId":"T1","messageId":"M1","phone":"\\u200e+357 99 000001\\u200b","status":"DELIVERED","parts":2,"price":0.03}'),
    ("json_phone_00_prefix", "application/json",
     '{"trackingId":"T1","messageId":"M1","phone":"0035799000001","status":"DELIVERED","parts":2,"price":0.03}'),
    ("json_phone_number", "application/json",
     '{"trackingId":"T1","messageId":"M1","phone":35799000001,"status":"DELIVERED","parts":2,"price":0.03}'),
]


@pytest.mark.parametrize(("case", "content_type", "body"), SAME_REPORT, ids=[row[0] for row in SAME_REPORT])
def test_parse_report_same_values(case, content_type, body):
    [report] = parse_report_body(body.encode("utf-8"), content_type)

    assert report.tracking_id == "T1"
    assert report.message_id == "M1"
    assert report.phone == "+35799000001"
    assert report.status == "DELIVERED"
    assert report.parts == 2
    assert report.price == Decimal("0.03")


def test_parse_price_is_exact_decimal():
    [report] = parse_report_body(b'{"messageId":"M","status":"SENT","price":0.1}', "application/json")
    assert report.price == Decimal("0.1")
    assert isinstance(report.price, Decimal)


@pytest.mark.parametrize("body", [
    b'{"messageId":"M","status":"SENT"}',
    b'{"messageId":"M","status":"SENT","price":null,"parts":null}',
    b"messageId=M&status=SENT&price=&parts=",
])
def test_parse_missing_price_and_parts_are_none(body):
    [report] = parse_report_body(body)
    assert report.price is None
    assert report.parts is None


def test_parse_unknown_status_is_kept():
    [report] = parse_report_body(b"messageId=M&status=carrier_hold")
    assert report.status == "CARRIER_HOLD"


REJECTED = [
    ("empty", b"", "invalid_body"),
    ("whitespace", b"  \n", "invalid_body"),
    ("not_a_form", b"hello world", "invalid_body"),
    ("broken_json", b'{"messageId": "M", ', "invalid_body"),
    ("json_scalar_in_array", b'[1, 2]', "invalid_body"),
    ("json_empty_array", b"[]", "invalid_body"),
    ("json_nan_price", b'{"messageId":"M","status":"SENT","price":NaN}', "invalid_body"),
    ("not_utf8", b"messageId=M&status=\xff\xfe", "invalid_body"),
    ("repeated_field", b"messageId=M&status=SENT&status=DELIVERED", "invalid_body"),
    ("no_ids", b"phone=%2B35799000001&status=SENT", "missing_field"),
    ("no_status", b"messageId=M&phone=%2B35799000001", "missing_field"),
    ("status_object", b'{"messageId":"M","status":{"a":1}}', "invalid_field"),
    ("price_text", b"messageId=M&status=SENT&price=abc", "invalid_field"),
    ("price_negative", b"messageId=M&status=SENT&price=-0.01", "invalid_field"),
    ("price_huge", b"messageId=M&status=SENT&price=1e12", "invalid_field"),
    ("price_boolean", b'{"messageId":"M","status":"SENT","price":true}', "invalid_field"),
    ("parts_fraction", b"messageId=M&status=SENT&parts=1.5", "invalid_field"),
    ("parts_negative", b"messageId=M&status=SENT&parts=-1", "invalid_field"),
    ("parts_too_many", b"messageId=M&status=SENT&parts=256", "invalid_field"),
    ("id_too_long", b"messageId=" + b"x" * 300 + b"&status=SENT", "invalid_field"),
    ("array_with_one_bad", b'[{"messageId":"M","status":"SENT"},{"status":"SENT"}]', "missing_field"),
]


@pytest.mark.parametrize(("case", "body", "code"), REJECTED, ids=[row[0] for row in REJECTED])
def test_parse_rejects_with_code(case, body, code):
    with pytest.raises(ReportParseError) as raised:
        parse_report_body(body, "application/x-www-form-urlencoded")
    assert raised.value.code == code


@pytest.mark.parametrize(("case", "body", "code"), REJECTED, ids=[row[0] for row in REJECTED])
def test_check_report_body_rejects_the_same(case, body, code):
    with pytest.raises(ReportParseError):
        check_report_body(body, "application/x-www-form-urlencoded")


PHONES = [
    ("+35799000001", "+35799000001"),
    (" 35799000001", "+35799000001"),  # a '+' decoded into a space by form decoding
    ("35799000001", "+35799000001"),
    ("0035799000001", "+35799000001"),
    ("+357 99-000.001", "+35799000001"),
    ("(+357) 99 000001", "+35799000001"),
    ("\u202a+35799000001\u202c", "+35799000001"),  # bidirectional embedding marks
    ("\ufeff35799000001", "+35799000001"),
    ("+357\u00a099000001", "+35799000001"),  # no-break space
    ("\uff0b\uff13\uff15\uff17\uff19\uff19\uff10\uff10\uff10\uff10\uff10\uff11", "+35799000001"),
    ("099000001", "099000001"),  # national: cannot be made international without a country
    ("", ""),
    ("abc", "abc"),
]


@pytest.mark.parametrize(("raw", "expected"), PHONES)
def test_normalise_report_phone_cases(raw, expected):
    assert normalise_report_phone(raw) == expected


@pytest.mark.parametrize(("phone", "valid"), [
    ("+35799000001", True), ("+1", False), ("+0123456789", False), ("35799000001", False),
    ("+3579900000112345", False),
])
def test_is_e164_cases(phone, valid):
    assert is_e164(phone) is valid


def test_max_body_bytes_fits_an_array_of_reports():
    report = {"trackingId": "x" * 36, "messageId": "y" * 36, "phone": "+35799000001",
              "status": "DELIVERED", "parts": 1, "price": 0.015}
    assert len(json.dumps([report] * 200).encode()) < MAX_BODY_BYTES


form_text = st.text(alphabet="abcAZ09=&%+._-~()2BFf \n", max_size=120)


@settings(max_examples=400, deadline=None)
@given(st.one_of(form_text.map(str.encode), st.binary(max_size=120), st.builds(
    lambda ids, phone, status, parts, price: (
        f"trackingId={ids[0]}&messageId={ids[1]}&phone={phone}&status={status}"
        f"&parts={parts}&price={price}"
    ).encode(),
    st.tuples(st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True),
              st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True)),
    st.from_regex(r"[A-Za-z0-9%+._()-]{0,14}", fullmatch=True),
    st.from_regex(r"[A-Za-z_]{1,10}", fullmatch=True),
    st.from_regex(r"[0-9]{0,3}", fullmatch=True),
    st.from_regex(r"([0-9]{1,7}(\.[0-9]{1,10})?)?", fullmatch=True),
)))
def test_check_report_body_agrees_with_parser(body):
    try:
        parse_report_body(body, "application/x-www-form-urlencoded")
        parser_accepts = True
    except ReportParseError:
        parser_accepts = False

    try:
        check_report_body(body, "application/x-www-form-urlencoded")
        check_accepts = True
    except ReportParseError:
        check_accepts = False

    assert check_accepts == parser_accepts


def test_parse_price_finer_than_storage_rounded():
    [report] = parse_report_body(b"messageId=M&status=DELIVERED&price=0.0150000001", "")

    assert report.price == Decimal("0.015")
    assert report.price_raw == "0.0150000001"
    assert report.status == "DELIVERED"


@pytest.mark.parametrize("field", ["status", "phone", "trackingId"])
def test_parse_unstorable_characters_replaced(field):
    body = {"messageId": "M", "status": "SENT", field: "A\u0000B\ud800"}

    [report] = parse_report_body(json.dumps(body).encode(), "application/json")

    values = {"status": report.status, "phone": report.phone_raw, "trackingId": report.tracking_id}
    assert values[field] == "A\ufffdB\ufffd"


def test_parse_json_conflicting_duplicate_keys_rejected():
    body = b'{"messageId":"M","status":"DELIVERED","status":"FAILED"}'

    with pytest.raises(ReportParseError) as raised:
        parse_report_body(body, "application/json")
    assert raised.value.code == "invalid_body"
