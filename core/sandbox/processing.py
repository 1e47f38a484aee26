"""What happens to an accepted send: its cost is reserved at once, each recipient's fate later.

Like SMS.to, the sandbox answers first and checks the numbers afterwards. At admission the cost
is estimated from each number's country calling code and reserved from the balance, which is
where a 402 comes from. A background worker then validates every number with phonenumbers:
an invalid one is REJECTED and refunded, a valid one gets a fate drawn from the outcome mix and
is billed parts x price per part of its region.

A fate depends only on the seed and the number, so two runs with the same seed and mix give each
number the same fate whatever the order or timing of the requests.
"""

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

import phonenumbers

from core.errors import InputError
from core.pricing import price_per_part
from core.sandbox.bodies import HttpError, SendRequest
from core.sandbox.ledger import CODE, Batch, Ledger, region_code
from core.sandbox.state import SandboxState
from core.sms_parts import count_parts

log = logging.getLogger(__name__)

UNKNOWN_REGION = "ZZ"
# Recipients validated between two yields to the event loop, so answers never wait long.
_SLICE = 200


@lru_cache(maxsize=512)
def region_price(region: str) -> Decimal:
    """Return the price per part of a region; unknown or non-geographic ones cost the default."""
    try:
        return price_per_part(region)
    except InputError:
        return price_per_part(UNKNOWN_REGION)


def calling_code_region(phone: str) -> str:
    """Guess the region from the country calling code of a "+..." number, without validating it."""
    text = phone.strip()
    if not text.startswith("+"):
        return UNKNOWN_REGION

    # Calling codes are prefix-free, so the first length that matches is the code.
    for length in (1, 2, 3):
        digits = text[1 : 1 + length]
        regions = (
            phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits)) if digits.isdigit() else None
        )
        if regions:
            return regions[0]
    return UNKNOWN_REGION


