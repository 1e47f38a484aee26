"""The sandbox's parts without a server: ids, fates, prices, report bodies, settings, CLI options."""

import hashlib
import hmac
import json
import random
import uuid
from decimal import Decimal

import pytest

from core.cli import build_parser
from core.sandbox.bodies import HttpError, parse_send_body
from core.sandbox.config import SandboxConfig, apply_update, parse_outcome_mix
from core.sandbox.fates import (
    calling_code_region,
    cumulative,
    decide_chunk,
    draw_fate,
    merge_fates,
    store_fates,
    validate_number,
    validate_numbers,
)
from core.sandbox.ledger import CODE, STATUSES, Batch, Ledger
from core.sandbox.processing import estimate_cost
from core.sandbox.reports import report_body, signature_header
from core.sandbox.state import RateLimiter
from tests.sandbox_server import sandbox_arguments


def _batch(size: int, id_base: int | None = None, kind: str = "campaign") -> Batch:
    return Batch(
        number=1, kind=kind, id_base=id_base or uuid.uuid4().int, tracking_id=None if kind == "single" else "c-1",
        phones=[f"+3579900{i:04d}" for i in range(size)], parts=[1] * size, text="Hi", created_at=0.0,
        start_at=0.0, callback_url=None, sender_id=None, bypass_optout=False, estimated_cost=Decimal(0),
    )  # fmt: skip


def test_message_ids_lead_back_to_batch_and_index():
    ledger = Ledger(balance=Decimal(0))
    batch = _batch(3000)
    ledger.add(batch)
    for index in (0, 1, 2, 1234, 2999):
        assert ledger.find_message(batch.message_id(index)) == (batch, index)


def test_message_ids_are_unique_version_4_uuids():
    batch = _batch(5000)
    ids = {batch.message_id(index) for index in range(batch.size)}
    assert len(ids) == 5000
    assert {uuid.UUID(value).version for value in ids} == {4}


def test_single_send_id_is_tracking_id():
    batch = _batch(1, kind="single")
    assert batch.tracking_id == batch.message_id(0)


@pytest.mark.parametrize("message_id", ["nonsense", str(uuid.uuid4()), ""])
def test_unknown_message_id_is_not_found(message_id):
    ledger = Ledger(balance=Decimal(0))
    ledger.add(_batch(2))
    assert ledger.find_message(message_id) is None


def test_index_beyond_batch_is_not_found():
    ledger = Ledger(balance=Decimal(0))
    small = _batch(2)
    ledger.add(small)
    assert ledger.find_message(_batch(10, id_base=small.id_base).message_id(5)) is None


def test_final_status_never_regresses():
    batch = _batch(1)
    batch.set_status(0, CODE["DELIVERED"])
    batch.set_status(0, CODE["SENT"])
    assert batch.status(0) == "DELIVERED"


@pytest.mark.parametrize(
    ("phone", "region"),
    [
        ("+35799000001", "CY"),
        ("+12025550123", "US"),
        ("+447400123456", "GB"),
        ("+30691", "GR"),
        ("0035799", "ZZ"),
        ("+999", "ZZ"),
        ("+", "ZZ"),
    ],
)
def test_calling_code_region(phone, region):
    assert calling_code_region(phone) == region


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+35799000001", (35799000001, "CY")),
        ("+357 99 000001", (35799000001, "CY")),
        ("+390612345678", (390612345678, "IT")),
        ("+3571", None),
        ("35799000001", None),
        ("hello", None),
    ],
)
def test_validate_number(phone, expected):
    assert validate_number(phone) == expected


def test_validate_numbers_matches_one_by_one():
    rng = random.Random(3)
    tricky = ["+35799000001", "+357 99-000001", "+99123456", "+44 (0)7400 123456", "+390612345678",
              "+3571", "35799000001", "0035799000001", "+1 202 555 0123", "+800 1234 5678", "+",
              "+35799000001x", "+૩૫૭99000001", " +306912345678 ", "+447400123456"]  # fmt: skip
    generated = [
        f"+{rng.choice(['3579', '447', '306', '1202', '49151', '33'])}{rng.randrange(10**8)}"
        for _ in range(500)
    ]
    numbers = tricky + generated
    assert validate_numbers(numbers) == [validate_number(number) for number in numbers]


