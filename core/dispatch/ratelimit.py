"""A request-rate limit shared through the database by every dispatcher of one installation.

SMS.to allows 150 requests per second per account, across all endpoints. The limiter keeps
`limit` slot rows, each holding the Unix time of its last use. A request takes the least
recently used slot, and only if that slot was last used more than `window` seconds ago, in one
atomic compare-and-set update. Consecutive uses of any slot are therefore at least `window`
apart, so no interval of `window` seconds contains more than `limit` requests, whichever process or
thread sent them. The window is a little longer than a second so that the delay between taking
a slot and the request reaching SMS.to cannot squeeze `limit + 1` requests into one second.

NOTE: slot times come from each process's clock, so dispatchers on several machines need clocks
kept in sync (NTP). A skew of d seconds can let `limit` extra requests through for d seconds.
"""

import logging
import random
import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from core.models import RateSlot

log = logging.getLogger(__name__)

_slot = RateSlot.__table__.c

# How long a slot stays used: one second plus a guard for the time between taking it and the
# request arriving (a thread switch, a busy event loop on the other side).
DEFAULT_WINDOW_SECONDS = 1.2


@dataclass(frozen=True)
class Slot:
    """A request slot taken at `taken_at` (Unix time in seconds)."""

    id: int
    taken_at: float


class RateLimitTimeout(TimeoutError):
    """No slot became free before the caller's stop event was set."""


class SharedRateLimiter:
    """Blocks each caller until a request slot is free; safe across threads and processes."""

    def __init__(
        self, engine: Engine, *, limit: int, window: float = DEFAULT_WINDOW_SECONDS
    ) -> None:
        if limit < 1:
            raise ValueError(
                f"rate_limit_per_second is {limit}; set it to at least 1 (SMS.to allows 150)."
            )
        self.engine = engine
        self.limit = limit
        self.window = window
        self._create_slots()

    def _create_slots(self) -> None:
        rows = [{"id": index, "used_at": 0.0} for index in range(self.limit)]
        dialect = self.engine.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        with self.engine.begin() as connection:
            connection.execute(insert(RateSlot.__table__).on_conflict_do_nothing(), rows)

    def try_acquire(self) -> Slot | None:
        """Take a slot now, or return None when every slot is in use."""
        now = time.time()
        cutoff = now - self.window
        oldest_free = (
            select(_slot.id)
            .where(_slot.id < self.limit, _slot.used_at <= cutoff)
            .order_by(_slot.used_at)
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite serialises writers
            .scalar_subquery()
        )
        # The repeated condition makes a concurrent winner on PostgreSQL turn this into a no-op.
        statement = (
            update(RateSlot.__table__)
            .where(_slot.id == oldest_free, _slot.used_at <= cutoff)
            .values(used_at=now)
            .returning(_slot.id)
        )
        with self.engine.begin() as connection:
            slot_id = connection.execute(statement).scalar_one_or_none()
        return None if slot_id is None else Slot(slot_id, now)

    def release(self, slot: Slot) -> None:
        """Give back a slot taken for a request that was not made."""
        # Its previous use was at least a window before `taken_at`, so this frees it no earlier.
        statement = (
            update(RateSlot.__table__)
            .where(_slot.id == slot.id, _slot.used_at == slot.taken_at)
            .values(used_at=slot.taken_at - self.window)
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    def seconds_until_free(self) -> float:
        """Return how long until the least recently used slot becomes free (0 if one is free)."""
        query = select(func.min(_slot.used_at)).where(_slot.id < self.limit)
        with self.engine.connect() as connection:
            oldest = connection.execute(query).scalar_one() or 0.0
        return max(0.0, oldest + self.window - time.time())

    def acquire(self, stop: threading.Event | None = None) -> Slot:
        """Block until a slot is taken and return it.

        Raises RateLimitTimeout when `stop` is set while waiting.
        """
        while (slot := self.try_acquire()) is None:
            # A little jitter keeps waiting dispatchers from retrying in lockstep.
            pause = max(self.seconds_until_free() + random.uniform(0.0, 0.005), 0.001)
            if stop is None:
                time.sleep(pause)
            elif stop.wait(pause):
                raise RateLimitTimeout("stopped while waiting for a request slot")
        return slot

    def hold(self, seconds: float) -> None:
        """Keep every slot in use for `seconds`, so that all dispatchers pause (after a 429)."""
        until = time.time() + seconds - self.window
        statement = (
            update(RateSlot.__table__)
            .where(_slot.id < self.limit, _slot.used_at < until)
            .values(used_at=until)
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
        log.info("all dispatchers hold their requests for %.1f s", seconds)
