"""The baseline of bench_reports.py: a FastAPI app whose POST endpoint reads the body and does nothing.

It is served by the same uvicorn, with the same options, as the companion server, so the ratio of
the two request rates is the cost of storing each report durably.
"""

from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI(title="no-op baseline")


@app.post("/webhooks/smsto")
async def noop(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"accepted"}', media_type="application/json")


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