def validate_number(phone: str) -> tuple[int, str] | None:
    """Return the E.164 digits as an int and the region of a valid number, or None if invalid."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None

    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return int(e164[1:]), phonenumbers.region_code_for_number(parsed) or UNKNOWN_REGION


class Processor:
    """Admit sends into the ledger and work out each recipient's fate in the background."""

    def __init__(self, state: SandboxState, on_processed: Callable[[Ledger, Batch], None]) -> None:
        self._state = state
        self._on_processed = on_processed
        self._random = random.Random(state.config.seed)
        self._fate_key = str(state.config.seed).encode()
        self._queue: asyncio.Queue[tuple[Ledger, Batch]] = asyncio.Queue()

    @property
    def backlog(self) -> int:
        """Batches accepted and not yet processed."""
        return self._queue.qsize()

    def admit(self, request: SendRequest) -> Batch:
        """Reserve the estimated cost and record the send; raise HttpError(402) if not covered."""
        ledger = self._state.ledger
        parts = _parts_per_recipient(request)
        estimated = estimate_cost(request.phones, parts)
        if estimated > ledger.balance:
            raise HttpError(
                402,
                f"Insufficient balance: your balance is {ledger.balance} EUR and this request "
                f"requires {estimated} EUR. Please top up your account.",
            )

        batch = self._new_batch(ledger, request, parts, estimated)
        ledger.balance -= estimated
        ledger.add(batch)
        self._queue.put_nowait((ledger, batch))
        return batch

    def _new_batch(
        self, ledger: Ledger, request: SendRequest, parts: list[int], estimated: Decimal
    ) -> Batch:
        now = time.time()
        id_base = self._new_id_base(ledger)
        tracking_id = None if request.kind == "single" else str(self._new_uuid())
        return Batch(
            number=len(ledger.batches) + 1,
            kind=request.kind,
            id_base=id_base,
            tracking_id=tracking_id,
            phones=request.phones,
            parts=parts,
            text=request.text,
            created_at=now,
            start_at=max(now, request.scheduled_at or now),
            callback_url=request.callback_url or self._state.config.default_callback_url,
            sender_id=request.sender_id,
            bypass_optout=request.bypass_optout,
            estimated_cost=estimated,
        )

    def _new_uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._random.getrandbits(128), version=4)

    def _new_id_base(self, ledger: Ledger) -> int:
        while True:
            id_base = self._new_uuid().int
            if ledger.is_id_base_free(id_base):
                return id_base

    async def run(self) -> None:
        """Process admitted batches one after the other, forever."""
        while True:
            ledger, batch = await self._queue.get()
            try:
                await self._process(ledger, batch)
                self._on_processed(ledger, batch)
            except Exception:
                log.exception(
                    "processing batch %s (%s recipients) failed", batch.tracking_id, batch.size
                )

    async def _process(self, ledger: Ledger, batch: Batch) -> None:
        phones = batch.raw_phones or []
        optouts = set(self._state.config.optouts) if not batch.bypass_optout else set()
        outcomes = _cumulative(self._state.config.outcome_mix)
        billed = Decimal(0)

        for index, phone in enumerate(phones):
            if index % _SLICE == 0:
                await asyncio.sleep(0)
            billed += self._decide(batch, index, phone, optouts, outcomes)

        # The reservation used calling-code regions for every number; settle the difference.
        ledger.balance += batch.estimated_cost - billed
        ledger.billed += billed
        batch.raw_phones = None
        batch.processed = True

    def _decide(
        self, batch: Batch, index: int, phone: str, optouts: set[str], outcomes: list
    ) -> Decimal:
        """Validate one number, store its E.164 form, region and fate; return what it is billed."""
        valid = validate_number(phone)
        if valid is None:
            batch.e164.append(-1)
            batch.odd_phones[index] = phone
            batch.fates[index] = CODE["REJECTED"]
            return Decimal(0)

        digits, region = valid
        batch.e164.append(digits)
        batch.regions[index] = region_code(region)
        if f"+{digits}" in optouts:
            batch.fates[index] = CODE["UNSUBSCRIBED"]
            return Decimal(0)

        fate = self._draw_fate(digits, outcomes)
        batch.fates[index] = CODE[fate]
        return (
            Decimal(0)
            if fate in ("REJECTED", "UNSUBSCRIBED")
            else batch.parts[index] * region_price(region)
        )

    def _draw_fate(self, digits: int, outcomes: list[tuple[float, str]]) -> str:
        digest = hashlib.blake2b(str(digits).encode(), digest_size=8, key=self._fate_key).digest()
        point = int.from_bytes(digest, "big") / 2**64
        for threshold, status in outcomes:
            if point < threshold:
                return status
        return outcomes[-1][1]


def estimate_cost(phones: list[str], parts: list[int]) -> Decimal:
    """Sum parts x price per part over the recipients, with regions from the calling codes."""
    parts_by_region: dict[str, int] = {}
    for phone, count in zip(phones, parts, strict=True):
        region = calling_code_region(phone)
        parts_by_region[region] = parts_by_region.get(region, 0) + count
    return sum(
        (region_price(region) * count for region, count in parts_by_region.items()), Decimal(0)
    )


def _parts_per_recipient(request: SendRequest) -> list[int]:
    if request.texts is None:
        return [count_parts(request.text or "").parts] * len(request.phones)
    counted: dict[str, int] = {}
    for text in request.texts:
        if text not in counted:
            counted[text] = count_parts(text).parts
    return [counted[text] for text in request.texts]


def _cumulative(mix: dict[str, float]) -> list[tuple[float, str]]:
    # Sorted by status so that the thresholds do not depend on the order the mix was given in.
    total = sum(mix.values())
    thresholds: list[tuple[float, str]] = []
    running = 0.0
    for status in sorted(mix):
        running += mix[status] / total
        thresholds.append((running, status))
    return thresholds
