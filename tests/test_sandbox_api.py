"""The sandbox's SMS.to endpoints over real HTTP: send shapes, errors, lookups, ledger, settings."""

import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from tests.sandbox_server import sandbox_fixtures

sandbox_process, sandbox = sandbox_fixtures()

QUEUED = "Message is queued for sending! Please check report for update"
AUTH = {"Authorization": "Bearer sandbox"}
PHONE = "+35799000001"


def post(sandbox, path: str, body: object, headers: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.post(
        sandbox.base_url + path, json=body, headers=AUTH if headers is None else headers, **kwargs
    )


def get(sandbox, path: str, headers: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.get(
        sandbox.base_url + path, headers=AUTH if headers is None else headers, **kwargs
    )


# The three send shapes.


def test_send_single_answers_message_id(sandbox):
    response = post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE})
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["message"] == QUEUED
    assert uuid.UUID(body["message_id"]).version == 4
    assert "campaign_id" not in body


@pytest.mark.parametrize(
    "body",
    [
        {"message": "Hi", "to": [PHONE, "+35799000002"]},
        {"messages": [{"message": "Hi A", "to": PHONE}, {"message": "Hi B", "to": "+35799000002"}]},
    ],
)
def test_send_campaign_answers_campaign_id(sandbox, body):
    response = post(sandbox, "/sms/send", body)
    answer = response.json()
    assert response.status_code == 200
    assert answer["message"] == QUEUED
    assert uuid.UUID(answer["campaign_id"]).version == 4
    assert "message_id" not in answer


def test_send_to_contact_list(sandbox):
    sandbox.configure(contact_lists={"7": [PHONE, "+35799000002"]})
    response = post(sandbox, "/sms/send", {"message": "Hi", "list_id": 7})
    campaign_id = response.json()["campaign_id"]
    assert [entry["phone"] for entry in sandbox.ledger(tracking_id=campaign_id)] == [
        PHONE,
        "+35799000002",
    ]


def test_send_single_ledger_entry(sandbox):
    message_id = post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE}).json()["message_id"]
    sandbox.wait_until_settled()
    entry = sandbox.ledger()[0]
    assert entry["message_id"] == message_id
    assert entry["tracking_id"] == message_id
    assert entry["phone"] == PHONE
    assert entry["parts"] == 1


def test_bulk_ledger_gives_each_recipient_its_own_id(sandbox):
    campaign_id = post(
        sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002", "+35799000003"]}
    ).json()["campaign_id"]
    ledger = sandbox.ledger()
    ids = {entry["message_id"] for entry in ledger}
    assert len(ids) == 3
    assert campaign_id not in ids
    assert {entry["tracking_id"] for entry in ledger} == {campaign_id}


def test_invalid_number_is_rejected_later_and_not_billed(sandbox):
    response = post(sandbox, "/sms/send", {"message": "Hi", "to": ["+35712", PHONE]})
    sandbox.wait_until_settled()
    rejected, _ = sandbox.ledger()
    assert response.status_code == 200
    assert rejected["status"] == "REJECTED"
    assert rejected["price"] == "0"


def test_prices_follow_region_and_parts(sandbox):
    sandbox.configure(outcome_mix={"DELIVERED": 1})
    messages = [
        {"message": "x" * 161, "to": PHONE},
        {"message": "Hi", "to": "+306912345678"},
        {"message": "é✓", "to": "+447400123456"},
    ]
    post(sandbox, "/sms/send", {"messages": messages})
    sandbox.wait_until_settled()
    assert [(entry["parts"], entry["price"]) for entry in sandbox.ledger()] == [
        (2, "0.07"),
        (1, "0.042"),
        (1, "0.038"),
    ]


def test_balance_is_debited_by_billed_prices(sandbox):
    post(
        sandbox,
        "/sms/send",
        {"message": "Hi", "to": [PHONE, "+35799000002", "bad", "+306912345678"]},
    )
    stats = sandbox.wait_until_settled()
    billed = sum(Decimal(entry["price"]) for entry in sandbox.ledger())
    assert Decimal(stats["balance"]) == Decimal(10000) - billed
    assert Decimal(stats["billed"]) == billed


