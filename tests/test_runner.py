"""`smsto-console run`: refusing busy ports with a sentence instead of a traceback."""

import argparse
import socket

import pytest

from core.errors import InputError
from core.runner import _check_ports_free
from tests.processes import free_port


def _args(server: int, dashboard: int, sandbox: int) -> argparse.Namespace:
    return argparse.Namespace(server_port=server, dashboard_port=dashboard, sandbox_port=sandbox)


def test_run_busy_port_named_with_fix():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(InputError, match=rf"Port {port} .* companion server.*--server-port {port + 1}"):
            _check_ports_free(_args(port, free_port(), free_port()), sandbox=True)


def test_run_free_ports_accepted():
    assert _check_ports_free(_args(free_port(), free_port(), free_port()), sandbox=True) is None
