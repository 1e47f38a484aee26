"""Validation of `/sms/send` and `/sms/estimate` bodies, with SMS.to's 400 responses.

SMS.to takes three shapes: `{"message", "to": "+..."}` (one SMS), `{"message", "to": [...]}` or
`{"message", "list_id"}` (one text to many), and `{"messages": [{"message", "to"}, ...]}`.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import InputError
from core.sandbox.ledger import CAMPAIGN, SINGLE
from core.sender_id import validate_sender_id
from core.sms_parts import find_lone_surrogate

SCHEDULE_FORMAT = "%Y-%m-%d %H:%M:%S"


class HttpError(Exception):
    """A response other than success: status code, SMS.to's message and any extra JSON fields."""

    def __init__(self, status_code: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.extra = extra

    def body(self) -> dict:
        return {"success": False, "message": self.message, **self.extra}


@dataclass
class SendRequest:
    """A validated send: one number and text per recipient, and the send's options."""

    kind: str
    phones: list[str]
    # One text per recipient for personalised sends; otherwise `text` applies to every recipient.
    texts: list[str] | None
    text: str | None
    sender_id: str | None
    callback_url: str | None
    bypass_optout: bool
    scheduled_at: float | None


def reject_lone_surrogates(value: object, where: str = "body") -> None:
    """Raise HttpError(400) when a string of a parsed JSON value contains a lone surrogate.

    JSON may escape half of a UTF-16 pair ("\\ud800"), which parses to a str that cannot be
    encoded or sent. It gets the 400 of an invalid field, never a 500 that a client would retry.
    """
    if isinstance(value, str):
        index = find_lone_surrogate(value)
        if index is not None:
            raise HttpError(
                400,
                f"The {where} field contains U+{ord(value[index]):04X} at index {index}, half of "
                "a UTF-16 surrogate pair and not a character; send valid text.",
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_lone_surrogates(key, f"{where} key")
            reject_lone_surrogates(item, key if where == "body" else f"{where}.{key}")
    elif isinstance(value, list):
        for position, item in enumerate(value):
            reject_lone_surrogates(item, f"{where}[{position}]")


def parse_send_body(data: object, contact_lists: dict[str, list[str]]) -> SendRequest:
    """Validate a send or estimate body; raise HttpError(400) naming what is wrong."""
    if not isinstance(data, dict):
        raise HttpError(400, "The request body must be a JSON object.")
    reject_lone_surrogates(data)

    options = _parse_options(data)
    if "messages" in data:
        phones, texts = _parse_personalised(data["messages"])
        return SendRequest(CAMPAIGN, phones, texts, None, **options)

    text = _require_text(data.get("message"), "message")
    if "list_id" in data and "to" not in data:
        phones = _contact_list(data["list_id"], contact_lists)
        return SendRequest(CAMPAIGN, phones, None, text, **options)

    to = data.get("to")
    if isinstance(to, list):
        return SendRequest(CAMPAIGN, _parse_numbers(to), None, text, **options)
    return SendRequest(SINGLE, [_parse_number(to, "to")], None, text, **options)


def _parse_personalised(messages: object) -> tuple[list[str], list[str]]:
    if not isinstance(messages, list) or not messages:
        raise HttpError(
            400, "The messages field must be a non-empty list of {message, to} objects."
        )

    phones: list[str] = []
    texts: list[str] = []
    for position, item in enumerate(messages):
        if not isinstance(item, dict):
            raise HttpError(
                400, f"The messages[{position}] item must be an object with message and to fields."
            )
        texts.append(_require_text(item.get("message"), f"messages[{position}].message"))
        phones.append(_parse_number(item.get("to"), f"messages[{position}].to"))
    return phones, texts


def _parse_numbers(numbers: list) -> list[str]:
    if not numbers:
        raise HttpError(400, "The to field is an empty list; give at least one recipient.")
    return [_parse_number(number, f"to[{position}]") for position, number in enumerate(numbers)]


def _parse_number(value: object, where: str) -> str:
    # Numbers are checked after the response, as SMS.to does, so only the type is checked here.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"The {where} field must be a phone number such as +35799000001.")
    return value.strip()


def _require_text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"The {where} field is required and must be non-empty text.")
    return value


def _contact_list(list_id: object, contact_lists: dict[str, list[str]]) -> list[str]:
    phones = contact_lists.get(str(list_id))
    if not phones:
        raise HttpError(
            400, f"The list_id {list_id!r} is not a non-empty contact list of this account."
        )
    return list(phones)


def _parse_options(data: dict) -> dict:
    return {
        "sender_id": _parse_sender_id(data.get("sender_id")),
        "callback_url": _parse_callback_url(data.get("callback_url")),
        "bypass_optout": _parse_bypass_optout(data.get("bypass_optout", False)),
        "scheduled_at": _parse_schedule(data.get("scheduled_for"), data.get("timezone")),
    }


def _parse_sender_id(value: object) -> str | None:
    if value is None:
        return None
    try:
        return validate_sender_id(value)
    except InputError as exc:
        raise HttpError(400, str(exc)) from None


def _parse_callback_url(value: object) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(400, f"The callback_url {value!r} must be an http or https URL.")
    return value


def _parse_bypass_optout(value: object) -> bool:
    if not isinstance(value, bool):
        raise HttpError(400, f"The bypass_optout field must be true or false, not {value!r}.")
    return value


def _parse_schedule(scheduled_for: object, timezone: object) -> float | None:
    if scheduled_for is None or scheduled_for == "":
        return None
    try:
        zone = zoneinfo.ZoneInfo(str(timezone)) if timezone else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise HttpError(
            400, f"The timezone {timezone!r} is not a tz database name such as Europe/Nicosia."
        ) from None
    try:
        local = dt.datetime.strptime(str(scheduled_for), SCHEDULE_FORMAT)
    except ValueError:
        raise HttpError(
            400, f"The scheduled_for {scheduled_for!r} must be written YYYY-MM-DD HH:MM:SS."
        ) from None
    return local.replace(tzinfo=zone).timestamp()
