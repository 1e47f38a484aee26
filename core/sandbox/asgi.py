"""The few pieces of raw ASGI the sandbox needs: read a request, send JSON, drop a connection.

`core/` must not depend on a web framework, and the sandbox's HTTP surface is small enough to
serve with the ASGI interface directly.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024 * 1024


class BodyTooLarge(Exception):
    """A request body above MAX_BODY_BYTES."""


@dataclass
class Request:
    """One HTTP request with its whole body read."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, in lower case ("application/json")."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_request(scope: dict, receive: Receive) -> Request:
    """Read the request line, headers and the whole body; raise BodyTooLarge above the limit."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        more = message.get("more_body", False)

    # The last value wins for a repeated query parameter or header.
    query = {
        key: values[-1]
        for key, values in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()
    }
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }
    return Request(scope["method"], scope["path"], query, headers, b"".join(chunks))


def encode_json(data: object) -> bytes:
    """Encode JSON with Decimal amounts as numbers, as SMS.to writes them."""
    return json.dumps(data, default=_json_default, separators=(",", ":")).encode("utf-8")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        # The shortest float repr of an amount with few digits prints the same digits back.
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


async def send_json(
    send: Send, status: int, data: object, headers: dict[str, str] | None = None
) -> None:
    body = encode_json(data)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_stream(send: Send, status: int, chunks: AsyncIterator[bytes]) -> None:
    """Send a JSON body in pieces, so a large listing is never held in memory whole."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def drop_connection(send: Send, receive: Receive) -> None:
    """Close the connection without sending any response.

    ASGI has no message for this. Under uvicorn, `send` is a method of the request cycle that
    owns the transport, so the transport is closed directly and the function waits for uvicorn to
    notice the disconnect (uvicorn then sends nothing). Under another server, a response is
    started and abandoned, which also leaves the client without a complete response.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.close()
        try:
            async with asyncio.timeout(5):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            log.warning("the server did not report the dropped connection as closed")
        return

    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
    )
    raise ConnectionAbortedError("response dropped on purpose by fault injection")
