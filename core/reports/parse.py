"""Parse SMS.to delivery-report bodies of every shape into `ParsedReport` values.

SMS.to sends form-encoded bodies, its articles print JSON, and gateways in between re-encode: so a
body is parsed by its shape (a JSON object or array, else form fields), not only by Content-Type.
A body is accepted whole or rejected whole, so a body never yields a partly parsed report.
"""

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from urllib.parse import unquote

from core.errors import InputError
from core.money import SCALE, parse_money
from core.statuses import normalise_status

log = logging.getLogger(__name__)

# Larger bodies get a 413 response. A report is about 200 bytes, so this leaves room for an array
# of a few hundred reports.
MAX_BODY_BYTES = 64 * 1024

MAX_TEXT_LENGTH = 255
MAX_PARTS = 255  # a concatenated SMS has at most 255 parts (one octet in the UDH)
MAX_PRICE = Decimal(1_000_000)

# Field names as SMS.to spells them, keyed by a folded form that also accepts snake_case and
# other capitalisations ("tracking_id", "MessageID").
_FIELDS = {
    "trackingid": "trackingId",
    "messageid": "messageId",
    "phone": "phone",
    "status": "status",
    "parts": "parts",
    "price": "price",
}

# Every body this matches is one that the full parser accepts (a property test checks it):
# non-empty ids that decode to themselves, parts 0..255, price below 10^6 with at most 9 decimals.
_ID = rb"[A-Za-z0-9._~-]{1,%d}" % MAX_TEXT_LENGTH
_CANONICAL_FORM = re.compile(
    rb"trackingId=" + _ID + rb"&messageId=" + _ID
    + rb"&phone=[A-Za-z0-9%+._()-]{0,64}&status=[A-Za-z_]{1,64}"
    + rb"&parts=(?:[0-9]{1,2}|1[0-9]{2}|2[0-4][0-9]|25[0-5])?"
    + rb"&price=(?:[0-9]{1,6}(?:\.[0-9]{1,9})?)?"
)

# Spellings seen in practice, looked up before the slower folding.
_FIELDS_AS_SENT = {name: name for name in _FIELDS.values()}

