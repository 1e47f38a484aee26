"""Fault injection over real HTTP: each fault, whether it applies the send, and its scope."""

import time

import httpx
import pytest

from tests.sandbox_server import run_sandbox, sandbox_fixtures

sandbox_process, sandbox = sandbox_fixtures()

AUTH = {"Authorization": "Bearer sandbox"}
SEND = {"message": "Hi", "to": "+35799000001"}


def send(sandbox, timeout: float = 5.0) -> httpx.Response:
    return httpx.post(sandbox.base_url + "/sms/send", json=SEND, headers=AUTH, timeout=timeout)


def test_429_fault_is_not_applied(sandbox):
    sandbox.configure(faults={"rate_limit_rate": 1.0})
    response = send(sandbox)
    stats = sandbox.stats()
    assert response.status_code == 429
    assert response.json()["success"] is False
    assert sandbox.ledger() == []
    assert stats["faults"]["rate_limit"] == 1
    assert stats["rate_limited"] == 1


def test_429_burst_hits_next_requests_only(sandbox):
    sandbox.configure(faults={"rate_limit_burst": 3})
    statuses = [send(sandbox).status_code for _ in range(5)]
    assert statuses == [429, 429, 429, 200, 200]


def test_429_burst_from_command_line():
    with run_sandbox(seed=1, fault_429_burst=2) as server:
        statuses = [send(server).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


def test_partial_rate_hits_some_requests(sandbox):
    sandbox.configure(faults={"rate_limit_rate": 0.5})
    statuses = [send(sandbox).status_code for _ in range(40)]
    assert 5 <= statuses.count(429) <= 35
    assert len(sandbox.ledger()) == statuses.count(200)


@pytest.mark.parametrize("code", [500, 502, 503])
def test_5xx_fault_answers_code_without_applying(sandbox, code):
    sandbox.configure(faults={"server_error_rate": 1.0, "server_error_codes": [code]})
    response = send(sandbox)
    assert response.status_code == code
    assert response.json()["success"] is False
    assert sandbox.ledger() == []


def test_applied_5xx_fault_records_the_send(sandbox):
    sandbox.configure(
        faults={"server_error_rate": 1.0, "server_error_codes": [500], "server_error_applied": True}
    )
    assert send(sandbox).status_code == 500
    assert len(sandbox.ledger()) == 1


def test_slow_fault_delays_a_normal_answer(sandbox):
    sandbox.configure(faults={"slow_rate": 1.0, "slow_seconds": 0.3})
    started = time.monotonic()
    response = send(sandbox)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    assert len(sandbox.ledger()) == 1


def test_timeout_fault_applies_then_answers_late(sandbox):
    sandbox.configure(faults={"timeout_rate": 1.0, "timeout_seconds": 0.8})
    with pytest.raises(httpx.ReadTimeout):
        send(sandbox, timeout=0.2)
    assert len(sandbox.ledger()) == 1
    assert sandbox.stats()["faults"]["timeout"] == 1


def test_timeout_fault_answer_arrives_for_a_patient_client(sandbox):
    sandbox.configure(faults={"timeout_rate": 1.0, "timeout_seconds": 0.3})
    assert send(sandbox, timeout=5).status_code == 200


def test_drop_fault_applies_and_closes_without_answer(sandbox):
    sandbox.configure(faults={"drop_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        send(sandbox)
    assert len(sandbox.ledger()) == 1
    assert sandbox.stats()["faults"]["drop"] == 1


def test_sandbox_keeps_serving_after_drop(sandbox):
    sandbox.configure(faults={"drop_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        send(sandbox)
    sandbox.configure(faults={"drop_rate": 0.0})
    assert send(sandbox).status_code == 200


@pytest.mark.parametrize(
    ("scope", "balance_status"),
    [("send", 200), ("all", 503)],
)
def test_fault_scope(sandbox, scope, balance_status):
    sandbox.configure(
        faults={"server_error_rate": 1.0, "server_error_codes": [503], "scope": scope}
    )
    balance = httpx.get(sandbox.base_url + "/api/balance", headers=AUTH)
    assert balance.status_code == balance_status
    assert send(sandbox).status_code == 503


def test_faults_never_hit_control_endpoints(sandbox):
    sandbox.configure(faults={"server_error_rate": 1.0, "scope": "all"})
    assert httpx.get(sandbox.base_url + "/_sandbox/stats").status_code == 200


def test_faults_switch_off_at_run_time(sandbox):
    sandbox.configure(faults={"server_error_rate": 1.0})
    assert send(sandbox).status_code >= 500
    sandbox.configure(faults={"server_error_rate": 0.0})
    assert send(sandbox).status_code == 200


def test_auth_is_checked_before_faults(sandbox):
    sandbox.configure(faults={"drop_rate": 1.0})
    response = httpx.post(
        sandbox.base_url + "/sms/send", json=SEND, headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
