"""A synchronous HTTP client for SMS.to's API, built on httpx.

The client never retries: the caller (the dispatcher) decides, using the exception classes of
`core.smsto.errors`. It never logs the API key, a message text or a whole phone number.
"""

import logging
from typing import Self
from urllib.parse import quote

import httpx

from core.errors import InputError
from core.money import parse_money
from core.redact import mask_phone
from core.smsto import errors, responses
from core.smsto.results import Balance, Estimate, SendResult

log = logging.getLogger(__name__)


class SmsToClient:
    """Send SMS and read account data through SMS.to; use it as a context manager or `close()` it.

    `api_url` serves sending and lookups, `auth_url` the balance. `transport` replaces httpx's
    network transport, for tests.
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_url: str,
        auth_url: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise InputError(
                "The SMS.to API key is empty; set SMSTO_API_KEY to a key from the SMS.to dashboard."
            )

        self._api_url = api_url.rstrip("/")
        self._auth_url = auth_url.rstrip("/")
        headers = {
            "Authorization": f"Bearer {api_key.strip()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"SmsToClient(api_url={self._api_url!r}, auth_url={self._auth_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Sending. Every send is a POST /sms/send; the shape of the body decides the kind.

    def send_single(
        self,
        *,
        to: str,
        message: str,
        sender_id: str | None = None,
        callback_url: str | None = None,
        scheduled_for: str | None = None,
        timezone: str | None = None,
        bypass_optout: bool = False,
    ) -> SendResult:
        """Send one SMS; SMS.to returns a `message_id`."""
        options = _send_options(sender_id, callback_url, scheduled_for, timezone, bypass_optout)
        body = {"message": message, "to": to, **options}
        return self._send(body, f"one SMS to {mask_phone(to)}")

    def send_bulk(
        self,
        *,
        to: list[str],
        message: str,
        sender_id: str | None = None,
        callback_url: str | None = None,
        scheduled_for: str | None = None,
        timezone: str | None = None,
        bypass_optout: bool = False,
    ) -> SendResult:
        """Send the same text to many numbers; SMS.to returns a `campaign_id`."""
        options = _send_options(sender_id, callback_url, scheduled_for, timezone, bypass_optout)
        body = {"message": message, "to": list(to), **options}
        return self._send(body, f"one text to {len(body['to'])} recipients")

    def send_to_list(
        self,
        *,
        list_id: str | int,
        message: str,
        sender_id: str | None = None,
        callback_url: str | None = None,
        scheduled_for: str | None = None,
        timezone: str | None = None,
        bypass_optout: bool = False,
    ) -> SendResult:
        """Send the same text to a contact list stored at SMS.to, which returns a `campaign_id`."""
        options = _send_options(sender_id, callback_url, scheduled_for, timezone, bypass_optout)
        body = {"message": message, "list_id": list_id, **options}
        return self._send(body, f"one text to contact list {list_id}")

    def send_personalised(
        self,
        *,
        messages: list[dict],
        sender_id: str | None = None,
        callback_url: str | None = None,
        scheduled_for: str | None = None,
        timezone: str | None = None,
        bypass_optout: bool = False,
    ) -> SendResult:
        """Send one text per recipient, `messages=[{"message", "to"}, ...]`; returns campaign_id."""
        options = _send_options(sender_id, callback_url, scheduled_for, timezone, bypass_optout)
        body = {"messages": [{"message": m["message"], "to": m["to"]} for m in messages], **options}
        return self._send(body, f"{len(body['messages'])} personalised messages")

    def _send(self, body: dict, description: str) -> SendResult:
        response, parsed = self._request(
            "POST", self._api_url + "/sms/send", body=body, is_send=True
        )
        result = _send_result(response, parsed)
        log.info("SMS.to queued %s as %s %s", description, result.id_kind, result.provider_id)
        return result

    # Reading.

    def estimate(
        self,
        *,
        message: str | None = None,
        to: str | list[str] | None = None,
        messages: list[dict] | None = None,
        sender_id: str | None = None,
    ) -> Estimate:
        """Ask SMS.to what a send would cost: give `message` and `to`, or `messages`."""
        body: dict = (
            {"messages": messages} if messages is not None else {"message": message, "to": to}
        )
        if sender_id is not None:
            body["sender_id"] = sender_id

        response, parsed = self._request("POST", self._api_url + "/sms/estimate", body=body)
        cost = responses.required_field(parsed, "estimated_cost", response)
        return Estimate(
            sms_count=int(parsed.get("sms_count") or 0),
            estimated_cost=parse_money(cost),
            contact_count=int(parsed.get("contact_count") or 0),
            invalid_count=int(parsed.get("invalid_count") or 0),
            errors=list(parsed.get("errors") or []),
            raw=parsed,
        )

    def balance(self) -> Balance:
        """Return the account balance, read from the auth host."""
        response, parsed = self._request("GET", self._auth_url + "/api/balance")
        amount = responses.required_field(parsed, "balance", response)
        return Balance(
            balance=parse_money(amount), currency=str(parsed.get("currency") or "EUR"), raw=parsed
        )

    def get_message(self, message_id: str) -> dict:
        """Return one message as SMS.to describes it (`status`, `client_cost`, ...)."""
        return self._get(f"/message/{quote(str(message_id), safe='')}")

    def get_campaign(self, campaign_id: str) -> dict:
        """Return a campaign's counts and cost (`status`, `delivered_messages`, ...)."""
        return self._get(f"/v2/campaigns/{quote(str(campaign_id), safe='')}")

    def last_campaign(self) -> dict:
        """Return the account's most recent campaign."""
        return self._get("/v2/last/campaign")

    def list_messages(
        self,
        *,
        limit: int = 100,
        page: int = 1,
        status: str | None = None,
        to: str | None = None,
        created_at_from: str | None = None,
        created_at_to: str | None = None,
    ) -> dict:
        """Return one page of the account's messages, filtered by the arguments that are set."""
        params = {"limit": limit, "page": page, "status": status, "to": to}
        params |= {"created_at_from": created_at_from, "created_at_to": created_at_to}
        query = {key: value for key, value in params.items() if value is not None}
        return self._get("/v2/messages", params=query)

    def _get(self, path: str, params: dict | None = None) -> dict:
        _, parsed = self._request("GET", self._api_url + path, params=params)
        return parsed

    # Transport.

    def _request(
        self,
        method: str,
        url: str,
        *,
        body: dict | None = None,
        params: dict | None = None,
        is_send: bool = False,
    ) -> tuple[httpx.Response, dict]:
        """Make one request and return the response with its JSON body, or raise an SmsToError.

        `is_send` marks a request that may queue messages, which changes how a lost response is
        classified.
        """
        path = httpx.URL(url).path
        try:
            response = self._http.request(method, url, json=body, params=params)
        except httpx.TransportError as exc:
            error = responses.error_for_transport(exc, is_send=is_send)
            log.warning("%s %s failed: %s", method, path, error)
            raise error from exc

        parsed = responses.read_json(response)
        if not response.is_success:
            error = responses.error_for_status(response, parsed, is_send=is_send)
            log.warning("%s %s returned HTTP %s: %s", method, path, response.status_code, error)
            raise error
        if parsed is None:
            raise _unreadable_success(response, is_send=is_send)
        if parsed.get("success") is False:
            raise errors.UnexpectedResponseError(
                response.status_code,
                responses.provider_message(response, parsed),
                detail=(
                    f"SMS.to returned HTTP {response.status_code} with success false "
                    f"({parsed.get('message')!r}): the request was not carried out; "
                    "check it and retry."
                ),
            )
        return response, parsed


