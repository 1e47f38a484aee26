"""SmsToClient against the sandbox over loopback, and against MockTransport for failure shapes
the sandbox cannot produce (415, 422, 504, malformed success bodies, raw transport errors)."""

import json
import logging
from decimal import Decimal

import httpx
import pytest

from tests.sandbox_server import free_port, sandbox_fixtures

sandbox_process, sandbox = sandbox_fixtures()

from core.smsto import (
    AuthenticationError,
    DeliveryUncertainError,
    InsufficientBalanceError,
    InvalidRequestError,
    ProviderNotFoundError,
    ProviderUnreachableError,
    RateLimitedError,
    ResponseLostError,
    ServerError,
    SmsToClient,
    SmsToError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
)

KEY = "sandbox"
PHONE = "+35799000001"


@pytest.fixture
def client(sandbox):
    with SmsToClient(
        api_key=KEY, api_url=sandbox.base_url, auth_url=sandbox.base_url, timeout=5
    ) as client:
        yield client


def _mock_client(handler, **kwargs) -> SmsToClient:
    return SmsToClient(
        api_key="secret-key-123",
        api_url="http://api.test",
        auth_url="http://auth.test",
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


# Happy paths against the sandbox.


def test_send_single_returns_message_id(client, sandbox):
    result = client.send_single(to=PHONE, message="Hello")
    entry = sandbox.ledger()[0]
    assert result.campaign_id is None
    assert result.message_id == entry["message_id"]
    assert entry["tracking_id"] == result.message_id
    assert result.raw["success"] is True


def test_send_bulk_returns_campaign_id(client, sandbox):
    result = client.send_bulk(to=[PHONE, "+35799000002"], message="Hello all")
    ledger = sandbox.ledger()
    assert result.message_id is None
    assert result.provider_id == result.campaign_id
    assert [entry["tracking_id"] for entry in ledger] == [result.campaign_id] * 2


def test_send_personalised_returns_campaign_id(client, sandbox):
    messages = [
        {"message": "Hi Anna", "to": PHONE},
        {"message": "Hi Bob " * 30, "to": "+35799000002"},
    ]
    result = client.send_personalised(messages=messages)
    ledger = sandbox.ledger()
    assert result.id_kind == "campaign_id"
    assert [entry["parts"] for entry in ledger] == [1, 2]


def test_send_to_list_returns_campaign_id(client, sandbox):
    sandbox.configure(contact_lists={"42": [PHONE, "+35799000002", "+35799000003"]})
    result = client.send_to_list(list_id=42, message="Hello list")
    assert result.campaign_id
    assert len(sandbox.ledger(tracking_id=result.campaign_id)) == 3


def test_send_options_reach_the_provider(client, sandbox):
    result = client.send_single(
        to=PHONE,
        message="Later",
        sender_id="Shop",
        scheduled_for="2099-01-01 10:00:00",
        timezone="Europe/Nicosia",
    )
    message = client.get_message(result.message_id)
    assert message["sender_id"] == "Shop"
    assert message["status"] == "SCHEDULED"


def test_estimate_counts_valid_numbers(client):
    estimate = client.estimate(message="Hello", to=[PHONE, "+35799000002", "not a number"])
    assert estimate.sms_count == 2
    assert estimate.estimated_cost == Decimal("0.07")
    assert estimate.contact_count == 3
    assert estimate.invalid_count == 1
    assert len(estimate.errors) == 1


def test_estimate_personalised(client):
    estimate = client.estimate(messages=[{"message": "x" * 161, "to": PHONE}])
    assert estimate.sms_count == 2


def test_balance_is_decimal_and_debited(client, sandbox):
    before = client.balance()
    client.send_single(to=PHONE, message="Hello")
    sandbox.wait_until_settled()
    after = client.balance()
    assert before.currency == "EUR"
    assert before.balance == Decimal(10000)
    assert after.balance == Decimal("9999.965")


def test_get_message_after_delivery(client, sandbox):
    sandbox.configure(outcome_mix={"DELIVERED": 1})
    result = client.send_single(to=PHONE, message="Hello")
    sandbox.wait_until_settled()
    message = client.get_message(result.message_id)
    assert message["status"] == "DELIVERED"
    assert message["to"] == PHONE
    assert message["client_cost"] == Decimal("0.035")


def test_get_campaign_and_last_campaign(client, sandbox):
    sandbox.configure(outcome_mix={"DELIVERED": 1})
    result = client.send_bulk(to=[PHONE, "+35799000002", "bad"], message="Hello")
    sandbox.wait_until_settled()
    campaign = client.get_campaign(result.campaign_id)
    assert campaign["delivered_messages"] == 2
    assert campaign["failed_messages"] == 1
    assert campaign["client_total_cost"] == Decimal("0.07")
    assert client.last_campaign()["_id"] == result.campaign_id


def test_list_messages_filters_by_status(client, sandbox):
    sandbox.configure(outcome_mix={"DELIVERED": 1})
    client.send_bulk(to=[PHONE, "+35799000002", "bad"], message="Hello")
    sandbox.wait_until_settled()
    page = client.list_messages(status="REJECTED", limit=10)
    assert page["total"] == 1
    assert page["data"][0]["to"] == "bad"


def test_list_messages_filters_by_phone(client, sandbox):
    client.send_bulk(to=[PHONE, "+35799000002"], message="Hello")
    page = client.list_messages(to="+35799000002")
    assert [item["to"] for item in page["data"]] == ["+35799000002"]


# Errors produced by the sandbox.


def test_wrong_key_raises_authentication_error(sandbox):
    with (
        SmsToClient(api_key="wrong", api_url=sandbox.base_url, auth_url=sandbox.base_url) as client,
        pytest.raises(AuthenticationError, match="SMSTO_API_KEY") as caught,
    ):
        client.send_single(to=PHONE, message="Hello")
    assert caught.value.status_code == 401


def test_wrong_key_on_balance_raises_authentication_error(sandbox):
    with (
        SmsToClient(api_key="wrong", api_url=sandbox.base_url, auth_url=sandbox.base_url) as client,
        pytest.raises(AuthenticationError),
    ):
        client.balance()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"to": PHONE, "message": ""}, "message"),
        ({"to": PHONE, "message": "Hi", "sender_id": "Way too long sender"}, "Sender ID"),
        ({"to": PHONE, "message": "Hi", "sender_id": "Bad!"}, "Sender ID"),
        ({"to": PHONE, "message": "Hi", "scheduled_for": "tomorrow"}, "scheduled_for"),
        (
            {
                "to": PHONE,
                "message": "Hi",
                "scheduled_for": "2099-01-01 10:00:00",
                "timezone": "Mars/Base",
            },
            "timezone",
        ),
        ({"to": "", "message": "Hi"}, "to"),
    ],
)
def test_invalid_send_raises_invalid_request(client, kwargs, fragment):
    with pytest.raises(InvalidRequestError) as caught:
        client.send_single(**kwargs)
    assert caught.value.status_code == 400
    assert fragment in caught.value.provider_message


