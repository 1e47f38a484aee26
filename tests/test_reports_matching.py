"""Matching and applying reports: by message id or (campaign id, phone), in any order, once."""

import itertools
import json
from decimal import Decimal

import pytest

from core.db import session_scope
from core.reports.health import callback_health
from core.reports.matching import (
    NO_RECIPIENT_YET,
    PHONE_MISSING,
    PHONE_NOT_IN_CAMPAIGN,
    rematch_for_provider_ids,
    sweep_unmatched,
)
from core.reports.unmatched import count_unmatched, list_unmatched
from tests.conftest import load_case
from tests.reports_fixtures import (
    all_reports,
    form_body,
    json_body,
    make_campaign,
    recipient_by_phone,
    store_and_match,
)

OUT_OF_ORDER = load_case("dlr_out_of_order.json")
OUT_OF_ORDER_EXPECTED = load_case("dlr_out_of_order.expected.json")
SEED = load_case("seed_reports.json")


def test_out_of_order_every_permutation_same_result(engine):
    events = [event["body"] for event in OUT_OF_ORDER["events"]]
    phones = OUT_OF_ORDER["setup"]["recipients"]
    campaigns = {}
    bodies = []
    # One campaign per permutation, each with its own campaign id, all matched in one run.
    for number, order in enumerate(itertools.permutations(events)):
        tracking_id = f"cmp-test-0018-{number}"
        campaigns[number] = make_campaign(
            engine, phones=phones, provider_campaign_id=tracking_id, status="QUEUED", name=tracking_id
        )
        bodies += [json_body({**event, "trackingId": tracking_id}) for event in order]
    store_and_match(engine, bodies)

    expected = {row["phone"]: row for row in OUT_OF_ORDER_EXPECTED["final_rows"]}
    outcomes = set()
    for number, campaign in campaigns.items():
        rows = recipient_by_phone(engine, campaign.id)
        outcomes.add(tuple((p, r.status, r.parts, r.price) for p, r in sorted(rows.items())))
    assert len(campaigns) == 720
    assert outcomes == {
        tuple((p, e["status"], e["parts"], Decimal(str(e["price"]))) for p, e in sorted(expected.items()))
    }


def test_out_of_order_campaign_cost(engine):
    campaign = make_campaign(
        engine, phones=OUT_OF_ORDER["setup"]["recipients"], provider_campaign_id="cmp-test-0018",
        status="QUEUED",
    )
    store_and_match(engine, [json_body(event["body"]) for event in OUT_OF_ORDER["events"]])

    rows = recipient_by_phone(engine, campaign.id)
    assert sum(r.price for r in rows.values()) == Decimal(OUT_OF_ORDER_EXPECTED["campaign_cost"])


def test_out_of_order_reports_are_counted(engine):
    make_campaign(engine, phones=OUT_OF_ORDER["setup"]["recipients"], provider_campaign_id="cmp-test-0018")
    store_and_match(engine, [json_body(event["body"]) for event in OUT_OF_ORDER["events"]])

    with session_scope(engine) as session:
        health = callback_health(session)
    assert health.out_of_order == 2  # the two late SENT reports
    assert health.matched == 6


@pytest.mark.parametrize("encode", [json_body, form_body], ids=["json", "form"])
def test_seed_single_send_matched_by_message_id(engine, encode):
    single = SEED["single"]
    phone = single["report"]["phone"]
    campaign = make_campaign(engine, phones=[phone], message_ids={phone: single["send_response"]["message_id"]})
    store_and_match(engine, [encode(single["report"])])

    recipient = recipient_by_phone(engine, campaign.id)[phone]
    assert recipient.status == "FAILED"
    assert recipient.price == Decimal("0.015")
    assert recipient.report_count == 1


@pytest.mark.parametrize("encode", [json_body, form_body], ids=["json", "form"])
def test_seed_bulk_send_matched_by_campaign_and_phone(engine, encode):
    bulk = SEED["bulk"]
    phone = bulk["report"]["phone"]
    campaign = make_campaign(
        engine, phones=[phone, "+35799123457"], provider_campaign_id=bulk["send_response"]["campaign_id"]
    )
    store_and_match(engine, [encode(bulk["report"])])

    rows = recipient_by_phone(engine, campaign.id)
    assert rows[phone].status == "DELIVERED"
    assert rows[phone].parts == 1
    assert rows["+35799123457"].status == "PENDING"


