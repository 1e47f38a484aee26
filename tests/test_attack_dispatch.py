"""Hostile provider responses to the dispatcher, from a loopback HTTP server started by the test."""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from core.models import RateSlot
from tests.dispatch_support import chunks, launch, make_dispatcher, make_settings

DAY_SECONDS = 86_400


@dataclass
class FakeProvider:
    """The address of a server that responds to every request with 429 and a given Retry-After."""

    api_key: str
    base_url: str


def _handler(retry_after: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = b'{"success":false,"message":"Too many requests"}'
            self.send_response(429)
            self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def provider(request) -> Iterator[FakeProvider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(request.param))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeProvider("sandbox", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.mark.parametrize("provider", ["inf", "1e12"], indirect=True, ids=["inf", "1e12"])
def test_dispatch_huge_retry_after_bounded(engine, provider):
    campaign_id = launch(engine, ["+35799000001", "+35799000002"])
    dispatcher = make_dispatcher(engine, make_settings(provider, database_url=str(engine.url)))

    dispatcher.run_once(timeout=3)
    with engine.connect() as connection:
        held_until = connection.execute(select(func.max(RateSlot.used_at))).scalar()

    assert [chunk.state for chunk in chunks(engine, campaign_id)] == ["queued"]
    assert held_until < time.time() + DAY_SECONDS


@pytest.mark.parametrize("provider", ["30"], indirect=True, ids=["thirty_seconds"])
def test_dispatch_retry_after_followed(engine, provider):
    campaign_id = launch(engine, ["+35799000001", "+35799000002"])
    dispatcher = make_dispatcher(engine, make_settings(provider, database_url=str(engine.url)))

    dispatcher.run_once(timeout=1)
    [chunk] = chunks(engine, campaign_id)
    with engine.connect() as connection:
        held_until = connection.execute(select(func.max(RateSlot.used_at))).scalar()

    assert chunk.state == "queued"
    assert chunk.attempts == 1
    assert "429" in chunk.last_error
    # Every dispatcher sharing the database pauses for about the 30 s that the header requests.
    assert held_until > time.time() + 20
