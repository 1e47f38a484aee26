"""The baselines of bench_reports.py: FastAPI apps whose POST /webhooks/smsto reads the body and does nothing.

Both are served by the same uvicorn, with the same options and the same garbage-collector
settings, as the companion server.

- `app` answers through FastAPI's router, as any FastAPI endpoint does: the baseline of the goal.
- `lean_app` answers from a pure ASGI middleware, as the companion server's WebhookFastPath does,
  so the webhook's rate against it is what storing each report durably costs on that path.
"""

from fastapi import FastAPI, Request
from fastapi.responses import Response

from core.gc_tuning import tune_for_serving

_ACCEPTED = b'{"status":"accepted"}'
_PATH = "/webhooks/smsto"

app = FastAPI(title="no-op baseline")


@app.post(_PATH)
async def noop(request: Request) -> Response:
    await request.body()
    return Response(_ACCEPTED, media_type="application/json")


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


class _AnswerBeforeRouter:
    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != _PATH or scope["method"] != "POST":
            await self.inner(scope, receive, send)
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_ACCEPTED))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _ACCEPTED})


lean_app = FastAPI(title="no-op baseline on a pure ASGI middleware")
lean_app.get("/healthz")(healthz)
lean_app.add_middleware(_AnswerBeforeRouter)

tune_for_serving()