def test_empty_bulk_raises_invalid_request(client):
    with pytest.raises(InvalidRequestError):
        client.send_bulk(to=[], message="Hi")


def test_low_balance_raises_insufficient_balance(client, sandbox):
    sandbox.configure(balance="0.05")
    client.send_single(to=PHONE, message="Hello")
    with pytest.raises(InsufficientBalanceError, match="top up") as caught:
        client.send_single(to=PHONE, message="Hello")
    assert caught.value.status_code == 402
    assert "0.015" in caught.value.provider_message
    assert "0.035" in caught.value.provider_message


def test_rate_limit_raises_rate_limited(client, sandbox):
    sandbox.configure(rate_limit=3)
    with pytest.raises(RateLimitedError) as caught:
        for _ in range(10):
            client.balance()
    assert caught.value.retryable is True


def test_unknown_message_raises_not_found(client):
    with pytest.raises(ProviderNotFoundError):
        client.get_message("00000000-0000-4000-8000-000000000000")


def test_unknown_campaign_raises_not_found(client):
    with pytest.raises(ProviderNotFoundError):
        client.get_campaign("no-such-campaign")


def test_server_error_fault_raises_server_error(client, sandbox):
    sandbox.configure(faults={"server_error_rate": 1.0, "server_error_codes": [503]})
    with pytest.raises(ServerError) as caught:
        client.send_single(to=PHONE, message="Hello")
    assert caught.value.status_code == 503
    assert sandbox.ledger() == []


def test_dropped_answer_raises_delivery_uncertain(client, sandbox):
    sandbox.configure(faults={"drop_rate": 1.0})
    with pytest.raises(DeliveryUncertainError) as caught:
        client.send_single(to=PHONE, message="Hello")
    assert caught.value.maybe_sent is True
    assert len(sandbox.ledger()) == 1


