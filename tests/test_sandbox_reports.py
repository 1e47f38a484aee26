"""Delivery reports from the sandbox to a receiver on loopback: content, matching ids, signature,
retries, duplicates, order and concurrency."""

import hashlib
import hmac
import threading
import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.sandbox_server import report_receiver, run_sandbox, sandbox_fixtures

sandbox_process, sandbox = sandbox_fixtures()

AUTH = {"Authorization": "Bearer sandbox"}
PHONE = "+35799000001"
FINAL = {"DELIVERED", "FAILED", "UNDELIVERED", "EXPIRED", "REJECTED", "UNSUBSCRIBED"}


@pytest.fixture
def receiver():
    with report_receiver() as receiver:
        yield receiver


def send(sandbox, body: dict) -> dict:
    response = httpx.post(sandbox.base_url + "/sms/send", json=body, headers=AUTH)
    response.raise_for_status()
    return response.json()


def test_single_report_fields(sandbox, receiver):
    sandbox.configure(outcome_mix={"DELIVERED": 1})
    message_id = send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})[
        "message_id"
    ]
    sent, delivered = receiver.wait_for(2)
    assert sent.fields == {
        "trackingId": message_id,
        "messageId": message_id,
        "phone": PHONE,
        "status": "SENT",
        "parts": "1",
        "price": "0.035",
    }
    assert delivered.fields["status"] == "DELIVERED"


def test_report_is_form_encoded(sandbox, receiver):
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    report = receiver.wait_for(1)[0]
    assert report.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"phone=%2B35799000001" in report.body


def test_bulk_report_ids(sandbox, receiver):
    phones = [PHONE, "+35799000002", "+35799000003"]
    campaign_id = send(sandbox, {"message": "Hi", "to": phones, "callback_url": receiver.url})[
        "campaign_id"
    ]
    reports = receiver.wait_for(6)
    ledger_ids = {entry["phone"]: entry["message_id"] for entry in sandbox.ledger()}
    assert {report.fields["trackingId"] for report in reports} == {campaign_id}
    assert {report.fields["messageId"] for report in reports} == set(ledger_ids.values())
    assert campaign_id not in ledger_ids.values()
    for report in reports:
        assert report.fields["messageId"] == ledger_ids[report.fields["phone"]]


def test_personalised_reports_carry_each_parts(sandbox, receiver):
    messages = [{"message": "Hi", "to": PHONE}, {"message": "x" * 170, "to": "+35799000002"}]
    send(sandbox, {"messages": messages, "callback_url": receiver.url})
    reports = receiver.wait_for(4)
    parts = {report.fields["phone"]: report.fields["parts"] for report in reports}
    assert parts == {PHONE: "1", "+35799000002": "2"}


def test_sent_comes_before_final(sandbox, receiver):
    send(
        sandbox,
        {
            "message": "Hi",
            "to": [f"+3579900000{i}" for i in range(6)],
            "callback_url": receiver.url,
        },
    )
    reports = receiver.wait_for(12)
    seen_sent: set[str] = set()
    for report in reports:
        if report.fields["status"] == "SENT":
            seen_sent.add(report.fields["messageId"])
        else:
            assert report.fields["messageId"] in seen_sent


def test_invalid_number_gets_one_rejected_report(sandbox, receiver):
    send(sandbox, {"message": "Hi", "to": "+3571", "callback_url": receiver.url})
    sandbox.wait_until_settled()
    reports = receiver.reports
    assert [report.fields["status"] for report in reports] == ["REJECTED"]
    assert reports[0].fields["price"] == "0"
    assert reports[0].fields["phone"] == "+3571"


def test_ledger_status_is_last_reported(sandbox, receiver):
    sandbox.configure(outcome_mix={"EXPIRED": 1})
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    sandbox.wait_until_settled()
    assert sandbox.ledger()[0]["status"] == receiver.reports[-1].fields["status"] == "EXPIRED"


def test_default_callback_url_is_used(sandbox, receiver):
    sandbox.configure(default_callback_url=receiver.url)
    send(sandbox, {"message": "Hi", "to": PHONE})
    assert len(receiver.wait_for(2)) == 2


def test_no_callback_url_sends_nothing(sandbox, receiver):
    send(sandbox, {"message": "Hi", "to": PHONE})
    stats = sandbox.wait_until_settled()
    assert receiver.reports == []
    assert stats["report_attempts"] == 0
    assert sandbox.ledger()[0]["status"] in FINAL


def test_reports_disabled_still_settles_statuses(sandbox, receiver):
    sandbox.configure(reports_enabled=False)
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    sandbox.wait_until_settled()
    assert receiver.reports == []
    assert sandbox.ledger()[0]["status"] in FINAL


