"""Authenticity of report requests: the X-SMSTo-Signature header, the URL token, and redaction."""

import hashlib
import hmac
import logging

import pytest
from pydantic import SecretStr

from core.reports.signature import (
    MAX_CLOCK_SKEW_SECONDS,
    TokenRedactingFilter,
    callback_url_with_token,
    check_request_auth,
    redact_token,
    sign_body,
)
from core.settings import Settings

SECRET = "webhook-secret"
BODY = b"trackingId=C1&messageId=m1&phone=%2B35799000001&status=DELIVERED"
NOW = 1_700_000_000


def test_sign_body_is_hmac_of_body_dot_timestamp():
    expected = hmac.new(SECRET.encode(), BODY + b"." + str(NOW).encode(), hashlib.sha256).hexdigest()
    assert sign_body(SECRET, BODY, NOW) == f"t={NOW},s={expected}"


def check(header=None, token=None, secret=SECRET, body=BODY, now=NOW):
    return check_request_auth(secret=secret, body=body, signature_header=header, token=token, now=now)


CASES = [
    ("no_secret", {"secret": None}, "none", ""),
    ("no_secret_ignores_bad_header", {"secret": None, "header": "t=1,s=00"}, "none", ""),
    ("valid", {"header": sign_body(SECRET, BODY, NOW)}, "signature", ""),
    ("valid_upper_hex", {"header": sign_body(SECRET, BODY, NOW).upper().replace("T=", "t=").replace(",S=", ",s=")},
     "signature", ""),
    ("valid_spaces", {"header": sign_body(SECRET, BODY, NOW).replace(",", " , ")}, "signature", ""),
    ("second_of_two_signatures", {"header": f"t={NOW},s=00,s={sign_body(SECRET, BODY, NOW).split('s=')[1]}"},
     "signature", ""),
    ("skew_edge", {"header": sign_body(SECRET, BODY, NOW - MAX_CLOCK_SKEW_SECONDS)}, "signature", ""),
    ("stale", {"header": sign_body(SECRET, BODY, NOW - MAX_CLOCK_SKEW_SECONDS - 1)}, "rejected",
     "stale_signature"),
    ("future", {"header": sign_body(SECRET, BODY, NOW + MAX_CLOCK_SKEW_SECONDS + 1)}, "rejected",
     "stale_signature"),
    ("wrong_secret", {"header": sign_body("other", BODY, NOW)}, "rejected", "invalid_signature"),
    ("body_changed", {"header": sign_body(SECRET, BODY, NOW), "body": BODY + b" "}, "rejected",
     "invalid_signature"),
    ("timestamp_changed", {"header": sign_body(SECRET, BODY, NOW).replace(str(NOW), str(NOW + 1))},
     "rejected", "invalid_signature"),
    ("no_timestamp", {"header": "s=abcd"}, "rejected", "invalid_signature"),
    ("huge_timestamp", {"header": "t=" + "9" * 5000 + ",s=00"}, "rejected", "invalid_signature"),
    ("non_ascii", {"header": f"t={NOW},s=\u00e9\u00e9"}, "rejected", "invalid_signature"),
    ("missing", {}, "rejected", "missing_signature"),
    ("token", {"token": SECRET}, "token", ""),
    ("token_with_bad_header", {"token": SECRET, "header": "t=1,s=00"}, "token", ""),
    ("token_wrong", {"token": "guess"}, "rejected", "invalid_token"),
    ("token_empty", {"token": ""}, "rejected", "invalid_token"),
]


@pytest.mark.parametrize(("case", "arguments", "method", "error"), CASES, ids=[row[0] for row in CASES])
def test_check_request_auth_cases(case, arguments, method, error):
    result = check(**arguments)
    assert result.method == method
    assert result.error == error
    assert result.accepted is (method != "rejected")


def test_callback_url_without_secret():
    settings = Settings(smsto_callback_base_url="https://example.test/base/", webhook_secret=None)
    assert callback_url_with_token(settings) == "https://example.test/base/webhooks/smsto"


def test_callback_url_with_secret_quoted():
    settings = Settings(smsto_callback_base_url="https://example.test", webhook_secret=SecretStr("a b&c/d"))
    assert callback_url_with_token(settings) == "https://example.test/webhooks/smsto?token=a%20b%26c%2Fd"


def test_callback_url_optout_path():
    settings = Settings(smsto_callback_base_url="https://example.test", webhook_secret=None)
    assert callback_url_with_token(settings, path="/webhooks/smsto/optout").endswith("/webhooks/smsto/optout")


@pytest.mark.parametrize(("text", "expected"), [
    ("POST /webhooks/smsto?token=abc HTTP/1.1", "POST /webhooks/smsto?token=*** HTTP/1.1"),
    ("/webhooks/smsto?x=1&token=abc&y=2", "/webhooks/smsto?x=1&token=***&y=2"),
    ("/webhooks/smsto", "/webhooks/smsto"),
    ("/webhooks/smsto?%74oken=abc", "/webhooks/smsto?%74oken=***"),
    ("/webhooks/smsto?t%6Fken=abc&token=def", "/webhooks/smsto?t%6Fken=***&token=***"),
    ("/webhooks/smsto?tokens=abc&mytoken=def", "/webhooks/smsto?tokens=abc&mytoken=def"),
    ('"POST /webhooks/smsto?a=1?token=abc HTTP/1.1"', '"POST /webhooks/smsto?a=1?token=*** HTTP/1.1"'),
])
def test_redact_token_cases(text, expected):
    assert redact_token(text) == expected


def test_token_filter_redacts_access_log_arguments():
    # uvicorn's access log passes (client, method, path with query, HTTP version, status) as args.
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "POST", f"/webhooks/smsto?token={SECRET}", "1.1", 200), None)

    assert TokenRedactingFilter().filter(record) is True
    assert SECRET not in record.getMessage()
    assert "token=***" in record.getMessage()
