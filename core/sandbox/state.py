"""The mutable state of a sandbox run: settings, ledger, counters and the rate limit window."""

import collections
import time
from dataclasses import dataclass

from core.sandbox.config import SandboxConfig
from core.sandbox.faults import FaultInjector
from core.sandbox.ledger import Ledger


@dataclass
class Stats:
    """Counters since the start or the last reset, as `GET /_sandbox/stats` shows them."""

    requests: int = 0
    rate_limited: int = 0
    reports_sent: int = 0
    reports_failed: int = 0
    report_attempts: int = 0
    reports_retried: int = 0
    reports_duplicated: int = 0
    # Recipient stages (SENT, final) whose reports are not yet created, counted per recipient.
    report_slots_ahead: int = 0
    # Reports created and neither acknowledged with 200 nor given up: queued, in flight or awaiting retry.
    reports_in_progress: int = 0

    @property
    def reports_pending(self) -> int:
        return self.report_slots_ahead + self.reports_in_progress


class SlidingWindow:
    """Timestamps of the events of the last `window` seconds."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._times: collections.deque[float] = collections.deque()

    def count(self, now: float) -> int:
        """Drop the events older than the window and return how many remain."""
        horizon = now - self.window
        while self._times and self._times[0] <= horizon:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> None:
        self._times.append(now)


class RateLimiter:
    """SMS.to's limit of requests per second, over a sliding one-second window.

    Only accepted requests count toward the limit, so a client that keeps retrying too fast is
    still let through once the window has room. `max_in_one_second` counts every arrival,
    rejected with 429 or not, to show how fast the client really sent.
    """

    def __init__(self) -> None:
        self._accepted = SlidingWindow()
        self._arrivals = SlidingWindow()
        self.max_in_one_second = 0

    def allow(self, limit: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._arrivals.add(now)
        self.max_in_one_second = max(self.max_in_one_second, self._arrivals.count(now))

        if limit and self._accepted.count(now) >= limit:
            return False
        self._accepted.add(now)
        return True


class SandboxState:
    """Settings plus the data that `POST /_sandbox/reset` clears.

    `generation` grows with each reset, so background work started before it can tell that its
    ledger is gone.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.startup_config = config.copy()
        self.config = config
        self.generation = 0
        self.ledger = Ledger(balance=config.starting_balance)
        self.stats = Stats()
        self.limiter = RateLimiter()
        self.faults = FaultInjector(seed=config.seed)

    def reset(self) -> None:
        """Restore the startup settings and balance, and empty the ledger and the counters."""
        self.config = self.startup_config.copy()
        self.generation += 1
        self.ledger = Ledger(balance=self.config.starting_balance)
        self.stats = Stats()
        self.limiter = RateLimiter()
        self.faults = FaultInjector(seed=self.config.seed)