def test_outcome_mix_sets_final_status(sandbox):
    sandbox.configure(outcome_mix={"UNDELIVERED": 1})
    post(sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002"]})
    sandbox.wait_until_settled()
    assert [entry["status"] for entry in sandbox.ledger()] == ["UNDELIVERED", "UNDELIVERED"]


def test_same_seed_gives_same_fates(sandbox):
    numbers = [f"+3579900{index:04d}" for index in range(40)]
    post(sandbox, "/sms/send", {"message": "Hi", "to": numbers})
    sandbox.wait_until_settled()
    first = [entry["status"] for entry in sandbox.ledger()]
    sandbox.reset()
    post(sandbox, "/sms/send", {"message": "Hi", "to": list(reversed(numbers))})
    sandbox.wait_until_settled()
    second = [entry["status"] for entry in reversed(sandbox.ledger())]
    assert first == second
    assert len(set(first)) > 1


def test_optout_gives_unsubscribed_unless_bypassed(sandbox):
    sandbox.configure(optouts=[PHONE], outcome_mix={"DELIVERED": 1})
    post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE})
    post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE, "bypass_optout": True})
    sandbox.wait_until_settled()
    blocked, bypassed = sandbox.ledger()
    assert (blocked["status"], blocked["price"]) == ("UNSUBSCRIBED", "0")
    assert bypassed["status"] == "DELIVERED"


def test_scheduled_send_waits(sandbox):
    body = {
        "message": "Hi",
        "to": [PHONE],
        "scheduled_for": "2099-01-01 09:00:00",
        "timezone": "Europe/Nicosia",
    }
    campaign_id = post(sandbox, "/sms/send", body).json()["campaign_id"]
    time.sleep(0.3)
    campaign = get(sandbox, f"/v2/campaigns/{campaign_id}").json()
    assert campaign["status"] == "SCHEDULED"
    assert campaign["scheduled_for"] == "2099-01-01 07:00:00"
    assert sandbox.ledger()[0]["status"] == "SCHEDULED"


# Errors.


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({"Authorization": "Bearer wrong"}, "/sms/send"),
        ({}, "/sms/send"),
        ({"Authorization": "Basic sandbox"}, "/sms/send"),
        ({}, "/sms/send?api_key=wrong"),
    ],
)
def test_wrong_key_answers_401(sandbox, headers, path):
    response = post(sandbox, path, {"message": "Hi", "to": PHONE}, headers=headers)
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert response.json()["data"] == []


def test_api_key_in_query_is_accepted(sandbox):
    response = post(
        sandbox, "/sms/send?api_key=sandbox", {"message": "Hi", "to": PHONE}, headers={}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/api/balance", "/v2/messages", "/v2/last/campaign", "/message/abc", "/v2/campaigns/abc"],
)
def test_wrong_key_on_reads_answers_401(sandbox, path):
    assert get(sandbox, path, headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_wrong_content_type_answers_415(sandbox, content_type):
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    response = httpx.post(
        sandbox.base_url + "/sms/send",
        content=b'{"message": "Hi", "to": "+35799000001"}',
        headers=headers,
    )
    assert response.status_code == 415
    assert response.json()["success"] is False


def test_json_with_charset_is_accepted(sandbox):
    headers = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
    response = httpx.post(
        sandbox.base_url + "/sms/send",
        content=b'{"message": "Hi", "to": "+35799000001"}',
        headers=headers,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "not valid JSON"),
        ([], "JSON object"),
        ({"to": PHONE}, "message"),
        ({"message": "", "to": PHONE}, "message"),
        ({"message": "Hi"}, "to"),
        ({"message": "Hi", "to": []}, "empty list"),
        ({"message": "Hi", "to": {"a": 1}}, "to"),
        ({"message": "Hi", "to": [PHONE, None]}, "to[1]"),
        ({"message": "Hi", "to": PHONE, "sender_id": "TwelveChars1"}, "Sender ID"),
        ({"message": "Hi", "to": PHONE, "sender_id": "Bad!"}, "Sender ID"),
        ({"message": "Hi", "to": PHONE, "callback_url": "ftp://x"}, "callback_url"),
        ({"message": "Hi", "to": PHONE, "bypass_optout": "yes"}, "bypass_optout"),
        ({"message": "Hi", "to": PHONE, "scheduled_for": "01/01/2099"}, "scheduled_for"),
        ({"messages": []}, "messages"),
        ({"messages": [{"message": "Hi"}]}, "messages[0].to"),
        ({"messages": ["Hi"]}, "messages[0]"),
        ({"message": "Hi", "list_id": 999}, "list_id"),
    ],
)
def test_invalid_body_answers_400(sandbox, body, fragment):
    if isinstance(body, str):
        response = httpx.post(
            sandbox.base_url + "/sms/send",
            content=body,
            headers={**AUTH, "Content-Type": "application/json"},
        )
    else:
        response = post(sandbox, "/sms/send", body)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert fragment in response.json()["message"]
    assert sandbox.ledger() == []


