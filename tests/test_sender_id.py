"""Sender IDs: alphanumeric up to 11 characters of A-Za-z0-9 space _ -, or up to 15 digits."""

import pytest

from core.errors import InputError
from core.sender_id import validate_sender_id

VALID = [
    # (id, value, cleaned)
    ("letters", "SMSto", "SMSto"),
    ("eleven_chars", "ABCDEFGHIJK", "ABCDEFGHIJK"),
    ("one_char", "A", "A"),
    ("inner_space", "My Shop", "My Shop"),
    ("underscore_hyphen", "shop_1-CY", "shop_1-CY"),
    ("surrounding_space", "  Shop  ", "Shop"),
    ("digits_and_letters", "123Shop", "123Shop"),
    ("digits_with_underscore", "12_34", "12_34"),
    ("number", "35799000001", "35799000001"),
    ("number_plus", "+35799000001", "+35799000001"),
    ("number_spaces", "+357 99 000001", "+35799000001"),
    ("number_hyphens", "357-99-000001", "35799000001"),
    ("number_fifteen_digits", "+123456789012345", "+123456789012345"),
    ("short_code", "1234", "1234"),
]

INVALID = [
    # (id, value, words in the message)
    ("empty", "", "is empty"),
    ("blank", "   ", "is empty"),
    ("twelve_chars", "ABCDEFGHIJKL", "12 characters long"),
    ("twelve_with_space", "My Shop Cyp1", "at most 11"),
    ("accented", "Café", "'é'"),
    ("greek", "Κατάστημα", "which SMS.to rejects"),
    ("dot", "shop.cy", "'.'"),
    ("plus_in_name", "+Shop", "'+'"),
    ("ampersand", "A&B", "'&'"),
    ("emoji", "Shop😀", "'😀'"),
    ("sixteen_digits", "1234567890123456", "16 digits"),
    ("sixteen_digits_plus", "+1234567890123456", "at most 15"),
    ("only_punctuation", "__", "no letter or digit"),
    ("not_text", 35799000001, "is not text"),
    ("none", None, "is not text"),
]


@pytest.mark.parametrize(
    ("value", "cleaned"), [pytest.param(*case[1:], id=case[0]) for case in VALID]
)
def test_validate_sender_id_valid(value, cleaned):
    assert validate_sender_id(value) == cleaned


@pytest.mark.parametrize(
    ("value", "words"), [pytest.param(*case[1:], id=case[0]) for case in INVALID]
)
def test_validate_sender_id_invalid(value, words):
    with pytest.raises(InputError) as raised:
        validate_sender_id(value)

    assert words in str(raised.value)
    assert repr(value) in str(raised.value)


def test_validate_sender_id_error_is_value_error():
    with pytest.raises(ValueError):
        validate_sender_id("")
