"""The dispatcher: the loop that plans due campaigns, sends their chunks and settles the rest.

One `Dispatcher` runs a heartbeat thread and `concurrency` sender threads. Each sender thread
claims one chunk at a time and uses its own SMS.to client. A maintenance loop in the calling
thread settles the chunks of dispatchers that are gone, plans due campaigns, reconciles
uncertain chunks and completes campaigns. Any number of dispatchers, in threads or processes,
can share one database.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine

from core.dispatch import completion, heartbeat, planner, reconcile
from core.dispatch.claim import claim_next_chunk, has_claimable
from core.dispatch.ratelimit import DEFAULT_WINDOW_SECONDS, RateLimitTimeout, SharedRateLimiter
from core.dispatch.sender import RetryPolicy, SendContext, send_chunk
from core.reports.signature import callback_url_with_token
from core.settings import Settings

log = logging.getLogger(__name__)

ClientFactory = Callable[[], object]


@dataclass
class DispatchSummary:
    """Counts of one dispatcher's work: chunks per outcome state, planned and settled chunks."""

    chunks: dict[str, int] = field(default_factory=dict)
    planned_campaigns: list[int] = field(default_factory=list)
    reconciled_chunks: list[int] = field(default_factory=list)
    orphaned_chunks: list[int] = field(default_factory=list)

    def count(self, state: str) -> None:
        self.chunks[state] = self.chunks.get(state, 0) + 1


def default_client_factory(settings: Settings) -> ClientFactory:
    """Return a factory of SMS.to clients configured from `settings`."""
    from core.smsto import SmsToClient

    def make_client():
        return SmsToClient(
            api_key=settings.api_key or "",
            api_url=settings.smsto_api_url,
            auth_url=settings.smsto_auth_url,
        )

    return make_client


