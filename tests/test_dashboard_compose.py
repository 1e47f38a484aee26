"""The New campaign page's live checks, called directly as plain functions."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pandas as pd
import pytest

from core.errors import InputError
from dashboard.compose import (
    check_message,
    check_sender_id,
    highlight_html,
    missing_value_lines,
    preview_campaign,
    rewrite_table,
    sample_preview,
    scheduled_utc,
    totals_table,
    ucs2_table,
)

ACCEPTED = pd.DataFrame(
    {
        "line": [2, 3, 4],
        "e164": ["+35799000001", "+35799000002", "+306900000003"],
        "region": ["CY", "CY", "GR"],
        "verdict": ["ok", "ok", "ok"],
        "name": ["Anna", "", "Olaf"],
    }
)


@pytest.mark.parametrize(
    ("message", "encoding", "parts"),
    [
        ("Hello", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("€" * 80, "GSM-7", 1),
        ("Καλημέρα", "UCS-2", 1),
        ("ü" * 71, "GSM-7", 1),
        ("ő" * 71, "UCS-2", 2),
    ],
)
def test_check_message_encoding_and_parts(message, encoding, parts):
    check = check_message(message, sample_fields=None, sample_line=None, region="CY")

    assert check.info.encoding == encoding
    assert check.info.parts == parts


def test_check_message_positions_skip_placeholders():
    check = check_message("Hi {prénom} – ok", sample_fields=None, sample_line=None, region="CY")

    assert [(found.char, found.index) for found in check.ucs2_characters] == [("–", 12)]


def test_check_message_counts_first_row_when_personalised():
    check = check_message("Hi {name}", sample_fields={"name": "Зоя"}, sample_line=2, region="CY")

    assert check.info.encoding == "UCS-2"
    assert check.sample_line == 2
    assert check.ucs2_characters == []


@pytest.mark.parametrize(
    ("message", "fragment"),
    [("", "Write the message"), ("Hi {", "lone '{'"), ("Hi {}", "empty placeholder")],
)
def test_check_message_problem_sentence(message, fragment):
    check = check_message(message, sample_fields=None, sample_line=None, region="CY")

    assert fragment in check.problem


def test_check_message_rewrite_keeps_placeholders():
    check = check_message("“Offer” for {prénom}", sample_fields=None, sample_line=None, region="CY")

    assert check.rewrite.text == '"Offer" for {prénom}'


def test_check_message_rewrite_saves_parts_and_cost():
    message = "Don’t miss it " * 6
    check = check_message(message, sample_fields=None, sample_line=None, region="CY")

    assert check.rewrite.parts_saved == 1
    assert check.rewrite.cost_saved == Decimal("0.0350")


def test_highlight_html_marks_and_escapes():
    message = "<b>’"
    check = check_message(message, sample_fields=None, sample_line=None, region="CY")

    html = highlight_html(message, check.ucs2_characters)

    assert "&lt;b&gt;" in html
    assert '<mark title="position 4, U+2019">’</mark>' in html


def test_ucs2_table_groups_positions():
    check = check_message("’a’", sample_fields=None, sample_line=None, region="CY")

    table = ucs2_table(check.ucs2_characters)

    assert table.to_dict("records") == [
        {
            "character": "’",
            "code point": "U+2019",
            "name": "RIGHT SINGLE QUOTATION MARK",
            "positions": "1, 3",
        }
    ]


def test_totals_table_per_country_and_all():
    table = totals_table(preview_campaign("Hi {name}", ACCEPTED, region="CY"))

    rows = {row["region"]: row for row in table.to_dict("records")}
    assert rows["GR"]["cost"] == "0.042"
    assert rows["all"]["recipients"] == 2
    assert rows["all"]["skipped"] == 1
    assert rows["all"]["cost"] == "0.077"


def test_missing_value_lines_lists_blank_rows():
    preview = preview_campaign("Hi {name}", ACCEPTED, region="CY")

    table = missing_value_lines(preview, ACCEPTED)

    assert table.to_dict("records") == [{"line": 3, "missing placeholders": "name"}]


def test_sample_preview_renders_text():
    table = sample_preview("Hi {name}", ACCEPTED, region="CY")

    assert list(table["text"]) == ["Hi Anna", "Hi ", "Hi Olaf"]
    assert list(table["cost"]) == ["0.035", "", "0.042"]


def test_sample_preview_no_cost_for_skipped_row():
    table = sample_preview("Hi {name}", ACCEPTED, region="CY")

    assert table["problem"].iloc[1] != ""
    assert table["cost"].iloc[1] == ""


@pytest.mark.parametrize(
    ("message", "rows"),
    [
        (
            "Don’t “wait” – it’s here",
            [
                ("’", "U+2019", "RIGHT SINGLE QUOTATION MARK", "'", 2),
                ("“", "U+201C", "LEFT DOUBLE QUOTATION MARK", '"', 1),
                ("”", "U+201D", "RIGHT DOUBLE QUOTATION MARK", '"', 1),
                ("–", "U+2013", "EN DASH", "-", 1),
            ],
        ),
        ("A\u00a0B\u200bC", [
            ("", "U+00A0", "NO-BREAK SPACE", "(space)", 1),
            ("", "U+200B", "ZERO WIDTH SPACE", "(removed)", 1),
        ]),
        ("Wait…", [("…", "U+2026", "HORIZONTAL ELLIPSIS", "...", 1)]),
    ],
)
def test_rewrite_table_rows(message, rows):
    suggestion = check_message(message, sample_fields=None, sample_line=None, region="CY").rewrite

    table = rewrite_table(suggestion)

    assert [tuple(row) for row in table.itertuples(index=False)] == rows


@pytest.mark.parametrize(
    ("value", "cleaned", "has_error"),
    [
        ("", None, False),
        ("  ", None, False),
        ("ACME", "ACME", False),
        ("+357 99-000001", "+35799000001", False),
        ("TOO-LONG-NAME", None, True),
        ("Bad!", None, True),
    ],
)
def test_check_sender_id_table(value, cleaned, has_error):
    result, error = check_sender_id(value)

    assert result == cleaned
    assert (error is not None) is has_error


def test_scheduled_utc_converts_zone():
    now = datetime(2025, 1, 1, tzinfo=UTC)

    moment = scheduled_utc(date(2025, 7, 1), time(9, 30), "Europe/Nicosia", now=now)

    assert moment == datetime(2025, 7, 1, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "zone", "fragment"),
    [(date(2024, 12, 31), "UTC", "in the past"), (date(2025, 7, 1), "Mars/Base", "unknown")],
)
def test_scheduled_utc_rejects(day, zone, fragment):
    now = datetime(2025, 1, 1, tzinfo=UTC)

    with pytest.raises(InputError, match=fragment):
        scheduled_utc(day, time(9, 0), zone, now=now)
