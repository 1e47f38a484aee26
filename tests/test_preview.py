"""Templates, the GSM-7 rewrite, message and row previews, and the `preview` command."""

import json
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.gsm_rewrite import gsm7_stand_in, suggest_gsm_rewrite
from core.message_template import cell_text, missing_placeholders, parse_template
from core.preview import (
    placeholders,
    preview_message,
    preview_rows,
    preview_rows_loop,
    preview_template,
    render,
    suggest_campaign_rewrite,
)
from core.sms_parts import GSM7, UCS2

ROOT = Path(__file__).resolve().parent.parent

# Templates


@pytest.mark.parametrize(
    ("template", "names"),
    [
        ("Hi {name}", ["name"]),
        ("Hi {name}, see you in {city}, {name}!", ["name", "city"]),
        ("Hi { First name }", ["First name"]),
        ("No placeholders", []),
        ("Literal {{name}} braces", []),
        ("{{{name}}}", ["name"]),
        ("", []),
    ],
)
def test_placeholders_table(template, names):
    assert placeholders(template) == names


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("Hi {name", "lone '{' at position 3"),
        ("Hi name}", "lone '}' at position 7"),
        ("Hi {}", "empty placeholder"),
        ("Hi {  }", "empty placeholder"),
        ("{a{b}}", "lone '{' at position 0"),
    ],
)
def test_parse_template_rejects(template, words):
    with pytest.raises(InputError, match=words):
        parse_template(template)


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        ("Hi {name}!", {"name": "Anna"}, "Hi Anna!"),
        ("{a}{a}", {"a": "x"}, "xx"),
        ("Code {{ {code} }}", {"code": "7"}, "Code { 7 }"),
        ("Total {n}", {"n": 7}, "Total 7"),
        ("Line 1\r\nLine 2 {v}", {"v": "a\r\nb"}, "Line 1\nLine 2 a\nb"),
        ("Old Mac\rline", {}, "Old Mac\nline"),
        ("Hi {First name}", {"First name": "Bo"}, "Hi Bo"),
    ],
)
def test_render_table(template, fields, expected):
    assert render(template, fields) == expected


@pytest.mark.parametrize(
    "fields",
    [{}, {"name": None}, {"name": ""}, {"name": "  "}, {"name": float("nan")}, {"name": pd.NA}],
    ids=["absent", "none", "empty", "blank", "nan", "na"],
)
def test_render_missing_raises(fields):
    with pytest.raises(InputError, match=r"No value for the placeholder \{name\}"):
        render("Hi {name}", fields)


def test_render_allow_missing_renders_empty():
    assert render("Hi {name}!", {}, allow_missing=True) == "Hi !"


def test_missing_placeholders_lists_each_once():
    assert missing_placeholders("{a} {b} {a} {c}", {"b": "x", "c": " "}) == ["a", "c"]


@pytest.mark.parametrize(
    ("value", "expected"), [("x", "x"), (" x ", " x "), (3, "3"), (None, None), ("\u00a0", None)]
)
def test_cell_text_table(value, expected):
    assert cell_text(value) == expected


# GSM-7 rewrite

REWRITES = [
    ("curly_single", "It’s", "It's"),
    ("curly_double", "“Hi”", '"Hi"'),
    ("en_dash", "9–5", "9-5"),
    ("em_dash", "a—b", "a-b"),
    ("ellipsis", "wait…", "wait..."),
    ("nbsp", "10\u00a0am", "10 am"),
    ("thin_space", "10\u2009am", "10 am"),
    ("zero_width", "a\u200bb", "ab"),
    ("bullet", "• item", "- item"),
    ("prime", "5′", "5'"),
    ("double_prime", "5″", '5"'),
    ("guillemets", "«x»", '"x"'),
    ("accent", "café á", "café a"),
    ("small_c_cedilla", "ç", "c"),
    ("fullwidth", "ＡＢ", "AB"),
    ("ligature", "ﬁne", "fine"),
    ("greek", "Καλημέρα", "KAΛHMEPA"),
    ("greek_final_sigma", "ς", "Σ"),
    ("tab", "a\tb", "a b"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(*case[1:], id=case[0]) for case in REWRITES]
)
def test_suggest_gsm_rewrite_table(text, expected):
    suggestion = suggest_gsm_rewrite(text)

    assert suggestion.text == expected
    assert suggestion.after.encoding == GSM7


