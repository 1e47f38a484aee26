"""Authenticity of delivery-report requests: the X-SMSTo-Signature header or a token in the URL.

With `WEBHOOK_SECRET` set, a request is accepted when either
- its header `X-SMSTo-Signature: t=<unix seconds>,s=<hex>` carries
  s = HMAC-SHA256(secret, raw_body + b"." + t) and t is within MAX_CLOCK_SKEW_SECONDS of our
  clock (this is the scheme SMS.to's official SDK verifies), or
- its URL carries `?token=<secret>`, for accounts where SMS.to does not sign: the callback URL
  given to SMS.to is then built by `callback_url_with_token`.
Both comparisons run in constant time. Without a secret every request is accepted as "none".
"""

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus

from core.settings import Settings

SIGNATURE_HEADER = "X-SMSTo-Signature"
TOKEN_PARAMETER = "token"

# A signature older or newer than this is rejected as stale, which bounds replays. Five minutes
# covers ordinary clock drift between SMS.to and this server.
MAX_CLOCK_SKEW_SECONDS = 300

DELIVERY_PATH = "/webhooks/smsto"
OPTOUT_PATH = "/webhooks/smsto/optout"

# Any query parameter; its name is decoded before the comparison because the server decodes it too.
_PARAMETER_IN_TEXT = re.compile(r"([?&])([^=&\s\"?]*)=([^&\s\"?]*)")


@dataclass(frozen=True, slots=True)
class AuthResult:
    method: str  # signature, token, none (no secret configured) or rejected
    error: str = ""  # for rejected: missing_signature, invalid_signature, stale_signature, invalid_token

    @property
    def accepted(self) -> bool:
        return self.method != "rejected"


def check_request_auth(
    *,
    secret: str | None,
    body: bytes,
    signature_header: str | None,
    token: str | None,
    now: float,
) -> AuthResult:
    """Decide whether a report request is authentic; see the module docstring for the rules."""
    if not secret:
        return AuthResult("none")

    if token is not None and _same_text(token, secret):
        return AuthResult("token")
    if signature_header:
        error = _signature_error(secret, body, signature_header, now)
        return AuthResult("signature") if not error else AuthResult("rejected", error)
    if token is not None:
        return AuthResult("rejected", "invalid_token")
    return AuthResult("rejected", "missing_signature")


def sign_body(secret: str, body: bytes, timestamp: int) -> str:
    """Return the X-SMSTo-Signature header value for `body` signed at `timestamp`."""
    return f"t={timestamp},s={_digest(secret, body, str(timestamp))}"


def callback_url_with_token(settings: Settings, *, path: str = DELIVERY_PATH) -> str:
    """Build the callback URL to give SMS.to: base URL + path, plus ?token=<secret> when set.

    The token authenticates reports when SMS.to does not sign them. The access log of the
    companion server hides it (see `TokenRedactingFilter`).
    """
    url = settings.smsto_callback_base_url.rstrip("/") + path
    if settings.webhook_secret is None:
        return url
    token = quote(settings.webhook_secret.get_secret_value(), safe="")
    return f"{url}?{TOKEN_PARAMETER}={token}"


def redact_token(text: str) -> str:
    """Replace the value of every `token` query parameter in `text` with `***`.

    The name is compared once percent-decoded, so `?%74oken=...`, which the server accepts as the
    token, is hidden as well.
    """
    return _PARAMETER_IN_TEXT.sub(_redact_if_token, text)


def _redact_if_token(match: re.Match) -> str:
    separator, name, _value = match.groups()
    if unquote_plus(name) != TOKEN_PARAMETER:
        return match.group(0)
    return f"{separator}{name}=***"


class TokenRedactingFilter(logging.Filter):
    """A logging filter that hides `token` query values in log lines, such as uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Only text with a query string can carry the token, whatever the encoding of its name.
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_token(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = redact_token(record.msg)
        return True


def _signature_error(secret: str, body: bytes, header: str, now: float) -> str:
    timestamp, signatures = _split_header(header)
    if timestamp is None or not signatures:
        return "invalid_signature"
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return "stale_signature"

    expected = _digest(secret, body, timestamp).encode("ascii")
    # Several s= values are allowed, as during a secret rotation; any valid one is enough.
    matches = [hmac.compare_digest(expected, candidate) for candidate in signatures]
    return "" if any(matches) else "invalid_signature"


def _split_header(header: str) -> tuple[str | None, list[bytes]]:
    timestamp = None
    signatures: list[bytes] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        value = value.strip()
        if name.strip() == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = value
        elif name.strip() == "s" and value:
            signatures.append(value.lower().encode("utf-8", "replace"))
    return timestamp, signatures


def _digest(secret: str, body: bytes, timestamp: str) -> str:
    message = body + b"." + timestamp.encode("ascii")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _same_text(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
