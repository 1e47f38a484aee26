"""Delivery reports: the form-encoded POSTs SMS.to makes to a send's callback URL.

Each processed batch passes through two stages. The first reports SENT for every recipient,
except that a number never submitted gets its final REJECTED or UNSUBSCRIBED at once. The
second stage, a random delay later, reports the final statuses. With `shuffle_reports` both stages run as one,
in random order, so a final report may come before SENT. A report whose POST does not get HTTP
200 within `report_timeout` is retried after each delay of `retry_schedule`, then dropped.

The ledger status of a recipient changes when its report is due, whether or not the POST works,
because it is the provider's view of the message. Reports are POSTed through one shared
httpx.AsyncClient, at most `report_concurrency` at a time.
"""

import asyncio
import hashlib
import heapq
import hmac
import itertools
import logging
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import httpx

from core.money import format_money
from core.redact import mask_phone
from core.sandbox.ledger import CODE, STATUSES, Batch, Ledger
from core.sandbox.processing import region_price
from core.sandbox.state import SandboxState

log = logging.getLogger(__name__)

FIRST, FINAL, MERGED, RETRY = "first", "final", "merged", "retry"
_NOT_SUBMITTED = frozenset({CODE["REJECTED"], CODE["UNSUBSCRIBED"]})
_SENT = CODE["SENT"]
# Log the first failures of a run, then one in this many, so a dead receiver cannot flood logs.
_LOG_EVERY = 1000