def test_suggest_gsm_rewrite_saves_parts_and_cost():
    text = "Your order is ready – see you soon’ " + "x" * 100

    suggestion = suggest_gsm_rewrite(text, price_per_part=Decimal("0.035"))

    assert suggestion.before.encoding == UCS2
    assert suggestion.before.parts == 3
    assert suggestion.after.parts == 1
    assert suggestion.parts_saved == 2
    assert suggestion.cost_saved == Decimal("0.070")


def test_suggest_gsm_rewrite_lists_replacements():
    suggestion = suggest_gsm_rewrite("a’b…")

    found = [(item.index, item.original, item.replacement) for item in suggestion.replacements]
    assert found == [(1, "’", "'"), (3, "…", "...")]


def test_suggest_gsm_rewrite_keeps_unresolved():
    suggestion = suggest_gsm_rewrite("It’s 😀")

    assert suggestion.text == "It's 😀"
    assert [item.char for item in suggestion.unresolved] == ["😀"]
    assert not suggestion.makes_gsm7


@pytest.mark.parametrize("text", ["plain GSM text €", "😀 only", "中文", ""])
def test_suggest_gsm_rewrite_none(text):
    assert suggest_gsm_rewrite(text) is None


def test_suggest_gsm_rewrite_never_applied():
    text = "It’s ready"

    suggest_gsm_rewrite(text)

    assert preview_message(text).text == text


def test_suggest_gsm_rewrite_protected_span():
    suggestion = suggest_gsm_rewrite("{Όνομα} – ok", protected=[(0, 7)])

    assert suggestion.text == "{Όνομα} - ok"


def test_suggest_campaign_rewrite_totals():
    template = "Your order is ready – " + "x" * 60 + " {name}"
    rows = [
        {"name": "Anna", "country": "CY"},
        {"name": "Bob", "country": "GR"},
        {"name": "Ελένη", "country": "GR"},
    ]

    rewrite = suggest_campaign_rewrite(template, rows)

    assert rewrite.suggestion.text == "Your order is ready - " + "x" * 60 + " {name}"
    assert rewrite.parts_saved == 2
    assert rewrite.cost_saved == Decimal("0.0350") + Decimal("0.0420")


def test_suggest_campaign_rewrite_keeps_placeholders():
    rewrite = suggest_campaign_rewrite("“{Όνομα}”", [{"Όνομα": "Anna"}], default_region="CY")

    assert rewrite.suggestion.text == '"{Όνομα}"'


def test_suggest_campaign_rewrite_none():
    assert suggest_campaign_rewrite("Hi {name}", [{"name": "Ελένη"}], default_region="CY") is None


@pytest.mark.parametrize("char", ["😀", "中", "ж"])
def test_gsm7_stand_in_none(char):
    assert gsm7_stand_in(char) is None


# One message


def test_preview_message_empty_problem():
    preview = preview_message("")

    assert preview.info.parts == 0
    assert "empty" in preview.problem


def test_preview_message_counts_sent_line_endings():
    preview = preview_message("a" * 158 + "\r\n")

    assert preview.text == "a" * 158 + "\n"
    assert preview.info.parts == 1


def test_preview_message_rewrite_offered():
    preview = preview_message("It’s ready")

    assert preview.rewrite.text == "It's ready"


def test_preview_message_gsm_no_rewrite():
    assert preview_message("It's ready").rewrite is None


# (case id, message, parts, problem or None); 255 parts hold 39,015 septets or 17,085 units.
PART_LIMIT_CASES = [
    ("gsm7_255_parts", "a" * 39_015, 255, None),
    ("gsm7_256_parts", "a" * 39_016, 256, "needs 256 parts, but a concatenated SMS has at most 255"),
    ("gsm7_40000_chars", "a" * 40_000, 262, "needs 262 parts"),
    ("ucs2_255_parts", "ж" * 17_085, 255, None),
    ("ucs2_256_parts", "ж" * 17_086, 256, "needs 256 parts"),
]


