"""Test helpers: the sandbox SMS.to as a real uvicorn process, and a delivery-report receiver.

`run_sandbox(**options)` starts `python -m core.cli sandbox` on 127.0.0.1 with a free port, waits
until it responds, yields a `SandboxServer` and stops the process by its pid. Options are the
command's own, with underscores: `run_sandbox(seed=1, balance="5", no_reports=True,
report_retry_schedule=[0.1, 0.2], fault_429_rate=0.5)`. True adds a flag, None and False leave
an option out, a list is joined with commas.

`report_receiver()` runs a threaded HTTP server on 127.0.0.1 that records every report POSTed
to it and responds as configured (status code, delay), for tests of the sandbox's reports.

`sandbox_fixtures()` makes the fixtures `sandbox_process` (one sandbox per test module, quick
report timings) and `sandbox` (the same process, reset before each test).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Timings that keep report tests fast: reports within 10-50 ms, retries after 0.2 s and 0.4 s.
QUICK_OPTIONS = {
    "seed": 1,
    "report_delay_min": 0.01,
    "report_delay_max": 0.05,
    "report_timeout": 1.0,
    "report_retry_schedule": [0.2, 0.4],
}


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox_arguments(options: dict[str, object]) -> list[str]:
    """Turn keyword options into `smsto-console sandbox` arguments."""
    arguments: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            arguments.append(flag)
        elif isinstance(value, list | tuple):
            arguments += [flag, ",".join(str(item) for item in value)]
        elif isinstance(value, dict):
            arguments += [flag, ",".join(f"{key}={weight}" for key, weight in value.items())]
        else:
            arguments += [flag, str(value)]
    return arguments


@dataclass
class SandboxServer:
    """A running sandbox: its base URL (for SMSTO_API_URL and SMSTO_AUTH_URL), key and process."""

    base_url: str
    api_key: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> dict:
        return httpx.get(f"{self.base_url}/_sandbox/stats", timeout=10).json()

    def ledger(self, **params: object) -> list[dict]:
        """Return the ledger, optionally filtered: `ledger(tracking_id=...)`."""
        return httpx.get(f"{self.base_url}/_sandbox/messages", params=params, timeout=60).json()

    def configure(self, **settings: object) -> dict:
        """Change settings at run time (see core.sandbox.config); raise on a rejected setting."""
        response = httpx.post(f"{self.base_url}/_sandbox/config", json=settings, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_sandbox/reset", timeout=10).raise_for_status()

    def wait_until_settled(self, timeout: float = 10.0) -> dict:
        """Wait until every batch has its final statuses and no report is pending; return the stats.

        A scheduled send in the future keeps its batch unfinished until then.
        """
        return wait_for(
            self.stats,
            lambda stats: stats["batches_unfinished"] == 0 and stats["reports_pending"] == 0,
            timeout,
            "the sandbox to reach every final status and finish its reports",
        )

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_for(
    read: Callable[[], object], done: Callable[[object], bool], timeout: float, description: str
):
    """Call `read` until `done(value)` is true and return the value; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value):
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout} s waiting for {description}; last value: {value!r}"
            )
        time.sleep(0.02)
        value = read()
    return value


@contextmanager
def run_sandbox(
    *, api_key: str = "sandbox", startup_timeout: float = 20.0, new_session: bool = False, **options: object
) -> Iterator[SandboxServer]:
    """Run the sandbox as a uvicorn subprocess on a free loopback port; stop it by pid on exit.

    With `new_session`, the sandbox and its worker get a process group of their own, which a
    test can signal as a whole.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "core.cli",
        "sandbox",
        "--port",
        str(port),
        "--api-key",
        api_key,
    ]
    command += sandbox_arguments(options)
    with tempfile.NamedTemporaryFile(prefix="sandbox-", suffix=".log") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
            start_new_session=new_session,
        )
        server = SandboxServer(f"http://127.0.0.1:{port}", api_key, process, Path(log_file.name))
        try:
            _wait_until_up(server, startup_timeout)
            yield server
        finally:
            _stop(process)


def _wait_until_up(server: SandboxServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"sandbox exited with code {server.process.returncode}:\n{server.log_text()}"
            )
        try:
            if httpx.get(f"{server.base_url}/_sandbox/stats", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"sandbox did not respond within {timeout} s:\n{server.log_text()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def sandbox_fixtures(**options: object) -> tuple[Callable, Callable]:
    """Return the fixtures `sandbox_process` and `sandbox` for a test module.

    `sandbox_process` runs one sandbox for the module with QUICK_OPTIONS updated by `options`.
    `sandbox` is the same process, reset (startup settings, empty ledger) before each test.
    Use: `sandbox_process, sandbox = sandbox_fixtures()` at the top of the module.
    """

    @pytest.fixture(scope="module")
    def sandbox_process() -> Iterator[SandboxServer]:
        with run_sandbox(**(QUICK_OPTIONS | options)) as server:
            yield server

    @pytest.fixture
    def sandbox(sandbox_process: SandboxServer) -> SandboxServer:
        sandbox_process.reset()
        return sandbox_process

    return sandbox_process, sandbox


# The report receiver.


@dataclass
class ReceivedReport:
    """One POST as received: headers (lower-case names), raw body, and the form fields."""

    headers: dict[str, str]
    body: bytes
    fields: dict[str, str]
    received_at: float


@dataclass
class ReportReceiver:
    """A loopback HTTP server that records reports; `responses` sets what the next POSTs get."""

    url: str
    reports: list[ReceivedReport] = field(default_factory=list)
    # Queued (status, delay in seconds) for the next POSTs; after them, `default_response`.
    responses: list[tuple[int, float]] = field(default_factory=list)
    default_response: tuple[int, float] = (200, 0.0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_response(self) -> tuple[int, float]:
        with self.lock:
            return self.responses.pop(0) if self.responses else self.default_response

    def record(self, report: ReceivedReport) -> None:
        with self.lock:
            self.reports.append(report)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedReport]:
        """Wait until at least `count` reports arrived; return them all."""
        wait_for(lambda: len(self.reports), lambda n: n >= count, timeout, f"{count} reports")
        with self.lock:
            return list(self.reports)


def _handler(receiver: ReportReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            receiver.record(ReceivedReport(headers, body, fields, time.monotonic()))

            status, delay = receiver.next_response()
            if delay:
                time.sleep(delay)
            payload = json.dumps({"ok": status == 200}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the sandbox gave up waiting and closed the connection

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    # The sandbox opens up to 32 connections at once; the default backlog of 5 would drop some.
    request_queue_size = 128


@contextmanager
def report_receiver(path: str = "/webhooks/smsto") -> Iterator[ReportReceiver]:
    """Run a report receiver on a free loopback port; yield it with its URL."""
    server = _ReceiverServer(("127.0.0.1", 0), None)
    receiver = ReportReceiver(url=f"http://127.0.0.1:{server.server_address[1]}{path}")
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="report-receiver",
        daemon=True,
    )
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