def test_timed_out_answer_raises_delivery_uncertain(sandbox):
    sandbox.configure(faults={"timeout_rate": 1.0, "timeout_seconds": 1.5})
    with (
        SmsToClient(
            api_key=KEY, api_url=sandbox.base_url, auth_url=sandbox.base_url, timeout=0.3
        ) as client,
        pytest.raises(DeliveryUncertainError, match="ReadTimeout"),
    ):
        client.send_bulk(to=[PHONE], message="Hello")
    assert len(sandbox.ledger()) == 1


def test_timed_out_estimate_raises_response_lost(sandbox):
    sandbox.configure(faults={"timeout_rate": 1.0, "timeout_seconds": 1.5, "scope": "all"})
    with (
        SmsToClient(
            api_key=KEY, api_url=sandbox.base_url, auth_url=sandbox.base_url, timeout=0.3
        ) as client,
        pytest.raises(ResponseLostError),
    ):
        client.estimate(message="Hello", to=PHONE)


def test_closed_port_raises_provider_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    with (
        SmsToClient(api_key=KEY, api_url=url, auth_url=url, timeout=2) as client,
        pytest.raises(ProviderUnreachableError) as caught,
    ):
        client.send_single(to=PHONE, message="Hello")
    assert caught.value.retryable is True
    assert caught.value.maybe_sent is False


# Failure shapes only MockTransport can produce.


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (402, InsufficientBalanceError),
        (404, ProviderNotFoundError),
        (415, UnsupportedMediaTypeError),
        (422, InvalidRequestError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, DeliveryUncertainError),
        (418, UnexpectedResponseError),
        (301, UnexpectedResponseError),
    ],
)
def test_send_status_maps_to_error(status, error):
    client = _mock_client(
        lambda request: httpx.Response(status, json={"success": False, "message": "nope"})
    )
    with pytest.raises(error) as caught:
        client.send_single(to=PHONE, message="Hi")
    assert caught.value.status_code == status
    assert caught.value.provider_message == "nope"


def test_gateway_timeout_on_lookup_is_server_error():
    client = _mock_client(lambda request: httpx.Response(504, text="<html>Gateway Timeout</html>"))
    with pytest.raises(ServerError) as caught:
        client.get_message("abc")
    assert "Gateway Timeout" in caught.value.provider_message


@pytest.mark.parametrize(
    ("exception", "is_send", "error"),
    [
        (httpx.ConnectError("refused"), True, ProviderUnreachableError),
        (httpx.ConnectTimeout("slow connect"), True, ProviderUnreachableError),
        (httpx.PoolTimeout("no connection free"), True, ProviderUnreachableError),
        (httpx.ReadTimeout("slow answer"), True, DeliveryUncertainError),
        (httpx.WriteTimeout("slow upload"), True, DeliveryUncertainError),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            True,
            DeliveryUncertainError,
        ),
        (httpx.ReadError("Connection reset by peer"), True, DeliveryUncertainError),
        (httpx.ReadTimeout("slow answer"), False, ResponseLostError),
        (httpx.ConnectError("refused"), False, ProviderUnreachableError),
    ],
)
def test_transport_error_maps_to_error(exception, is_send, error):
    def handler(request):
        raise exception

    client = _mock_client(handler)
    with pytest.raises(error):
        if is_send:
            client.send_bulk(to=[PHONE], message="Hi")
        else:
            client.balance()


@pytest.mark.parametrize(
    "body",
    [
        {"success": True, "message": "queued"},
        {"success": True, "message_id": None},
    ],
)
def test_success_without_id_is_delivery_uncertain(body):
    client = _mock_client(lambda request: httpx.Response(200, json=body))
    with pytest.raises(DeliveryUncertainError, match="without a message_id"):
        client.send_single(to=PHONE, message="Hi")


def test_success_false_is_unexpected_response():
    body = {"success": False, "message": "Something odd", "message_id": "x"}
    client = _mock_client(lambda request: httpx.Response(200, json=body))
    with pytest.raises(UnexpectedResponseError, match="success false"):
        client.send_single(to=PHONE, message="Hi")


def test_success_without_success_field_is_accepted():
    client = _mock_client(lambda request: httpx.Response(201, json={"campaign_id": "c-1"}))
    assert client.send_bulk(to=[PHONE], message="Hi").campaign_id == "c-1"


def test_unreadable_success_on_send_is_delivery_uncertain():
    client = _mock_client(lambda request: httpx.Response(200, text="<html>OK</html>"))
    with pytest.raises(DeliveryUncertainError):
        client.send_single(to=PHONE, message="Hi")


