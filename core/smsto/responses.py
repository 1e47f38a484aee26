"""Turn SMS.to's HTTP responses and httpx's transport errors into results or `SmsToError`s."""

import email.utils
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from core.smsto import errors

log = logging.getLogger(__name__)

_ERROR_BY_STATUS: dict[int, type[errors.SmsToError]] = {
    400: errors.InvalidRequestError,
    401: errors.AuthenticationError,
    402: errors.InsufficientBalanceError,
    404: errors.ProviderNotFoundError,
    415: errors.UnsupportedMediaTypeError,
    422: errors.InvalidRequestError,
}

# Raised before any byte of the request left this machine, so SMS.to never saw it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def error_for_transport(exc: httpx.TransportError, *, is_send: bool) -> errors.SmsToError:
    """Classify a request that got no HTTP response by whether it may have reached SMS.to.

    A read timeout, a write timeout, a connection closed or reset after the request was written:
    all of these may follow SMS.to queueing a send, so a send becomes DeliveryUncertainError.
    """
    error: type[errors.SmsToError]
    if isinstance(exc, _NOT_SENT):
        error = errors.ProviderUnreachableError
    elif is_send:
        error = errors.DeliveryUncertainError
    else:
        error = errors.ResponseLostError

    detail = f"The request to SMS.to failed with {type(exc).__name__} ({exc}): {error.advice}."
    return error(detail=detail)


def read_json(response: httpx.Response) -> dict | None:
    """Parse the body as a JSON object with numbers as Decimal, or return None if it is not one."""
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def error_for_status(
    response: httpx.Response, body: dict | None, *, is_send: bool
) -> errors.SmsToError:
    """Build the exception for a response that is not a 2xx."""
    status = response.status_code
    message = provider_message(response, body)

    if status == 429:
        return errors.RateLimitedError(status, message, retry_after=_retry_after(response))
    if status == 504 and is_send:
        # A gateway timed out waiting for SMS.to, which may have queued the send meanwhile.
        return errors.DeliveryUncertainError(status, message)
    if status >= 500:
        return errors.ServerError(status, message)

    error = _ERROR_BY_STATUS.get(status, errors.UnexpectedResponseError)
    return error(status, message)


def provider_message(response: httpx.Response, body: dict | None) -> str | None:
    """Return SMS.to's `message`, or the start of a non-JSON body."""
    if body is not None:
        message = body.get("message")
        return str(message) if message is not None else None
    text = response.text.strip()
    return text[:200] or None


def _retry_after(response: httpx.Response) -> float | None:
    """Return the Retry-After header in seconds, or None when it is absent or invalid.

    The header contains seconds or an HTTP date (RFC 9110). RateLimitedError bounds the value.
    """
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None

    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value)
    if seconds is None:
        log.debug("ignoring a Retry-After header that is neither seconds nor a date: %.40r", value)
    return seconds


def _seconds_until(http_date: str) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 dates are in GMT; "-0000" parses without a zone.
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


def required_field(body: dict, name: str, response: httpx.Response) -> object:
    """Return `body[name]`, or raise UnexpectedResponseError naming the missing field."""
    value = body.get(name)
    if value is None:
        raise errors.UnexpectedResponseError(
            response.status_code,
            provider_message(response, body),
            detail=(
                f"SMS.to returned HTTP {response.status_code} without the field {name!r}: "
                f"{errors.UnexpectedResponseError.advice}."
            ),
        )
    return value
