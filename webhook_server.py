"""The companion server: SMS.to delivery reports and opt-outs, callback health, and the dispatcher.

Run it with `smsto-console serve` or `uvicorn webhook_server:app`. Each webhook body is committed
to the InboundReport log before the response (a 200 means it is stored), then matched in the
background. Errors share one JSON shape: {"error": {"code": "...", "message": "..."}}.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from core.db import init_db, make_engine, session_scope
from core.gc_tuning import tune_for_serving
from core.reports.connections import limit_statement_time
from core.reports.health import callback_health, probe_report_log
from core.reports.ingest import InboundRecord, StorageUnavailable
from core.reports.optout import parse_optout_body
from core.reports.parse import MAX_BODY_BYTES, ReportParseError, check_report_body
from core.reports.pipeline import ReportPipeline
from core.reports.signature import (
    DELIVERY_PATH,
    OPTOUT_PATH,
    SIGNATURE_HEADER,
    TOKEN_PARAMETER,
    TokenRedactingFilter,
    check_request_auth,
)
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

_ACCEPTED = b'{"status":"accepted"}'
# A request in flight gets this long to finish and record its response before shutdown goes on.
_DISPATCHER_STOP_SECONDS = 30.0
# PostgreSQL cancels the callback-health queries after this long, e.g. while a table is locked.
_HEALTH_TIMEOUT_MS = 3000
# The health check's read of the report log; a database slower than this counts as unavailable.
_PROBE_SECONDS = 2.0
_AUTH_MESSAGES = {
    "missing_signature": f"The request has no {SIGNATURE_HEADER} header and no token.",
    "invalid_signature": f"The {SIGNATURE_HEADER} header does not match the body.",
    "stale_signature": f"The {SIGNATURE_HEADER} timestamp is too far from the server's clock.",
    "invalid_token": "The token in the callback URL is not the configured secret.",
}


@asynccontextmanager
async def lifespan(app: FastAPI):
    """Start the report pipeline (ingest writer and matcher), then yield to serve requests."""
    settings = app.state.settings or get_settings()
    engine = make_engine(settings.database_url)
    init_db(engine)
    reports = ReportPipeline(engine)
    await reports.start()
    app.state.settings, app.state.engine, app.state.reports = settings, engine, reports

    # The dispatcher runs in threads beside the event loop, after the report pipeline is up, so
    # reports for its first sends find a running writer.
    dispatcher, dispatcher_thread = _start_dispatcher(settings, engine)
    tune_for_serving()
    try:
        yield
    finally:
        if dispatcher is not None:
            dispatcher.stop()
            await asyncio.to_thread(dispatcher_thread.join, _DISPATCHER_STOP_SECONDS)
        await reports.stop()
        engine.dispose()


def _start_dispatcher(settings: Settings, engine):
    """Start the dispatcher when it is enabled and an API key is set; return (dispatcher, thread)."""
    if not settings.dispatcher_enabled:
        log.info("dispatcher disabled (DISPATCHER_ENABLED=false); run `smsto-console dispatch`")
        return None, None
    if settings.api_key is None:
        log.warning("dispatcher not started: SMSTO_API_KEY is not set, so nothing can be sent")
        return None, None

    from core.dispatch import Dispatcher

    dispatcher = Dispatcher(engine, settings)
    return dispatcher, dispatcher.start_in_thread()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` None means `get_settings()` at startup (tests pass their own)."""
    app = FastAPI(title="smsto-console companion server", lifespan=lifespan)
    app.state.settings = settings
    _register_error_handlers(app)
    _register_routes(app)
    app.add_middleware(WebhookFastPath)
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(item, TokenRedactingFilter) for item in access_log.filters):
        access_log.addFilter(TokenRedactingFilter())  # the callback URL may carry the secret
    return app


def error_response(status_code: int, code: str, message: str, headers: dict | None = None):
    """Return the one error shape of this server."""
    content = {"error": {"code": code, "message": message}}
    return JSONResponse(content, status_code=status_code, headers=headers)


