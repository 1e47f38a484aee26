"""The SMS.to client under its short import path; the code lives in the `core.smsto` package."""

from core.smsto import (
    AuthenticationError,
    Balance,
    DeliveryUncertainError,
    Estimate,
    InsufficientBalanceError,
    InvalidRequestError,
    ProviderNotFoundError,
    ProviderUnreachableError,
    RateLimitedError,
    ResponseLostError,
    SendResult,
    ServerError,
    SmsToClient,
    SmsToError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
)

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