def test_duplicate_changes_nothing(engine):
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")
    report = {"trackingId": "C1", "messageId": "m", "phone": "+35799000001", "status": "DELIVERED",
              "parts": 1, "price": "0.015"}
    store_and_match(engine, [json_body(report)])
    before = recipient_by_phone(engine, campaign.id)["+35799000001"]
    store_and_match(engine, [json_body(report), form_body(report)])
    after = recipient_by_phone(engine, campaign.id)["+35799000001"]

    assert after.model_dump() == before.model_dump()
    assert [r.duplicate for r in all_reports(engine)] == [False, True, True]


def test_duplicate_within_one_batch_marked_once(engine):
    make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")
    report = {"trackingId": "C1", "phone": "+35799000001", "status": "SENT", "price": 0.02}
    store_and_match(engine, [json_body(report)] * 3)

    assert [r.duplicate for r in all_reports(engine)] == [False, True, True]


PRICE_CASES = [
    ("sent_then_delivered", [("SENT", 1, "0.015"), ("DELIVERED", 1, "0.015")], "DELIVERED", "0.015", 1),
    ("delivered_unpriced_uses_sent", [("SENT", 1, "0.02"), ("DELIVERED", None, None)], "DELIVERED", "0.02", 1),
    ("never_a_sum", [("SENT", 1, "0.015"), ("DELIVERED", 1, "0.015"), ("DELIVERED", 1, "0.015")],
     "DELIVERED", "0.015", 1),
    ("higher_status_price_wins", [("DELIVERED", 2, "0.03"), ("SENT", 1, "0.015")], "DELIVERED", "0.03", 2),
    ("same_status_tie_larger_price", [("DELIVERED", 1, "0.015"), ("DELIVERED", 1, "0.016")],
     "DELIVERED", "0.016", 1),
    ("rejected_not_billed", [("SENT", 1, "0.015"), ("REJECTED", 1, "0.015")], "REJECTED", "0", 1),
    ("unsubscribed_not_billed", [("UNSUBSCRIBED", 1, "0.015")], "UNSUBSCRIBED", "0", 1),
    ("delivered_beats_rejected", [("REJECTED", 1, "0.015"), ("DELIVERED", 1, "0.015")],
     "DELIVERED", "0.015", 1),
    ("no_price_is_unknown", [("DELIVERED", 1, None)], "DELIVERED", None, 1),
    ("zero_price_is_zero", [("DELIVERED", 1, "0")], "DELIVERED", "0", 1),
    ("unknown_status_kept", [("CARRIER_HOLD", 1, "0.015")], "CARRIER_HOLD", "0.015", 1),
    ("unknown_status_below_sent", [("SENT", 1, "0.015"), ("CARRIER_HOLD", 1, "0.015")], "SENT", "0.015", 1),
    ("expired_then_delivered", [("EXPIRED", 1, "0.015"), ("DELIVERED", 1, "0.015")], "DELIVERED", "0.015", 1),
]


@pytest.mark.parametrize(("case", "reports", "status", "price", "parts"), PRICE_CASES,
                         ids=[row[0] for row in PRICE_CASES])
def test_recipient_state_in_every_order(engine, case, reports, status, price, parts):
    orders = list(itertools.permutations(reports))
    campaigns = []
    bodies = []
    for number, order in enumerate(orders):
        campaigns.append(make_campaign(engine, phones=["+35799000001"], provider_campaign_id=f"C{number}",
                                       name=f"c{number}"))
        for report_status, report_parts, report_price in order:
            bodies.append(json_body({"trackingId": f"C{number}", "phone": "+35799000001",
                                     "status": report_status, "parts": report_parts, "price": report_price}))
    store_and_match(engine, bodies)

    for campaign in campaigns:
        recipient = recipient_by_phone(engine, campaign.id)["+35799000001"]
        assert recipient.status == status
        assert recipient.price == (None if price is None else Decimal(price))
        assert recipient.parts == parts


def test_report_before_send_response_waits_then_matches(engine):
    report = {"trackingId": "C-late", "messageId": "x", "phone": "+35799000001", "status": "DELIVERED",
              "parts": 1, "price": 0.015}
    store_and_match(engine, [json_body(report)])
    [waiting] = all_reports(engine)
    assert waiting.matched is False
    assert waiting.unmatched_reason == NO_RECIPIENT_YET

    campaign = make_campaign(engine, phones=["+35799000001"])
    with session_scope(engine) as session:
        # What the dispatcher does: record the campaign id, then rematch in the same transaction.
        from core.models import Recipient
        recipient = session.get(Recipient, campaign.recipient_ids["+35799000001"])
        recipient.provider_campaign_id = "C-late"
        session.flush()
        matched = rematch_for_provider_ids(session, ids=["C-late"])

    assert matched == 1
    assert recipient_by_phone(engine, campaign.id)["+35799000001"].status == "DELIVERED"
    with session_scope(engine) as session:
        assert callback_health(session).unmatched == 0


