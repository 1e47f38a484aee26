"""The sandbox SMS.to provider as a raw ASGI application, for uvicorn.

Every request to an SMS.to endpoint passes the checks in the order below, and the first that
fails decides the response: rate limit (429), route (404, 405), API key (401), content type of a
POST (415), injected fault, then the handler (400, 402, 404 or success).
The `/_sandbox/` endpoints skip all of them (see `core.sandbox.control`).
"""

import asyncio
import hmac
import logging
import re
import secrets

from core.sandbox import asgi
from core.sandbox.api import SmsToApi
from core.sandbox.bodies import HttpError
from core.sandbox.config import SandboxConfig
from core.sandbox.control import ControlApi
from core.sandbox.faults import DROP, SLOW, TIMEOUT, Fault, FaultInjector
from core.sandbox.processing import Processor
from core.sandbox.reports import ReportSender
from core.sandbox.state import SandboxState

log = logging.getLogger(__name__)

# (method, path pattern, handler name); an "item_id" group is passed to the handler.
ROUTES = [
    ("POST", re.compile(r"/sms/send"), "send"),
    ("POST", re.compile(r"/sms/estimate"), "estimate"),
    ("GET", re.compile(r"/api/balance"), "balance"),
    ("GET", re.compile(r"/message/(?P<item_id>[^/]+)"), "get_message"),
    ("GET", re.compile(r"/v2/campaigns/(?P<item_id>[^/]+)"), "get_campaign"),
    ("GET", re.compile(r"/v2/last/campaign"), "last_campaign"),
    ("GET", re.compile(r"/v2/messages"), "list_messages"),
]

UNAUTHENTICATED = "Unauthenticated: the API key or token is invalid."


class SandboxApp:
    """ASGI callable; background work starts with the lifespan or with the first request."""

    def __init__(self, config: SandboxConfig) -> None:
        config.validate()
        if config.seed is None:
            # Drawn once and shown by /_sandbox/config, so a run can be repeated with --seed.
            config.seed = secrets.randbits(32)
        self.state = SandboxState(config)
        self._reports = ReportSender(self.state)
        self._processor = Processor(self.state, self._reports.schedule)
        self._api = SmsToApi(self.state, self._processor, self._reports)
        self._control = ControlApi(self.state)
        self._tasks: list[asyncio.Task] = []

    async def __call__(self, scope: dict, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self.startup()
            await self._http(scope, receive, send)

    async def startup(self) -> None:
        if self._tasks:
            return
        await self._reports.start()
        self._processor.start_worker()
        self._tasks = [
            asyncio.create_task(self._processor.run(), name="sandbox-processor"),
            asyncio.create_task(self._reports.run(), name="sandbox-reports"),
        ]
        log.info("sandbox started (seed %s)", self.state.config.seed)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._reports.stop()
        self._processor.stop_worker()
        log.info("sandbox stopped")

    async def _lifespan(self, receive: asgi.Receive, send: asgi.Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict, receive: asgi.Receive, send: asgi.Send) -> None:
        try:
            request = await asgi.read_request(scope, receive)
        except asgi.BodyTooLarge:
            await asgi.send_json(
                send, 413, {"success": False, "message": "The request body is too large."}
            )
            return

        if request.path.startswith("/_sandbox/"):
            await self._control.handle(request, send)
            return
        await self._provider(request, receive, send)

    async def _provider(
        self, request: asgi.Request, receive: asgi.Receive, send: asgi.Send
    ) -> None:
        state = self.state
        state.stats.requests += 1
        try:
            handler, params = self._check(request)
        except HttpError as exc:
            if exc.status_code == 429:
                state.stats.rate_limited += 1
            await asgi.send_json(send, exc.status_code, exc.body())
            return

        fault = None
        if FaultInjector.in_scope(state.config.faults, request.method, request.path):
            fault = state.faults.decide(state.config.faults)
        if fault is not None and not fault.applied:
            await self._send_fault(send, fault)
            return
        if fault is not None and fault.kind == SLOW:
            await asyncio.sleep(fault.seconds)

        try:
            status, body = await handler(request, **params)
        except HttpError as exc:
            status, body = exc.status_code, exc.body()
        await self._respond(send, receive, status, body, fault)

    def _check(self, request: asgi.Request):
        """Run the checks that come before any fault; return the handler and its path parameters."""
        config = self.state.config
        if not self.state.limiter.allow(config.rate_limit):
            raise HttpError(
                429,
                f"Too many requests: the limit is {config.rate_limit} requests per second. "
                "Retry later.",
            )

        handler, params = self._route(request)
        if not self._authorised(request):
            raise HttpError(401, UNAUTHENTICATED, data=[])
        if request.method == "POST" and request.content_type != "application/json":
            raise HttpError(
                415,
                f"Unsupported content type {request.content_type or 'none'!r}: "
                "send application/json.",
            )
        return handler, params

    def _route(self, request: asgi.Request):
        allowed = []
        for method, pattern, name in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return getattr(self._api, name), match.groupdict()
            allowed.append(method)
        if allowed:
            raise HttpError(
                405, f"Method {request.method} is not allowed on {request.path}; use {allowed[0]}."
            )
        raise HttpError(404, f"No endpoint {request.path}.")

    def _authorised(self, request: asgi.Request) -> bool:
        expected = self.state.config.api_key.encode()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected):
            return True
        return hmac.compare_digest(request.query.get("api_key", "").encode(), expected)

    async def _send_fault(self, send: asgi.Send, fault: Fault) -> None:
        if fault.status_code == 429:
            self.state.stats.rate_limited += 1
            await asgi.send_json(
                send, 429, {"success": False, "message": "Too many requests. Retry later."}
            )
            return
        message = f"Server error {fault.status_code}. Please try again later."
        await asgi.send_json(send, fault.status_code, {"success": False, "message": message})

    async def _respond(
        self, send: asgi.Send, receive: asgi.Receive, status: int, body: dict, fault: Fault | None
    ) -> None:
        """Send the handler's response, unless an applied fault replaces, delays or drops it."""
        if fault is None or fault.kind == SLOW:
            await asgi.send_json(send, status, body)
        elif fault.kind == TIMEOUT:
            await asyncio.sleep(fault.seconds)
            await asgi.send_json(send, status, body)
        elif fault.kind == DROP:
            await asgi.drop_connection(send, receive)
        else:
            await self._send_fault(send, fault)


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """Build the sandbox application with the given settings (defaults when None)."""
    return SandboxApp(config or SandboxConfig())
