"""The `/_sandbox/` endpoints, for tests and benchmarks: ledger, counters, settings, reset.

They need no API key and are never rate limited nor hit by faults.

- `GET /_sandbox/messages`: JSON list of {message_id, tracking_id, phone, status, parts, price};
  optional `tracking_id`, `offset` and `limit` parameters. Streamed, batch by batch.
- `GET /_sandbox/stats`: request, rate-limit and report counters, balance and status counts.
- `GET /_sandbox/config`, `POST /_sandbox/config`: read or change the settings (JSON); a
  "balance" field sets the current balance.
- `POST /_sandbox/reset`: back to the startup settings, balance and an empty ledger.
"""

import json
import logging
from collections.abc import AsyncIterator

from core.money import format_money
from core.sandbox.asgi import Request, Send, encode_json, send_json, send_stream
from core.sandbox.bodies import HttpError, reject_lone_surrogates
from core.sandbox.config import apply_update, parse_balance
from core.sandbox.ledger import Ledger
from core.sandbox.processing import region_price
from core.sandbox.state import SandboxState

log = logging.getLogger(__name__)


class ControlApi:
    def __init__(self, state: SandboxState) -> None:
        self._state = state

    async def handle(self, request: Request, send: Send) -> None:
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/_sandbox/messages"):
            await send_stream(send, 200, _ledger_chunks(self._state.ledger, request.query))
            return

        handlers = {
            ("GET", "/_sandbox/stats"): self._stats,
            ("GET", "/_sandbox/config"): self._config,
            ("POST", "/_sandbox/config"): self._update_config,
            ("POST", "/_sandbox/reset"): self._reset,
        }
        handler = handlers.get(route)
        try:
            if handler is None:
                raise HttpError(404, f"No sandbox endpoint {request.method} {request.path}.")
            status, body = handler(request)
        except HttpError as exc:
            status, body = exc.status_code, exc.body()
        await send_json(send, status, body)

    def _stats(self, request: Request) -> tuple[int, dict]:
        state = self._state
        stats = state.stats
        ledger = state.ledger
        return 200, {
            "requests": stats.requests,
            "max_requests_in_one_second": state.limiter.max_in_one_second,
            "rate_limited": stats.rate_limited,
            "reports_sent": stats.reports_sent,
            "reports_failed": stats.reports_failed,
            "reports_pending": stats.reports_pending,
            "report_attempts": stats.report_attempts,
            "reports_retried": stats.reports_retried,
            "reports_duplicated": stats.reports_duplicated,
            "balance": format_money(ledger.balance) or "0",
            "billed": format_money(ledger.billed) or "0",
            "messages": ledger.recipients,
            "batches": len(ledger.batches),
            "batches_unprocessed": sum(1 for batch in ledger.batches if not batch.processed),
            "batches_unfinished": sum(1 for batch in ledger.batches if not batch.finished),
            "by_status": ledger.count_by_status(),
            "faults": dict(state.faults.counts),
        }

    def _config(self, request: Request) -> tuple[int, dict]:
        return 200, self._state.config.to_dict()

    def _update_config(self, request: Request) -> tuple[int, dict]:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise HttpError(400, "The body must be a JSON object of settings.") from None
        if not isinstance(data, dict):
            raise HttpError(400, "The body must be a JSON object of settings.")
        reject_lone_surrogates(data)

        try:
            balance = parse_balance(data.pop("balance")) if "balance" in data else None
            apply_update(self._state.config, data)
        except (ValueError, TypeError) as exc:
            raise HttpError(400, str(exc)) from None

        if balance is not None:
            self._state.ledger.balance = balance
        log.info(
            "settings changed: %s", sorted(data) + (["balance"] if balance is not None else [])
        )
        return 200, self._state.config.to_dict()

    def _reset(self, request: Request) -> tuple[int, dict]:
        self._state.reset()
        log.info("sandbox reset to its startup settings")
        return 200, {"success": True}


async def _ledger_chunks(ledger: Ledger, query: dict[str, str]) -> AsyncIterator[bytes]:
    tracking_id = query.get("tracking_id")
    offset = int(query["offset"]) if query.get("offset", "").isdigit() else 0
    limit = int(query["limit"]) if query.get("limit", "").isdigit() else None

    yield b"["
    position = 0
    written = 0
    for batch in list(ledger.batches):
        if tracking_id and batch.tracking_id != tracking_id:
            continue
        if position + batch.size <= offset:
            position += batch.size
            continue
        entries = []
        for index in range(max(0, offset - position), batch.size):
            if limit is not None and written >= limit:
                break
            entries.append(batch.ledger_entry(index, region_price))
            written += 1
        position += batch.size
        if entries:
            chunk = encode_json(entries)[1:-1]
            yield (b"," if written > len(entries) else b"") + chunk
        if limit is not None and written >= limit:
            break
    yield b"]"
