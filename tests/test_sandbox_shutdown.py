"""The sandbox stops cleanly while its worker process is still deciding a large send."""

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.sandbox_server import run_sandbox

AUTH = {"Authorization": "Bearer sandbox"}


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def is_worker(pid: int) -> bool:
    return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()


def ignores_sigterm(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def wait_for_worker(pid: int) -> list[int]:
    """Wait until the sandbox's worker process runs and ignores SIGTERM; return its pid in a list."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        # multiprocessing's resource tracker ignores SIGTERM too, so the command line is checked as well.
        workers = [child for child in child_pids(pid) if is_worker(child) and ignores_sigterm(child)]
        if workers:
            return workers
        time.sleep(0.05)
    pytest.fail(f"no worker process of the sandbox (pid {pid}) was ready within 20 s")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("whole_group", [False, True], ids=["server", "process_group"])
def test_sandbox_sigterm_mid_send(whole_group):
    with run_sandbox(no_reports=True, new_session=whole_group) as sandbox:
        workers = wait_for_worker(sandbox.pid)
        phones = [f"+3579{index:07d}" for index in range(50_000)]
        response = httpx.post(f"{sandbox.base_url}/sms/send", json={"message": "Hi", "to": phones},
                              headers=AUTH, timeout=30)

        if whole_group:
            os.killpg(sandbox.pid, signal.SIGTERM)  # its own group, so pytest is not in it
        else:
            os.kill(sandbox.pid, signal.SIGTERM)
        code = sandbox.process.wait(timeout=20)
        log = sandbox.log_text()

    assert response.status_code == 200
    assert code == -signal.SIGTERM  # uvicorn raises the signal again after a graceful shutdown
    assert "leaked semaphore" not in log
    assert "Traceback" not in log
    assert "validation worker failed" not in log
    assert "sandbox stopped" in log
    assert not [pid for pid in workers if alive(pid)], log
