"""Benchmark the dispatcher: a million-recipient campaign handed over to the sandbox SMS.to.

Runs the sandbox as a real uvicorn process on loopback (delivery reports off, its own limit of
150 requests per second on), writes the campaign into a fresh SQLite file with
`launch_campaign`, and measures in the same run:

1. the launch (writing the recipients in one transaction), a baseline for the database cost;
2. the dispatcher, `Dispatcher.run_once()`, from planning the chunks to the last id stored;
3. a raw httpx loop of the same bulk requests, from as many threads and paced at the same
   limit, with no database: the floor that the rate limit and the sandbox's response time set.

It checks that every recipient was handed over once (the sandbox's ledger size), that every
chunk is accepted, and that the sandbox never saw more requests in one second than the limit.

    .venv/bin/python bench/bench_dispatch.py
    .venv/bin/python bench/bench_dispatch.py --recipients 100000 --concurrency 2
"""

import argparse
import collections
import logging
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from core.campaigns import LaunchRequest, RecipientInput, launch_campaign
from core.db import init_db, make_engine
from core.dispatch import Dispatcher, states
from core.models import Chunk, Recipient
from core.settings import Settings
from core.smsto import SmsToClient
from tests.sandbox_server import run_sandbox

GOAL_SECONDS = 60.0
RATE_WINDOW_SECONDS = 1.1  # the same guard as the dispatcher's limiter


def numbers(count: int) -> list[str]:
    return [f"+3579{index:07d}" for index in range(count)]


def launch(engine, count: int) -> tuple[int, float]:
    recipients = [RecipientInput(phone=phone, region="CY") for phone in numbers(count)]
    request = LaunchRequest(
        launch_key="bench-dispatch", message="Your table is ready.", recipients=recipients
    )

    started = time.perf_counter()
    campaign = launch_campaign(engine, request).campaign
    return campaign.id, time.perf_counter() - started


def dispatch(engine, settings: Settings, concurrency: int) -> float:
    def client():
        return SmsToClient(
            api_key="sandbox", api_url=settings.smsto_api_url, auth_url=settings.smsto_auth_url
        )

    dispatcher = Dispatcher(engine, settings, client, concurrency=concurrency, poll_interval=0.2)
    started = time.perf_counter()
    dispatcher.run_once()
    return time.perf_counter() - started


def raw_loop(base_url: str, count: int, chunk_size: int, limit: int, concurrency: int) -> float:
    """Send the same bulk requests from as many threads as the dispatcher, paced the same way."""
    phones = numbers(count)
    bodies = iter(
        {"message": "Your table is ready.", "to": phones[start : start + chunk_size]}
        for start in range(0, count, chunk_size)
    )
    pacer = _Pacer(limit)
    lock = threading.Lock()

    def work() -> None:
        headers = {"Authorization": "Bearer sandbox"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            while True:
                with lock:
                    body = next(bodies, None)
                if body is None:
                    return
                _post_until_accepted(client, body, pacer)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(work) for _ in range(concurrency)]:
            future.result()
    return time.perf_counter() - started


def _post_until_accepted(client: httpx.Client, body: dict, pacer: "_Pacer") -> None:
    # On a loaded machine the sandbox can see paced requests bunched together and respond with 429;
    # the baseline then waits and repeats, as the dispatcher does (429 is never carried out).
    while True:
        pacer.wait()
        response = client.post("/sms/send", json=body)
        if response.status_code != 429:
            response.raise_for_status()
            return
        time.sleep(0.5)


class _Pacer:
    """At most `limit` requests per RATE_WINDOW_SECONDS, in memory: the dispatcher's rule without a database."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            if len(self.sent) == self.limit:
                time.sleep(max(0.0, self.sent.popleft() + RATE_WINDOW_SECONDS - now))
            self.sent.append(time.monotonic())


def check(engine, campaign_id: int, sandbox, count: int, limit: int) -> dict:
    stats = sandbox.stats()
    with engine.connect() as connection:
        chunk_states = dict(
            connection.execute(
                select(Chunk.state, func.count())
                .where(Chunk.campaign_id == campaign_id)
                .group_by(Chunk.state)
            ).all()
        )
        stamped = connection.execute(
            select(func.count()).where(
                Recipient.campaign_id == campaign_id, Recipient.sent_at.is_not(None)
            )
        ).scalar_one()

    problems = []
    if stats["messages"] != count:
        problems.append(f"the sandbox accepted {stats['messages']} messages, expected {count}")
    if set(chunk_states) != {states.ACCEPTED}:
        problems.append(f"chunk states {chunk_states}, expected all accepted")
    if stamped != count:
        problems.append(f"{stamped} recipients have sent_at, expected {count}")
    if stats["max_requests_in_one_second"] > limit:
        problems.append(
            f"{stats['max_requests_in_one_second']} requests in one second, limit {limit}"
        )
    if problems:
        raise SystemExit("benchmark check failed: " + "; ".join(problems))
    return stats


def main() -> None:
    defaults = Settings(_env_file=None)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipients", type=int, default=1_000_000, help="recipients in the campaign"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=defaults.chunk_size, help="recipients per request"
    )
    parser.add_argument(
        "--rate-limit", type=int, default=defaults.rate_limit_per_second, help="requests per second"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="sender threads of the dispatcher"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    requests = -(-args.recipients // args.chunk_size)
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    print(f"campaign: {args.recipients:,} recipients, chunk size {args.chunk_size}, {requests:,} requests, "
          f"limit {args.rate_limit}/s, {args.concurrency} sender threads")  # fmt: skip

    with (
        tempfile.TemporaryDirectory(prefix="bench-dispatch-") as folder,
        run_sandbox(
            no_reports=True, balance="100000000", rate_limit=args.rate_limit, seed=1
        ) as sandbox,
    ):
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        init_db(engine)
        settings = Settings(
            _env_file=None,
            smsto_api_key="sandbox",
            smsto_api_url=sandbox.base_url,
            smsto_auth_url=sandbox.base_url,
            chunk_size=args.chunk_size,
            rate_limit_per_second=args.rate_limit,
        )

        campaign_id, launch_seconds = launch(engine, args.recipients)
        dispatch_seconds = dispatch(engine, settings, args.concurrency)
        stats = check(engine, campaign_id, sandbox, args.recipients, args.rate_limit)
        sandbox.reset()
        raw_seconds = raw_loop(
            sandbox.base_url, args.recipients, args.chunk_size, args.rate_limit, args.concurrency
        )
        raw_rate_limited = sandbox.stats()["rate_limited"]

    print(f"launch (write {args.recipients:,} recipients, baseline): {launch_seconds:.1f} s")
    print(f"raw httpx loop, same requests, same pacing (baseline): {raw_seconds:.1f} s, "
          f"{requests / raw_seconds:.0f} requests/s, {raw_rate_limited} answered 429")  # fmt: skip
    print(f"dispatcher: {dispatch_seconds:.1f} s, {args.recipients / dispatch_seconds:,.0f} recipients/s, "
          f"{requests / dispatch_seconds:.0f} requests/s")  # fmt: skip
    print(f"dispatcher / raw loop: {dispatch_seconds / raw_seconds:.2f}x; "
          f"dispatcher / launch: {dispatch_seconds / launch_seconds:.2f}x")  # fmt: skip
    print(f"sandbox: {stats['requests']:,} requests, max {stats['max_requests_in_one_second']} in one second, "
          f"{stats['rate_limited']} answered 429")  # fmt: skip
    verdict = "met" if dispatch_seconds <= GOAL_SECONDS else "NOT met"
    print(f"goal: hand over in at most {GOAL_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
