"""The sandbox's record of every message it accepted, compact enough for millions of recipients.

One `Batch` per accepted send stores its recipients in parallel arrays: about 20 bytes per
recipient once processed (E.164 number as an int, parts, region, status and fate codes).

Per-recipient message ids are not stored. Each batch draws a random version-4 UUID as its
`id_base`, and recipient i gets `id_base XOR scramble(i)`, where scramble is a bijection of 32-bit
numbers that makes neighbouring ids look unrelated. Only the low 32 bits change, so a message id
leads back to its batch (the high 96 bits) and its index (unscramble the low 32 bits XOR the base).
Recipient 0 keeps `id_base` itself, which is the message id of a single send.
"""

import datetime as dt
import logging
import uuid
from array import array
from decimal import Decimal

from core.money import format_money
from core.statuses import FINAL, NOT_BILLED

log = logging.getLogger(__name__)

# Status codes stored per recipient; the index in this list is the code.
STATUSES = ["QUEUED", "SCHEDULED", "SENT", "DELIVERED", "FAILED", "UNDELIVERED", "EXPIRED",
            "REJECTED", "UNSUBSCRIBED"]  # fmt: skip
CODE = {status: code for code, status in enumerate(STATUSES)}
FINAL_CODES = frozenset(CODE[status] for status in FINAL if status in CODE)
NOT_BILLED_CODES = frozenset(CODE[status] for status in NOT_BILLED if status in CODE)

SINGLE = "single"
CAMPAIGN = "campaign"

# Region codes stored per recipient as one byte; code 0 is "not known yet".
_REGIONS: list[str] = ["", "ZZ"]
_REGION_CODE: dict[str, int] = {"": 0, "ZZ": 1}

_LOW_32_BITS = 0xFFFFFFFF
# Multiplying by an odd number modulo 2**32 is a bijection, undone by its modular inverse.
_SCRAMBLE = 0x9E3779B1
_UNSCRAMBLE = pow(_SCRAMBLE, -1, 2**32)


def region_code(region: str) -> int:
    """Return the one-byte code of a region, adding it to the table on first use."""
    code = _REGION_CODE.get(region)
    if code is None:
        code = len(_REGIONS)
        if code > 255:
            return _REGION_CODE["ZZ"]
        _REGIONS.append(region)
        _REGION_CODE[region] = code
    return code


def region_of(code: int) -> str:
    return _REGIONS[code]


