"""Sender ID validation against SMS.to's rules.

SMS.to accepts an alphanumeric sender ID of up to 11 characters from `A-Za-z0-9`, space, `_`
and `-`, or a number. SMS.to does not publish a length limit for numbers, so this module allows
up to 15 digits, the E.164 maximum, with an optional leading `+`.

A value made only of digits, spaces and hyphens (with an optional leading `+`) is a number: the
spaces and hyphens are removed, so "+357 99-000001" becomes "+35799000001". Anything else is
checked as alphanumeric and keeps its inner spaces.
"""

import logging
import re

from core.errors import InputError

log = logging.getLogger(__name__)

ALPHANUMERIC_MAX_LENGTH = 11
NUMERIC_MAX_DIGITS = 15

_NUMBER_SHAPE = re.compile(r"\+?[0-9][0-9 \-]*")
_ALPHANUMERIC_CHAR = re.compile(r"[A-Za-z0-9 _\-]")
_HELP = "Use up to 11 letters A-Z, digits, spaces, _ or -, or a phone number of up to 15 digits"


def validate_sender_id(value: str) -> str:
    """Return the sender ID cleaned for SMS.to, or raise InputError naming what is wrong.

    Surrounding whitespace is removed, and a number loses its spaces and hyphens.
    """
    if not isinstance(value, str):
        raise InputError(f"Sender ID {value!r} is not text. {_HELP}.")

    text = value.strip()
    if not text:
        raise InputError(f"Sender ID {value!r} is empty. {_HELP}.")

    if _NUMBER_SHAPE.fullmatch(text):
        return _validate_numeric(value, text)
    return _validate_alphanumeric(value, text)


def _validate_numeric(value: str, text: str) -> str:
    cleaned = re.sub(r"[ \-]", "", text)
    digits = cleaned.lstrip("+")

    if len(digits) > NUMERIC_MAX_DIGITS:
        raise InputError(
            f"Sender ID {value!r} has {len(digits)} digits, but a numeric sender ID has at most "
            f"{NUMERIC_MAX_DIGITS}. Remove the extra digits or use an alphanumeric name."
        )
    return cleaned


def _validate_alphanumeric(value: str, text: str) -> str:
    invalid = sorted({char for char in text if not _ALPHANUMERIC_CHAR.fullmatch(char)})
    if invalid:
        listed = ", ".join(repr(char) for char in invalid)
        raise InputError(f"Sender ID {value!r} contains {listed}, which SMS.to rejects. {_HELP}.")

    if len(text) > ALPHANUMERIC_MAX_LENGTH:
        raise InputError(
            f"Sender ID {value!r} is {len(text)} characters long, but an alphanumeric sender ID "
            f"has at most {ALPHANUMERIC_MAX_LENGTH}. Shorten it."
        )

    if not re.search(r"[A-Za-z0-9]", text):
        raise InputError(f"Sender ID {value!r} has no letter or digit. {_HELP}.")
    return text
