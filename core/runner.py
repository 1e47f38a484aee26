"""Entry points that start long-running processes: `serve`, `dispatch` and `run`.

`run` is what `make run` calls. It starts the sandbox provider (unless an API key is set), the
companion server and the dashboard as child processes on loopback, and prints the dashboard's
address. It stops all three on Ctrl-C, or as soon as one of them exits.
"""

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.errors import InputError
from core.settings import get_settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
_STARTUP_TIMEOUT_S = 60.0


def serve_command(args: argparse.Namespace) -> int:
    """Run the companion server in this process."""
    import uvicorn

    if args.no_dispatcher:
        # The server reads its settings from the environment when it is imported.
        os.environ["DISPATCHER_ENABLED"] = "false"
    # log_config=None keeps the format that core.cli set up, so every process logs alike.
    uvicorn.run(
        "webhook_server:app",
        host=args.host,
        port=args.port,
        log_level="info",
        log_config=None,
        access_log=not args.no_access_log,
    )
    return 0


def dispatch_command(args: argparse.Namespace) -> int:
    """Run the dispatcher alone: until SIGTERM or Ctrl-C, or with `--once` until nothing is queued."""
    from core.db import init_db, make_engine
    from core.dispatch import Dispatcher

    settings = get_settings()
    if settings.api_key is None:
        raise InputError(
            "SMSTO_API_KEY is not set, so nothing can be sent; set it (the sandbox accepts "
            "`sandbox`) together with SMSTO_API_URL."
        )

    engine = make_engine(settings.database_url)
    init_db(engine)
    dispatcher = Dispatcher(engine, settings)
    # The handler only sets an event: the request in flight finishes and its response is stored.
    signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())
    signal.signal(signal.SIGINT, lambda *_: dispatcher.stop())

    summary = dispatcher.run_once() if args.once else dispatcher.run_forever()
    log.info("dispatcher finished: chunks %s", summary.chunks)
    return 0


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    health_url: str


def run_command(args: argparse.Namespace) -> int:
    """Start sandbox, companion server and dashboard; stop them all on Ctrl-C."""
    settings = get_settings()
    env = dict(os.environ)
    env["SMSTO_CALLBACK_BASE_URL"] = env.get(
        "SMSTO_CALLBACK_BASE_URL", f"http://127.0.0.1:{args.server_port}"
    )
    children: list[Child] = []
    _check_ports_free(args, sandbox=settings.api_key is None)
    # The children run in sessions of their own, so this process must stop them on SIGTERM as
    # on Ctrl-C, even when it was started with SIGINT ignored (in the background of a script).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)

    try:
        if settings.api_key is None:
            signed = settings.webhook_secret is not None
            children.append(_start_sandbox(args.sandbox_port, env, signed=signed))
        else:
            log.info("SMSTO_API_KEY is set: sending through %s", settings.smsto_api_url)
        children.append(_start_server(args.server_port, env))
        children.append(_start_dashboard(args.dashboard_port, env))

        for child in children:
            _wait_healthy(child)
        _announce(args.dashboard_port, sandbox=settings.api_key is None)
        return _wait_for_exit(children)
    except KeyboardInterrupt:
        print("\n  Stopping dashboard, companion server and sandbox…", flush=True)
        return 0
    finally:
        # Stopped in this order so the dispatcher's last request still finds the sandbox.
        _stop_all(list(reversed(children)))


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _check_ports_free(args: argparse.Namespace, *, sandbox: bool) -> None:
    ports = [("companion server", "--server-port", args.server_port)]
    ports.append(("dashboard", "--dashboard-port", args.dashboard_port))
    if sandbox:
        ports.append(("sandbox provider", "--sandbox-port", args.sandbox_port))

    for name, option, port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise InputError(
                    f"Port {port} on 127.0.0.1, wanted for the {name}, is already in use. Stop the "
                    f"program that uses it, or pick another port: make run RUN_ARGS='{option} {port + 1}'."
                ) from None


def _python() -> list[str]:
    return [sys.executable]


def _start_sandbox(port: int, env: dict[str, str], *, signed: bool) -> Child:
    sandbox_url = f"http://127.0.0.1:{port}"
    # Every child talks to the sandbox as if it were SMS.to, with the key the sandbox accepts.
    env["SMSTO_API_URL"] = sandbox_url
    env["SMSTO_AUTH_URL"] = sandbox_url
    env["SMSTO_API_KEY"] = "sandbox"
    command = _python() + ["-m", "core.cli", "sandbox", "--port", str(port), "--api-key", "sandbox"]
    if signed:
        # The sandbox reads WEBHOOK_SECRET from the settings, so the secret stays out of `ps`.
        command.append("--sign-reports")
    return _spawn("sandbox", command, env, f"{sandbox_url}/_sandbox/stats")


def _start_server(port: int, env: dict[str, str]) -> Child:
    # One access-log line per delivery report would bury the warnings in the shared console.
    command = _python() + ["-m", "core.cli", "serve", "--port", str(port), "--no-access-log"]
    return _spawn("companion server", command, env, f"http://127.0.0.1:{port}/healthz")


def _start_dashboard(port: int, env: dict[str, str]) -> Child:
    command = _python() + [
        "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    return _spawn("dashboard", command, env, f"http://127.0.0.1:{port}/_stcore/health")


def _spawn(name: str, command: list[str], env: dict[str, str], health_url: str) -> Child:
    log.info("starting %s", name)
    # A session of its own keeps the terminal's Ctrl-C away from the child, so that this process
    # alone decides the order in which the three stop.
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    return Child(name, process, health_url)


def _wait_healthy(child: Child) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"The {child.name} exited with code {child.process.returncode} while starting; see its log above.")
        try:
            if httpx.get(child.health_url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"The {child.name} did not respond at {child.health_url} within {_STARTUP_TIMEOUT_S:.0f} s.")


def _announce(dashboard_port: int, *, sandbox: bool) -> None:
    provider = "the sandbox provider (no SMSTO_API_KEY set)" if sandbox else "SMS.to"
    print(
        f"\n  smsto-console is running, sending through {provider}.\n"
        f"  Dashboard: http://127.0.0.1:{dashboard_port}\n"
        f"  Press Ctrl-C to stop.\n",
        flush=True,
    )


def _wait_for_exit(children: list[Child]) -> int:
    while True:
        for child in children:
            code = child.process.poll()
            if code is not None:
                log.error("the %s exited with code %s; stopping the others", child.name, code)
                return code or 1
        time.sleep(0.5)


def _stop_all(children: list[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("the %s did not stop within 10 s; killing it", child.name)
            child.process.kill()
            child.process.wait()