@pytest.mark.parametrize(
    "message, parts, problem",
    [case[1:] for case in PART_LIMIT_CASES],
    ids=[case[0] for case in PART_LIMIT_CASES],
)
def test_preview_message_part_limit(message, parts, problem):
    preview = preview_message(message)

    assert preview.info.parts == parts
    if problem is None:
        assert preview.problem is None
    else:
        assert problem in preview.problem


@pytest.mark.parametrize("preview_function", [preview_rows, preview_rows_loop], ids=["fast", "loop"])
def test_preview_rows_flags_too_many_parts(preview_function):
    rows = [{"name": "Anna"}, {"name": "a" * 39_100}]

    preview = preview_function("Hi {name}", rows, default_region="CY")

    assert preview.rows["parts"].tolist() == [1, 256]
    assert preview.rows["problem"].iloc[0] is None
    assert "more than 255 parts" in preview.rows["problem"].iloc[1]
    assert preview.skipped == 1


# A launch template: (case id, template, units, parts, placeholders, UCS-2 indexes, problem words)
TEMPLATE_CASES = [
    ("escaped_braces", "Code {{A1}}", 11, 1, [], [], None),
    ("placeholder_counted_empty", "Hi {name}", 3, 1, ["name"], [], None),
    ("only_placeholder", "{name}", 0, 0, ["name"], [], None),
    ("placeholder_used_twice", "{a}{b}{a}", 0, 0, ["a", "b"], [], None),
    ("blank_text", "   ", 3, 1, [], [], "message is empty"),
    ("crlf", "a" * 159 + "\r\n", 160, 1, [], [], None),
    ("ucs2_outside_placeholder", "It’s {Όνομα}", 5, 1, ["Όνομα"], [2], None),
    ("ucs2_only_in_placeholder", "Hi {Όνομα}", 3, 1, ["Όνομα"], [], None),
    ("over_255_parts", "{{" * 20_000, 40_000, 264, [], [], "needs 264 parts"),
]


@pytest.mark.parametrize(
    "template, units, parts, names, indexes, problem",
    [case[1:] for case in TEMPLATE_CASES],
    ids=[case[0] for case in TEMPLATE_CASES],
)
def test_preview_template_table(template, units, parts, names, indexes, problem):
    preview = preview_template(template)

    assert preview.info.units == units
    assert preview.info.parts == parts
    assert preview.placeholders == names
    assert [found.index for found in preview.info.ucs2_characters] == indexes
    if problem is None:
        assert preview.problem is None
    else:
        assert problem in preview.problem


@pytest.mark.parametrize("template", ["Use code { now", "Hi {}", "a}b"], ids=["open", "empty", "close"])
def test_preview_template_invalid_raises(template):
    with pytest.raises(InputError, match="The template has"):
        preview_template(template)


def test_preview_template_rewrite_counts_rendered():
    # "It's {ok}" is sent: 9 septets, 2 of them for the braces.
    rewrite = preview_template("It’s {{ok}}").rewrite

    assert rewrite.text == "It's {{ok}}"
    assert rewrite.before.units == 9
    assert rewrite.after.units == 11


# Rows

ROWS = pd.DataFrame(
    {
        "name": ["Anna", "Zoë", "", None, "Maximilian " + "x" * 140, "Ελένη"],
        "city": ["Nicosia", "Paris", "Athens", "Rome", "Berlin", "Αθήνα"],
        "country": ["CY", "fr", "GR", "IT", "DE", "GR"],
    },
    index=[10, 11, 12, 13, 14, 15],
)
TEMPLATE = "Hi {name}, your parcel is in {city}."


def test_preview_rows_parts_per_row():
    rows = preview_rows(TEMPLATE, ROWS).rows

    assert rows["parts"].tolist() == [1, 1, 1, 1, 2, 1]
    assert rows["encoding"].tolist() == [GSM7, UCS2, GSM7, GSM7, GSM7, UCS2]


def test_preview_rows_long_name_two_parts():
    short = preview_rows("Hi {name}" + "." * 150, [{"name": "Bo", "country": "CY"}])
    long = preview_rows("Hi {name}" + "." * 150, [{"name": "Bob Smith", "country": "CY"}])

    assert short.rows["parts"].iloc[0] == 1
    assert long.rows["parts"].iloc[0] == 2


