"""Hostile HTTP framing sent to the webhook request path that WebhookFastPath handles.

The raw-socket tests run two real uvicorn processes on loopback: `smsto-console serve` (requests
go through WebhookFastPath) and the same app with its user middleware removed (requests reach the
`@app.post` routes). Each case runs against both and must give the same responses and the same
InboundReport rows. The in-process tests call the ASGI app directly where no HTTP client can build
the case (a disconnect message, a scope with a root path, a Content-Length no parser would pass).
Each case that once failed keeps its test, named for the behaviour it now pins.
"""

import copy
import json
import socket
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect

import webhook_server
from core.reports.parse import MAX_BODY_BYTES
from core.settings import Settings
from tests.processes import free_port, spawned
from tests.reports_fixtures import all_inbound

SECRET = "s3cr3t+for tests"  # a plus and a space, so the query string must be decoded correctly
TOKEN = b"s3cr3t%2Bfor%20tests"
FORM = b"application/x-www-form-urlencoded"
REPORT = b"messageId=m1&status=SENT"
OPTOUT = b"timestamp=1&unsubscribed_number=35799000009&source=sms"
DELIVERY = b"/webhooks/smsto?token=" + TOKEN

# Runs the app built by create_app() without WebhookFastPath, so webhooks reach the router.
ROUTED_SERVER = (
    "import sys, uvicorn, webhook_server; app = webhook_server.create_app(); "
    "app.user_middleware.clear(); "
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), log_level='info')"
)


@dataclass
class RunningServer:
    port: int
    database: Path
    log: Path


def _start(kind: str, folder: Path):
    port = free_port()
    database = folder / f"{kind}.db"
    log = folder / f"{kind}.log"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "DISPATCHER_ENABLED": "false",
        "WEBHOOK_SECRET": SECRET,
    }
    if kind == "fast":
        command = [sys.executable, "-m", "core.cli", "serve", "--port", str(port)]
    else:
        command = [sys.executable, "-c", ROUTED_SERVER, str(port)]
    return spawned(command, env, f"http://127.0.0.1:{port}/healthz", log), RunningServer(port, database, log)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """The fast-path server and the routed server, each with its own SQLite file and log."""
    folder = tmp_path_factory.mktemp("fast_path")
    fast_process, fast = _start("fast", folder)
    routed_process, routed = _start("routed", folder)
    with fast_process, routed_process:
        yield {"fast": fast, "routed": routed}


# --- raw HTTP helpers ------------------------------------------------------------------------


def http_request(
    body: bytes = REPORT,
    *,
    target: bytes = DELIVERY,
    method: bytes = b"POST",
    version: bytes = b"HTTP/1.1",
    headers: list[bytes] | None = None,
    content_type: bytes | None = FORM,
    close: bool = True,
) -> bytes:
    """Build one request with a Content-Length. With `close`, it requests `Connection: close`."""
    lines = [method + b" " + target + b" " + version, b"Host: 127.0.0.1"]
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    lines.append(b"Content-Length: %d" % len(body))
    lines += headers or []
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked_request(chunks: list[bytes], *, target: bytes = DELIVERY, close: bool = True) -> bytes:
    head = b"POST " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    if close:
        head += b"Connection: close\r\n"
    framed = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for chunk in chunks)
    return head + b"\r\n" + framed + b"0\r\n\r\n"


def exchange(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Send `payload` on one connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


def parse_responses(data: bytes, *, head_only: bool = False) -> list[RawResponse]:
    """Split the bytes of one connection into responses (each framed by Content-Length)."""
    responses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        size = 0 if head_only or status == 100 else int(headers.get(b"content-length", b"0"))
        if status != 100:
            responses.append(RawResponse(status, headers, rest[:size]))
        data = rest[size:]
    return responses


def inbound_rows(database: Path, after_id: int = 0) -> list[tuple]:
    """Read InboundReport rows (without id and time) newer than `after_id`, oldest first."""
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT kind, content_type, body, auth, auth_error, parse_error FROM inboundreport "
            "WHERE id > ? ORDER BY id",
            (after_id,),
        ).fetchall()


