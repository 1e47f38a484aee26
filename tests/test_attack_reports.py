"""Hostile delivery-report bodies and headers sent to the companion server's webhook.

Most tests run the app in process with its real lifespan (ingest writer and matcher). The
transport tests run `smsto-console serve` as a real uvicorn process on loopback.
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient

from core.db import init_db, make_engine, session_scope
from core.reports.matcher import drain_pending
from core.reports.optout import is_suppressed
from core.reports.signature import sign_body
from core.settings import Settings
from tests.conftest import load_case
from tests.processes import ROOT, companion_server
from tests.reports_fixtures import all_reports, make_campaign, recipient_by_phone, store_bodies
from webhook_server import create_app

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
SECRET = "attack-secret"
PHONE = "+35799000001"
OTHER_PHONE = "+35799000002"
DELIVERED_BODY = (
    b"trackingId=C1&messageId=m1&phone=%2B35799000001&status=DELIVERED&parts=1&price=0.015"
)


def _app(tmp_path, secret: str | None = None):
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'webhook.db'}",
        webhook_secret=secret,
        dispatcher_enabled=False,
    )
    return create_app(settings)


@pytest.fixture
def server(tmp_path):
    with TestClient(_app(tmp_path)) as client:
        yield client


@pytest.fixture
def signed_server(tmp_path):
    with TestClient(_app(tmp_path, SECRET)) as client:
        yield client


def post(client, body: bytes, content_type: str = FORM, headers: dict | None = None):
    return client.post(
        "/webhooks/smsto", content=body, headers={"content-type": content_type, **(headers or {})}
    )


def wait_for_status(engine, campaign_id: int, phone: str, expected: str, timeout: float = 4.0):
    """Poll the recipient until the server's own matcher sets `expected`, and return the last status."""
    deadline = time.monotonic() + timeout
    status = recipient_by_phone(engine, campaign_id)[phone].status
    while status != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        status = recipient_by_phone(engine, campaign_id)[phone].status
    return status


# Defects: hostile bodies that block, lose or misread reports and opt-outs.


def test_matcher_lone_surrogate_spares_later_reports(server):
    engine = server.app.state.engine
    campaign = make_campaign(engine, phones=[PHONE], provider_campaign_id="C1", status="SENT")

    post(server, b'{"trackingId":"C9","phone":"+35799000009","status":"\\ud800"}', JSON)
    post(server, DELIVERED_BODY)

    assert wait_for_status(engine, campaign.id, PHONE, "DELIVERED") == "DELIVERED"


@pytest.mark.postgres
def test_matcher_nul_status_spares_later_reports_postgres(pg_engine):
    campaign = make_campaign(pg_engine, phones=[PHONE], provider_campaign_id="C1", status="SENT")
    store_bodies(
        pg_engine,
        [
            (FORM, b"trackingId=C9&messageId=m9&phone=%2B35799000009&status=DELIVERED%00"),
            (FORM, DELIVERED_BODY),
        ],
    )

    drain_pending(pg_engine)

    assert recipient_by_phone(pg_engine, campaign.id)[PHONE].status == "DELIVERED"


def test_webhook_json_duplicate_keys_rejected_like_form(server):
    body = b'{"trackingId":"C1","phone":"+35799000001","status":"DELIVERED","status":"FAILED"}'

    response = post(server, body, JSON)

    assert response.status_code == 400


def test_webhook_form_duplicate_keys_rejected(server):
    body = b"trackingId=C1&phone=%2B35799000001&status=DELIVERED&status=FAILED"

    response = post(server, body)

    assert response.status_code == 400


def test_webhook_price_ten_decimals_keeps_status(server):
    engine = server.app.state.engine
    campaign = make_campaign(engine, phones=[PHONE], provider_campaign_id="C1", status="SENT")
    body = b"trackingId=C1&messageId=m1&phone=%2B35799000001&status=DELIVERED&parts=1"

    post(server, body + b"&price=0.0150000001")
    drain_pending(engine)

    assert recipient_by_phone(engine, campaign.id)[PHONE].status == "DELIVERED"


@pytest.mark.parametrize("field", ["source", "timestamp"])
def test_optout_lone_surrogate_field_still_suppresses(server, field):
    body = b'{"unsubscribed_number":"+35799000001","' + field.encode() + b'":"\\udfff"}'

    post(server, body, JSON)

    with session_scope(server.app.state.engine) as session:
        assert is_suppressed(session, PHONE)


# Hostile bodies the server handles: each is rejected with a 4xx and changes no recipient.