def test_preview_rows_flags_missing_values():
    rows = preview_rows(TEMPLATE, ROWS).rows

    assert rows.loc[12, "missing"] == "name"
    assert rows.loc[13, "missing"] == "name"
    assert "No value for {name}" in rows.loc[12, "problem"]
    assert rows.loc[10, "missing"] == ""
    assert rows.loc[10, "problem"] is None


def test_preview_rows_flags_missing_column():
    rows = preview_rows("Hi {name}, code {code}", ROWS).rows

    assert rows.loc[10, "missing"] == "code"
    assert rows.loc[12, "missing"] == "name, code"


def test_preview_rows_ucs2_characters_per_row():
    rows = preview_rows(TEMPLATE, ROWS).rows

    assert rows.loc[11, "ucs2_characters"] == "ë"
    assert rows.loc[15, "ucs2_characters"] == "ΑΕέήαηθλν"
    assert rows.loc[10, "ucs2_characters"] == ""


def test_preview_rows_skips_problem_rows_in_totals():
    preview = preview_rows(TEMPLATE, ROWS)

    assert preview.recipients == 4
    assert preview.skipped == 2
    assert preview.by_country.loc["GR", "skipped"] == 1
    assert preview.by_country.loc["IT", "recipients"] == 0


def test_preview_rows_keeps_index():
    assert preview_rows(TEMPLATE, ROWS).rows.index.tolist() == [10, 11, 12, 13, 14, 15]


def test_preview_rows_include_text():
    rows = preview_rows(TEMPLATE, ROWS, include_text=True).rows

    assert rows.loc[10, "text"] == "Hi Anna, your parcel is in Nicosia."
    assert rows.loc[12, "text"] == "Hi , your parcel is in Athens."


def test_preview_rows_accepts_dicts():
    preview = preview_rows(
        "Hi {name}", [{"name": "A", "country": "CY"}, {"name": "B", "country": "CY"}]
    )

    assert preview.recipients == 2


def test_preview_rows_default_region_fills_blank():
    preview = preview_rows("Hi {name}", [{"name": "A", "country": ""}], default_region="gr")

    assert preview.rows["region"].tolist() == ["GR"]


def test_preview_rows_default_region_without_column():
    preview = preview_rows("Hi {name}", [{"name": "A"}], default_region="CY")

    assert preview.by_country.index.tolist() == ["CY"]


def test_preview_rows_invalid_country_flagged():
    rows = preview_rows("Hi", [{"country": "Cyprus"}, {"country": None}]).rows

    assert "'Cyprus' is not a two-letter ISO region code" in rows["problem"].iloc[0]
    assert "has no country" in rows["problem"].iloc[1]
    assert rows["cost"].iloc[0] is None


def test_preview_rows_no_country_source_raises():
    with pytest.raises(InputError, match="no country column 'country'"):
        preview_rows("Hi {name}", [{"name": "A"}])


def test_preview_rows_invalid_default_raises():
    with pytest.raises(InputError, match="'Cyprus'"):
        preview_rows("Hi", [{"name": "A"}], default_region="Cyprus")


def test_preview_rows_empty_message_flagged():
    rows = preview_rows("{name}", [{"name": "", "country": "CY"}]).rows

    assert rows["parts"].iloc[0] == 0
    assert "message is empty" in rows["problem"].iloc[0]


def test_preview_rows_empty_list():
    preview = preview_rows("Hi {name}", pd.DataFrame({"name": [], "country": []}))

    assert preview.recipients == 0
    assert preview.cost == Decimal(0)
    assert len(preview.by_country) == 0


# The vectorised path against the row loop


