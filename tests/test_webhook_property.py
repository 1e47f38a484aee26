"""Property: whatever bodies, headers and order arrive, the server never responds with a 5xx,
never writes part of a body's reports, and ends in the state computed from the accepted reports
in order."""

import json
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.reports.matcher import drain_pending
from core.reports.parse import ReportParseError, normalise_report_phone, parse_report_body
from core.reports.signature import sign_body
from core.settings import Settings
from core.statuses import is_billable, precedence_key
from tests.reports_fixtures import all_inbound, all_reports, make_campaign, recipient_by_phone
from webhook_server import create_app

SECRET = "property-secret"
BULK_ID = "CP-1"
SINGLE_ID = "MS-1"
BULK_PHONES = ["+35799000301", "+35799000302", "+35799000303"]
SINGLE_PHONE = "+35799000400"
STATUSES = ["QUEUED", "SENT", "sent", "Delivered", "DELIVERED", "FAILED", "EXPIRED", "REJECTED",
            "UNSUBSCRIBED", "undelivered", "CARRIER_HOLD"]


@dataclass
class Event:
    body: bytes
    content_type: str
    auth: str  # token, signature, bad_signature, none


def phone_spelling(phone: str):
    return st.sampled_from([phone, phone[1:], " " + phone[1:], "00" + phone[1:]])


report_fields = st.fixed_dictionaries({
    "trackingId": st.sampled_from([BULK_ID, SINGLE_ID, "unknown-campaign"]),
    "phone": st.sampled_from(BULK_PHONES + [SINGLE_PHONE, "+35799000999"]).flatmap(phone_spelling),
    "status": st.sampled_from(STATUSES),
    "parts": st.one_of(st.none(), st.integers(0, 3), st.integers(0, 3).map(str)),
    "price": st.one_of(st.none(), st.sampled_from(["0.015", "0.02", "0"]),
                       st.sampled_from([0.015, 0.02, 0])),
})


def encode(reports: list[dict], shape: str) -> tuple[bytes, str]:
    if shape == "form":
        fields = {k: v for k, v in reports[0].items() if v is not None}
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    body = reports if shape == "array" or len(reports) > 1 else reports[0]
    return json.dumps(body).encode(), "text/plain" if shape == "json_text" else "application/json"


valid_event = st.builds(
    lambda reports, shape, auth: Event(*encode(reports, shape), auth),
    st.lists(report_fields, min_size=1, max_size=3),
    st.sampled_from(["form", "json", "json_text", "array"]),
    st.sampled_from(["token", "signature", "token", "bad_signature", "none"]),
)
garbage_event = st.builds(
    Event,
    st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode),
              st.just(b'{"trackingId": "CP-1"}'), st.just(b"[]"), st.just(b"status=SENT")),
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]),
    st.sampled_from(["token", "signature"]),
)


def send(client, event: Event):
    headers = {"content-type": event.content_type} if event.content_type else {}
    url = "/webhooks/smsto"
    if event.auth == "token":
        url += f"?token={SECRET}"
    elif event.auth == "signature":
        headers["X-SMSTo-Signature"] = sign_body(SECRET, event.body, int(time.time()))
    elif event.auth == "bad_signature":
        headers["X-SMSTo-Signature"] = sign_body("wrong", event.body, int(time.time()))
    return client.post(url, content=event.body, headers=headers)


def recipient_of(report) -> str | None:
    if report.message_id == SINGLE_ID or report.tracking_id == SINGLE_ID:
        return SINGLE_PHONE
    if report.tracking_id == BULK_ID and report.phone in BULK_PHONES:
        return report.phone
    return None


def expected_state(reports) -> tuple:
    """Fold the reports of one recipient in arrival order, the way the spec states the rules."""
    seen, status, best_price, best_parts = set(), None, None, None
    for report in reports:
        key = (report.status, report.parts, report.price)
        if key in seen:
            continue
        seen.add(key)
        if status is None or precedence_key(report.status) > precedence_key(status):
            status = report.status
        if report.price is not None and is_billable(report.status):
            rank = (precedence_key(report.status), report.price, -1 if report.parts is None else report.parts)
            best_price = max(best_price or (rank, report.price), (rank, report.price))
        if report.parts is not None:
            rank = (precedence_key(report.status), report.parts)
            best_parts = max(best_parts or rank, rank)
    if status is None:
        return ("PENDING", None, None, 0)
    if not is_billable(status):
        price = Decimal(0)
    elif best_price is not None:
        price = best_price[1]
    else:
        price = None
    return (status, best_parts[1] if best_parts else None, price, len(seen))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(valid_event, valid_event, garbage_event), min_size=1, max_size=12))
def test_webhook_any_input_ends_in_reference_state(events):
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(database_url=f"sqlite:///{Path(folder) / 'p.db'}", webhook_secret=SECRET))
        with TestClient(app) as client:
            engine = client.app.state.engine
            bulk = make_campaign(engine, phones=BULK_PHONES, provider_campaign_id=BULK_ID, name="bulk")
            single = make_campaign(engine, phones=[SINGLE_PHONE], message_ids={SINGLE_PHONE: SINGLE_ID},
                                   name="single")
            responses = [send(client, event) for event in events]
            drain_pending(engine)

            inbound = all_inbound(engine)
            reports = all_reports(engine)
            rows = {**recipient_by_phone(engine, bulk.id), **recipient_by_phone(engine, single.id)}

    assert all(response.status_code < 500 for response in responses)
    assert len(inbound) == len(events)

    accepted_reports = []
    for event, response, stored in zip(events, responses, inbound, strict=True):
        written = [r for r in reports if r.inbound_id == stored.id]
        if event.auth in ("none", "bad_signature"):
            assert response.status_code == 401
        if response.status_code != 200:
            assert response.json()["error"]["code"]
            assert written == []  # a rejected body never yields a report
            continue
        parsed = parse_report_body(event.body, event.content_type)
        assert len(written) == len(parsed)  # never part of a body
        accepted_reports += parsed

    for phone, row in rows.items():
        mine = [r for r in accepted_reports if recipient_of(r) == phone]
        assert (row.status, row.parts, row.price, row.report_count) == expected_state(mine)


@given(st.binary(max_size=200), st.sampled_from(["application/json", "text/plain", ""]))
@settings(max_examples=200, deadline=None)
def test_parse_never_raises_other_errors(body, content_type):
    try:
        parse_report_body(body, content_type)
    except ReportParseError:
        pass


def test_normalised_phone_spellings_agree():
    assert {normalise_report_phone(p) for p in ["+35799000301", "35799000301", " 35799000301"]} == {
        "+35799000301"}
