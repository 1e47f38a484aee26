"""Exceptions of the SMS.to client, one class per way a request can fail.

For sending at most once, what matters is whether SMS.to may have accepted a send:

- `ProviderUnreachableError`: no connection was made, so SMS.to never saw the request. Safe to
  retry.
- `DeliveryUncertainError`: a send reached SMS.to (or a gateway in front of it) but its response was
  lost, so it may have been queued. Never retry it automatically: reconcile it from delivery
  reports and lookups instead.
- Every other `SmsToError` carries SMS.to's own response, which says that it did not accept the
  request. `retryable` tells whether the same request may succeed later.
"""

import math


class SmsToError(Exception):
    """A request to SMS.to that did not succeed; `str()` is a sentence that states what to do."""

    # True when repeating the same request later may succeed and cannot send anything twice.
    retryable = False
    # True when a send may have been queued although no success response arrived.
    maybe_sent = False
    advice = "check the request and SMS.to's message"

    def __init__(
        self,
        status_code: int | None = None,
        provider_message: str | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.provider_message = provider_message
        super().__init__(detail or self._describe())

    def _describe(self) -> str:
        if self.status_code is None:
            return f"The request to SMS.to got no HTTP response: {self.advice}."
        message = f" ({self.provider_message!r})" if self.provider_message else ""
        return f"SMS.to returned HTTP {self.status_code}{message}: {self.advice}."


class AuthenticationError(SmsToError):
    advice = (
        "the API key was rejected; check SMSTO_API_KEY against the keys on the SMS.to dashboard. "
        "SMS.to also returns 401 to anti-flooding, so if the key is right, send less often"
    )


class InsufficientBalanceError(SmsToError):
    advice = "the account balance does not cover this send; top up the SMS.to account and retry"


# A longer Retry-After is taken as this, because a gateway's "inf" or a date years ahead must not
# hold every dispatcher's requests past any restart. SMS.to limits requests per second.
MAX_RETRY_AFTER_SECONDS = 300.0


def bounded_retry_after(seconds: float | None) -> float | None:
    """Clamp a Retry-After to 0..MAX_RETRY_AFTER_SECONDS (infinity to the maximum); NaN is None."""
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


class RateLimitedError(SmsToError):
    retryable = True
    advice = "more than the allowed requests per second (150) were sent; back off and retry"

    def __init__(
        self,
        status_code: int | None = 429,
        provider_message: str | None = None,
        *,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        # SMS.to documents no Retry-After header; it is kept when a gateway sends one.
        self.retry_after = bounded_retry_after(retry_after)
        super().__init__(status_code, provider_message, detail=detail)


class InvalidRequestError(SmsToError):
    advice = "the message or recipient details are invalid; correct them before sending again"


class UnsupportedMediaTypeError(SmsToError):
    advice = "the request was not sent as application/json; this is a client bug, report it"


class ProviderNotFoundError(SmsToError, LookupError):
    advice = "no message or campaign has that id on this account; check the id and SMSTO_API_URL"


class ServerError(SmsToError):
    # NOTE: assumes SMS.to returns 500, 502 and 503 before it queues anything (not documented).
    # A 504 means a gateway gave up waiting and raises DeliveryUncertainError on a send instead.
    retryable = True
    advice = "SMS.to had an internal error; retry later"


class UnexpectedResponseError(SmsToError):
    advice = (
        "the response is not one SMS.to documents; check that SMSTO_API_URL and SMSTO_AUTH_URL "
        "point at SMS.to and retry later"
    )


class ProviderUnreachableError(SmsToError):
    retryable = True
    advice = (
        "no connection could be made, so nothing was sent; check the network and the URL, "
        "then retry"
    )


class ResponseLostError(SmsToError):
    # A read-only request (estimate, balance, lookup) whose response was lost changes nothing.
    retryable = True
    advice = "the connection failed before the response arrived; the request changes nothing, retry"


class DeliveryUncertainError(SmsToError):
    maybe_sent = True
    advice = (
        "the send reached SMS.to but its response was lost, so the messages may be queued; do not "
        "send them again, reconcile them from delivery reports and the message lookups"
    )