def format_time(timestamp: float | None) -> str | None:
    """Format a Unix time as SMS.to writes times, "YYYY-MM-DD HH:MM:SS" in UTC."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class Batch:
    """The recipients of one accepted send, in parallel arrays indexed by recipient."""

    __slots__ = (
        "bypass_optout",
        "callback_url",
        "created_at",
        "e164",
        "estimated_cost",
        "fates",
        "finished",
        "id_base",
        "kind",
        "number",
        "odd_phones",
        "parts",
        "processed",
        "raw_phones",
        "regions",
        "report_slots",
        "sender_id",
        "sent_at",
        "size",
        "start_at",
        "statuses",
        "text",
        "tracking_id",
    )  # fmt: skip

    def __init__(self, *, number: int, kind: str, id_base: int, tracking_id: str | None,
                 phones: list[str], parts: list[int], text: str | None, created_at: float,
                 start_at: float, callback_url: str | None, sender_id: str | None,
                 bypass_optout: bool, estimated_cost: Decimal) -> None:  # fmt: skip
        self.number = number
        self.kind = kind
        self.id_base = id_base
        self.tracking_id = tracking_id or message_uuid(id_base, 0)
        self.created_at = created_at
        self.start_at = start_at
        self.sent_at: float | None = None
        self.callback_url = callback_url
        self.sender_id = sender_id
        self.text = text
        self.bypass_optout = bypass_optout
        self.estimated_cost = estimated_cost
        self.size = len(phones)
        # Raw numbers as sent, until processing replaces them with E.164 ints.
        self.raw_phones: list[str] | None = phones
        self.e164 = array("q")
        self.odd_phones: dict[int, str] = {}
        self.parts = array("H", parts)
        self.regions = bytearray(self.size)
        initial = CODE["SCHEDULED"] if start_at > created_at else CODE["QUEUED"]
        self.statuses = bytearray([initial]) * self.size
        self.fates = bytearray(self.size)
        self.processed = False
        # Recipient stages whose reports are still to be created (see Stats.report_slots_ahead).
        self.report_slots = 0
        # True once the final statuses have been reported (the last report stage ran).
        self.finished = False

    def message_id(self, index: int) -> str:
        return message_uuid(self.id_base, index)

    def phone(self, index: int) -> str:
        """Return the number as SMS.to reports it: E.164 when valid, else as it was sent."""
        if self.raw_phones is not None:
            return self.raw_phones[index]
        digits = self.e164[index]
        return f"+{digits}" if digits >= 0 else self.odd_phones[index]

    def status(self, index: int) -> str:
        return STATUSES[self.statuses[index]]

    def set_status(self, index: int, code: int) -> None:
        """Record a reported status; a final status is never replaced by one that is not."""
        if self.statuses[index] not in FINAL_CODES or code in FINAL_CODES:
            self.statuses[index] = code

    def price(self, index: int, price_per_part) -> Decimal:
        """Return what the recipient is billed: parts x price per part.

        The price is 0 until the batch is processed, and stays 0 for a fate that is not billed.
        """
        if not self.processed or self.fates[index] in NOT_BILLED_CODES:
            return Decimal(0)
        return self.parts[index] * price_per_part(region_of(self.regions[index]))

    def ledger_entry(self, index: int, price_per_part) -> dict:
        return {
            "message_id": self.message_id(index),
            "tracking_id": self.tracking_id,
            "phone": self.phone(index),
            "status": self.status(index),
            "parts": self.parts[index],
            "price": format_money(self.price(index, price_per_part)) or "0",
        }


def message_uuid(id_base: int, index: int) -> str:
    return str(uuid.UUID(int=id_base ^ ((index * _SCRAMBLE) & _LOW_32_BITS)))


class Ledger:
    """Every batch accepted since the start (or the last reset), and the account balance."""

    def __init__(self, *, balance: Decimal) -> None:
        self.balance = balance
        self.batches: list[Batch] = []
        self.recipients = 0
        self.billed = Decimal(0)
        self._by_tracking_id: dict[str, Batch] = {}
        self._by_id_prefix: dict[int, Batch] = {}

    def add(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.recipients += batch.size
        self._by_tracking_id[batch.tracking_id] = batch
        self._by_id_prefix[batch.id_base >> 32] = batch

    def is_id_base_free(self, id_base: int) -> bool:
        return (id_base >> 32) not in self._by_id_prefix

    def find_message(self, message_id: str) -> tuple[Batch, int] | None:
        """Return the batch and index of a message id, or None if it is not one of ours."""
        try:
            value = uuid.UUID(message_id).int
        except ValueError:
            return None
        batch = self._by_id_prefix.get(value >> 32)
        if batch is None:
            return None
        index = (((value ^ batch.id_base) & _LOW_32_BITS) * _UNSCRAMBLE) & _LOW_32_BITS
        return (batch, index) if index < batch.size else None

    def find_campaign(self, campaign_id: str) -> Batch | None:
        batch = self._by_tracking_id.get(campaign_id)
        return batch if batch is not None and batch.kind == CAMPAIGN else None

    def last_campaign(self) -> Batch | None:
        return next((b for b in reversed(self.batches) if b.kind == CAMPAIGN), None)

    def count_by_status(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for batch in self.batches:
            for code, status in enumerate(STATUSES):
                counts[status] += batch.statuses.count(code)
        return {status: count for status, count in counts.items() if count}