HOSTILE_BODIES = [
    ("deep_json_array", b"[" * 5000 + b"]" * 5000, JSON, 400),
    ("deep_json_object", b'{"a":' * 3000 + b"1" + b"}" * 3000, JSON, 400),
    (
        "integer_of_5000_digits",
        b'{"trackingId":"C1","status":"SENT","parts":' + b"9" * 5000 + b"}",
        JSON,
        400,
    ),
    ("price_1e400", b'{"trackingId":"C1","status":"DELIVERED","price":1e400}', JSON, 422),
    ("parts_1e400", b'{"trackingId":"C1","status":"DELIVERED","parts":1e400}', JSON, 422),
    ("price_negative", b'{"trackingId":"C1","status":"DELIVERED","price":"-0.01"}', JSON, 422),
    ("parts_negative", b'{"trackingId":"C1","status":"DELIVERED","parts":-1}', JSON, 422),
    ("price_infinity", b'{"trackingId":"C1","status":"DELIVERED","price":Infinity}', JSON, 400),
    ("price_nan_text", b'{"trackingId":"C1","status":"DELIVERED","price":"NaN"}', JSON, 422),
    ("status_empty", b'{"trackingId":"C1","status":""}', JSON, 422),
    ("xml", b"<report><status>DELIVERED</status></report>", "application/xml", 400),
    ("utf16_json", '{"trackingId":"C1","status":"SENT"}'.encode("utf-16"), JSON, 400),
    ("tracking_id_object", b'{"trackingId":{"a":1},"status":"DELIVERED"}', JSON, 422),
]


@pytest.mark.parametrize(
    "body, content_type, status_code",
    [case[1:] for case in HOSTILE_BODIES],
    ids=[case[0] for case in HOSTILE_BODIES],
)
def test_webhook_hostile_body_rejected(server, body, content_type, status_code):
    engine = server.app.state.engine
    campaign = make_campaign(engine, phones=[PHONE], provider_campaign_id="C1", status="SENT")

    response = post(server, body, content_type)
    drain_pending(engine)

    assert response.status_code == status_code
    assert recipient_by_phone(engine, campaign.id)[PHONE].status == "SENT"


def test_webhook_unicode_status_kept_below_sent(server):
    # A full-width DELIVERED is an unknown status, so it is stored as received and never counts as final.
    engine = server.app.state.engine
    campaign = make_campaign(engine, phones=[PHONE], provider_campaign_id="C1", status="SENT")
    body = '{"trackingId":"C1","phone":"+35799000001","status":"ＤＥＬＩＶＥＲＥＤ"}'.encode()

    response = post(server, body, JSON)
    drain_pending(engine)

    assert response.status_code == 200
    assert [report.status for report in all_reports(engine)] == ["ＤＥＬＩＶＥＲＥＤ"]
    assert recipient_by_phone(engine, campaign.id)[PHONE].status == "SENT"


# Signature header spellings.


def _signature_parts(body: bytes) -> tuple[str, str]:
    timestamp = int(time.time())
    header = sign_body(SECRET, body, timestamp)
    return str(timestamp), header.split(",s=")[1]


SIGNATURE_SPELLINGS = [
    ("uppercase_hex", lambda t, s: f"t={t},s={s.upper()}"),
    ("spaces_around", lambda t, s: f" t = {t} , s = {s} "),
    ("signature_first", lambda t, s: f"s={s},t={t}"),
    ("two_signatures_one_valid", lambda t, s: f"t={t},s={'0' * 64},s={s}"),
]


@pytest.mark.parametrize(
    "spell",
    [case[1] for case in SIGNATURE_SPELLINGS],
    ids=[case[0] for case in SIGNATURE_SPELLINGS],
)
def test_signature_spelling_accepted(signed_server, spell):
    timestamp, digest = _signature_parts(DELIVERED_BODY)

    response = post(
        signed_server, DELIVERED_BODY, headers={"X-SMSTo-Signature": spell(timestamp, digest)}
    )

    assert response.status_code == 200


SIGNATURE_FORGERIES = [
    ("timestamp_not_a_number", lambda t, s: f"t=abc,s={s}", "invalid_signature"),
    ("timestamp_with_fraction", lambda t, s: f"t={t}.0,s={s}", "invalid_signature"),
    ("timestamp_negative", lambda t, s: f"t=-{t},s={s}", "invalid_signature"),
    ("timestamp_13_digits", lambda t, s: f"t=1{t}00,s={s}", "invalid_signature"),
    ("far_future", lambda t, s: f"t={int(t) + 10**9},s={s}", "stale_signature"),
    ("uppercase_names", lambda t, s: f"T={t},S={s}", "invalid_signature"),
    ("semicolon_separator", lambda t, s: f"t={t};s={s}", "invalid_signature"),
    ("sha256_prefix", lambda t, s: f"t={t},s=sha256={s}", "invalid_signature"),
]


