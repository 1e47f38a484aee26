"""Benchmark of the delivery-report side of the companion server.

Three parts, each printing its figures and ratios against a baseline measured in the same run:

- http: a real uvicorn process (one worker, 127.0.0.1) running webhook_server:app, driven by 64
  keep-alive connections, against two no-op apps served the same way (bench/noop_app.py): a
  FastAPI endpoint, the baseline of the goal, and the same no-op on a pure ASGI middleware, as
  the webhook is served, which shows what the durable write itself costs. Rounds alternate
  between the three. Goals: report rate >= 0.8x the FastAPI no-op rate, p99 under 100 ms, no
  response slower than 4 s, and every 200 stored.
- ledger: one million reports (duplicates included, shuffled) for a 500,000-recipient campaign,
  stored and matched by calling core.reports.ingest and core.reports.matcher directly (no HTTP),
  then compared with the ledger computed here: status counts and total cost must be equal.
- scaling: matching cost per report of the same 10,000-report sample with 10,000 reports stored
  and after the ledger part (about 1,000,000 stored). Goal: ratio within 1.5.

Run: .venv/bin/python bench/bench_reports.py [--part http|ledger|all] [--quick]
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_reports_data import (
    build_ledger,
    insert_campaign,
    measure_sample,
    store_bodies,
)
from http_load import run_load
from servers import uvicorn_server

from core.db import init_db, make_engine
from core.reports.matcher import drain_pending

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 64


def report_body(number: int) -> tuple[str, bytes]:
    """Build a form body as SMS.to sends it, for recipient `number` of the http part's campaign."""
    key = f"bench-{number}"
    recipient = number % 100_000
    body = (
        f"trackingId=http-{recipient // 1000}&messageId={key}&phone=%2B3579{recipient:07d}"
        f"&status={'SENT' if number % 2 else 'DELIVERED'}&parts=1&price=0.015"
    )
    return key, body.encode()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, pid: int, seconds: float) -> dict:
    before = cpu_seconds(pid)
    result = asyncio.run(run_load(host="127.0.0.1", port=port, path="/webhooks/smsto",
                                  make_body=report_body, connections=CONNECTIONS, seconds=seconds))
    used = cpu_seconds(pid) - before
    return {
        "rate": result.rate,
        "p50_ms": result.percentile(0.50) * 1000,
        "p99_ms": result.percentile(0.99) * 1000,
        "max_ms": max(result.latencies) * 1000,
        "cpu_us_per_request": used / max(1, result.requests) * 1e6,
        "statuses": dict(result.statuses),
        "errors": result.errors,
        "accepted": len(result.accepted_keys),
    }