def test_signature_verifies(sandbox, receiver):
    sandbox.configure(webhook_secret="s3cret")
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    report = receiver.wait_for(1)[0]
    stamp, signature = (
        part.split("=", 1)[1] for part in report.headers["x-smsto-signature"].split(",")
    )
    expected = hmac.new(b"s3cret", report.body + b"." + stamp.encode(), hashlib.sha256).hexdigest()
    assert signature == expected
    assert abs(int(stamp) - time.time()) < 60


def test_no_secret_means_no_signature(sandbox, receiver):
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    assert "x-smsto-signature" not in receiver.wait_for(1)[0].headers


def test_report_failing_500_is_retried(sandbox, receiver):
    receiver.responses = [(500, 0.0)]
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    stats = sandbox.wait_until_settled()
    statuses = [report.fields["status"] for report in receiver.reports]
    assert statuses.count("SENT") == 2
    assert stats["reports_retried"] == 1
    assert stats["reports_sent"] == 2
    assert stats["reports_failed"] == 0


def test_retry_waits_for_schedule(sandbox, receiver):
    receiver.responses = [(503, 0.0)]
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    receiver.wait_for(3)
    first, retried = (report for report in receiver.reports if report.fields["status"] == "SENT")
    assert retried.received_at - first.received_at >= 0.2


def test_slow_receiver_is_retried(sandbox, receiver):
    sandbox.configure(report_timeout=0.3)
    receiver.responses = [(200, 0.6)]
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    stats = sandbox.wait_until_settled()
    assert [report.fields["status"] for report in receiver.reports].count("SENT") == 2
    assert stats["reports_retried"] == 1


def test_report_dropped_after_last_retry(sandbox, receiver):
    receiver.default_response = (500, 0.0)
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    stats = sandbox.wait_until_settled()
    assert len(receiver.reports) == 2 * 3
    assert stats["reports_failed"] == 2
    assert stats["reports_sent"] == 0
    assert stats["report_attempts"] == 6


def test_unreachable_receiver_is_dropped_after_retries(sandbox):
    sandbox.configure(retry_schedule=[0.05])
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": "http://127.0.0.1:9/none"})
    stats = sandbox.wait_until_settled()
    assert stats["reports_failed"] == 2
    assert stats["report_attempts"] == 4


def test_duplicates_send_reports_twice(sandbox, receiver):
    sandbox.configure(duplicate_fraction=1.0)
    send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})
    stats = sandbox.wait_until_settled()
    statuses = sorted(report.fields["status"] for report in receiver.reports)
    assert statuses.count("SENT") == 2
    assert len(statuses) == 4
    assert stats["reports_duplicated"] == 2


def test_shuffle_lets_final_come_first(sandbox, receiver):
    sandbox.configure(shuffle_reports=True, outcome_mix={"DELIVERED": 1})
    phones = [f"+357990000{i:02d}" for i in range(20)]
    send(sandbox, {"message": "Hi", "to": phones, "callback_url": receiver.url})
    sandbox.wait_until_settled()
    first_status: dict[str, str] = {}
    for report in receiver.reports:
        first_status.setdefault(report.fields["phone"], report.fields["status"])
    assert len(receiver.reports) == 40
    assert "DELIVERED" in first_status.values()
    assert {entry["status"] for entry in sandbox.ledger()} == {"DELIVERED"}


def test_pending_counts_until_reports_done(sandbox, receiver):
    receiver.default_response = (200, 0.3)
    send(sandbox, {"message": "Hi", "to": [PHONE, "+35799000002"], "callback_url": receiver.url})
    during = sandbox.stats()["reports_pending"]
    after = sandbox.wait_until_settled()["reports_pending"]
    assert during == 4
    assert after == 0


def test_report_concurrency_is_bounded(receiver):
    active = 0
    max_active = 0
    lock = threading.Lock()
    original = receiver.next_response

    def counting_response():
        nonlocal active, max_active
        with lock:
            active += 1
            max_active = max(max_active, active)
        time.sleep(0.1)
        with lock:
            active -= 1
        return original()

    receiver.next_response = counting_response
    with run_sandbox(
        seed=1, report_concurrency=2, report_delay_min=0, report_delay_max=0.01
    ) as server:
        send(
            server,
            {
                "message": "Hi",
                "to": [f"+3579900000{i}" for i in range(6)],
                "callback_url": receiver.url,
            },
        )
        server.wait_until_settled()
    assert len(receiver.reports) == 12
    assert max_active == 2


def test_form_body_matches_urlencode(sandbox, receiver):
    message_id = send(sandbox, {"message": "Hi", "to": PHONE, "callback_url": receiver.url})[
        "message_id"
    ]
    report = receiver.wait_for(1)[0]
    expected = urlencode(
        [
            ("trackingId", message_id),
            ("messageId", message_id),
            ("phone", PHONE),
            ("status", "SENT"),
            ("parts", "1"),
            ("price", report.fields["price"]),
        ]
    ).encode()
    assert report.body == expected