def _random_rows(count: int, seed: int) -> pd.DataFrame:
    generator = random.Random(seed)
    alphabet = (
        list("abcdefghij ABC123")
        + list("€[]{}\\^~|\f")
        + ["😀", "é", "ά", "Ω", "\r", "\n", "\r\n", "’", "\u00a0"]
    )

    def value() -> object:
        if generator.random() < 0.05:
            return generator.choice([None, "", "  ", np.nan])
        length = generator.choice([0, 1, 3, 10, 40, 80, 150])
        return "".join(generator.choice(alphabet) for _ in range(length))

    return pd.DataFrame(
        {
            "a": [value() for _ in range(count)],
            "b": [value() for _ in range(count)],
            "n": [generator.randint(0, 10**6) for _ in range(count)],
            "country": [
                generator.choice(["CY", "gr", "ZZ", "XYZ", None, "US"]) for _ in range(count)
            ],
        }
    )


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("Hi {a}, {b}! {a}", id="repeated"),
        pytest.param("€ {a}{b} € " + "x" * 140, id="euro_long"),
        pytest.param("{a}", id="value_only"),
        pytest.param("Plain text only", id="no_placeholder"),
        pytest.param("Ω {b} {{x}} " + "y" * 60, id="ucs2_literal"),
        pytest.param("{a}{missing} #{n}", id="missing_column_number"),
        pytest.param("😀" * 30 + "{b}", id="emoji_literal"),
    ],
)
@pytest.mark.parametrize("dtype", ["object", "str"])
def test_preview_rows_fast_equals_loop(template, dtype):
    # Object columns are deduplicated first; mostly distinct str columns are counted per row.
    rows = _random_rows(2000, seed=len(template)).astype({"a": dtype, "b": dtype})

    fast = preview_rows(template, rows, default_region="CY", include_text=True)
    loop = preview_rows_loop(template, rows, default_region="CY", include_text=True)

    for column in loop.rows.columns:
        assert fast.rows[column].equals(loop.rows[column]), column
    assert fast.by_country.equals(loop.by_country)
    assert (fast.recipients, fast.parts, fast.cost, fast.skipped) == (
        loop.recipients,
        loop.parts,
        loop.cost,
        loop.skipped,
    )


def test_preview_rows_fast_boundary_rows():
    # 151 to 153 septets before the euro sign put its escape pair on both sides of the boundary.
    rows = [{"pad": "a" * width, "country": "CY"} for width in range(140, 160)]

    fast = preview_rows("{pad}€" + "b" * 10, rows).rows["parts"].tolist()
    loop = preview_rows_loop("{pad}€" + "b" * 10, rows).rows["parts"].tolist()

    assert fast == loop


# The `preview` command


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "preview", *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_preview_json_shape():
    result = _run_cli("--message", "It’s 25€ 😀", "--json")
    output = json.loads(result.stdout)

    assert result.returncode == 0
    assert list(output) == ["encoding", "parts", "units", "ucs2_characters", "placeholders"]
    assert output["encoding"] == "UCS-2"
    assert output["parts"] == 1
    assert output["units"] == 11
    assert output["ucs2_characters"][0] == {
        "char": "’",
        "codepoint": "U+2019",
        "name": "RIGHT SINGLE QUOTATION MARK",
        "index": 2,
    }
    assert [item["index"] for item in output["ucs2_characters"]] == [2, 9]


def test_cli_preview_json_gsm():
    output = json.loads(_run_cli("--message", "a" * 159 + "€", "--json").stdout)

    assert output == {
        "encoding": "GSM-7",
        "parts": 2,
        "units": 161,
        "ucs2_characters": [],
        "placeholders": [],
    }


def test_cli_preview_human():
    result = _run_cli("--message", "It’s ready")

    assert result.returncode == 0
    assert "Encoding: UCS-2" in result.stdout
    assert "U+2019 RIGHT SINGLE QUOTATION MARK at index 2" in result.stdout
    assert "It's ready" in result.stdout


def test_cli_preview_empty_message_error():
    result = _run_cli("--message", "")

    assert result.returncode == 2
    assert "message is empty" in result.stderr


def test_cli_preview_lone_brace_error():
    result = _run_cli("--message", "Use code { now")

    assert result.returncode == 2
    assert result.stderr.startswith("error: The template has a lone '{' at position 9")


def test_cli_preview_human_names_placeholders():
    result = _run_cli("--message", "Hi {name}, see {city}")

    assert result.returncode == 0
    assert "Units: 9 septets" in result.stdout
    assert "Placeholders: {name}, {city} (counted as empty" in result.stdout
