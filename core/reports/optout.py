"""SMS.to opt-outs: parse the opt-out webhook, and tell import and dispatch who must be skipped.

SMS.to posts `timestamp`, `unsubscribed_number` and `source` as form fields (JSON is accepted
too). The number goes into the Suppression table in the same transaction that stores the raw body
(see `core.reports.ingest`), before the webhook's response is sent.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from core.models import Suppression
from core.reports.ingest import SuppressionEntry
from core.reports.parse import (
    MAX_TEXT_LENGTH,
    ReportParseError,
    clean_text,
    decode_body_items,
    is_e164,
    normalise_report_phone,
)

OPTOUT_SOURCE = "smsto-optout"

_NUMBER_FIELDS = ("unsubscribednumber", "phone", "number")
_TABLE = Suppression.__table__
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class OptOut:
    phone: str  # E.164
    phone_raw: str
    source: str  # SMS.to's `source` field, as received
    timestamp: str  # SMS.to's `timestamp` field, as received

    def suppression_entry(self) -> SuppressionEntry:
        reason = f"opted out through SMS.to (source {self.source or 'not given'}"
        reason += f", at {self.timestamp})" if self.timestamp else ")"
        return SuppressionEntry(phone=self.phone, source=OPTOUT_SOURCE, reason=reason)


def parse_optout_body(body: bytes, content_type: str = "") -> OptOut:
    """Parse an opt-out body; raise ReportParseError when it names no valid international number."""
    items = decode_body_items(body, content_type)
    if len(items) != 1:
        raise ReportParseError(
            "invalid_body", f"The opt-out body contains {len(items)} entries; send exactly one."
        )

    fields = {_fold(name): value for name, value in items[0].items()}
    raw = next((fields[name] for name in _NUMBER_FIELDS if fields.get(name) not in (None, "")), None)
    if raw is None:
        raise ReportParseError(
            "missing_field", "The opt-out has no unsubscribed_number; send the number that opted out."
        )
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ReportParseError(
            "invalid_field", f"unsubscribed_number is a {type(raw).__name__}; send text."
        )

    phone = normalise_report_phone(raw)
    if not is_e164(phone):
        raise ReportParseError(
            "invalid_field",
            f"unsubscribed_number {_clip(raw)!r} is not an international number; send it with its "
            "country code, e.g. +35799000001.",
        )
    return OptOut(phone, str(raw), _clip(fields.get("source")), _clip(fields.get("timestamp")))


def is_suppressed(session, phone: str) -> bool:
    """Tell whether `phone` (E.164; other spellings are normalised first) has opted out."""
    return bool(suppressed_numbers(session, [phone]))


def suppressed_numbers(session, phones: Iterable[str]) -> set[str]:
    """Return the numbers among `phones` that have opted out, as given by the caller."""
    by_normalised: dict[str, list[str]] = {}
    for phone in phones:
        by_normalised.setdefault(normalise_report_phone(phone), []).append(phone)

    keys = sorted(by_normalised)
    found: set[str] = set()
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        rows = session.execute(select(_TABLE.c.phone).where(_TABLE.c.phone.in_(chunk)))
        for (phone,) in rows:
            found.update(by_normalised[phone])
    return found


def _fold(name: object) -> str:
    return str(name).strip().lower().replace("_", "").replace("-", "")


def _clip(value: object) -> str:
    return "" if value is None else clean_text(str(value).strip()[:MAX_TEXT_LENGTH])
