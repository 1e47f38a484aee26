"""Normalisation of one phone number to E.164 with the `phonenumbers` package, the reference.

`classify_phone` gives the verdict for one cell. The fast path in `fastpath.py` gives the same
verdict for whole columns and hands every value it is unsure of to `classify_compact`; a
differential test checks that both give the same verdicts.

Which numbers are accepted: a number must be valid (`phonenumbers.is_valid_number`) and of type
MOBILE or FIXED_LINE_OR_MOBILE. The second type covers regions whose numbering plan does not tell
mobiles from landlines (the US, Canada and the rest of +1, among others), where rejecting would
reject every number. Every other type is rejected with its own reason code: FIXED_LINE
("landline"), TOLL_FREE, PREMIUM_RATE, SHARED_COST, VOIP, PERSONAL_NUMBER, PAGER, UAN and
VOICEMAIL. VoIP and pager numbers are rejected too, because SMS delivery to them is not assured
and SMS.to bills every status except REJECTED and UNSUBSCRIBED, undelivered messages included.

Mobile numbers of non-geographic calling codes (such as Inmarsat +870, Iridium +881 and the
international networks of +882), whose region phonenumbers reports as "001", are rejected as
"non_geographic": a campaign is priced and checked per country (ISO region code), and these
numbers have none.
"""

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, ValidationResult

from core.errors import InputError
from core.importing.cleaning import precheck

# Type of a valid number -> "ok" or the reason code that rejects it.
TYPE_CODES = {
    PhoneNumberType.MOBILE: "ok",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "ok",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}

# The region phonenumbers gives numbers of calling codes that belong to no country.
NON_GEOGRAPHIC_REGION = "001"
NON_GEOGRAPHIC = "non_geographic"

# Reason code of a parsed but invalid number, by `is_possible_number_with_reason` result.
LENGTH_CODES = {
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too_short",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.INVALID_LENGTH: "wrong_length",
    ValidationResult.IS_POSSIBLE: "invalid_number",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
}

_PARSE_ERROR_CODES = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}


@dataclass(frozen=True, slots=True)
class PhoneVerdict:
    """The outcome for one cell.

    `code` is "ok" or a reason code. `e164` and `region` are set for every valid number, also
    for one rejected for its type (a landline). `calling_code` is the country calling code the
    number was read with, or 0 when parsing failed before one was known.
    """

    code: str
    e164: str | None = None
    region: str | None = None
    calling_code: int = 0
    detail: str = ""


def check_region(region: str) -> str:
    """Return `region` upper-cased, or raise InputError when phonenumbers does not know it."""
    code = (region or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InputError(
            f"Default country {region!r} is not a known region code; use a two-letter ISO code such as CY or GB."
        )
    return code


def classify_phone(cell: str, default_region: str) -> PhoneVerdict:
    """Clean one cell, check it, and normalise it to E.164 for `default_region`."""
    checked = precheck(cell, number_checker(default_region))
    if checked.code:
        return PhoneVerdict(checked.code, detail=checked.detail)
    return classify_compact(checked.compact, default_region)


@functools.lru_cache(maxsize=65536)
def classify_compact(compact: str, default_region: str) -> PhoneVerdict:
    """Parse and validate a cleaned cell (see `cleaning.precheck`) with phonenumbers."""
    try:
        number = phonenumbers.parse(compact, default_region)
    except NumberParseException as exc:
        return PhoneVerdict(_PARSE_ERROR_CODES.get(exc.error_type, "not_a_number"))

    calling_code = number.country_code
    if number.extension:
        return PhoneVerdict("extension", calling_code=calling_code)
    if not phonenumbers.is_valid_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        return PhoneVerdict(LENGTH_CODES[reason], calling_code=calling_code)

    code = TYPE_CODES[phonenumbers.number_type(number)]
    region = phonenumbers.region_code_for_number(number)
    if code == "ok" and region == NON_GEOGRAPHIC_REGION:
        code = NON_GEOGRAPHIC
    return PhoneVerdict(
        code,
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        region=region,
        calling_code=calling_code,
    )


@functools.cache
def number_checker(default_region: str):
    """Return a function telling whether a compact value is a valid number of any type."""

    def is_number(compact: str) -> bool:
        return classify_compact(compact, default_region).e164 is not None

    return is_number


def to_e164(value: str, default_region: str) -> str | None:
    """Return the E.164 form of a valid number of any type, or None; the same rules as import.

    For matching numbers that come back from elsewhere (delivery reports, opt-outs) against
    imported ones.
    """
    return classify_phone(value, default_region).e164


def describe_number(calling_code: int, default_region: str) -> str:
    """Name the kind of number for a reason sentence, e.g. "+357 (CY)"."""
    if not calling_code:
        return default_region
    region = phonenumbers.region_code_for_country_code(calling_code)
    if region in ("001", "ZZ"):
        return f"+{calling_code}"
    return f"+{calling_code} ({region})"
