"""Handlers of the SMS.to endpoints; each returns (status code, JSON body) or raises HttpError."""

import json
import logging
from decimal import Decimal

from core.redact import mask_phone
from core.sandbox import views
from core.sandbox.asgi import Request
from core.sandbox.bodies import HttpError, SendRequest, parse_send_body
from core.sandbox.fates import validate_number
from core.sandbox.ledger import SINGLE
from core.sandbox.processing import Processor, region_price
from core.sandbox.reports import ReportSender
from core.sandbox.state import SandboxState
from core.sms_parts import count_parts

log = logging.getLogger(__name__)

QUEUED_MESSAGE = "Message is queued for sending! Please check report for update"
CURRENCY = "EUR"

Answer = tuple[int, dict]


class SmsToApi:
    """The endpoints SMS.to serves, on one port for both its API and its auth host."""

    def __init__(self, state: SandboxState, processor: Processor, reports: ReportSender) -> None:
        self._state = state
        self._processor = processor
        self._reports = reports

    async def send(self, request: Request) -> Answer:
        send = parse_send_body(_json_body(request), self._state.config.contact_lists)
        batch = self._processor.admit(send)
        self._reports.expect(batch)

        if send.kind == SINGLE:
            log.info("queued one SMS to %s as %s", mask_phone(send.phones[0]), batch.tracking_id)
            return 200, {
                "message": QUEUED_MESSAGE,
                "success": True,
                "message_id": batch.tracking_id,
            }
        log.info("queued campaign %s for %d recipients", batch.tracking_id, batch.size)
        return 200, {"message": QUEUED_MESSAGE, "success": True, "campaign_id": batch.tracking_id}

    async def estimate(self, request: Request) -> Answer:
        send = parse_send_body(_json_body(request), self._state.config.contact_lists)
        return 200, estimate_send(send)

    async def balance(self, request: Request) -> Answer:
        return 200, {"balance": self._state.ledger.balance, "currency": CURRENCY}

    async def get_message(self, request: Request, item_id: str) -> Answer:
        found = self._state.ledger.find_message(item_id)
        if found is None:
            raise HttpError(404, f"Message {item_id} was not found.")
        return 200, {"success": True, **views.message_view(*found)}

    async def get_campaign(self, request: Request, item_id: str) -> Answer:
        batch = self._state.ledger.find_campaign(item_id)
        if batch is None:
            raise HttpError(404, f"Campaign {item_id} was not found.")
        return 200, {"success": True, **views.campaign_view(batch)}

    async def last_campaign(self, request: Request) -> Answer:
        batch = self._state.ledger.last_campaign()
        if batch is None:
            raise HttpError(404, "This account has no campaign yet.")
        return 200, {"success": True, **views.campaign_view(batch)}

    async def list_messages(self, request: Request) -> Answer:
        return 200, views.list_messages(self._state.ledger, request.query)


def estimate_send(send: SendRequest) -> dict:
    """Count parts and cost over the valid numbers, and list the invalid ones."""
    texts = send.texts or [send.text or ""] * len(send.phones)
    parts_of: dict[str, int] = {}
    sms_count = 0
    cost = Decimal(0)
    errors: list[str] = []

    for phone, text in zip(send.phones, texts, strict=True):
        valid = validate_number(phone)
        if valid is None:
            errors.append(f"{phone}: invalid phone number")
            continue
        if text not in parts_of:
            parts_of[text] = count_parts(text).parts
        sms_count += parts_of[text]
        cost += parts_of[text] * region_price(valid[1])

    return {
        "success": True,
        "sms_count": sms_count,
        "estimated_cost": cost,
        "contact_count": len(send.phones),
        "invalid_count": len(errors),
        "errors": errors,
    }


def _json_body(request: Request) -> object:
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "The request body is not valid JSON.") from None