def test_unreadable_success_on_balance_is_unexpected():
    client = _mock_client(lambda request: httpx.Response(200, text="[]"))
    with pytest.raises(UnexpectedResponseError):
        client.balance()


def test_balance_without_amount_is_unexpected():
    client = _mock_client(lambda request: httpx.Response(200, json={"currency": "EUR"}))
    with pytest.raises(UnexpectedResponseError, match="'balance'"):
        client.balance()


def test_balance_keeps_decimal_digits():
    client = _mock_client(
        lambda request: httpx.Response(200, content=b'{"balance": 12.345678901, "currency": "EUR"}')
    )
    assert client.balance().balance == Decimal("12.345678901")


def test_rate_limited_keeps_retry_after():
    client = _mock_client(
        lambda request: httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "slow"})
    )
    with pytest.raises(RateLimitedError) as caught:
        client.balance()
    assert caught.value.retry_after == 2.0


# (case id, Retry-After header, seconds kept); the bound is 300 s and an unreadable value is None.
RETRY_AFTER_CASES = [
    ("seconds", "30", 30.0),
    ("spaces", " 12 ", 12.0),
    ("infinity", "inf", 300.0),
    ("huge", "1e12", 300.0),
    ("beyond_float", "1e400", 300.0),
    ("negative", "-5", 0.0),
    ("not_a_number", "nan", None),
    ("text", "soon", None),
    ("date_past", "Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ("date_far_ahead", "Wed, 21 Oct 2099 07:28:00 GMT", 300.0),
    ("invalid_date", "Mon, 99 Foo 2020 07:28:00 GMT", None),
]


@pytest.mark.parametrize(
    "header, expected",
    [case[1:] for case in RETRY_AFTER_CASES],
    ids=[case[0] for case in RETRY_AFTER_CASES],
)
def test_rate_limited_retry_after_bounded(header, expected):
    client = _mock_client(
        lambda request: httpx.Response(429, headers={"Retry-After": header}, json={"message": "slow"})
    )

    with pytest.raises(RateLimitedError) as caught:
        client.balance()

    assert caught.value.retry_after == expected


def test_requests_carry_auth_and_json_headers():
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(
            200, json={"balance": 1, "currency": "EUR", "success": True, "message_id": "m"}
        )

    client = _mock_client(handler)
    client.balance()
    client.send_single(to=PHONE, message="Hi")
    for request in seen:
        assert request.headers["Authorization"] == "Bearer secret-key-123"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Accept"] == "application/json"


def test_balance_goes_to_auth_host():
    seen: list[str] = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json={"balance": 1, "currency": "EUR"})

    _mock_client(handler).balance()
    assert seen == ["http://auth.test/api/balance"]


def test_send_body_has_only_given_options():
    bodies: list[dict] = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"success": True, "message_id": "m"})

    client = _mock_client(handler)
    client.send_single(
        to=PHONE, message="Hi", callback_url="http://127.0.0.1/cb", bypass_optout=True
    )
    assert bodies == [
        {"message": "Hi", "to": PHONE, "callback_url": "http://127.0.0.1/cb", "bypass_optout": True}
    ]


def test_logs_never_contain_key_or_phone(caplog):
    client = _mock_client(
        lambda request: httpx.Response(401, json={"success": False, "message": "bad key"})
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError):
        client.send_single(to=PHONE, message="Hi")
    ok = _mock_client(
        lambda request: httpx.Response(200, json={"success": True, "message_id": "m"})
    )
    ok.send_single(to=PHONE, message="Hi")
    assert "secret-key-123" not in caplog.text
    assert PHONE not in caplog.text


def test_repr_hides_key():
    assert "secret-key-123" not in repr(_mock_client(lambda request: httpx.Response(200)))


def test_empty_key_is_rejected():
    with pytest.raises(ValueError, match="SMSTO_API_KEY"):
        SmsToClient(api_key=" ", api_url="http://api.test", auth_url="http://auth.test")


@pytest.mark.parametrize(
    ("error", "retryable", "maybe_sent"),
    [
        (ProviderUnreachableError, True, False),
        (ResponseLostError, True, False),
        (RateLimitedError, True, False),
        (ServerError, True, False),
        (DeliveryUncertainError, False, True),
        (AuthenticationError, False, False),
        (InsufficientBalanceError, False, False),
        (InvalidRequestError, False, False),
    ],
)
def test_error_flags(error, retryable, maybe_sent):
    assert issubclass(error, SmsToError)
    assert error.retryable is retryable
    assert error.maybe_sent is maybe_sent