def _register_routes(app: FastAPI) -> None:
    # WebhookFastPath handles these two POSTs before the router. The routes stay for the OpenAPI
    # schema, for the 405 on other methods, and for an app built without the middleware.
    @app.post(DELIVERY_PATH)
    async def receive_delivery_report(request: Request) -> Response:
        return await _route_response(request, DELIVERY_PATH)

    @app.post(OPTOUT_PATH)
    async def receive_optout(request: Request) -> Response:
        return await _route_response(request, OPTOUT_PATH)

    @app.get("/healthz")
    async def healthz(request: Request) -> Response:
        writer = request.app.state.reports.writer
        if not writer.running:
            return error_response(503, "writer_stopped", "The report writer is not running.")

        probe = asyncio.to_thread(probe_report_log, request.app.state.engine)
        try:
            await asyncio.wait_for(probe, timeout=_PROBE_SECONDS)
        except (DBAPIError, TimeoutError) as error:
            _log_limited("database_unavailable", logging.ERROR, "the health check could not read the report log: %r", error)
            message = "Reading the report log failed or timed out. Check DATABASE_URL and the database server."
            return error_response(503, "database_unavailable", message, {"Retry-After": "10"})
        return JSONResponse({"status": "ok", "queued_bodies": writer.queued})

    @app.get("/api/callback-health")
    def get_callback_health(request: Request) -> Response:
        try:
            with session_scope(request.app.state.engine) as session:
                limit_statement_time(session, _HEALTH_TIMEOUT_MS)
                return JSONResponse(callback_health(session).as_dict())
        except OperationalError as error:
            log.warning("reading callback health failed, responding 503: %s", error)
            message = "Reading callback health from the database failed or timed out. Retry later."
            return error_response(503, "database_unavailable", message, {"Retry-After": "10"})


def _check_delivery_body(body: bytes, content_type: str):
    """Validate a delivery report; an opt-out posted here is returned as its suppression entry.

    Operators often give SMS.to one callback URL for both webhooks, and rejecting an opt-out would
    mean texting someone who asked not to be texted.
    """
    try:
        check_report_body(body, content_type)
    except ReportParseError as error:
        if error.code != "missing_field" or b"unsubscribed" not in body.lower():
            raise
        try:
            return _check_optout_body(body, content_type)
        except ReportParseError:
            raise error from None
    return None


def _check_optout_body(body: bytes, content_type: str):
    return parse_optout_body(body, content_type).suppression_entry()


async def _route_response(request: Request, path: str) -> Response:
    try:
        response = await handle_webhook(request.scope, request.receive, *_WEBHOOKS[path])
    except ClientDisconnect:
        return _NoResponse()
    return response or Response(_ACCEPTED, media_type="application/json")


class _NoResponse(Response):
    """A response that sends nothing, for a route whose client has disconnected."""

    async def __call__(self, scope, receive, send) -> None:
        return None


_WEBHOOKS: dict[str, tuple[str, Callable]] = {
    DELIVERY_PATH: ("delivery", _check_delivery_body),
    OPTOUT_PATH: ("optout", _check_optout_body),
}
_ACCEPTED_HEADERS = (
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_ACCEPTED)).encode("ascii")),
)


