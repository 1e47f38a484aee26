import itertools

import pytest

from core.statuses import (
    FINAL,
    awaiting_final_report,
    is_billable,
    normalise_status,
    precedence_key,
    rank,
)


@pytest.mark.parametrize("final", sorted(FINAL))
def test_rank_final_beats_sent(final):
    assert rank(final) > rank("SENT")


def test_rank_delivered_beats_expired():
    assert rank("DELIVERED") > rank("EXPIRED")


def test_rank_unknown_between_pending_and_sending():
    assert rank("PENDING") < rank("WEIRD") < rank("SENDING")


@pytest.mark.parametrize(("raw", "expected"), [("delivered", "DELIVERED"), (" Sent ", "SENT"), ("", "UNKNOWN")])
def test_normalise_status_cases(raw, expected):
    assert normalise_status(raw) == expected


def test_precedence_key_is_order_independent():
    statuses = ["SENT", "DELIVERED", "FOO", "EXPIRED", "BAR"]
    winners = {max(order, key=precedence_key) for order in itertools.permutations(statuses)}
    assert winners == {"DELIVERED"}


@pytest.mark.parametrize(("status", "billed"), [("REJECTED", False), ("UNSUBSCRIBED", False), ("DELIVERED", True), ("FAILED", True)])
def test_is_billable_cases(status, billed):
    assert is_billable(status) is billed


@pytest.mark.parametrize(("by_status", "awaiting"), [
    ({}, 0),
    ({"DELIVERED": 3, "FAILED": 1}, 0),
    ({"SENT": 2, "PENDING": 1, "DELIVERED": 4}, 3),
    ({"ENROUTE": 1, "WEIRD": 1}, 2),
    ({"SUPPRESSED": 1, "CANCELLED": 1, "NOT_SENT": 1, "UNCERTAIN": 1, "SENT": 1}, 1),
])
def test_awaiting_final_report_counts(by_status, awaiting):
    assert awaiting_final_report(by_status) == awaiting