def last_row_id(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT COALESCE(MAX(id), 0) FROM inboundreport").fetchone()[0]


def run_case(server: RunningServer, payload: bytes, *, head_only: bool = False):
    """Send one case on a fresh connection and return (responses, rows it added)."""
    before = last_row_id(server.database)
    responses = parse_responses(exchange(server.port, payload), head_only=head_only)
    return responses, inbound_rows(server.database, before)


def summary(responses: list[RawResponse]) -> list[tuple]:
    """Status, content type and body of each response: what the two servers must share."""
    return [(r.status, r.headers.get(b"content-type"), r.body) for r in responses]


# --- the table of framing cases --------------------------------------------------------------

SMUGGLED = http_request(b"messageId=SMUGGLED&status=SENT", close=False)
AT_LIMIT = b"messageId=m&status=SENT&pad=" + b"x" * (MAX_BODY_BYTES - 28)
SIGNATURE = b"X-SMSTo-Signature: "

# (case id, bytes sent on one connection, statuses expected, bodies expected in InboundReport).
# The statuses and stored bodies are the contract, and both servers must also agree with each other.
CASES = [
    ("plain", http_request(), [200], [REPORT]),
    ("optout", http_request(OPTOUT, target=b"/webhooks/smsto/optout?token=" + TOKEN), [200], [OPTOUT]),
    ("pipelined_three", http_request(close=False) * 2 + http_request(), [200] * 3, [REPORT] * 3),
    (
        "keep_alive_mixed_answers",
        http_request(close=False)
        + http_request(b"junk", close=False)
        + http_request(target=b"/webhooks/smsto?token=guess", close=False)
        + http_request(b"phone=%2B35799000001&status=SENT", close=False)
        + http_request(OPTOUT, target=b"/webhooks/smsto/optout?token=" + TOKEN),
        [200, 400, 401, 422, 200],
        [REPORT, b"junk", REPORT, b"phone=%2B35799000001&status=SENT", OPTOUT],
    ),
    ("http_1_0", http_request(version=b"HTTP/1.0", close=False), [200], [REPORT]),
    # uvicorn responds to HTTP/1.0 with Connection: close even when keep-alive is requested, so
    # the second request gets no response and is not stored.
    (
        "http_1_0_keep_alive",
        http_request(version=b"HTTP/1.0", headers=[b"Connection: keep-alive"], close=False) * 2,
        [200],
        [REPORT],
    ),
    ("chunked_within_limit", chunked_request([b"messageId=m1", b"&status=SENT"]), [200], [REPORT]),
    ("chunked_at_limit", chunked_request([AT_LIMIT[:100], AT_LIMIT[100:]]), [200], [AT_LIMIT]),
    ("content_length_at_limit", http_request(AT_LIMIT), [200], [AT_LIMIT]),
    (
        "chunked_over_limit_then_next",
        chunked_request([SMUGGLED, b"y" * MAX_BODY_BYTES], close=False) + http_request(),
        [413, 200],
        [(SMUGGLED + b"y" * MAX_BODY_BYTES)[:MAX_BODY_BYTES], REPORT],
    ),
    ("percent_encoded_path", http_request(target=b"/webhooks/%73msto?token=" + TOKEN), [200], [REPORT]),
    ("percent_encoded_slash", http_request(target=b"/webhooks%2Fsmsto?token=" + TOKEN), [200], [REPORT]),
    ("token_plus_as_space", http_request(target=b"/webhooks/smsto?token=s3cr3t%2Bfor+tests"), [200], [REPORT]),
    ("token_raw_plus", http_request(target=b"/webhooks/smsto?token=s3cr3t+for+tests"), [401], [REPORT]),
    ("token_empty", http_request(target=b"/webhooks/smsto?token="), [401], [REPORT]),
    ("token_without_equals", http_request(target=b"/webhooks/smsto?token"), [401], [REPORT]),
    ("token_repeated_good_last", http_request(target=b"/webhooks/smsto?token=x&token=" + TOKEN), [200], [REPORT]),
    ("token_repeated_good_first", http_request(target=DELIVERY + b"&token=x"), [401], [REPORT]),
    ("token_non_utf8_escape", http_request(target=b"/webhooks/smsto?token=%FF"), [401], [REPORT]),
    ("content_type_missing", http_request(content_type=None), [200], [REPORT]),
    ("content_type_non_utf8", http_request(content_type=b"text/\xff\xfe"), [200], [REPORT]),
    (
        "content_type_duplicate",
        http_request(headers=[b"Content-Type: application/json"]),
        [200],
        [REPORT],
    ),
    (
        "upper_case_header_names",
        http_request(target=b"/webhooks/smsto", headers=[b"X-SMSTO-SIGNATURE: t=1,s=00"])
        .replace(b"Content-Type", b"CONTENT-TYPE").replace(b"Content-Length", b"CONTENT-LENGTH"),
        [401],
        [REPORT],
    ),
    (
        "signature_non_utf8",
        http_request(target=b"/webhooks/smsto", headers=[SIGNATURE + b"t=\xff\xfe,s=\xe9"]),
        [401],
        [REPORT],
    ),
    (
        "signature_duplicate_first_wins",
        http_request(target=b"/webhooks/smsto", headers=[SIGNATURE + b"nonsense", SIGNATURE + b"t=1,s=00"]),
        [401],
        [REPORT],
    ),
    ("method_get", http_request(b"", method=b"GET"), [405], []),
    ("method_put", http_request(method=b"PUT"), [405], []),
    ("method_options", http_request(b"", method=b"OPTIONS"), [405], []),
    ("path_unknown_below_webhook", http_request(target=b"/webhooks/smsto/other"), [404], []),
]

STORED_DETAILS = {
    "content_type_missing": ("", "token", ""),
    "content_type_non_utf8": ("text/\xff\xfe", "token", ""),
    "content_type_duplicate": ("application/x-www-form-urlencoded", "token", ""),
    "upper_case_header_names": ("application/x-www-form-urlencoded", "rejected", "stale_signature"),
    "signature_non_utf8": ("application/x-www-form-urlencoded", "rejected", "invalid_signature"),
    "signature_duplicate_first_wins": ("application/x-www-form-urlencoded", "rejected", "invalid_signature"),
    "token_plus_as_space": ("application/x-www-form-urlencoded", "token", ""),
    "token_repeated_good_last": ("application/x-www-form-urlencoded", "token", ""),
    "token_empty": ("application/x-www-form-urlencoded", "rejected", "invalid_token"),
}


@pytest.mark.parametrize(("case", "payload", "statuses", "stored"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_framing_case(servers, case, payload, statuses, stored):
    responses, rows = run_case(servers["fast"], payload)

    assert [r.status for r in responses] == statuses
    assert [row[2] for row in rows] == stored
    for response in responses:
        if response.status != 200:
            assert set(json.loads(response.body)) == {"error"}
        else:
            assert json.loads(response.body) == {"status": "accepted"}
    if case in STORED_DETAILS:
        [row] = rows
        assert (row[1], row[3], row[4]) == STORED_DETAILS[case]


@pytest.mark.parametrize(("case", "payload", "statuses", "stored"), CASES, ids=[c[0] for c in CASES])
def test_routed_path_same_as_fast_path(servers, case, payload, statuses, stored):
    fast_responses, fast_rows = run_case(servers["fast"], payload)
    routed_responses, routed_rows = run_case(servers["routed"], payload)

    assert summary(routed_responses) == summary(fast_responses)
    assert routed_rows == fast_rows


def test_fast_path_head_gets_405(servers):
    payload = http_request(b"", method=b"HEAD")
    [response], rows = run_case(servers["fast"], payload, head_only=True)

    assert response.status == 405
    assert response.headers[b"allow"] == b"POST"
    assert rows == []


@pytest.mark.parametrize("kind", ["fast", "routed"])
@pytest.mark.parametrize("case", ["content_length_duplicate_same", "content_length_duplicate_differs",
                                  "content_length_and_chunked", "content_length_smaller_than_body",
                                  "method_lower_case"])
def test_bad_framing_never_reaches_app(servers, kind, case):
    """uvicorn's parser rejects these with its own plain-text 400, before any app code runs."""
    head = b"POST " + DELIVERY + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    payload = {
        "content_length_duplicate_same": head + b"Content-Length: 24\r\nContent-Length: 24\r\n\r\n" + REPORT,
        "content_length_duplicate_differs": head + b"Content-Length: 24\r\nContent-Length: 9\r\n\r\n" + REPORT,
        "content_length_and_chunked": head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        # The first 18 bytes are a complete request body; the rest is parsed as a broken request line.
        "content_length_smaller_than_body": head + b"Content-Length: 18\r\n\r\n" + b"junk=1&status=SENT" + b"GARBAGE",
        "method_lower_case": http_request(method=b"post"),
    }[case]
    server = servers[kind]
    before = last_row_id(server.database)
    responses = parse_responses(exchange(server.port, payload))
    if case == "content_length_smaller_than_body":
        time.sleep(0.3)  # the app may still store the complete first body after the 400 was sent
    rows = inbound_rows(server.database, before)

    assert [r.status for r in responses] == [400]
    assert responses[0].headers[b"content-type"].startswith(b"text/plain")
    if case == "content_length_smaller_than_body":
        assert [row[2] for row in rows] in ([], [b"junk=1&status=SENT"])  # stored or not, never twice
    else:
        assert rows == []


@pytest.mark.parametrize("kind", ["fast", "routed"])
def test_fast_path_oversize_then_next(servers, kind):
    """The unread body of a 413 is discarded by the server, never parsed as a request of its own."""
    big = SMUGGLED + b"x" * (MAX_BODY_BYTES + 1 - len(SMUGGLED))
    responses, rows = run_case(servers[kind], http_request(big, close=False) + http_request())

    assert [r.status for r in responses] == [413, 200]
    assert json.loads(responses[0].body)["error"]["code"] == "body_too_large"
    assert [row[5].partition(":")[0] for row in rows] == ["body_too_large", ""]
    assert b"SMUGGLED" not in b"".join(row[2] for row in rows[1:])


def test_fast_path_oversize_stores_prefix(servers):
    big = REPORT + b"&pad=" + b"x" * MAX_BODY_BYTES
    responses, rows = run_case(servers["fast"], http_request(big))

    assert [r.status for r in responses] == [413]
    assert [row[2] for row in rows] == [big[:MAX_BODY_BYTES]]


@pytest.mark.parametrize("kind", ["fast", "routed"])
def test_fast_path_expect_within_limit(servers, kind):
    server = servers[kind]
    before = last_row_id(server.database)
    head = http_request(headers=[b"Expect: 100-continue"])[: -len(REPORT)]

    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        interim = sock.recv(1024)
        sock.sendall(REPORT)
        final = b""
        while chunk := sock.recv(65536):
            final += chunk

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert [r.status for r in parse_responses(final)] == [200]
    assert [row[2] for row in inbound_rows(server.database, before)] == [REPORT]


def expect_over_limit_then_reuse(server: RunningServer) -> tuple[bytes, bytes]:
    """Send `Expect: 100-continue` with a too large Content-Length, then reuse the connection."""
    head = http_request(b"x" * (MAX_BODY_BYTES + 1), headers=[b"Expect: 100-continue"], close=False)
    head = head[: -(MAX_BODY_BYTES + 1)]
    with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
        sock.sendall(head)
        first = read_one_response(sock)
        try:
            sock.sendall(http_request())
            second = sock.recv(4096)
        except OSError:  # reset or timed out
            second = b""
    return first, second


def read_one_response(sock: socket.socket) -> bytes:
    """Read one whole response, framed by Content-Length.

    The head and the body can arrive in separate segments, so one recv is not enough.
    """
    received = b""
    while b"\r\n\r\n" not in received:
        received += _recv_more(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    size = int(parse_responses(head + b"\r\n\r\n", head_only=True)[0].headers[b"content-length"])
    while len(body) < size:
        body += _recv_more(sock)
    return head + b"\r\n\r\n" + body


def _recv_more(sock: socket.socket) -> bytes:
    chunk = sock.recv(4096)
    if not chunk:
        raise AssertionError("the server closed the connection in the middle of a response")
    return chunk


def test_fast_path_expect_oversize_no_100(servers):
    """The 413 comes without a 100 Continue, so the client never has to send the large body."""
    before = last_row_id(servers["fast"].database)
    first, _ = expect_over_limit_then_reuse(servers["fast"])

    rows = inbound_rows(servers["fast"].database, before)
    assert first.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in first
    assert rows[0][5].startswith("body_too_large:")
    assert rows[0][2] == b""  # the client never sent the body


def test_fast_path_expect_413_closes(servers):
    first, second = expect_over_limit_then_reuse(servers["fast"])

    assert first.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in first.lower()
    assert second == b""


@pytest.mark.parametrize("kind", ["fast", "routed"])
def test_fast_path_mid_body_disconnect(servers, kind):
    server = servers[kind]
    before = last_row_id(server.database)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(http_request(b"messageId=HALF&status=SENT")[:-10])
        sock.shutdown(socket.SHUT_WR)
        leftover = sock.recv(4096)

    responses, _ = run_case(server, http_request())  # a later request, to let the server catch up
    assert leftover == b""
    assert [r.status for r in responses] == [200]
    assert [row[2] for row in inbound_rows(server.database, before)] == [REPORT]


@pytest.mark.parametrize("kind", ["fast", "routed"])
def test_fast_path_disconnect_stored_once(servers, kind):
    """A client that leaves right after the body gets no 200. Its body is stored once or not at all."""
    server = servers[kind]
    before = last_row_id(server.database)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(http_request(b"messageId=GONE&status=SENT"))

    time.sleep(0.2)
    responses, _ = run_case(server, http_request())
    bodies = [row[2] for row in inbound_rows(server.database, before)]
    assert [r.status for r in responses] == [200]
    assert bodies.count(REPORT) == 1
    assert bodies.count(b"messageId=GONE&status=SENT") <= 1


def test_fast_path_keep_alive_stored_once(servers):
    """Eight keep-alive connections, 25 reports each: every 200 is one stored row, no more."""
    server = servers["fast"]
    before = last_row_id(server.database)

    def send_reports(connection: int) -> int:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            received = b""
            for number in range(25):
                sock.sendall(http_request(b"messageId=c%d-%d&status=SENT" % (connection, number), close=False))
                while received.count(b"HTTP/1.1 ") <= number:
                    received += sock.recv(4096)
        return received.count(b"HTTP/1.1 200 ")

    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = sum(pool.map(send_reports, range(8)))
    bodies = [row[2] for row in inbound_rows(server.database, before)]
    assert accepted == 200
    assert len(bodies) == 200
    assert len(set(bodies)) == 200


def test_routed_path_trailing_slash_redirects(servers):
    """Pin the router's response without the middleware: a 307 to the path without the slash."""
    target = b"/webhooks/smsto/?token=" + TOKEN
    [response], rows = run_case(servers["routed"], http_request(target=target))

    assert response.status == 307
    assert response.headers[b"location"] == b"http://127.0.0.1/webhooks/smsto?token=" + TOKEN
    assert rows == []


def test_fast_path_trailing_slash_stored(servers):
    target = b"/webhooks/smsto/?token=" + TOKEN
    [response], rows = run_case(servers["fast"], http_request(target=target))

    assert response.status in (200, 400, 404, 422)
    assert [row[2] for row in rows] == [REPORT]


def test_access_log_hides_token(servers):
    run_case(servers["fast"], http_request())
    log = servers["fast"].log.read_bytes()

    assert b'POST /webhooks/smsto?token=*** HTTP/1.1" 200' in log
    assert b"token=" + TOKEN not in log


def test_access_log_hides_encoded_token(servers):
    [response], _ = run_case(servers["fast"], http_request(target=b"/webhooks/smsto?%74oken=" + TOKEN))
    log = servers["fast"].log.read_bytes()

    assert response.status == 200
    assert TOKEN not in log


# --- in process --------------------------------------------------------------------------------


def _app(tmp_path, name: str, *, routed: bool = False):
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / name}",
        webhook_secret=None,
        dispatcher_enabled=False,
    )
    app = webhook_server.create_app(settings)
    if routed:
        app.user_middleware.clear()  # before first use, so requests reach the @app.post routes
    return app


def call_asgi(client: TestClient, messages: list[dict], **scope_changes) -> list:
    """Call the app of `client` with a hand-built POST scope and return what it sent, then what it raised."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/webhooks/smsto", "raw_path": b"/webhooks/smsto", "root_path": "",
        "query_string": b"", "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
    }
    scope.update(scope_changes)

    async def call() -> list:
        pending = list(messages)
        sent: list = []

        async def receive() -> dict:
            if pending:
                return pending.pop(0)
            await anyio.sleep_forever()

        async def send(message: dict) -> None:
            sent.append(message)

        try:
            await client.app(scope, receive, send)
        except (ClientDisconnect, ValueError) as error:  # re-raised by the outermost middleware after its 500
            sent.append(error)
        return sent

    return client.portal.call(call)


def test_fast_path_disconnect_sends_nothing(tmp_path):
    with TestClient(_app(tmp_path, "fast.db")) as client:
        sent = call_asgi(client, [{"type": "http.disconnect"}])
        rows = all_inbound(client.app.state.engine)

    assert sent == []
    assert rows == []


def test_routed_path_disconnect_sends_nothing(tmp_path):
    with TestClient(_app(tmp_path, "routed.db", routed=True), raise_server_exceptions=False) as client:
        sent = call_asgi(client, [{"type": "http.disconnect"}])

    assert sent == []


@pytest.mark.parametrize("routed", [False, True], ids=["fast", "routed"])
def test_fast_path_first_content_type_stored(tmp_path, routed):
    """The first Content-Type is the one stored, as Starlette's Headers.get returns the first."""
    headers = [(b"content-type", b"text/plain"), (b"content-type", b"application/json")]
    with TestClient(_app(tmp_path, "dup.db", routed=routed)) as client:
        sent = call_asgi(client, [{"type": "http.request", "body": REPORT}], headers=headers)
        [row] = all_inbound(client.app.state.engine)

    assert sent[0]["status"] == 200
    assert row.content_type == "text/plain"


def test_fast_path_non_ascii_length_stored(tmp_path):
    """A Content-Length of non-ASCII digits is not a length, so the body read is the one stored."""
    headers = [(b"content-length", "²".encode("latin-1"))]
    with TestClient(_app(tmp_path, "digits.db"), raise_server_exceptions=False) as client:
        sent = call_asgi(client, [{"type": "http.request", "body": REPORT}], headers=headers)
        rows = all_inbound(client.app.state.engine)

    assert sent[0]["status"] == 200
    assert [row.body for row in rows] == [REPORT]


@pytest.mark.parametrize("routed", [False, True], ids=["fast", "routed"])
def test_root_path_still_handled(tmp_path, routed):
    """uvicorn --root-path puts the prefix into scope["path"], and the webhook must still be handled."""
    with TestClient(_app(tmp_path, "prefix.db", routed=routed)) as client:
        sent = call_asgi(client, [{"type": "http.request", "body": REPORT}],
                         root_path="/sms", path="/sms/webhooks/smsto")
        rows = all_inbound(client.app.state.engine)

    assert sent[0]["status"] == 200
    assert [row.body for row in rows] == [REPORT]


def test_fast_path_used_under_root_path(tmp_path, monkeypatch):
    routed_calls = []
    original = webhook_server._route_response

    async def counting_route_response(request, path):
        routed_calls.append(path)
        return await original(request, path)

    monkeypatch.setattr(webhook_server, "_route_response", counting_route_response)
    with TestClient(_app(tmp_path, "prefix.db")) as client:
        call_asgi(client, [{"type": "http.request", "body": REPORT}], root_path="/sms", path="/sms/webhooks/smsto")

    assert routed_calls == []


def post_with_origins(client: TestClient, origins: list[str | None]) -> list:
    responses = []
    for origin in origins:
        headers = {"content-type": FORM.decode()} | ({"origin": origin} if origin else {})
        responses.append(client.post("/webhooks/smsto", content=REPORT, headers=headers))
    return responses


def cors_app(tmp_path, name: str, *, routed: bool):
    app = _app(tmp_path, name, routed=routed)
    app.add_middleware(CORSMiddleware, allow_origins=["https://a.example", "https://b.example"])
    return app


def test_routed_path_cors_headers_per_request(tmp_path):
    with TestClient(cors_app(tmp_path, "cors.db", routed=True)) as client:
        responses = post_with_origins(client, ["https://a.example", "https://b.example", None])

    assert [r.headers.get("vary") for r in responses] == ["Origin", "Origin", "Origin"]
    assert responses[2].headers.get("access-control-allow-origin") is None


def test_fast_path_cors_headers_per_request(tmp_path):
    shared_start = getattr(webhook_server, "_ACCEPTED_START", {})
    saved = copy.deepcopy(shared_start)
    try:
        with TestClient(cors_app(tmp_path, "cors.db", routed=False)) as client:
            responses = post_with_origins(client, ["https://a.example", "https://b.example", None])
    finally:
        shared_start.clear()
        shared_start.update(saved)  # undo the damage for the tests that run later in this process

    assert [r.headers.get("vary") for r in responses] == ["Origin", "Origin", "Origin"]
    assert responses[2].headers.get("access-control-allow-origin") is None
