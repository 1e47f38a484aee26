"""What happens to an accepted send: its cost is reserved at once, each recipient's fate later.

Like SMS.to, the sandbox responds first and checks the numbers afterwards. At admission the cost
is estimated from each number's country calling code and reserved from the balance, which is
where a 402 comes from. The batch then waits for the processor, which validates every number and
draws its fate (see `core.sandbox.fates`) in a worker process, one chunk at a time: an invalid
number is REJECTED and refunded, a valid one is billed parts x price per part of its region
unless its fate is not billed. Chunks of fewer than VECTOR_MIN numbers are decided in this
process, which is faster for them.
"""

import asyncio
import logging
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from decimal import Decimal
from functools import lru_cache

from core.errors import InputError
from core.pricing import price_per_part
from core.sandbox.bodies import HttpError, SendRequest
from core.sandbox.fates import (
    UNKNOWN_REGION,
    VECTOR_MIN,
    ChunkFates,
    calling_code_region,
    cumulative,
    decide_chunk,
    merge_fates,
    start_worker,
    store_fates,
)
from core.sandbox.ledger import Batch, Ledger
from core.sandbox.state import SandboxState
from core.sms_parts import count_parts

log = logging.getLogger(__name__)

# Recipients decided per call, so one large send never occupies the worker for long.
_CHUNK = 5000


@lru_cache(maxsize=512)
def region_price(region: str) -> Decimal:
    """Return the price per part of a region; unknown or non-geographic ones cost the default."""
    try:
        return price_per_part(region)
    except InputError:
        return price_per_part(UNKNOWN_REGION)


class Processor:
    """Admit sends into the ledger and work out each recipient's fate in the background."""

    def __init__(self, state: SandboxState, on_processed: Callable[[Ledger, Batch], None]) -> None:
        self._state = state
        self._on_processed = on_processed
        self._random = random.Random(state.config.seed)
        self._fate_key = str(state.config.seed).encode()
        self._queue: asyncio.Queue[tuple[Ledger, Batch]] = asyncio.Queue()
        self._pool: ProcessPoolExecutor | None = None

    def start_worker(self) -> None:
        """Start the worker process; until then, and if it breaks, chunks are decided here."""
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=start_worker
        )
        # The pool starts its process at the first task. Starting it now keeps the first send
        # fast, and the worker ignores SIGTERM before a send can reach it.
        self._pool.submit(os.getpid)

    def stop_worker(self) -> None:
        """Stop the worker process once its current chunk is decided."""
        if self._pool is not None:
            # Waiting lets the pool release its semaphores: a server that exits before its worker
            # makes multiprocessing warn of leaked semaphores.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

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
        """Process admitted batches forever, several small ones per worker call."""
        carry: tuple[Ledger, Batch] | None = None
        while True:
            ledger, batch = carry or await self._queue.get()
            group, carry = [batch], None
            # Batches admitted meanwhile join up to _CHUNK recipients; a reset starts a new group.
            while sum(b.size for b in group) < _CHUNK and not self._queue.empty():
                item = self._queue.get_nowait()
                if item[0] is not ledger:
                    carry = item
                    break
                group.append(item[1])

            try:
                await self._process(ledger, group)
            except Exception:
                log.exception("processing %d batches failed", len(group))
                continue
            for member in group:
                self._on_processed(ledger, member)

    async def _process(self, ledger: Ledger, batches: list[Batch]) -> None:
        phones = [phone for batch in batches for phone in batch.raw_phones or []]
        parts = [count for batch in batches for count in batch.parts]
        outcomes = cumulative(self._state.config.outcome_mix)
        decided = ChunkFates(b"", [], b"", [], {})
        for start in range(0, len(phones), _CHUNK):
            chunk = await self._decide(
                phones[start : start + _CHUNK], parts[start : start + _CHUNK], outcomes
            )
            decided = merge_fates(decided, chunk, offset=start)

        billed = sum((region_price(r) * n for r, n in decided.billed_parts.items()), Decimal(0))
        position = 0
        optouts = frozenset(self._state.config.optouts)
        for batch in batches:
            billed -= store_fates(batch, decided, position, optouts, region_price)
            position += batch.size

        # The reservation used calling-code regions for every number; settle the difference.
        ledger.balance += sum((batch.estimated_cost for batch in batches), Decimal(0)) - billed
        ledger.billed += billed

    async def _decide(self, phones: list[str], parts: list[int], outcomes: list) -> ChunkFates:
        arguments = (phones, parts, outcomes, self._fate_key)
        if self._pool is None or len(phones) < VECTOR_MIN:
            await asyncio.sleep(0)
            return decide_chunk(*arguments)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, decide_chunk, *arguments
            )
        except (BrokenProcessPool, OSError, RuntimeError) as error:
            # RuntimeError: the pool is shutting down. OSError: no worker process could start.
            log.warning("the validation worker failed (%r); deciding fates in the server process", error)
            self._pool = None
            return decide_chunk(*arguments)


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
