"""Benchmark the sandbox SMS.to provider: response times of bulk sends, and a million-recipient ledger.

Runs the sandbox as a real uvicorn process on loopback (delivery reports off) and measures:

1. the response time of `POST /sms/send` with 1,000 recipients against the baseline of the same run,
   `GET /api/balance` (the cheapest authenticated request), both as medians over sequential
   requests on one keep-alive connection;
2. the same bulk send paced at 150 requests per second for `--paced-seconds`, while the sandbox
   validates and prices the numbers of earlier sends in the background: median and 99th
   percentile response time;
3. `--recipients` recipients (default 1,000,000) sent as fast as possible in bulks of 1,000 with
   the rate limit off: time to accept them, time until every number is validated, priced and
   has its final status, and the growth of the process's resident memory per recipient.

    .venv/bin/python bench/bench_sandbox.py
    .venv/bin/python bench/bench_sandbox.py --recipients 100000 --paced-seconds 5
"""

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sandbox_server import run_sandbox

BULK = 1000
AUTH = {"Authorization": "Bearer sandbox"}
# Mobile number ranges of several countries, so that validation and pricing see a mix.
# Each prefix is followed by this many subscriber digits.
PREFIXES = {"+35799": 6, "+35797": 6, "+306944": 6, "+447400": 6, "+4915112": 6, "+3361": 7}
GOAL_BULK_ANSWER_S = 0.010


def numbers(start: int, count: int) -> list[str]:
    """Return `count` valid mobile numbers, cycling through PREFIXES."""
    prefixes = list(PREFIXES.items())
    result = []
    for index in range(start, start + count):
        prefix, width = prefixes[index % len(prefixes)]
        result.append(prefix + str(index // len(prefixes)).zfill(width)[-width:])
    return result


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS missing from /proc status")


def timed(client: httpx.Client, method: str, url: str, **kwargs) -> float:
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def wait_processed(client: httpx.Client, base_url: str) -> dict:
    while True:
        stats = client.get(base_url + "/_sandbox/stats").json()
        if stats["batches_unfinished"] == 0:
            return stats
        time.sleep(0.2)


def response_times(client: httpx.Client, base_url: str, rounds: int) -> tuple[float, float]:
    balance = [timed(client, "GET", base_url + "/api/balance") for _ in range(rounds)]
    body = {"message": "Your code is 1234", "to": numbers(0, BULK)}
    bulk = [timed(client, "POST", base_url + "/sms/send", json=body) for _ in range(rounds)]
    return statistics.median(balance), statistics.median(bulk)


def paced(client: httpx.Client, base_url: str, seconds: float, rate: int) -> list[float]:
    times = []
    started = time.perf_counter()
    for sent in range(int(seconds * rate)):
        due = started + sent / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        body = {"message": "Your code is 1234", "to": numbers(sent * BULK, BULK)}
        times.append(timed(client, "POST", base_url + "/sms/send", json=body))
    return times


def million(client: httpx.Client, server, recipients: int) -> dict:
    rss_before = rss_bytes(server.pid)
    started = time.perf_counter()
    for start in range(0, recipients, BULK):
        body = {"message": "Your code is 1234", "to": numbers(start, min(BULK, recipients - start))}
        client.post(server.base_url + "/sms/send", json=body).raise_for_status()
    accepted = time.perf_counter() - started
    stats = wait_processed(client, server.base_url)
    settled = time.perf_counter() - started
    growth = rss_bytes(server.pid) - rss_before

    listed = time.perf_counter()
    size = 0
    with client.stream("GET", server.base_url + "/_sandbox/messages") as response:
        for chunk in response.iter_bytes():
            size += len(chunk)
    listing = time.perf_counter() - listed
    return {
        "accepted_s": accepted,
        "settled_s": settled,
        "rss_growth": growth,
        "stats": stats,
        "listing_s": listing,
        "listing_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200, help="requests per median")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    options = {
        "seed": 1,
        "no_reports": True,
        "rate_limit": 0,
        "balance": 10**9,
        "report_delay_min": 0,
        "report_delay_max": 0,
    }
    with run_sandbox(**options) as server, httpx.Client(headers=AUTH, timeout=60) as client:
        balance, bulk = response_times(client, server.base_url, args.rounds)
        print(f"GET /api/balance (baseline), median: {balance * 1000:.2f} ms")
        print(
            f"POST /sms/send, {BULK} recipients, median: {bulk * 1000:.2f} ms ({bulk / balance:.1f}x baseline)"
        )
        print(
            f"goal: bulk send responded to within {GOAL_BULK_ANSWER_S * 1000:.0f} ms: {'met' if bulk <= GOAL_BULK_ANSWER_S else 'MISSED'}"
        )
        wait_processed(client, server.base_url)

        times = paced(client, server.base_url, args.paced_seconds, 150)
        p99 = sorted(times)[int(len(times) * 0.99) - 1]
        print(
            f"paced at 150 requests/s for {args.paced_seconds:g} s ({len(times) * BULK:,} recipients): "
            f"median {statistics.median(times) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"
        )
        server.reset()
        wait_processed(client, server.base_url)

        result = million(client, server, args.recipients)
        stats = result["stats"]
        print(
            f"{args.recipients:,} recipients in bulks of {BULK}: accepted in {result['accepted_s']:.1f} s "
            f"({args.recipients / result['accepted_s']:,.0f}/s), all final after {result['settled_s']:.1f} s "
            f"({args.recipients / result['settled_s']:,.0f}/s)"
        )
        print(
            f"ledger: {stats['messages']:,} recipients, by status {stats['by_status']}, billed {stats['billed']} EUR"
        )
        print(
            f"resident memory growth: {result['rss_growth'] / 2**20:.0f} MiB, {result['rss_growth'] / args.recipients:.0f} bytes per recipient"
        )

        print(
            f"GET /_sandbox/messages: {result['listing_bytes'] / 2**20:.0f} MiB of JSON "
            f"in {result['listing_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