@pytest.mark.parametrize(
    "spell, code",
    [case[1:] for case in SIGNATURE_FORGERIES],
    ids=[case[0] for case in SIGNATURE_FORGERIES],
)
def test_signature_malformed_rejected(signed_server, spell, code):
    timestamp, digest = _signature_parts(DELIVERED_BODY)

    response = post(
        signed_server, DELIVERED_BODY, headers={"X-SMSTo-Signature": spell(timestamp, digest)}
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


# Transport: a real uvicorn process.


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real-webhook")
    url = f"sqlite:///{folder / 'real.db'}"
    engine = make_engine(url)
    init_db(engine)
    env = {"DATABASE_URL": url, "DISPATCHER_ENABLED": "false", "WEBHOOK_SECRET": ""}
    with companion_server(env) as base_url:
        yield base_url, engine
    engine.dispose()


def test_real_server_chunked_body_matched(real_server):
    base_url, engine = real_server
    campaign = make_campaign(engine, phones=[PHONE], provider_campaign_id="CHUNKED", name="chunked")
    pieces = [b"trackingId=CHUNKED&messageId=m1&", b"phone=%2B35799000001&status=DELI", b"VERED"]

    response = httpx.post(
        f"{base_url}/webhooks/smsto", content=iter(pieces), headers={"content-type": FORM}
    )

    assert response.status_code == 200
    assert wait_for_status(engine, campaign.id, PHONE, "DELIVERED") == "DELIVERED"


@pytest.mark.parametrize("content_type", [None, "image/png", "text/html; charset=latin-1"])
def test_real_server_form_under_any_content_type_matched(real_server, content_type):
    base_url, engine = real_server
    tracking_id = f"CT-{content_type}"
    campaign = make_campaign(
        engine, phones=[PHONE], provider_campaign_id=tracking_id, name=tracking_id
    )
    body = f"trackingId={tracking_id}&messageId=m1&phone=%2B35799000001&status=DELIVERED".encode()
    headers = {"content-type": content_type} if content_type else {}

    response = httpx.post(f"{base_url}/webhooks/smsto", content=body, headers=headers)

    assert response.status_code == 200
    assert wait_for_status(engine, campaign.id, PHONE, "DELIVERED") == "DELIVERED"


def test_real_server_concurrent_duplicates_counted_once(real_server):
    base_url, engine = real_server
    campaign = make_campaign(engine, phones=[OTHER_PHONE], provider_campaign_id="DUP", name="dup")
    body = b"trackingId=DUP&messageId=m2&phone=%2B35799000002&status=DELIVERED&parts=2&price=0.03"

    with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
        responses = list(
            pool.map(
                lambda _: client.post(
                    f"{base_url}/webhooks/smsto", content=body, headers={"content-type": FORM}
                ),
                range(48),
            )
        )
    wait_for_status(engine, campaign.id, OTHER_PHONE, "DELIVERED")
    time.sleep(0.5)  # let the matcher finish the copies that arrived last
    row = recipient_by_phone(engine, campaign.id)[OTHER_PHONE]
    copies = [report for report in all_reports(engine) if report.tracking_id == "DUP"]

    assert {response.status_code for response in responses} == {200}
    assert (row.status, row.parts, str(row.price), row.report_count) == ("DELIVERED", 2, "0.03", 1)
    assert len(copies) == 48
    assert sum(not report.duplicate for report in copies) == 1


OUT_OF_ORDER = load_case("dlr_out_of_order.json")
OUT_OF_ORDER_EXPECTED = load_case("dlr_out_of_order.expected.json")


@pytest.mark.parametrize("order", ["as_recorded", "reversed"])
def test_real_server_out_of_order_case(real_server, order):
    base_url, engine = real_server
    tracking_id = f"{OUT_OF_ORDER['setup']['campaign_id']}-{order}"
    phones = OUT_OF_ORDER["setup"]["recipients"]
    campaign = make_campaign(
        engine, phones=phones, provider_campaign_id=tracking_id, status="QUEUED", name=tracking_id
    )
    events = OUT_OF_ORDER["events"] if order == "as_recorded" else OUT_OF_ORDER["events"][::-1]

    codes = []
    for event in events:
        body = json.dumps({**event["body"], "trackingId": tracking_id}).encode()
        response = httpx.post(
            f"{base_url}/webhooks/smsto",
            content=body,
            headers={"content-type": event["content_type"]},
        )
        codes.append(response.status_code)
    for expected in OUT_OF_ORDER_EXPECTED["final_rows"]:
        wait_for_status(engine, campaign.id, expected["phone"], expected["status"])
    rows = recipient_by_phone(engine, campaign.id)
    status = subprocess.run(
        [sys.executable, "-m", "core.cli", "status", str(campaign.id), "--json"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": str(engine.url)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert set(codes) == {200}
    for expected in OUT_OF_ORDER_EXPECTED["final_rows"]:
        row = rows[expected["phone"]]
        assert (row.status, row.parts) == (expected["status"], expected["parts"])
        assert row.price == Decimal(str(expected["price"]))
    assert json.loads(status.stdout)["cost"] == OUT_OF_ORDER_EXPECTED["campaign_cost"]