class WebhookFastPath:
    """Pure ASGI middleware that handles the two webhook POSTs before FastAPI's router.

    The handler reads raw headers and the body and needs nothing else of the framework. The
    router, Request object and dependency resolution cost about 70 µs a request on the benchmark
    machine, more than storing the body durably, so skipping them raises the rate at which
    reports are acknowledged. Errors raised here still reach the app's exception handler
    through Starlette's ServerErrorMiddleware, which sits outside this one.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        webhook = None
        if scope["type"] == "http" and scope["method"] == "POST":
            webhook = _WEBHOOKS.get(_app_path(scope))
        if webhook is None:
            await self.app(scope, receive, send)
            return

        try:
            response = await handle_webhook(scope, receive, *webhook)
        except ClientDisconnect:
            return  # the client is gone, and a body already stored stays stored
        if response is None:
            # New message dicts each time, because outer middleware may edit the headers in place.
            await send({"type": "http.response.start", "status": 200, "headers": list(_ACCEPTED_HEADERS)})
            await send({"type": "http.response.body", "body": _ACCEPTED})
        else:
            await response(scope, receive, send)


def _app_path(scope) -> str:
    """Return the request path without the server's root path and without a trailing slash.

    uvicorn --root-path puts the prefix into scope["path"]. A trailing slash would otherwise get
    the router's 307 redirect, which stores nothing and repeats the token in its Location header.
    """
    path = scope["path"]
    root_path = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path):]
    return path.rstrip("/") or "/"


async def handle_webhook(scope, receive, kind: str, check: Callable) -> Response | None:
    """Store one webhook body; return None for a 200 (stored), or the error response to send."""
    state = scope["app"].state
    headers = _webhook_headers(scope)
    content_type = headers.get(b"content-type", "")
    body, too_large = await _read_body(receive, headers)
    if too_large:
        declared = headers.get(b"content-length", "")
        size = f"{declared} bytes" if _is_length(declared) else f"more than {MAX_BODY_BYTES} bytes"
        note = f"body_too_large: {size}, stored up to the first {MAX_BODY_BYTES}"
        await _store_rejected(state, InboundRecord(kind, body, content_type, parse_error=note))
        message = f"The body has more than {MAX_BODY_BYTES} bytes; send at most that per request."
        # uvicorn discards the unread rest of a body it has started to receive. A body that was
        # never requested may or may not follow, so that connection cannot carry another request.
        close = {"Connection": "close"} if _waits_for_continue(headers) else None
        return error_response(413, "body_too_large", message, close)

    secret = _secret(state.settings)
    auth = check_request_auth(
        secret=secret,
        body=body,
        signature_header=headers.get(_SIGNATURE_KEY) if secret else None,
        token=_token(scope) if secret else None,
        now=time.time(),
    )
    if not auth.accepted:
        record = InboundRecord(kind, body, content_type, auth="rejected", auth_error=auth.error)
        await _store_rejected(state, record)
        return error_response(401, auth.error, _AUTH_MESSAGES[auth.error])

    try:
        suppression = check(body, content_type)
    except ReportParseError as error:
        record = InboundRecord(
            kind, body, content_type, auth=auth.method, parse_error=f"{error.code}: {error.message}"
        )
        await _store_rejected(state, record)
        return error_response(400 if error.code == "invalid_body" else 422, error.code, error.message)

    if suppression is not None:
        kind = "optout"
    record = InboundRecord(kind, body, content_type, auth=auth.method, suppression=suppression)
    try:
        await state.reports.writer.submit(record)
    except StorageUnavailable as error:
        _log_limited("storage_unavailable", logging.ERROR, "storing a %s body failed, responding 503: %s", kind, error)
        message = "The report could not be stored; it was not accepted. Retry later."
        return error_response(503, "storage_unavailable", message, {"Retry-After": "60"})
    return None


_SIGNATURE_KEY = SIGNATURE_HEADER.lower().encode("latin-1")
_READ_HEADERS = frozenset((b"content-type", b"content-length", b"expect", _SIGNATURE_KEY))


def _webhook_headers(scope) -> dict[bytes, str]:
    """Return the first Content-Type, Content-Length, Expect and signature header of the raw ASGI headers."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _READ_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _token(scope) -> str | None:
    """Return the last `token` query parameter, as Starlette's query_params.get would."""
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    values = [value for name, value in pairs if name == TOKEN_PARAMETER]
    return values[-1] if values else None


def _is_length(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _waits_for_continue(headers: dict[bytes, str]) -> bool:
    """Return True for a body announced over the limit whose client waits for a 100 Continue."""
    declared = headers.get(b"content-length", "")
    too_long = _is_length(declared) and int(declared) > MAX_BODY_BYTES
    return too_long and headers.get(b"expect", "").lower() == "100-continue"


async def _read_body(receive, headers: dict[bytes, str]) -> tuple[bytes, bool]:
    """Read the body; return (body, False), or (its first MAX_BODY_BYTES, True) when it is larger.

    A client that announced a larger body with `Expect: 100-continue` gets no 100 Continue, so it
    never sends the body, and (b"", True) is returned at once.
    """
    if _waits_for_continue(headers):
        return b"", True

    received = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        received += message.get("body", b"")
        if len(received) > MAX_BODY_BYTES:
            return received[:MAX_BODY_BYTES], True
        if not message.get("more_body", False):
            return received, False


async def _store_rejected(state, record: InboundRecord) -> None:
    """Store a body rejected with a 4xx, so nothing SMS.to sent is lost; the response stays 4xx."""
    code = record.auth_error or record.parse_error.partition(":")[0]
    _log_limited(code, logging.WARNING, "rejected a webhook request: %s", code)
    try:
        await state.reports.writer.submit(record)
    except StorageUnavailable as error:
        log.error("a rejected %s body was not stored: %s", record.kind, error)


_last_lines: dict[str, tuple[float, int]] = {}
# Seconds between two log lines of one kind: SMS.to keeps posting during an outage, and
# supervisors keep polling the health check, so a line per request would flood the log.
_LOG_INTERVAL = 10.0


def _log_limited(code: str, level: int, message: str, *args) -> None:
    """Log `message` at most once per _LOG_INTERVAL seconds per `code`, with the count of lines left out."""
    now = time.monotonic()
    last, skipped = _last_lines.get(code, (0.0, 0))
    if now - last < _LOG_INTERVAL:
        _last_lines[code] = (last, skipped + 1)
        return
    _last_lines[code] = (now, 0)
    log.log(level, message + " (%d more since the last such line)", *args, skipped)


def _secret(settings: Settings) -> str | None:
    return settings.webhook_secret.get_secret_value() if settings.webhook_secret else None


def _register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError):
        return error_response(422, "invalid_request", str(error.errors()))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "The server failed; the error is logged.")


app = create_app()
