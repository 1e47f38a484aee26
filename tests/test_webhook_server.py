"""The companion server's webhook endpoints, in process: shapes, errors, auth, opt-outs, health."""

import json
import time
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from core.db import session_scope
from core.reports.matcher import drain_pending
from core.reports.optout import is_suppressed, suppressed_numbers
from core.reports.parse import MAX_BODY_BYTES
from core.reports.signature import sign_body
from core.settings import Settings
from tests.conftest import load_case
from tests.reports_fixtures import all_inbound, all_reports, make_campaign, recipient_by_phone
from webhook_server import create_app

FORM = "application/x-www-form-urlencoded"
SECRET = "s3cr3t-for-tests"
VARIANTS = load_case("dlr_body_variants.json")
VARIANTS_EXPECTED = load_case("dlr_body_variants.expected.json")
SEED = load_case("seed_reports.json")


@pytest.fixture
def server(tmp_path):
    """A companion server app in process, with its real lifespan (writer and matcher)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'server.db'}", webhook_secret=None))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def signed_server(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'signed.db'}", webhook_secret=SECRET))
    with TestClient(app) as client:
        yield client


def engine_of(client):
    return client.app.state.engine


def post_report(client, body: bytes, content_type: str = FORM, **kwargs):
    return client.post("/webhooks/smsto", content=body, headers={"content-type": content_type}, **kwargs)


def assert_error_shape(response, status_code: int, code: str):
    assert response.status_code == status_code
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_webhook_body_variants_end_to_end(server):
    engine = engine_of(server)
    campaign = make_campaign(engine, phones=VARIANTS["setup"]["recipients"],
                             provider_campaign_id=VARIANTS["setup"]["campaign_id"],
                             status=VARIANTS["setup"]["initial_status"])

    statuses = [post_report(server, r["raw_body"].encode(), r["content_type"]).status_code
                for r in VARIANTS["requests"]]
    drain_pending(engine)

    rows = recipient_by_phone(engine, campaign.id)
    assert statuses == [200] * len(VARIANTS["requests"])
    for expected in VARIANTS_EXPECTED["final_rows"]:
        row = rows[expected["phone"]]
        assert (row.status, row.parts) == (expected["status"], expected["parts"])
        assert row.price == (None if expected["price"] is None else Decimal(expected["price"]))
    assert sum(r.price for r in rows.values() if r.price is not None) == Decimal("0.105")


@pytest.mark.parametrize("kind", ["single", "bulk"])
@pytest.mark.parametrize("encoding", ["json", "form"])
def test_webhook_seed_reports_matched(server, kind, encoding):
    engine = engine_of(server)
    seed = SEED[kind]
    phone = seed["report"]["phone"]
    response_ids = seed["send_response"]
    campaign = make_campaign(engine, phones=[phone], provider_campaign_id=response_ids.get("campaign_id"),
                             message_ids={phone: response_ids["message_id"]} if "message_id" in response_ids else None)

    if encoding == "json":
        response = server.post("/webhooks/smsto", json=seed["report"])
    else:
        response = server.post("/webhooks/smsto", data={k: str(v) for k, v in seed["report"].items()})
    drain_pending(engine)

    assert response.status_code == 200
    assert recipient_by_phone(engine, campaign.id)[phone].status == seed["report"]["status"]


def test_webhook_accepts_and_stores_before_answer(server):
    response = post_report(server, b"messageId=m1&status=SENT")

    [stored] = all_inbound(engine_of(server))
    assert response.json() == {"status": "accepted"}
    assert stored.body == b"messageId=m1&status=SENT"
    assert stored.auth == "none"


def test_webhook_error_shape_pinned(server):
    response = post_report(server, b"this is not a report")

    assert response.status_code == 400
    assert response.json() == {"error": {
        "code": "invalid_body",
        "message": "The body is neither JSON nor form fields (name=value&...).",
    }}


@pytest.mark.parametrize(("body", "status_code", "code"), [
    (b"", 400, "invalid_body"),
    (b"{not json", 400, "invalid_body"),
    (b"phone=%2B35799000001&status=SENT", 422, "missing_field"),
    (b"messageId=m&status=SENT&price=abc", 422, "invalid_field"),
    (b"\xff\xfe\x00", 400, "invalid_body"),
])
def test_webhook_bad_body_stored_and_rejected(server, body, status_code, code):
    response = post_report(server, body)
    drain_pending(engine_of(server))

    [stored] = all_inbound(engine_of(server))
    assert_error_shape(response, status_code, code)
    assert stored.body == body
    assert stored.parse_error.startswith(code)
    assert stored.processed is True
    assert all_reports(engine_of(server)) == []


def test_webhook_other_errors_same_shape(server):
    assert_error_shape(server.get("/nowhere"), 404, "not_found")
    assert_error_shape(server.get("/webhooks/smsto"), 405, "method_not_allowed")


def test_webhook_body_too_large(server):
    body = b"messageId=m&status=SENT&pad=" + b"x" * MAX_BODY_BYTES
    response = post_report(server, body)

    [stored] = all_inbound(engine_of(server))
    assert_error_shape(response, 413, "body_too_large")
    assert stored.parse_error.startswith("body_too_large")


def test_webhook_body_too_large_streamed(server):
    chunks = [b"messageId=m&status=SENT&pad="] + [b"x" * 8192] * 10
    response = server.post("/webhooks/smsto", content=iter(chunks), headers={"content-type": FORM})

    [stored] = all_inbound(engine_of(server))
    assert_error_shape(response, 413, "body_too_large")
    assert len(stored.body) == MAX_BODY_BYTES


def test_webhook_body_at_limit_accepted(server):
    body = b"messageId=m&status=SENT&pad="
    body += b"x" * (MAX_BODY_BYTES - len(body))
    assert post_report(server, body).status_code == 200


def signature_headers(body: bytes, timestamp: int, secret: str = SECRET) -> dict:
    return {"content-type": FORM, "X-SMSTo-Signature": sign_body(secret, body, timestamp)}


SIGNED_BODY = b"trackingId=C1&messageId=m1&phone=%2B35799000001&status=DELIVERED&parts=1&price=0.015"


def test_signature_valid_accepted(signed_server):
    response = signed_server.post("/webhooks/smsto", content=SIGNED_BODY,
                                  headers=signature_headers(SIGNED_BODY, int(time.time())))

    assert response.status_code == 200
    assert all_inbound(engine_of(signed_server))[0].auth == "signature"


@pytest.mark.parametrize(("case", "headers", "code"), [
    ("wrong_secret", lambda now: signature_headers(SIGNED_BODY, now, "other"), "invalid_signature"),
    ("stale", lambda now: signature_headers(SIGNED_BODY, now - 301), "stale_signature"),
    ("future", lambda now: signature_headers(SIGNED_BODY, now + 301), "stale_signature"),
    ("other_body", lambda now: signature_headers(SIGNED_BODY + b"&x=1", now), "invalid_signature"),
    ("missing", lambda now: {"content-type": FORM}, "missing_signature"),
    ("garbled", lambda now: {"content-type": FORM, "X-SMSTo-Signature": "nonsense"}, "invalid_signature"),
])
def test_signature_rejected_stored_never_matched(signed_server, case, headers, code):
    engine = engine_of(signed_server)
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")

    response = signed_server.post("/webhooks/smsto", content=SIGNED_BODY, headers=headers(int(time.time())))
    drain_pending(engine)

    [stored] = all_inbound(engine)
    assert_error_shape(response, 401, code)
    assert (stored.auth, stored.auth_error, stored.body) == ("rejected", code, SIGNED_BODY)
    assert recipient_by_phone(engine, campaign.id)["+35799000001"].status == "PENDING"
    assert signed_server.get("/api/callback-health").json()["rejected_signature"] == 1


def test_signature_within_skew_accepted(signed_server):
    headers = signature_headers(SIGNED_BODY, int(time.time()) - 299)
    assert signed_server.post("/webhooks/smsto", content=SIGNED_BODY, headers=headers).status_code == 200


def test_token_in_url_accepted(signed_server):
    response = signed_server.post(f"/webhooks/smsto?token={SECRET}", content=SIGNED_BODY,
                                  headers={"content-type": FORM})

    assert response.status_code == 200
    assert all_inbound(engine_of(signed_server))[0].auth == "token"


def test_token_in_url_wrong_rejected(signed_server):
    response = signed_server.post("/webhooks/smsto?token=guess", content=SIGNED_BODY,
                                  headers={"content-type": FORM})
    assert_error_shape(response, 401, "invalid_token")


def test_optout_adds_suppression(server):
    engine = engine_of(server)
    response = server.post("/webhooks/smsto/optout",
                           data={"timestamp": "2024-05-01 10:00:00", "unsubscribed_number": "35799000001",
                                 "source": "sms"})

    [stored] = all_inbound(engine)
    assert response.status_code == 200
    assert stored.kind == "optout"
    with session_scope(engine) as session:
        assert is_suppressed(session, "+35799000001") is True
        assert is_suppressed(session, "+35799000002") is False
        assert suppressed_numbers(session, ["+35799000001", "+35799000002", "35799000001"]) == {
            "+35799000001", "35799000001"}


def test_optout_raw_plus_form_and_repeat(server):
    first = server.post("/webhooks/smsto/optout", content=b"timestamp=1&unsubscribed_number=+35799000001&source=x",
                        headers={"content-type": FORM})
    second = server.post("/webhooks/smsto/optout", json={"unsubscribed_number": "+35799000001"})

    with session_scope(engine_of(server)) as session:
        assert is_suppressed(session, "+35799000001")
    assert (first.status_code, second.status_code) == (200, 200)


@pytest.mark.parametrize(("body", "code"), [
    (b"timestamp=1&source=sms", "missing_field"),
    (b"timestamp=1&unsubscribed_number=099000001", "invalid_field"),
    (b"nonsense", "invalid_body"),
])
def test_optout_invalid_stored_and_rejected(server, body, code):
    response = server.post("/webhooks/smsto/optout", content=body, headers={"content-type": FORM})

    [stored] = all_inbound(engine_of(server))
    assert response.status_code in (400, 422)
    assert response.json()["error"]["code"] == code
    assert stored.parse_error.startswith(code)


def test_callback_health_counts(signed_server):
    engine = engine_of(signed_server)
    campaign = make_campaign(engine, phones=["+35799000001", "+35799000002"], provider_campaign_id="C1")
    with engine.begin() as connection:
        connection.execute(text("UPDATE recipient SET sent_at = :t"),
                           {"t": "2000-01-01 00:00:00.000000"})
    reports = [
        {"trackingId": "C1", "phone": "+35799000001", "status": "DELIVERED", "price": "0.015"},
        {"trackingId": "C1", "phone": "+35799000001", "status": "DELIVERED", "price": "0.015"},  # duplicate
        {"trackingId": "C1", "phone": "+35799000001", "status": "SENT"},  # out of order
        {"trackingId": "C1", "phone": "+35799000009", "status": "SENT"},  # unmatched
        {"trackingId": "C1", "phone": "+35799000002", "status": "SENT"},
    ]
    for report in reports:
        assert signed_server.post(f"/webhooks/smsto?token={SECRET}", json=report).status_code == 200
    signed_server.post("/webhooks/smsto", json=reports[0])  # no signature: rejected
    signed_server.post(f"/webhooks/smsto?token={SECRET}", content=b"junk")  # bad body
    drain_pending(engine)

    health = signed_server.get("/api/callback-health").json()
    assert {key: health[key] for key in (
        "accepted", "rejected_signature", "rejected_body", "reports", "matched", "unmatched",
        "duplicate", "out_of_order", "waiting_bodies")} == {
        "accepted": 5, "rejected_signature": 1, "rejected_body": 1, "reports": 5, "matched": 4,
        "unmatched": 1, "duplicate": 1, "out_of_order": 1, "waiting_bodies": 0}
    assert health["last_report_at"] is not None
    assert health["lag_sample_size"] == 2
    assert health["lag_median_seconds"] > 365 * 24 * 3600  # sent in 2000
    assert recipient_by_phone(engine, campaign.id)["+35799000001"].status == "DELIVERED"


def test_database_down_answers_503(server):
    engine = engine_of(server)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE inboundreport"))

    response = post_report(server, b"messageId=m1&status=SENT")

    assert_error_shape(response, 503, "storage_unavailable")
    assert response.headers["retry-after"] == "60"


def test_healthz(server):
    response = server.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_report_log_missing(server):
    with engine_of(server).begin() as connection:
        connection.execute(text("DROP TABLE inboundreport"))

    response = server.get("/healthz")

    assert_error_shape(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "10"


def test_json_sent_as_text_plain_matched(server):
    engine = engine_of(server)
    campaign = make_campaign(engine, phones=["+35799000001"], provider_campaign_id="C1")
    body = json.dumps({"trackingId": "C1", "phone": "35799000001", "status": "delivered"}).encode()

    assert post_report(server, body, "text/plain").status_code == 200
    drain_pending(engine)
    assert recipient_by_phone(engine, campaign.id)["+35799000001"].status == "DELIVERED"


ROUTE_CASES = [
    (f"/webhooks/smsto?token={SECRET}", b"messageId=m1&status=SENT", {}),
    (f"/webhooks/smsto?token={SECRET}", b"this is not a report", {}),
    (f"/webhooks/smsto?token={SECRET}", b"phone=%2B35799000001&status=SENT", {}),
    (f"/webhooks/smsto?token={SECRET}", b"messageId=m&status=SENT&pad=" + b"x" * MAX_BODY_BYTES, {}),
    ("/webhooks/smsto?token=guess", SIGNED_BODY, {}),
    (f"/webhooks/smsto?token=guess&token={SECRET}", SIGNED_BODY, {}),
    ("/webhooks/smsto", SIGNED_BODY, {"X-SMSTo-Signature": "t=1,s=00"}),
    ("/webhooks/smsto", SIGNED_BODY, {}),
    (f"/webhooks/smsto/optout?token={SECRET}", b"timestamp=1&unsubscribed_number=35799000009&source=sms", {}),
    (f"/webhooks/smsto/optout?token={SECRET}", b"timestamp=1&source=sms", {}),
]


def test_router_routes_match_fast_path(tmp_path):
    """WebhookFastPath handles the webhooks before the router, and the routes must respond the same way."""
    def responses_of(app) -> list[tuple[int, bytes, str]]:
        with TestClient(app) as client:
            results = []
            for path, body, headers in ROUTE_CASES:
                response = client.post(path, content=body, headers={"content-type": FORM, **headers})
                results.append((response.status_code, response.content, response.headers["content-type"]))
            return results

    def settings(name: str) -> Settings:
        return Settings(database_url=f"sqlite:///{tmp_path / name}", webhook_secret=SECRET)

    fast = create_app(settings("fast.db"))
    routed = create_app(settings("routed.db"))
    routed.user_middleware.clear()  # requests now reach the @app.post routes

    fast_answers, routed_answers = responses_of(fast), responses_of(routed)
    assert [status for status, _, _ in fast_answers] == [200, 400, 422, 413, 401, 200, 401, 401, 200, 422]
    assert routed_answers == fast_answers
    assert len(all_inbound(fast.state.engine)) == len(all_inbound(routed.state.engine)) == len(ROUTE_CASES)


def test_unexpected_error_same_shape(tmp_path, monkeypatch):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'broken.db'}", webhook_secret=None))

    async def broken_submit(record):
        raise RuntimeError("writer bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(app.state.reports.writer, "submit", broken_submit)
        response = post_report(client, b"messageId=m1&status=SENT")

    assert_error_shape(response, 500, "internal_error")
