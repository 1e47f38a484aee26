"""Start the product's servers as real processes on loopback for tests, and stop them by pid."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Poll `url` until it responds with a status below 500; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def companion_server(env: dict[str, str], *, port: int | None = None, log_path: Path | None = None) -> Iterator[str]:
    """Run `smsto-console serve` with `env` added to the environment; yield its base URL."""
    port = port or free_port()
    command = [sys.executable, "-m", "core.cli", "serve", "--port", str(port)]
    with spawned(command, env, f"http://127.0.0.1:{port}/healthz", log_path) as _process:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def spawned(command: list[str], env: dict[str, str], health_url: str, log_path: Path | None = None) -> Iterator[subprocess.Popen]:
    """Start `command`, wait for `health_url`, and always stop the process by its pid."""
    full_env = {**os.environ, **env}
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(open(log_path, "ab")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_up(health_url, process)
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