def test_rematch_single_send_by_message_id(engine):
    store_and_match(engine, [json_body({"trackingId": "m-1", "messageId": "m-1", "status": "SENT"})])
    campaign = make_campaign(engine, phones=["+35799000001"], message_ids={"+35799000001": "m-1"})

    with session_scope(engine) as session:
        assert rematch_for_provider_ids(session, ids=["m-1", "unrelated"]) == 1
    assert recipient_by_phone(engine, campaign.id)["+35799000001"].status == "SENT"


def test_rematch_twice_counts_once(engine):
    store_and_match(engine, [json_body({"trackingId": "m-1", "messageId": "m-1", "status": "SENT"})])
    make_campaign(engine, phones=["+35799000001"], message_ids={"+35799000001": "m-1"})

    with session_scope(engine) as session:
        first = rematch_for_provider_ids(session, ids=["m-1"])
    with session_scope(engine) as session:
        second = rematch_for_provider_ids(session, ids=["m-1"])
    assert (first, second) == (1, 0)


def test_sweep_matches_waiting_reports(engine):
    store_and_match(engine, [json_body({"trackingId": "C9", "phone": "+35799000001", "status": "SENT"})])
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C9")

    with session_scope(engine) as session:
        assert sweep_unmatched(session) == 1
    assert recipient_by_phone(engine, campaign.id)["+35799000001"].status == "SENT"


def test_unmatched_filed_under_campaign(engine):
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")
    store_and_match(engine, [
        json_body({"trackingId": "C1", "phone": "+35799000999", "status": "DELIVERED"}),
        json_body({"trackingId": "C1", "messageId": "z", "status": "DELIVERED"}),
        json_body({"trackingId": "unknown", "phone": "+35799000001", "status": "DELIVERED"}),
    ])

    with session_scope(engine) as session:
        in_campaign = list_unmatched(session, campaign_id=campaign.id)
        overall = count_unmatched(session)
    assert sorted(r.reason for r in in_campaign) == sorted([PHONE_NOT_IN_CAMPAIGN, PHONE_MISSING])
    assert overall == {PHONE_NOT_IN_CAMPAIGN: 1, PHONE_MISSING: 1, NO_RECIPIENT_YET: 1}


def test_sweep_skips_phone_not_in_campaign(engine):
    make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")
    store_and_match(engine, [json_body({"trackingId": "C1", "phone": "+35799000999", "status": "SENT"})])

    with session_scope(engine) as session:
        assert sweep_unmatched(session) == 0


def test_status_floor_set_by_dispatcher_is_kept(engine):
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1", status="SENT")
    store_and_match(engine, [json_body({"trackingId": "C1", "phone": "+35799000001", "status": "QUEUED"})])

    recipient = recipient_by_phone(engine, campaign.id)["+35799000001"]
    assert recipient.status == "SENT"
    assert all_reports(engine)[0].out_of_order is True


def test_pending_recipient_takes_queued(engine):
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")
    store_and_match(engine, [json_body({"trackingId": "C1", "phone": "+35799000001", "status": "QUEUED"})])

    assert recipient_by_phone(engine, campaign.id)["+35799000001"].status == "QUEUED"


def test_report_times_recorded(engine):
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")
    store_and_match(engine, [json_body({"trackingId": "C1", "phone": "+35799000001", "status": "SENT"})])
    store_and_match(engine, [json_body({"trackingId": "C1", "phone": "+35799000001", "status": "DELIVERED"})])

    recipient = recipient_by_phone(engine, campaign.id)["+35799000001"]
    assert recipient.first_report_at < recipient.last_report_at
    assert recipient.report_count == 2


def test_array_body_parsed_into_each_report(engine):
    campaign = make_campaign(engine, phones=["+35799000001", "+35799000002"], provider_campaign_id="C1")
    body = json.dumps([
        {"trackingId": "C1", "phone": "+35799000001", "status": "DELIVERED"},
        {"trackingId": "C1", "phone": "+35799000002", "status": "FAILED"},
    ]).encode()
    store_and_match(engine, [("application/json", body)])

    rows = recipient_by_phone(engine, campaign.id)
    assert (rows["+35799000001"].status, rows["+35799000002"].status) == ("DELIVERED", "FAILED")
    assert len({r.inbound_id for r in all_reports(engine)}) == 1
