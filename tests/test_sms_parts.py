"""Parts and encoding per GSM 03.38: the case file, the part boundaries and the alphabet."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.sms_parts import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    UCS2,
    count_parts,
    describe_lone_surrogate,
    is_gsm7,
    normalise_text,
    parts_for_units,
)
from tests.conftest import load_case

CASE = load_case("sms_gsm7_extension_chars.json")
EXPECTED = {
    item["id"]: item for item in load_case("sms_gsm7_extension_chars.expected.json")["expected"]
}
MESSAGES = [
    pytest.param(message["text"], EXPECTED[message["id"]], id=message["id"])
    for message in CASE["messages"]
]


@pytest.mark.parametrize(("text", "expected"), MESSAGES)
def test_count_parts_extension_case(text, expected):
    info = count_parts(text)

    assert len(text) == expected["python_len"]
    assert info.encoding == expected["encoding"]
    assert info.units == expected["units"]
    assert info.parts == expected["parts"]
    assert info.units_per_part == expected["units_per_part"]
    assert info.ucs2_characters == []


def test_count_parts_crlf_case_normalised():
    # The sending path sends normalise_text(text), where CR LF becomes one LF septet.
    text = next(m["text"] for m in CASE["messages"] if m["id"] == "crlf_newline")

    info = count_parts(normalise_text(text))

    assert info.units == 160
    assert info.parts == 1


BOUNDARIES = [
    # (id, text, encoding, units, units_per_part)
    ("gsm_159", "a" * 159, GSM7, 159, [159]),
    ("gsm_160", "a" * 160, GSM7, 160, [160]),
    ("gsm_161", "a" * 161, GSM7, 161, [153, 8]),
    ("gsm_306", "a" * 306, GSM7, 306, [153, 153]),
    ("gsm_307", "a" * 307, GSM7, 307, [153, 153, 1]),
    ("gsm_1000", "a" * 1000, GSM7, 1000, [153] * 6 + [82]),
    ("euro_straddles_153", "a" * 152 + "€" + "b" * 10, GSM7, 164, [152, 12]),
    ("euro_fills_153", "a" * 151 + "€" + "b" * 10, GSM7, 163, [153, 10]),
    ("euro_at_160_single", "a" * 158 + "€", GSM7, 160, [160]),
    ("euro_over_160", "a" * 159 + "€", GSM7, 161, [153, 8]),
    ("brace_straddles_306", "a" * 305 + "{" + "b", GSM7, 308, [153, 152, 3]),
    ("ucs2_70", "α" * 70, UCS2, 70, [70]),
    ("ucs2_71", "α" * 71, UCS2, 71, [67, 4]),
    ("ucs2_134", "α" * 134, UCS2, 134, [67, 67]),
    ("ucs2_135", "α" * 135, UCS2, 135, [67, 67, 1]),
    ("surrogate_straddles_67", "α" * 66 + "😀" + "β" * 5, UCS2, 73, [66, 7]),
    ("surrogate_fills_67", "α" * 65 + "😀" + "β" * 5, UCS2, 72, [67, 5]),
    ("emoji_35_single", "😀" * 35, UCS2, 70, [70]),
    ("emoji_36", "😀" * 36, UCS2, 72, [66, 6]),
    ("emoji_one", "😀", UCS2, 2, [2]),
    ("extension_in_ucs2_counts_one", "€{}[]" + "α", UCS2, 6, [6]),
    ("extension_69_with_alpha", "{" * 69 + "α", UCS2, 70, [70]),
    ("section_sign", "§", GSM7, 1, [1]),
    ("crlf_two_septets", "\r\n", GSM7, 2, [2]),
    ("form_feed_two", "\f", GSM7, 2, [2]),
    ("empty", "", GSM7, 0, []),
]


@pytest.mark.parametrize(
    ("text", "encoding", "units", "units_per_part"),
    [pytest.param(*case[1:], id=case[0]) for case in BOUNDARIES],
)
def test_count_parts_boundary(text, encoding, units, units_per_part):
    info = count_parts(text)

    assert info.encoding == encoding
    assert info.units == units
    assert info.units_per_part == units_per_part
    assert info.parts == len(units_per_part)


@pytest.mark.parametrize("char", list(GSM7_BASIC), ids=lambda char: f"U+{ord(char):04X}")
def test_count_parts_basic_char_one_septet(char):
    info = count_parts(char)

    assert info.encoding == GSM7
    assert info.units == 1


@pytest.mark.parametrize("char", list(GSM7_EXTENSION), ids=lambda char: f"U+{ord(char):04X}")
def test_count_parts_extension_char_two_septets(char):
    info = count_parts(char)

    assert info.encoding == GSM7
    assert info.units == 2


def test_gsm7_basic_table_size():
    # 128 code points, of which 0x1B is the escape to the extension table.
    assert len(set(GSM7_BASIC)) == 127


@pytest.mark.parametrize(
    "char",
    ["ç", "`", "\x1b", "\t", "’", "á", "Α", "ж", "中", "😀", "\u00a0"],
    ids=lambda char: f"U+{ord(char):04X}",
)
def test_count_parts_forces_ucs2(char):
    assert count_parts("Hello " + char).encoding == UCS2


def test_count_parts_ucs2_character_positions():
    info = count_parts("It’s “ok” 😀!")

    found = [(item.char, item.index) for item in info.ucs2_characters]
    assert found == [("’", 2), ("“", 5), ("”", 8), ("😀", 10)]


def test_ucs2_character_to_dict():
    item = count_parts("a’").ucs2_characters[0]

    assert item.to_dict() == {
        "char": "’",
        "codepoint": "U+2019",
        "name": "RIGHT SINGLE QUOTATION MARK",
        "index": 1,
    }


def test_count_parts_empty_is_empty():
    assert count_parts("").is_empty


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\r\nb", "a\nb"), ("a\rb", "a\nb"), ("a\nb", "a\nb"), ("\r\r\n", "\n\n"), ("", "")],
)
def test_normalise_text_line_endings(text, expected):
    assert normalise_text(text) == expected


@pytest.mark.parametrize(
    ("units", "encoding", "parts"),
    [
        (0, GSM7, 0),
        (1, GSM7, 1),
        (160, GSM7, 1),
        (161, GSM7, 2),
        (306, GSM7, 2),
        (307, GSM7, 3),
        (70, UCS2, 1),
        (71, UCS2, 2),
        (134, UCS2, 2),
        (135, UCS2, 3),
    ],
)
def test_parts_for_units_table(units, encoding, parts):
    assert parts_for_units(units, encoding=encoding) == parts


def test_is_gsm7_mixed():
    assert is_gsm7("Price 25€ {ok}")
    assert not is_gsm7("Price 25€ – ok")


_ALPHABET = st.sampled_from(list("ab €{\\\f§\r\n") + ["α", "😀", "’"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=400).map("".join))
def test_count_parts_parts_within_limits(text):
    info = count_parts(text)
    single, multi = (160, 153) if info.encoding == GSM7 else (70, 67)
    limit = single if info.parts == 1 else multi

    assert sum(info.units_per_part) == info.units
    assert all(0 < size <= limit for size in info.units_per_part)
    assert info.parts >= parts_for_units(info.units, encoding=info.encoding)
    assert info.parts <= parts_for_units(info.units, encoding=info.encoding) + 1


# Any code point, with lone surrogates drawn often: each counts as the one UTF-16 unit it is.
_ANY_CODE_POINT = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ANY_CODE_POINT))
def test_count_parts_any_str_never_raises(text):
    info = count_parts(text)

    assert sum(info.units_per_part) == info.units


LONE_SURROGATES = [
    ("escaped_byte", "caf\udce9", "the byte 0xE9 at index 3, which is not valid UTF-8"),
    ("high_half", "ok \ud83d", "U+D83D at index 3, half of a UTF-16 surrogate pair"),
    ("pair_as_two_code_points", "\ud83d\ude00", "U+D83D at index 0"),
]


@pytest.mark.parametrize(
    "text, expected",
    [case[1:] for case in LONE_SURROGATES],
    ids=[case[0] for case in LONE_SURROGATES],
)
def test_describe_lone_surrogate_names_position(text, expected):
    assert expected in describe_lone_surrogate(text)


@pytest.mark.parametrize(
    "text", ["café", "😀", "", "\U0010ffff"], ids=["accent", "emoji", "empty", "last_code_point"]
)
def test_describe_lone_surrogate_valid_text_none(text):
    assert describe_lone_surrogate(text) is None


def test_count_parts_lone_surrogate_one_unit():
    info = count_parts("caf\udce9")

    assert info.encoding == UCS2
    assert info.units == 4