class Dispatcher:
    """Sends queued campaigns at most once per recipient; see the module docstring.

    `run_forever()` blocks until `stop()` is called (from another thread or a signal handler).
    `run_once()` sends every queued chunk, waiting through back-offs, and returns (early on
    `stop()` or its timeout).
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        client_factory: ClientFactory | None = None,
        *,
        concurrency: int = 4,
        poll_interval: float = 1.0,
        heartbeat_interval: float = 2.0,
        heartbeat_expiry: float = heartbeat.DEFAULT_EXPIRY.total_seconds(),
        reconcile_interval: float = 5.0,
        retry: RetryPolicy | None = None,
        rate_window: float = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        if concurrency < 1:
            raise ValueError(
                f"concurrency is {concurrency}; a dispatcher needs at least 1 sender thread."
            )
        self.engine = engine
        self.settings = settings
        self.client_factory = client_factory or default_client_factory(settings)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_expiry = timedelta(seconds=heartbeat_expiry)
        self.reconcile_interval = reconcile_interval
        self.owner = heartbeat.new_owner_id()
        self.summary = DispatchSummary()

        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._threads: list[threading.Thread] = []
        self._limiter = SharedRateLimiter(
            engine, limit=settings.rate_limit_per_second, window=rate_window
        )
        self._context = SendContext(
            engine=engine,
            limiter=self._limiter,
            # With WEBHOOK_SECRET set, the URL carries it as a token, for reports SMS.to does not sign.
            callback_url=callback_url_with_token(settings),
            default_sender_id=settings.smsto_sender_id,
            retry=retry or RetryPolicy(),
            stop=self._stop,
        )

    # Public API.

    def run_forever(self) -> DispatchSummary:
        """Dispatch until `stop()` is called; return what was done."""
        self._start()
        try:
            next_reconcile = 0.0
            while not self._stop.is_set():
                next_reconcile = self._maintain(next_reconcile)
                self._stop.wait(self.poll_interval)
        finally:
            self._shutdown()
        return self.summary

    def run_once(self, *, timeout: float | None = None) -> DispatchSummary:
        """Send every queued chunk of due campaigns, waiting through back-offs, then return.

        Returns early when `stop()` is called or `timeout` seconds have passed. Campaigns
        scheduled for later are left for a later run.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._start()
        try:
            next_reconcile = 0.0
            while not self._stop.is_set():
                next_reconcile = self._maintain(next_reconcile)
                if self._idle() or (deadline is not None and time.monotonic() > deadline):
                    break
                self._stop.wait(min(self.poll_interval, 0.2))
            self._reconcile_now()
        finally:
            self._shutdown()
        return self.summary

    def stop(self) -> None:
        """Ask every thread to finish its current request and stop; returns at once."""
        self._stop.set()
        self._wake.set()

    def start_in_thread(self, name: str = "dispatcher") -> threading.Thread:
        """Run `run_forever()` in a daemon thread (for the companion server); return the thread."""
        thread = threading.Thread(target=self.run_forever, name=name, daemon=True)
        thread.start()
        return thread

    # Threads.

    def _start(self) -> None:
        # Each run gets its own id, so a dispatcher object can run again after it stopped.
        self.owner = heartbeat.new_owner_id()
        self._stop.clear()
        heartbeat.register(self.engine, owner=self.owner)
        self._settle_orphans()
        self._threads = [
            threading.Thread(target=self._beat_loop, name=f"{self.owner}-heartbeat", daemon=True)
        ]
        self._threads += [
            threading.Thread(
                target=self._send_loop, name=f"{self.owner}-sender-{index}", daemon=True
            )
            for index in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def _shutdown(self) -> None:
        self.stop()
        for thread in self._threads:
            thread.join()
        heartbeat.unregister(self.engine, owner=self.owner)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_interval):
            try:
                heartbeat.beat(self.engine, owner=self.owner)
            except Exception:
                log.exception("dispatcher %s: heartbeat failed; retrying", self.owner)

    def _send_loop(self) -> None:
        try:
            client = self.client_factory()
        except Exception:
            # Without a client nothing can be sent (an empty API key, a bad URL): stop visibly.
            log.exception("dispatcher %s: creating the SMS.to client failed; stopping", self.owner)
            self.stop()
            return

        try:
            while not self._stop.is_set():
                if not self._send_next(client):
                    self._wake.wait(self.poll_interval)
                    self._wake.clear()
        finally:
            _close(client)

    def _send_next(self, client) -> bool:
        """Claim and send one chunk; return False when nothing was claimable."""
        with self._lock:
            self._in_flight += 1
        try:
            return self._claim_and_send(client)
        except RateLimitTimeout:
            return False
        except Exception:
            log.exception("dispatcher %s: sending a chunk failed; going on", self.owner)
            self._stop.wait(self.poll_interval)
            return True
        finally:
            with self._lock:
                self._in_flight -= 1

    def _claim_and_send(self, client) -> bool:
        # The slot comes before the claim: waiting for the rate limit must not hold a chunk.
        if not has_claimable(self.engine):
            return False
        slot = self._limiter.acquire(self._stop)
        claimed = claim_next_chunk(self.engine, owner=self.owner)
        if claimed is None:
            self._limiter.release(slot)
            return False

        state = send_chunk(self._context, client, claimed, slot)
        with self._lock:
            self.summary.count(state)
        return True

    # Maintenance, in the thread that called run_forever or run_once.

    def _maintain(self, next_reconcile: float) -> float:
        try:
            self._settle_orphans()
            planned = planner.plan_due_campaigns(self.engine, chunk_size=self.settings.chunk_size)
            if planned:
                self.summary.planned_campaigns += planned
                self._wake.set()
            completion.complete_finished_campaigns(self.engine)
            if time.monotonic() >= next_reconcile:
                self._reconcile_now()
                next_reconcile = time.monotonic() + self.reconcile_interval
        except Exception:
            log.exception(
                "dispatcher %s: maintenance failed; retrying in %.1f s",
                self.owner,
                self.poll_interval,
            )
        return next_reconcile

    def _settle_orphans(self) -> None:
        self.summary.orphaned_chunks += heartbeat.settle_orphans(
            self.engine, expiry=self.heartbeat_expiry
        )

    def _reconcile_now(self) -> None:
        client = self.client_factory()
        try:
            resolved = reconcile.reconcile_uncertain(
                self.engine, client=client, limiter=self._limiter, stop=self._stop
            )
            self.summary.reconciled_chunks += resolved
        except Exception:
            log.exception("dispatcher %s: reconciling uncertain chunks failed", self.owner)
        finally:
            _close(client)

    def _idle(self) -> bool:
        with self._lock:
            busy = self._in_flight > 0
        if busy or planner.list_due_campaigns(self.engine):
            return False
        return not has_claimable(self.engine, include_backing_off=True)


def _close(client) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        close()
