"""A small HTTP/1.1 load generator on raw asyncio streams, for loopback benchmarks.

It keeps `connections` keep-alive connections busy, each sending one request at a time, for a
fixed time or a fixed count, and records every response's status and latency. It is far cheaper
per request than a general HTTP client, so the server under test, not the client, sets the rate.
"""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    accepted_keys: list[str] = field(default_factory=list)  # keys of requests that got a 200 response
    errors: int = 0  # connections that failed (reset, refused, timed out)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_load(
    *,
    host: str,
    port: int,
    path: str,
    make_body: Callable[[int], tuple[str, bytes]],
    connections: int = 64,
    seconds: float = 8.0,
    warmup_seconds: float = 1.0,
    max_requests: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    timeout: float = 10.0,
) -> LoadResult:
    """Send POSTs of `make_body(n) -> (key, body)` until time or count runs out; return the tally."""
    result = LoadResult()
    numbers = itertools.count()
    started = time.perf_counter()
    measure_from = started + warmup_seconds
    deadline = measure_from + seconds

    async def worker() -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            result.errors += 1
            return
        try:
            while time.perf_counter() < deadline:
                number = next(numbers)
                if max_requests is not None and number >= max_requests:
                    return
                key, body = make_body(number)
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode("ascii")
                sent_at = time.perf_counter()
                writer.write(head + body)
                status = await asyncio.wait_for(_read_response(reader), timeout)
                done_at = time.perf_counter()
                if sent_at >= measure_from:
                    result.latencies.append(done_at - sent_at)
                    result.statuses[status] += 1
                if status == 200:
                    result.accepted_keys.append(key)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            result.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    result.seconds = min(time.perf_counter(), deadline) - measure_from
    return result


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status
