"""A real companion server killed with SIGKILL in the middle of a burst loses no acknowledged report."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
from sqlalchemy import text

from core.db import make_engine
from tests.processes import ROOT, free_port, wait_until_up


def start_server(database_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "DISPATCHER_ENABLED": "false", "WEBHOOK_SECRET": ""}
    command = [sys.executable, "-m", "uvicorn", "webhook_server:app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    return process


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


async def burst_then_kill(port: int, process: subprocess.Popen, kill_after: int) -> list[str]:
    """Send reports on 16 connections; SIGKILL the server once `kill_after` got a 200."""
    accepted: list[str] = []
    numbers = iter(range(100_000))

    async def connection() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        try:
            for number in numbers:
                key = f"crash-{number}"
                body = f"trackingId=C1&messageId={key}&phone=%2B35799{number:06d}&status=DELIVERED".encode()
                writer.write(b"POST /webhooks/smsto HTTP/1.1\r\nHost: t\r\nContent-Type: "
                             b"application/x-www-form-urlencoded\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    accepted.append(key)
                if len(accepted) >= kill_after and process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, IndexError):
            return  # the server died under this connection
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(16)))
    return accepted


def kill_mid_burst(database_url: str, kill_after: int) -> tuple[list[str], int, int]:
    """Start a server, SIGKILL it mid-burst; return the keys that got a 200, its exit code and port."""
    port = free_port()
    process = start_server(database_url, port)
    try:
        accepted = asyncio.run(burst_then_kill(port, process, kill_after=kill_after))
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    return accepted, process.returncode, port


def stored_keys(connection) -> tuple[set[str], int]:
    """Return the burst's keys found in InboundReport, and the number of bodies stored."""
    bodies = connection.execute(text("SELECT body FROM inboundreport")).scalars().all()
    keys = {bytes(body).split(b"messageId=")[1].split(b"&")[0].decode() for body in bodies}
    return keys, len(bodies)


def restart_until_matched(database_url: str, port: int) -> dict:
    """Restart the server and return its callback health once nothing waits for the matcher (30 s at most)."""
    restarted = start_server(database_url, port)
    try:
        deadline = time.monotonic() + 30
        health = httpx.get(f"http://127.0.0.1:{port}/api/callback-health").json()
        while health["waiting_bodies"] and time.monotonic() < deadline:
            time.sleep(0.2)
            health = httpx.get(f"http://127.0.0.1:{port}/api/callback-health").json()
    finally:
        stop_server(restarted)
    return health


def test_sigkill_mid_burst_keeps_every_acknowledged_report(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    accepted, returncode, port = kill_mid_burst(database_url, kill_after=500)

    engine = make_engine(database_url)
    with engine.connect() as connection:
        integrity = connection.execute(text("PRAGMA integrity_check")).scalar()
        keys, stored = stored_keys(connection)

    assert returncode == -signal.SIGKILL
    assert len(accepted) >= 500
    assert integrity == "ok"
    assert set(accepted) - keys == set()

    # A restarted server matches the bodies the killed one had stored but not processed.
    health = restart_until_matched(database_url, port)
    assert health["waiting_bodies"] == 0
    assert health["reports"] == stored
    engine.dispose()