def test_estimate_cost_uses_calling_code_prices():
    assert estimate_cost(["+35799000001", "+306912345678", "junk"], [2, 1, 1]) == Decimal(
        "0.07"
    ) + Decimal("0.042") + Decimal("0.09")


def test_fates_follow_the_mix():
    outcomes = cumulative({"FAILED": 0.3, "DELIVERED": 0.7})
    fates = [draw_fate(b"5", 35799000000 + i, outcomes) for i in range(5000)]
    assert 0.66 < fates.count("DELIVERED") / 5000 < 0.74


def test_fates_depend_on_key_and_number_only():
    outcomes = cumulative({"DELIVERED": 1, "FAILED": 1})
    numbers = [35799000000 + i for i in range(200)]
    fates = [draw_fate(b"5", n, outcomes) for n in numbers]
    assert fates == [draw_fate(b"5", n, outcomes) for n in reversed(numbers)][::-1]
    assert fates != [draw_fate(b"6", n, outcomes) for n in numbers]


def test_decide_chunk_rejects_invalid_and_bills_valid():
    phones = ["+35799000001", "+3571", "+306912345678", "+35799000002"]
    result = decide_chunk(phones, [2, 1, 1, 1], cumulative({"DELIVERED": 1}), b"k")
    assert [STATUSES[code] for code in result.fates] == [
        "DELIVERED",
        "REJECTED",
        "DELIVERED",
        "DELIVERED",
    ]
    assert result.invalid == [1]
    assert result.regions == ["CY", "", "GR", "CY"]
    assert result.billed_parts == {"CY": 3, "GR": 1}


def test_store_fates_splits_merged_chunks_and_applies_optouts():
    first, second = _batch(2), _batch(3)
    phones = first.raw_phones + ["+3571"] + second.raw_phones[1:]
    second.raw_phones[0] = "+3571"
    outcomes = cumulative({"DELIVERED": 1})
    decided = merge_fates(
        decide_chunk(phones[:3], [1] * 3, outcomes, b"k"),
        decide_chunk(phones[3:], [1] * 2, outcomes, b"k"),
        offset=3,
    )
    refund_first = store_fates(
        first, decided, 0, frozenset({"+35799000001"}), lambda region: Decimal("0.5")
    )
    refund_second = store_fates(second, decided, 2, frozenset(), lambda region: Decimal("0.5"))
    assert [first.phone(0), first.phone(1)] == ["+35799000000", "+35799000001"]
    assert [STATUSES[code] for code in first.fates] == ["DELIVERED", "UNSUBSCRIBED"]
    assert refund_first == Decimal("0.5")
    assert [second.phone(i) for i in range(3)] == ["+3571", "+35799000001", "+35799000002"]
    assert STATUSES[second.fates[0]] == "REJECTED"
    assert refund_second == 0


def test_signature_header_is_hmac_of_body_dot_time():
    body = b"trackingId=a&status=SENT"
    expected = hmac.new(b"key", body + b".1700000000", hashlib.sha256).hexdigest()
    assert signature_header("key", body, 1700000000) == f"t=1700000000,s={expected}"


def test_report_body_encodes_plus_and_strings():
    batch = _batch(1)
    body = report_body(batch, 0, CODE["REJECTED"]).decode()
    assert body.startswith("trackingId=c-1&messageId=")
    assert "&phone=%2B35799000000&status=REJECTED&parts=1&price=0" in body


def test_rate_limiter_slides():
    limiter = RateLimiter()
    allowed = [limiter.allow(2, now=t) for t in (0.0, 0.1, 0.2, 1.05, 1.15, 1.2)]
    assert allowed == [True, True, False, True, True, False]
    assert limiter.max_in_one_second == 4


