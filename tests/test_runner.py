"""`smsto-console run`: refusing busy ports with a sentence instead of a traceback."""

import argparse
import os
import signal
import socket
import subprocess
import sys

import pytest

from core.errors import InputError
from core.runner import _check_ports_free
from tests.processes import ROOT, free_port, stop, wait_until_up


def _args(server: int, dashboard: int, sandbox: int) -> argparse.Namespace:
    return argparse.Namespace(server_port=server, dashboard_port=dashboard, sandbox_port=sandbox)


def test_run_busy_port_named_with_fix():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(
            InputError, match=rf"Port {port} .* companion server.*--server-port {port + 1}"
        ):
            _check_ports_free(_args(port, free_port(), free_port()), sandbox=True)


def test_run_free_ports_accepted():
    assert _check_ports_free(_args(free_port(), free_port(), free_port()), sandbox=True) is None


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_run_signal_stops_every_child(tmp_path, stop_signal):
    ports = [free_port(), free_port(), free_port()]
    command = [sys.executable, "-m", "core.cli", "run", "--server-port", str(ports[0])]
    command += ["--dashboard-port", str(ports[1]), "--sandbox-port", str(ports[2])]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}"}
    env.pop("SMSTO_API_KEY", None)
    # SIGINT ignored on start, as for a command started in the background of a script.
    runner = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )
    try:
        wait_until_up(f"http://127.0.0.1:{ports[1]}/_stcore/health", runner, timeout=90)

        runner.send_signal(stop_signal)

        assert runner.wait(timeout=60) == 0
        assert [_port_in_use(port) for port in ports] == [False, False, False]
    finally:
        stop(runner)


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