@dataclass(slots=True)
class Report:
    """One report to POST, with its retry count and the reset generation it belongs to."""

    batch: Batch
    index: int
    code: int
    url: str
    generation: int
    attempt: int = 0


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """Return `X-SMSTo-Signature`: t=<unix seconds>,s=<hex HMAC-SHA256(secret, body + b"." + t)>."""
    stamp = str(timestamp).encode()
    digest = hmac.new(secret.encode(), body + b"." + stamp, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def report_body(batch: Batch, index: int, code: int) -> bytes:
    """Encode a report as SMS.to does: form fields, all strings, the phone's + as %2B."""
    price = batch.price(index, region_price) if code not in _NOT_SUBMITTED else Decimal(0)
    fields = [
        ("trackingId", batch.tracking_id),
        ("messageId", batch.message_id(index)),
        ("phone", batch.phone(index)),
        ("status", STATUSES[code]),
        ("parts", str(batch.parts[index])),
        ("price", format_money(price) or "0"),
    ]
    return urlencode(fields).encode("ascii")


class ReportSender:
    """Runs report stages and retries when they fall due, and POSTs the reports."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self._heap: list[tuple[float, int, str, object]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._random = random.Random(state.config.seed)
        self._semaphore = asyncio.Semaphore(state.config.report_concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._failures_logged = 0
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        limit = self._state.config.report_concurrency
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        self._client = httpx.AsyncClient(limits=limits, timeout=self._state.config.report_timeout)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def expect(self, batch: Batch) -> None:
        """Count a newly admitted batch's report stages as pending, if its reports have a target."""
        if batch.callback_url and self._state.config.reports_enabled:
            batch.report_slots = 2 * batch.size
            self._state.stats.report_slots_ahead += batch.report_slots

    def schedule(self, ledger: Ledger, batch: Batch) -> None:
        """Queue the first stage of a processed batch (or the merged one when shuffling)."""
        if ledger is not self._state.ledger:
            return
        config = self._state.config
        delay = self._delay()
        stage = FIRST
        if config.shuffle_reports:
            delay += self._delay()
            stage = MERGED
        start = max(0.0, batch.start_at - time.time())
        self._push(start + delay, stage, (batch, self._state.generation))

    def _delay(self) -> float:
        config = self._state.config
        return self._random.uniform(config.report_delay_min, config.report_delay_max)

    def _push(self, delay: float, kind: str, payload: object) -> None:
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), kind, payload))
        self._wake.set()

    async def run(self) -> None:
        """Run each stage and retry when it falls due, forever."""
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._heap[0][0] - time.monotonic()
            if wait > 0:
                self._wake.clear()
                try:
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue

            _, _, kind, payload = heapq.heappop(self._heap)
            try:
                await self._run_item(kind, payload)
            except Exception:
                log.exception("report stage %s failed", kind)

    async def _run_item(self, kind: str, payload: object) -> None:
        if kind == RETRY:
            report = payload
            if report.generation == self._state.generation:
                await self._submit(report)
            return

        batch, generation = payload
        if generation != self._state.generation:
            return
        if kind == FIRST:
            batch.sent_at = time.time()
        posts = await self._run_stage(batch, kind, generation)
        if kind == FIRST:
            self._track(asyncio.create_task(self._schedule_final(batch, generation, posts)))
        else:
            batch.finished = True

    async def _schedule_final(
        self, batch: Batch, generation: int, posts: list[asyncio.Task]
    ) -> None:
        # The final stage starts once every SENT report got its first response, so that a receiver
        # receives SENT first (a SENT report that is retried may still come later, as at SMS.to).
        if posts:
            await asyncio.wait(posts)
        self._push(self._delay(), FINAL, (batch, generation))

    async def _run_stage(self, batch: Batch, kind: str, generation: int) -> list[asyncio.Task]:
        """Record each status of the stage and start its reports; return the POST tasks."""
        posts: list[asyncio.Task] = []
        for position, (index, code) in enumerate(self._stage_reports(batch, kind)):
            if position % 200 == 0:
                await asyncio.sleep(0)
            batch.set_status(index, code)
            posts += await self._deliver_new(batch, index, code, generation)

        done = min(batch.report_slots, (2 if kind == MERGED else 1) * batch.size)
        batch.report_slots -= done
        self._state.stats.report_slots_ahead -= done
        return posts

    def _stage_reports(self, batch: Batch, kind: str):
        if kind == FIRST:
            return (
                (i, fate if fate in _NOT_SUBMITTED else _SENT) for i, fate in enumerate(batch.fates)
            )
        if kind == FINAL:
            return ((i, fate) for i, fate in enumerate(batch.fates) if fate not in _NOT_SUBMITTED)

        merged = [(i, fate) for i, fate in enumerate(batch.fates)]
        merged += [(i, _SENT) for i, fate in enumerate(batch.fates) if fate not in _NOT_SUBMITTED]
        self._random.shuffle(merged)
        return merged

    async def _deliver_new(
        self, batch: Batch, index: int, code: int, generation: int
    ) -> list[asyncio.Task]:
        config = self._state.config
        if not (config.reports_enabled and batch.callback_url):
            return []

        copies = 1
        if config.duplicate_fraction and self._random.random() < config.duplicate_fraction:
            copies = 2
            self._state.stats.reports_duplicated += 1
        posts = []
        for _ in range(copies):
            self._state.stats.reports_in_progress += 1
            posts.append(
                await self._submit(Report(batch, index, code, batch.callback_url, generation))
            )
        return posts

    async def _submit(self, report: Report) -> asyncio.Task:
        # Waiting here, not inside the task, bounds the number of tasks as well as of requests.
        await self._semaphore.acquire()
        return self._track(asyncio.create_task(self._post_and_settle(report)))

    def _track(self, task: asyncio.Task) -> asyncio.Task:
        # The event loop keeps only weak references to tasks, so they are kept here until done.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _post_and_settle(self, report: Report) -> None:
        try:
            delivered = await self._post(report)
        except Exception:
            log.exception("report for %s could not be sent", report.batch.message_id(report.index))
            delivered = False
        finally:
            self._semaphore.release()
        if report.generation != self._state.generation:
            return

        stats = self._state.stats
        if delivered:
            stats.reports_sent += 1
            stats.reports_in_progress -= 1
            return
        self._retry_or_drop(report)

    def _retry_or_drop(self, report: Report) -> None:
        stats = self._state.stats
        schedule = self._state.config.retry_schedule
        if report.attempt < len(schedule):
            delay = schedule[report.attempt]
            report.attempt += 1
            stats.reports_retried += 1
            self._push(delay, RETRY, report)
            return

        stats.reports_failed += 1
        stats.reports_in_progress -= 1
        self._log_failure(
            "report %s for %s dropped after %d attempts",
            STATUSES[report.code], report.batch.message_id(report.index), report.attempt + 1,
        )  # fmt: skip

    async def _post(self, report: Report) -> bool:
        """POST one report; return True only for HTTP 200 within the report timeout."""
        config = self._state.config
        body = report_body(report.batch, report.index, report.code)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if config.webhook_secret:
            headers["X-SMSTo-Signature"] = signature_header(
                config.webhook_secret, body, int(time.time())
            )

        self._state.stats.report_attempts += 1
        try:
            async with asyncio.timeout(config.report_timeout):
                response = await self._client.post(report.url, content=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            phone = mask_phone(report.batch.phone(report.index))
            self._log_failure("report to %s for %s failed: %r", _host(report.url), phone, exc)
            return False

        if response.status_code != 200:
            self._log_failure("report to %s got HTTP %s", _host(report.url), response.status_code)
            return False
        return True

    def _log_failure(self, message: str, *args: object) -> None:
        self._failures_logged += 1
        if self._failures_logged <= 10 or self._failures_logged % _LOG_EVERY == 0:
            log.warning(message + " (failure %d)", *args, self._failures_logged)


def _host(url: str) -> str:
    # A callback URL may carry a secret token in its path or query, so only the host is logged.
    return httpx.URL(url).netloc.decode("ascii", "replace")