_PLAIN_PHONE = re.compile(r"\s*(\+?)([1-9][0-9]*)\s*")
_SEPARATORS = re.compile(r"[\s\-.()/]")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class ReportParseError(ValueError):
    """A body that is not a valid delivery report; `code` is the error code sent back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ParsedReport:
    tracking_id: str
    message_id: str
    phone: str  # E.164 when it could be normalised, else the cleaned text as received
    phone_raw: str
    status: str  # upper-cased; unknown statuses are kept as they are
    parts: int | None  # None when the report did not say
    price: Decimal | None  # None when the report did not say (unknown, not zero)
    price_raw: str


def check_report_body(body: bytes, content_type: str = "") -> None:
    """Raise ReportParseError unless `parse_report_body` would accept `body`.

    This check runs on every webhook request, so the form body that SMS.to sends (fields in its
    order, ids of unreserved URL characters, a plain status, parts and price) is recognised by
    one regular expression. Any other body goes through the full parser.
    """
    if _CANONICAL_FORM.fullmatch(body) is None:
        parse_report_body(body, content_type)


def parse_report_body(body: bytes, content_type: str = "") -> list[ParsedReport]:
    """Parse one delivery-report body (one report or a JSON array of reports).

    Raises ReportParseError with code `invalid_body`, `missing_field` or `invalid_field`.
    """
    items = decode_body_items(body, content_type)
    return [_parse_item(item, index) for index, item in enumerate(items)]


def decode_body_items(body: bytes, content_type: str = "") -> list[dict]:
    """Decode a body into a list of field dictionaries, from JSON or form encoding."""
    text = _decode_text(body)
    stripped = text.strip()
    if not stripped:
        raise ReportParseError("invalid_body", "The body is empty; send the report's fields.")

    # The shape decides; Content-Type only picks which error to report for a body of neither shape.
    if stripped[0] in "{[":
        return _json_items(stripped)
    if "=" not in stripped and "json" in content_type.lower():
        return _json_items(stripped)
    return [_form_fields(stripped)]


def normalise_report_phone(value: object) -> str:
    """Normalise a report's phone for matching against recipients, who are stored in E.164.

    Removes invisible characters and separators, restores a '+' that form decoding turned into a
    space, turns a leading 00 into '+', and adds the '+' to a digits-only international number.
    A value that cannot be made E.164 (a national number starting with 0, letters) is returned
    cleaned but otherwise as received, so it is stored and shown but matches no bulk recipient.
    """
    plain = _PLAIN_PHONE.fullmatch(value) if isinstance(value, str) else None
    if plain is not None:  # the common case: ASCII digits with or without '+'
        return "+" + plain.group(2)

    text = unicodedata.normalize("NFKC", str(value or ""))
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zs") else ch for ch in text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    compact = _SEPARATORS.sub("", text)

    if compact.startswith("+") and compact[1:].isdigit():
        return compact
    if compact.startswith("00") and compact[2:].isdigit() and len(compact) > 2:
        return "+" + compact[2:]
    if compact.isdigit() and not compact.startswith("0"):
        return "+" + compact
    return compact


def is_e164(phone: str) -> bool:
    """Tell whether `phone` is a '+' followed by 7 to 15 digits, the first not 0."""
    return bool(_E164.match(phone))


def _decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReportParseError(
            "invalid_body",
            f"The body is not UTF-8 text (invalid byte at offset {error.start}); "
            "send form fields or JSON in UTF-8.",
        ) from None


# A lone surrogate cannot be encoded for the database, and PostgreSQL rejects NUL in text, so
# either would fail the matcher's whole batch. The raw body keeps the original bytes.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Replace characters that no database column can store with U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a valid JSON number here")


def _json_items(text: str) -> list[dict]:
    try:
        data = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_object_without_conflicts,
        )
    except (ValueError, RecursionError) as error:
        raise ReportParseError(
            "invalid_body", f"The body looks like JSON but does not parse: {error}."
        ) from None

    items = data if isinstance(data, list) else [data]
    if not items:
        raise ReportParseError("invalid_body", "The JSON array is empty; send at least one report.")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ReportParseError(
                "invalid_body",
                f"Report {index} is a JSON {type(item).__name__}, not an object with the "
                "report's fields.",
            )
    return items


def _object_without_conflicts(pairs: list[tuple[str, object]]) -> dict:
    # A JSON object that repeats a key with another value is as ambiguous as such a form body.
    fields: dict = {}
    for name, value in pairs:
        if name in fields and fields[name] != value:
            raise ReportParseError(
                "invalid_body",
                f"The JSON field {name!r} appears twice with different values; send it once.",
            )
        fields[name] = value
    return fields


def _form_fields(text: str) -> dict:
    if "=" not in text:
        raise ReportParseError(
            "invalid_body", "The body is neither JSON nor form fields (name=value&...)."
        )

    fields: dict[str, str] = {}
    for piece in text.split("&"):
        if not piece:
            continue
        raw_name, _, raw_value = piece.partition("=")
        name, value = _unquote_plus(raw_name), _unquote_plus(raw_value)
        if name in fields and fields[name] != value:
            raise ReportParseError(
                "invalid_body",
                f"The form field {name!r} appears twice with different values; send it once.",
            )
        fields[name] = value
    return fields


def _unquote_plus(text: str) -> str:
    # The same decoding as urllib.parse.unquote_plus, skipping the work when there is none.
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


def _parse_item(item: dict, index: int) -> ParsedReport:
    fields = _canonical_fields(item, index)
    tracking_id = _text_field(fields, "trackingId", index)
    message_id = _text_field(fields, "messageId", index)
    if not tracking_id and not message_id:
        raise ReportParseError(
            "missing_field",
            f"Report {index} has neither trackingId nor messageId, so it cannot be matched to a "
            "message; send at least one of them.",
        )

    status_text = _text_field(fields, "status", index)
    if not status_text:
        raise ReportParseError("missing_field", f"Report {index} has no status; send the status.")

    phone_raw = _text_field(fields, "phone", index)
    price, price_raw = _price_field(fields.get("price"), index)
    return ParsedReport(
        tracking_id=tracking_id,
        message_id=message_id,
        phone=normalise_report_phone(phone_raw),
        phone_raw=phone_raw,
        status=normalise_status(status_text),
        parts=_parts_field(fields.get("parts"), index),
        price=price,
        price_raw=price_raw,
    )


def _canonical_fields(item: dict, index: int) -> dict:
    fields: dict = {}
    for name, value in item.items():
        canonical = _FIELDS_AS_SENT.get(name)
        if canonical is None:
            folded = str(name).strip().lower().replace("_", "").replace("-", "")
            canonical = _FIELDS.get(folded)
        if canonical is None:
            continue  # unknown fields are kept in the raw body, not parsed
        if canonical in fields and fields[canonical] != value:
            raise ReportParseError(
                "invalid_body",
                f"Report {index} gives {canonical} twice with different values; send it once.",
            )
        fields[canonical] = value
    return fields


def _text_field(fields: dict, name: str, index: int) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ReportParseError(
            "invalid_field",
            f"Report {index} field {name} is a {type(value).__name__}; send text.",
        )

    text = clean_text(str(value).strip())
    if len(text) > MAX_TEXT_LENGTH:
        raise ReportParseError(
            "invalid_field",
            f"Report {index} field {name} is {len(text)} characters long; "
            f"the maximum is {MAX_TEXT_LENGTH}.",
        )
    return text


def _parts_field(value: object, index: int) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None

    parts = _whole_number(value)
    if parts is None or not 0 <= parts <= MAX_PARTS:
        raise ReportParseError(
            "invalid_field",
            f"Report {index} parts {value!r} is not a whole number from 0 to {MAX_PARTS}.",
        )
    return parts


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def _price_field(value: object, index: int) -> tuple[Decimal | None, str]:
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | Decimal)):
        raise ReportParseError(
            "invalid_field",
            f"Report {index} price is a {type(value).__name__}; send a number such as 0.015.",
        )

    raw = "" if value is None else str(value).strip()
    try:
        price = parse_money(value)
    except InputError as error:
        raise ReportParseError("invalid_field", f"Report {index}: {error}") from None
    if price is None:
        return None, raw

    if price < 0 or price >= MAX_PRICE:
        raise ReportParseError(
            "invalid_field",
            f"Report {index} price {raw} is outside 0 to {MAX_PRICE}; send the amount charged.",
        )
    stored = price.quantize(Decimal(1).scaleb(-SCALE), rounding=ROUND_HALF_EVEN)
    if stored != price:
        # Finer than a billionth of the currency: the status still counts, the price is rounded
        # for storage and price_raw keeps the exact text.
        log.warning("report %d price %s rounded to %s for storage", index, raw, stored)
    return stored, raw
