"""Verdicts and rejection reasons: a stable machine code and a sentence an operator can act on."""

# The verdict of one row. Only `ok` rows are sent.
OK = "ok"
INVALID = "invalid"
DUPLICATE = "duplicate"
SUPPRESSED = "suppressed"
MISSING_VALUE = "missing_value"
VERDICTS = (OK, INVALID, DUPLICATE, SUPPRESSED, MISSING_VALUE)

# Sentence templates by reason code. `{number}` is the kind of number, e.g. "+357 (CY)";
# `{detail}` is what the code found, e.g. the numbers of a cell with several of them.
_SENTENCES = {
    "empty": "The phone cell is empty.",
    "scientific_notation_digits_lost": (
        "The cell contains {detail}, a number in scientific notation whose last digits the spreadsheet "
        "replaced with zeros; format the phone column as Text and export the file again."
    ),
    "several_numbers": "The cell contains several numbers ({detail}); put each number on its own row.",
    "letters": "The number contains letters ({detail}); correct the cell so that it contains only digits.",
    "not_a_number": "The value is not a phone number.",
    "invalid_country_code": "The country code is not valid; check the digits after + or 00.",
    "too_short": "The number has too few digits for a {number} number.",
    "too_long": "The number has too many digits for a {number} number.",
    "wrong_length": "No {number} number has this many digits.",
    "invalid_number": "The number is not a valid {number} number.",
    "extension": "The number has an extension, which an SMS cannot reach.",
    "landline": "This is a {number} landline number, where an SMS cannot arrive.",
    "toll_free": "This is a {number} toll-free number, which cannot receive SMS.",
    "premium_rate": "This is a {number} premium-rate number, which cannot receive SMS.",
    "shared_cost": "This is a {number} shared-cost number, which cannot receive SMS.",
    "voip": "This is a {number} VoIP number, which usually cannot receive SMS from mobile networks.",
    "personal_number": "This is a {number} personal forwarding number, which cannot receive SMS.",
    "pager": "This is a {number} pager number, which cannot receive SMS.",
    "uan": "This is a {number} company (UAN) number, which cannot receive SMS.",
    "voicemail": "This is a {number} voicemail access number, which cannot receive SMS.",
    "non_geographic": (
        "This is a {number} satellite or international network number, which is not supported "
        "because campaigns are priced and sent per country."
    ),
    "duplicate": "Same number as line {detail}; only the first occurrence is kept.",
    "suppressed": "The number opted out and is on the suppression list.",
    "missing_value": "The message uses the {detail}, which this row leaves empty.",
}

REASON_CODES = tuple(_SENTENCES)


def reason_sentence(code: str, *, number: str = "", detail: str = "") -> str:
    """Return the operator sentence for reason `code`; `number` names the kind, e.g. "+357 (CY)"."""
    template = _SENTENCES[code]
    return template.format(number=number or "default-country", detail=detail)
