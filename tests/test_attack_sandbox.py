"""Hostile requests to the sandbox SMS.to, run as a real process on loopback."""

import httpx
import pytest

from tests.sandbox_server import run_sandbox

HEADERS = {
    "Authorization": "Bearer sandbox",
    "Content-Type": "application/json",
    "Accept": "application/json",
}
LONE_SURROGATE_BODY = b'{"message":"caf\\ud800","to":"+35799000001"}'


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(seed=1, no_reports=True) as server:
        yield server


@pytest.mark.parametrize("path", ["/sms/send", "/sms/estimate"])
def test_sandbox_lone_surrogate_message_400(sandbox, path):
    response = httpx.post(sandbox.base_url + path, content=LONE_SURROGATE_BODY, headers=HEADERS)

    assert response.status_code == 400
    assert response.json()["success"] is False


SCHEDULE_CASES = [
    ("zone_path", {"timezone": "../../etc/passwd"}),
    ("zone_nul", {"timezone": "Europe/Nicosia\u0000"}),
    ("day_that_does_not_exist", {"scheduled_for": "2030-02-30 10:00:00"}),
    ("number_for_time", {"scheduled_for": 5}),
]


@pytest.mark.parametrize(
    "fields", [case[1] for case in SCHEDULE_CASES], ids=[case[0] for case in SCHEDULE_CASES]
)
def test_sandbox_invalid_schedule_400(sandbox, fields):
    body = {
        "message": "hi",
        "to": "+35799000001",
        "scheduled_for": "2030-01-01 10:00:00",
        "timezone": "UTC",
    }

    response = httpx.post(sandbox.base_url + "/sms/send", json=body | fields, headers=HEADERS)

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert sandbox.process.poll() is None
