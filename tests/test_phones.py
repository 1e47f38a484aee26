"""Phone normalisation and rejection reasons, checked through both the one-cell reference
(`classify_phone`) and the column path (`classify_column`, the fast path with its fallback)."""

import pyarrow as pa
import pytest

from core.importing import REASON_CODES, classify_phone, to_e164
from core.importing.normalise import classify_column
from core.importing.phones import describe_number
from core.importing.reasons import reason_sentence


def _scalar(cell: str, region: str):
    verdict = classify_phone(cell, region)
    return verdict.code, verdict.e164, verdict.detail


def _column(cell: str, region: str):
    # Padding with other values makes the column path group and filter as on a real file.
    cells = ["+35799000001", cell, "99 000 002", ""]
    verdicts = classify_column(pa.array(cells, type=pa.string()), region)
    return verdicts.code[1], verdicts.e164[1], verdicts.detail[1]


PATHS = {"scalar": _scalar, "column": _column}

FORMATS = [
    # cell, default region, E.164
    ("+35799000101", "CY", "+35799000101"),
    ("+357 99 000 101", "CY", "+35799000101"),
    ("+357-99-000-101", "CY", "+35799000101"),
    ("+357.99.000.101", "CY", "+35799000101"),
    ("(+357) 99 000101", "CY", "+35799000101"),
    ("+357 (99) 000101", "CY", "+35799000101"),
    ("0035799000101", "CY", "+35799000101"),
    ("00 357 99 000101", "CY", "+35799000101"),
    ("35799000101", "CY", "+35799000101"),
    ("99000101", "CY", "+35799000101"),
    ("99/000101", "CY", "+35799000101"),
    ("'+35799000101", "CY", "+35799000101"),
    ("07911 123456", "GB", "+447911123456"),
    ("+44 (0)7911 123456", "GB", "+447911123456"),
    ("0044 7911 123456", "CY", "+447911123456"),
    ("+44 7911 123456", "CY", "+447911123456"),
    ("0151 12345678", "DE", "+4915112345678"),
    ("0049 151/12345678", "DE", "+4915112345678"),
    ("(201) 555-0123", "US", "+12015550123"),
    ("1-201-555-0123", "US", "+12015550123"),
    ("011 357 99 000101", "US", "+35799000101"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("6912345678", "GR", "+306912345678"),
    ("+30 691 234 5678", "CY", "+306912345678"),
    ("8 (912) 345-67-89", "RU", "+79123456789"),
    ("+7 912 345 67 89", "CY", "+79123456789"),
    ("(11) 96123-4567", "BR", "+5511961234567"),
    ("011 15 2345-6789", "AR", "+5491123456789"),
    ("090-1234-5678", "JP", "+819012345678"),
    ("0412 345 678", "AU", "+61412345678"),
    ("+00 357 99000101", "CY", "+35799000101"),  # phonenumbers reads it again without the "+"
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cell, region, e164", FORMATS)
def test_phones_formats_normalise(path, cell, region, e164):
    code, got, _ = PATHS[path](cell, region)

    assert code == "ok"
    assert got == e164


# Invisible characters: each class the cleaning removes, around and inside a number.
INVISIBLE = {
    "LRM U+200E": "\u200e",
    "RLM U+200F": "\u200f",
    "LRE U+202A": "\u202a",
    "RLE U+202B": "\u202b",
    "PDF U+202C": "\u202c",
    "LRO U+202D": "\u202d",
    "RLO U+202E": "\u202e",
    "LRI U+2066": "\u2066",
    "RLI U+2067": "\u2067",
    "FSI U+2068": "\u2068",
    "PDI U+2069": "\u2069",
    "ZWSP U+200B": "\u200b",
    "ZWNJ U+200C": "\u200c",
    "ZWJ U+200D": "\u200d",
    "BOM U+FEFF": "\ufeff",
    "WJ U+2060": "\u2060",
    "soft hyphen U+00AD": "\u00ad",
    "arabic letter mark U+061C": "\u061c",
    "VS1 U+FE00": "\ufe00",
    "VS14 U+FE0D": "\ufe0d",
    "VS16 U+FE0F": "\ufe0f",
    "VS17 U+E0100": "\U000e0100",
    "VS256 U+E01EF": "\U000e01ef",
    "NBSP U+00A0": "\u00a0",
    "narrow NBSP U+202F": "\u202f",
    "thin space U+2009": "\u2009",
    "ideographic space U+3000": "\u3000",
    "em space U+2003": "\u2003",
    "TAB": "\t",
    "line separator U+2028": "\u2028",
    "NUL": "\x00",
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", INVISIBLE)
@pytest.mark.parametrize("where", ["before", "inside", "after", "everywhere"])
def test_phones_invisible_characters_removed(path, name, where):
    char = INVISIBLE[name]
    cell = {
        "before": f"{char}+35799000101",
        "inside": f"+357{char}99{char}000101",
        "after": f"+35799000101{char}",
        "everywhere": char + char.join("+35799000101") + char,
    }[where]

    code, e164, _ = PATHS[path](cell, "CY")

    assert code == "ok"
    assert e164 == "+35799000101"


DIGITS = {
    "Arabic-Indic": "٩٩٠٠٠١٠١",
    "Extended Arabic-Indic (Persian)": "۹۹۰۰۰۱۰۱",
    "full-width": "９９０００１０１",
    "Devanagari": "९९०००१०१",
    "Bengali": "৯৯০০০১০১",
    "Thai": "๙๙๐๐๐๑๐๑",
    "mathematical bold": "𝟗𝟗𝟎𝟎𝟎𝟏𝟎𝟏",
    "mixed with ASCII": "99٠٠٠101",
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", DIGITS)
def test_phones_unicode_digits(path, name):
    code, e164, _ = PATHS[path](DIGITS[name], "CY")

    assert code == "ok"
    assert e164 == "+35799000101"


REJECTED = [
    # cell, default region, reason code, detail
    ("", "CY", "empty", ""),
    ("   ", "CY", "empty", ""),
    ("\u200e\u00a0", "CY", "empty", ""),
    ("3.5799E+10", "CY", "scientific_notation_digits_lost", "3.5799E+10"),
    ("3.57990E+10", "CY", "scientific_notation_digits_lost", "3.57990E+10"),
    ("3,5799E+10", "CY", "scientific_notation_digits_lost", "3,5799E+10"),
    ("3.5799e10", "CY", "scientific_notation_digits_lost", "3.5799e10"),
    ("3E+10", "CY", "scientific_notation_digits_lost", "3E+10"),
    (" 3.5799E+10 ", "CY", "scientific_notation_digits_lost", "3.5799E+10"),
    ("99000101 / 99000102", "CY", "several_numbers", "99000101, 99000102"),
    ("99000101, 99000102", "CY", "several_numbers", "99000101, 99000102"),
    ("+35799000101; +35799000102", "CY", "several_numbers", "+35799000101, +35799000102"),
    ("99000101 or 99000102", "CY", "several_numbers", "99000101, 99000102"),
    ("99000101\n99000102", "CY", "several_numbers", "99000101, 99000102"),
    ("+35799000101 +35799000102", "CY", "several_numbers", "+35799000101, +35799000102"),
    ("99000101 | 22123456", "CY", "several_numbers", "99000101, 22123456"),
    ("call 99000101", "CY", "letters", "c, a, l"),
    ("99000101 ext 5", "CY", "letters", "e, x, t"),
    ("tel:+35799000101", "CY", "letters", "t, e, l"),
    ("n/a", "CY", "letters", "n, a"),
    ("-", "CY", "not_a_number", ""),
    ("+", "CY", "not_a_number", ""),
    ("99000#101", "CY", "extension", ""),
    ("123", "CY", "too_short", ""),
    ("9900010", "CY", "too_short", ""),
    ("990001011", "CY", "too_long", ""),
    ("+35799000101234567890", "CY", "too_long", ""),
    ("+999 99000101", "CY", "invalid_country_code", ""),
    ("00999 99000101", "CY", "invalid_country_code", ""),
    ("89000101", "CY", "invalid_number", ""),
    ("22123456", "CY", "landline", ""),
    ("020 7946 0000", "GB", "landline", ""),
    ("0800 123 4567", "GB", "toll_free", ""),
    ("0900 123 4567", "GB", "premium_rate", ""),
    ("056 1234 5678", "GB", "voip", ""),
    ("070 1234 5678", "GB", "personal_number", ""),
    ("076 2345 6789", "GB", "pager", ""),
    ("0300 123 4567", "GB", "uan", ""),
    ("0900 1 234567", "DE", "premium_rate", ""),
    ("0137 1234567", "DE", "shared_cost", ""),
    ("+870 301 234 567", "CY", "non_geographic", ""),
    ("00881612345678", "CY", "non_geographic", ""),
    ("+882 342 1234", "GB", "non_geographic", ""),
    ("011 870 301234567", "US", "non_geographic", ""),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cell, region, code, detail", REJECTED)
def test_phones_rejection_reasons(path, cell, region, code, detail):
    got_code, _, got_detail = PATHS[path](cell, region)

    assert got_code == code
    assert got_detail == detail


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cell", ["3.5799E+10", "3.57990E+10", "3,5799E+10", "3.5799E10"])
def test_phones_scientific_notation_never_becomes_a_number(path, cell):
    _, e164, _ = PATHS[path](cell, "CY")

    assert e164 is None


@pytest.mark.parametrize("path", PATHS)
def test_phones_slash_inside_one_number_is_not_several(path):
    code, e164, _ = PATHS[path]("0049 151/12345678", "DE")

    assert code == "ok"
    assert e164 == "+4915112345678"


@pytest.mark.parametrize("path", PATHS)
def test_phones_landline_keeps_e164_for_the_operator(path):
    code, e164, _ = PATHS[path]("22123456", "CY")

    assert code == "landline"
    assert e164 == "+35722123456"


def test_phones_region_of_shared_calling_code():
    assert classify_phone("+1 204 234 5678", "US").region == "CA"
    assert classify_phone("+44 7781 123456", "CY").region == "GG"


def test_phones_to_e164_for_other_callers():
    assert to_e164("00357 99 000101", "CY") == "+35799000101"
    assert to_e164("not a phone", "CY") is None


@pytest.mark.parametrize("code", REASON_CODES)
def test_phones_every_reason_has_one_sentence(code):
    sentence = reason_sentence(code, number="+357 (CY)", detail="x")

    assert sentence.endswith(".")
    assert "{" not in sentence
    assert "\n" not in sentence


@pytest.mark.parametrize("path", PATHS)
def test_phones_non_geographic_keeps_e164(path):
    code, e164, _ = PATHS[path]("+870301234567", "CY")

    assert code == "non_geographic"
    assert e164 == "+870301234567"


def test_phones_non_geographic_reason_names_code():
    sentence = reason_sentence("non_geographic", number=describe_number(881, "CY"))

    assert sentence.startswith("This is a +881 satellite")