def bench_http(folder: Path, rounds: int, seconds: float) -> dict:
    database_url = f"sqlite:///{folder / 'http.db'}"
    engine = make_engine(database_url)
    init_db(engine)
    insert_campaign(engine, recipients=100_000, prefix="http", single_share=0.0, phone_base=3579_000_0000)
    env = {"DATABASE_URL": database_url, "DISPATCHER_ENABLED": "false", "WEBHOOK_SECRET": ""}

    noop_runs, lean_runs, report_runs, stored_ok = [], [], [], True
    for number in range(rounds):
        with uvicorn_server("noop_app:app", app_dir=BENCH) as (port, process):
            noop_runs.append(measure(port, process.pid, seconds))
        with uvicorn_server("noop_app:lean_app", app_dir=BENCH) as (port, process):
            lean_runs.append(measure(port, process.pid, seconds))
        with uvicorn_server("webhook_server:app", env=env) as (port, process):
            before = _count_bodies(engine)
            run = measure(port, process.pid, seconds)
            run["stored_all_accepted"] = _count_bodies(engine) - before >= run["accepted"]
            run["matching_caught_up_s"] = _wait_for_matcher(port)
            report_runs.append(run)
        stored_ok = stored_ok and run["stored_all_accepted"]
        print(f"round {number + 1}: no-op {noop_runs[-1]['rate']:.0f}/s, "
              f"lean no-op {lean_runs[-1]['rate']:.0f}/s, reports {run['rate']:.0f}/s, "
              f"p99 {run['p99_ms']:.1f} ms, max {run['max_ms']:.0f} ms", flush=True)

    noop_rate = statistics.median(run["rate"] for run in noop_runs)
    lean_rate = statistics.median(run["rate"] for run in lean_runs)
    report_rate = statistics.median(run["rate"] for run in report_runs)
    engine.dispose()
    return {
        "noop_rate": noop_rate,
        "lean_noop_rate": lean_rate,
        "report_rate": report_rate,
        "ratio": report_rate / noop_rate,
        "ratio_to_lean_noop": report_rate / lean_rate,
        "report_p99_ms": max(run["p99_ms"] for run in report_runs),
        "report_max_ms": max(run["max_ms"] for run in report_runs),
        "noop_cpu_us": statistics.median(run["cpu_us_per_request"] for run in noop_runs),
        "lean_noop_cpu_us": statistics.median(run["cpu_us_per_request"] for run in lean_runs),
        "report_cpu_us": statistics.median(run["cpu_us_per_request"] for run in report_runs),
        "non_200": sum(sum(v for k, v in run["statuses"].items() if k != 200) for run in report_runs),
        "every_200_stored": stored_ok,
        "rounds": {"noop": noop_runs, "lean_noop": lean_runs, "reports": report_runs},
    }


def _count_bodies(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM inboundreport")).scalar_one()


def _wait_for_matcher(port: int, timeout: float = 300.0) -> float:
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        health = httpx.get(f"http://127.0.0.1:{port}/api/callback-health", timeout=30).json()
        if health["waiting_bodies"] == 0:
            break
        time.sleep(0.2)
    return time.monotonic() - started


def bench_ledger(folder: Path, reports: int, recipients: int, sample_repeats: int) -> dict:
    # Baseline: matching cost per report with about 10,000 reports stored.
    small = make_engine(f"sqlite:///{folder / 'small.db'}")
    init_db(small)
    seed = insert_campaign(small, recipients=5_000, prefix="seed", single_share=0.1, phone_base=3578_000_0000)
    store_bodies(small, seed.bodies(reports_per_recipient=2))
    drain_pending(small, limit=1000)
    small_costs = [measure_sample(small, f"small-{n}") for n in range(sample_repeats)]
    small.dispose()

    large = make_engine(f"sqlite:///{folder / 'large.db'}")
    init_db(large)
    ledger = build_ledger(large, reports=reports, recipients=recipients)
    print(f"ledger: stored {reports} reports at {ledger['store_rate']:.0f}/s, matched at "
          f"{ledger['match_rate']:.0f}/s; ledger equal: {ledger['equal']}", flush=True)
    large_costs = [measure_sample(large, f"large-{n}") for n in range(sample_repeats)]
    large.dispose()

    small_cost = statistics.median(small_costs)
    large_cost = statistics.median(large_costs)
    return {
        **ledger,
        "sample_us_per_report_at_10k": small_cost * 1e6,
        "sample_us_per_report_at_1m": large_cost * 1e6,
        "scaling_ratio": large_cost / small_cost,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["http", "ledger", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    parser.add_argument("--rounds", type=int, default=3, help="alternating http rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per http run (default 8)")
    args = parser.parse_args()

    reports, recipients = (20_000, 10_000) if args.quick else (1_000_000, 500_000)
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as folder:
        if args.part in ("http", "all"):
            results["http"] = bench_http(Path(folder), 1 if args.quick else args.rounds,
                                         2.0 if args.quick else args.seconds)
        if args.part in ("ledger", "all"):
            results["ledger"] = bench_ledger(Path(folder), reports, recipients, 1 if args.quick else 3)

    print(json.dumps(results, indent=2, default=str))
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_reports.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
