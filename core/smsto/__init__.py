"""The SMS.to API client: `SmsToClient`, its result types and its exceptions."""

from core.smsto.client import SmsToClient
from core.smsto.errors import (
    AuthenticationError,
    DeliveryUncertainError,
    InsufficientBalanceError,
    InvalidRequestError,
    ProviderNotFoundError,
    ProviderUnreachableError,
    RateLimitedError,
    ResponseLostError,
    ServerError,
    SmsToError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
)
from core.smsto.results import Balance, Estimate, SendResult

__all__ = [
    "AuthenticationError",
    "Balance",
    "DeliveryUncertainError",
    "Estimate",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "ProviderNotFoundError",
    "ProviderUnreachableError",
    "RateLimitedError",
    "ResponseLostError",
    "SendResult",
    "ServerError",
    "SmsToClient",
    "SmsToError",
    "UnexpectedResponseError",
    "UnsupportedMediaTypeError",
]