def test_balance_running_out_answers_402(sandbox):
    sandbox.configure(balance="0.1")
    first = post(sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002"]})
    second = post(sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002"]})
    assert first.status_code == 200
    assert second.status_code == 402
    assert second.json()["success"] is False
    assert "0.03" in second.json()["message"]
    assert "0.07" in second.json()["message"]
    assert len(sandbox.ledger()) == 2


def test_rejected_numbers_are_refunded(sandbox):
    sandbox.configure(balance="0.1")
    post(sandbox, "/sms/send", {"message": "Hi", "to": ["+35711", "+35712"]})
    sandbox.wait_until_settled()
    assert (
        post(sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002"]}).status_code
        == 200
    )


def _burst(sandbox, count: int, threads: int) -> tuple[list[int], float]:
    started = time.monotonic()
    with httpx.Client(headers=AUTH) as client, ThreadPoolExecutor(threads) as pool:
        statuses = list(
            pool.map(
                lambda _: client.get(sandbox.base_url + "/api/balance").status_code, range(count)
            )
        )
    return statuses, time.monotonic() - started


def test_rate_limit_answers_429_above_limit(sandbox):
    sandbox.configure(rate_limit=10)
    statuses, elapsed = _burst(sandbox, 25, threads=1)
    accepted = statuses.count(200)
    assert set(statuses) == {200, 429}
    assert 10 <= accepted <= 10 * math.ceil(elapsed)
    assert sandbox.stats()["rate_limited"] == 25 - accepted


def test_default_rate_limit_is_150_per_second(sandbox):
    statuses, elapsed = _burst(sandbox, 220, threads=4)
    accepted = statuses.count(200)
    assert 150 <= accepted <= 150 * math.ceil(elapsed)
    assert sandbox.stats()["max_requests_in_one_second"] >= min(220, accepted + 1)


def test_rate_limit_counts_every_endpoint(sandbox):
    sandbox.configure(rate_limit=2)
    post(sandbox, "/sms/estimate", {"message": "Hi", "to": PHONE})
    get(sandbox, "/api/balance")
    assert post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE}).status_code == 429


def test_rate_limit_zero_disables_it(sandbox):
    sandbox.configure(rate_limit=0)
    statuses, _ = _burst(sandbox, 200, threads=4)
    assert set(statuses) == {200}


def test_unknown_path_answers_404(sandbox):
    assert get(sandbox, "/nope").status_code == 404


def test_wrong_method_answers_405(sandbox):
    assert get(sandbox, "/sms/send").status_code == 405


@pytest.mark.parametrize("message_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
def test_unknown_message_answers_404(sandbox, message_id):
    response = get(sandbox, f"/message/{message_id}")
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_single_send_is_not_a_campaign(sandbox):
    message_id = post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE}).json()["message_id"]
    assert get(sandbox, f"/v2/campaigns/{message_id}").status_code == 404


def test_last_campaign_without_campaign_answers_404(sandbox):
    assert get(sandbox, "/v2/last/campaign").status_code == 404


# Other endpoints.


def test_estimate_shape(sandbox):
    body = post(
        sandbox, "/sms/estimate", {"message": "x" * 200, "to": [PHONE, "+306912345678", "oops"]}
    ).json()
    assert body["sms_count"] == 4
    assert body["estimated_cost"] == pytest.approx(0.154)
    assert body["contact_count"] == 3
    assert body["invalid_count"] == 1
    assert body["errors"] == ["oops: invalid phone number"]
    assert sandbox.ledger() == []


def test_balance_shape(sandbox):
    response = get(sandbox, "/api/balance")
    assert response.json() == {"balance": 10000.0, "currency": "EUR"}


def test_get_message_fields(sandbox):
    campaign_id = post(
        sandbox, "/sms/send", {"message": "Hi", "to": [PHONE], "sender_id": "Shop"}
    ).json()["campaign_id"]
    sandbox.wait_until_settled()
    entry = sandbox.ledger()[0]
    message = get(sandbox, f"/message/{entry['message_id']}").json()
    assert message["_id"] == entry["message_id"]
    assert message["campaign_id"] == campaign_id
    assert message["to"] == PHONE
    assert message["status"] == entry["status"]
    assert message["sms_count"] == 1
    assert message["sender_id"] == "Shop"
    assert message["sent_at"] is not None