def _send_options(
    sender_id: str | None,
    callback_url: str | None,
    scheduled_for: str | None,
    timezone: str | None,
    bypass_optout: bool,
) -> dict:
    options = {
        "sender_id": sender_id,
        "callback_url": callback_url,
        "scheduled_for": scheduled_for,
        "timezone": timezone,
    }
    body = {key: value for key, value in options.items() if value is not None}
    if bypass_optout:
        body["bypass_optout"] = True
    return body


def _send_result(response: httpx.Response, parsed: dict) -> SendResult:
    message_id = parsed.get("message_id")
    campaign_id = parsed.get("campaign_id")
    if not message_id and not campaign_id:
        # SMS.to accepted the send but returned no id, so the messages are probably queued and
        # cannot be matched to delivery reports.
        raise errors.DeliveryUncertainError(
            response.status_code,
            responses.provider_message(response, parsed),
            detail=(
                f"SMS.to returned HTTP {response.status_code} without a message_id or campaign_id, "
                "so the send may be queued but cannot be tracked: "
                f"{errors.DeliveryUncertainError.advice}."
            ),
        )
    return SendResult(
        message_id=str(message_id) if message_id else None,
        campaign_id=str(campaign_id) if campaign_id else None,
        raw=parsed,
    )


def _unreadable_success(response: httpx.Response, *, is_send: bool) -> errors.SmsToError:
    error = errors.DeliveryUncertainError if is_send else errors.UnexpectedResponseError
    return error(
        response.status_code,
        responses.provider_message(response, None),
        detail=(
            f"SMS.to returned HTTP {response.status_code} with a body that is not a JSON object: "
            f"{error.advice}."
        ),
    )