@pytest.mark.parametrize(
    "text",
    ["", "DELIVERED", "DELIVERED=x", "SENT=1", "DELIVERED=0", "DELIVERED=-1"],
)
def test_parse_outcome_mix_rejects(text):
    with pytest.raises(ValueError):
        parse_outcome_mix(text)


def test_parse_outcome_mix_reads_weights():
    assert parse_outcome_mix("delivered=9, FAILED=1") == {"DELIVERED": 9.0, "FAILED": 1.0}


def test_apply_update_changes_nothing_when_invalid():
    config = SandboxConfig()
    with pytest.raises(ValueError):
        apply_update(config, {"rate_limit": 5, "duplicate_fraction": 3})
    assert config.rate_limit == 150


def test_apply_update_merges_faults():
    config = SandboxConfig()
    apply_update(config, {"faults": {"drop_rate": 1}, "retry_schedule": [1, 2]})
    assert config.faults.drop_rate == 1.0
    assert config.faults.scope == "send"
    assert config.retry_schedule == [1.0, 2.0]


def test_cli_options_build_config():
    from core.sandbox.cli import config_from_args

    args = build_parser().parse_args(
        ["sandbox", "--seed", "3", "--balance", "12.5", "--outcome-mix", "FAILED=1", "--no-reports",
         "--report-retry-schedule", "0.5,1", "--fault-5xx-rate", "0.2", "--fault-5xx-codes", "502",
         "--fault-scope", "all", "--duplicate-reports", "0.1", "--shuffle-reports"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.seed == 3
    assert config.starting_balance == Decimal("12.5")
    assert config.outcome_mix == {"FAILED": 1.0}
    assert config.reports_enabled is False
    assert config.retry_schedule == [0.5, 1.0]
    assert config.faults.server_error_rate == 0.2
    assert config.faults.server_error_codes == [502]
    assert config.faults.scope == "all"
    assert config.shuffle_reports is True


@pytest.mark.parametrize(
    "argv", [["--fault-drop-rate", "2"], ["--outcome-mix", "SENT=1"], ["--balance", "-1"]]
)
def test_cli_rejects_bad_options(argv):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sandbox", *argv])


def test_sandbox_arguments_from_keywords():
    arguments = sandbox_arguments(
        {
            "seed": 1,
            "no_reports": True,
            "shuffle_reports": False,
            "callback_url": None,
            "report_retry_schedule": [0.1, 0.2],
        }
    )
    assert arguments == ["--seed", "1", "--no-reports", "--report-retry-schedule", "0.1,0.2"]


# (case id, JSON body with a lone surrogate escape, field named in the 400 message)
LONE_SURROGATE_BODIES = [
    ("message", r'{"message": "caf\ud800", "to": "+35799000001"}', "The message field"),
    ("to", r'{"message": "hi", "to": "+3579900\udc00"}', "The to field"),
    ("to_list", r'{"message": "hi", "to": ["+35799000001", "\udfff"]}', "The to[1] field"),
    ("personalised", r'{"messages": [{"message": "\ud83d!", "to": "+35799000001"}]}', "messages[0].message"),
    ("sender_id", r'{"message": "hi", "to": "+35799000001", "sender_id": "A\ud800"}', "sender_id"),
    ("key", r'{"message": "hi", "to": "+35799000001", "x\ud800": 1}', "body key"),
]


@pytest.mark.parametrize(
    "body, field",
    [case[1:] for case in LONE_SURROGATE_BODIES],
    ids=[case[0] for case in LONE_SURROGATE_BODIES],
)
def test_parse_send_body_lone_surrogate_400(body, field):
    with pytest.raises(HttpError) as raised:
        parse_send_body(json.loads(body), {})

    assert raised.value.status_code == 400
    assert field in raised.value.message
    assert "surrogate" in raised.value.message


def test_parse_send_body_surrogate_pair_accepted():
    # A pair escaped in JSON parses to one astral character, which is valid text.
    send = parse_send_body(json.loads(r'{"message": "\ud83d\ude00", "to": "+35799000001"}'), {})

    assert send.text == "😀"