def test_campaign_counts(sandbox):
    sandbox.configure(outcome_mix={"DELIVERED": 1})
    campaign_id = post(
        sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002", "bad"]}
    ).json()["campaign_id"]
    sandbox.wait_until_settled()
    campaign = get(sandbox, f"/v2/campaigns/{campaign_id}").json()
    assert campaign["status"] == "COMPLETED"
    assert campaign["sms_count"] == 3
    assert campaign["delivered_messages"] == 2
    assert campaign["failed_messages"] == 1
    assert campaign["pending_messages"] == 0
    assert campaign["client_total_cost"] == pytest.approx(0.07)


def test_list_messages_pages(sandbox):
    post(
        sandbox, "/sms/send", {"message": "Hi", "to": [f"+3579900000{index}" for index in range(5)]}
    )
    page = get(sandbox, "/v2/messages", params={"limit": 2, "page": 3}).json()
    assert page["total"] == 5
    assert page["last_page"] == 3
    assert [item["to"] for item in page["data"]] == ["+35799000000"]


@pytest.mark.parametrize(
    ("params", "total"),
    [
        ({"created_at_from": "2999-01-01"}, 0),
        ({"created_at_to": "2000-01-01 00:00:00"}, 0),
        ({"created_at_from": "2000-01-01", "created_at_to": "2999-01-01"}, 2),
        ({"status": "delivered"}, 0),
        ({"status": "failed"}, 2),
        ({"to": "+357 99 000001"}, 1),
    ],
)
def test_list_messages_filters(sandbox, params, total):
    sandbox.configure(outcome_mix={"FAILED": 1})
    post(sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002"]})
    sandbox.wait_until_settled()
    assert get(sandbox, "/v2/messages", params=params).json()["total"] == total


def test_list_messages_rejects_bad_date(sandbox):
    assert get(sandbox, "/v2/messages", params={"created_at_from": "yesterday"}).status_code == 400


# Ledger, stats, settings.


def test_ledger_streams_with_offset_and_limit(sandbox):
    post(sandbox, "/sms/send", {"message": "Hi", "to": [PHONE, "+35799000002"]})
    post(sandbox, "/sms/send", {"message": "Hi", "to": ["+35799000003", "+35799000004"]})
    phones = [entry["phone"] for entry in sandbox.ledger(offset=1, limit=2)]
    assert phones == ["+35799000002", "+35799000003"]


def test_stats_fields(sandbox):
    post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE})
    stats = sandbox.wait_until_settled()
    assert stats["requests"] == 1
    assert stats["messages"] == 1
    assert stats["reports_pending"] == 0
    assert stats["balance"] == "9999.965"
    for name in (
        "max_requests_in_one_second",
        "rate_limited",
        "reports_sent",
        "reports_failed",
        "by_status",
    ):
        assert name in stats


def test_sandbox_endpoints_are_not_counted(sandbox):
    sandbox.stats()
    sandbox.ledger()
    assert sandbox.stats()["requests"] == 0


def test_config_hides_key(sandbox):
    config = httpx.get(sandbox.base_url + "/_sandbox/config").json()
    assert config["api_key"] == "<set>"
    assert config["seed"] == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"no_such_setting": 1},
        {"rate_limit": "fast"},
        {"rate_limit": True},
        {"outcome_mix": {"SENT": 1}},
        {"outcome_mix": {"DELIVERED": 0}},
        {"faults": {"drop_rate": 2}},
        {"faults": {"no_such_fault": 1}},
        {"faults": {"scope": "everything"}},
        {"report_delay_min": 2, "report_delay_max": 1},
        {"balance": "lots"},
    ],
)
def test_config_rejects_bad_settings(sandbox, settings):
    response = httpx.post(sandbox.base_url + "/_sandbox/config", json=settings)
    assert response.status_code == 400
    assert httpx.get(sandbox.base_url + "/_sandbox/config").json()["rate_limit"] == 150


def test_config_lone_surrogate_400(sandbox):
    body = b'{"contact_lists": {"friends": ["+3579900\\udc00"]}}'

    response = httpx.post(sandbox.base_url + "/_sandbox/config", content=body)

    assert response.status_code == 400
    assert "contact_lists.friends[0]" in response.json()["message"]
    assert "friends" not in httpx.get(sandbox.base_url + "/_sandbox/config").json()["contact_lists"]


def test_reset_restores_startup_state(sandbox):
    sandbox.configure(rate_limit=5, balance="3")
    post(sandbox, "/sms/send", {"message": "Hi", "to": PHONE})
    sandbox.reset()
    stats = sandbox.stats()
    assert stats["balance"] == "10000"
    assert stats["messages"] == 0
    assert httpx.get(sandbox.base_url + "/_sandbox/config").json()["rate_limit"] == 150
