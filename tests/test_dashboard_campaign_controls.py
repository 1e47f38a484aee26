"""Controls on the Campaign page (pause, resume, cancel, retry, re-send uncertain) through AppTest."""

import pytest
from sqlalchemy import select, update
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from core.models import Campaign, Chunk, Recipient
from tests.dashboard_support import APP, fresh_dashboard_database, seed_campaign, set_report


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


def _open(campaign_id: int) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=15)
    at.run()
    at.switch_page("app_pages/campaign.py")
    at.query_params["id"] = str(campaign_id)
    at.run()
    return at


def _status(engine, campaign_id: int) -> str:
    with Session(engine) as session:
        return session.get(Campaign, campaign_id).status


def _campaign_count(engine) -> int:
    with Session(engine) as session:
        return len(session.execute(select(Campaign.id)).all())


@pytest.mark.parametrize(
    ("status", "key", "expected"),
    [("sending", "pause", "paused"), ("queued", "pause", "paused"), ("paused", "resume", "queued")],
)
def test_controls_button_changes_status(dashboard_engine, status, key, expected):
    campaign_id = seed_campaign(dashboard_engine, status=status)
    at = _open(campaign_id)

    at.button(key=key).click().run()

    assert _status(dashboard_engine, campaign_id) == expected
    assert at.success
    assert not at.exception


@pytest.mark.parametrize(
    ("status", "key"), [("paused", "pause"), ("sending", "resume"), ("cancelled", "cancel")]
)
def test_controls_button_disabled_in_wrong_state(dashboard_engine, status, key):
    campaign_id = seed_campaign(dashboard_engine, status=status)

    assert _open(campaign_id).button(key=key).disabled


def test_controls_cancel_needs_confirmation(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="queued")
    at = _open(campaign_id)

    at.button(key="cancel").click().run()

    assert _status(dashboard_engine, campaign_id) == "queued"
    assert "Confirm cancel" in at.error[0].value


def test_controls_cancel_with_confirmation(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="queued")
    at = _open(campaign_id)

    at.checkbox(key="confirm_cancel").check().run()
    at.button(key="cancel").click().run()

    assert _status(dashboard_engine, campaign_id) == "cancelled"
    assert "5 recipients will not be sent" in at.success[0].value


def _with_failures(engine) -> int:
    campaign_id = seed_campaign(engine, status="completed")
    set_report(engine, phone="+35799000001", status="FAILED")
    set_report(engine, phone="+35799000002", status="EXPIRED")
    return campaign_id


def _retry_confirmed(at: AppTest) -> AppTest:
    at.checkbox(key="confirm_retry").check().run()
    return at.button(key="retry_failed").click().run()


def test_controls_retry_failed_twice_launches_once(dashboard_engine):
    at = _open(_with_failures(dashboard_engine))

    first_text = _retry_confirmed(at).success[0].value
    _retry_confirmed(at)

    assert first_text == "Retry campaign #2 launched: 2 recipients queued."
    assert at.success[0].value == first_text
    assert any("launched once" in caption.value for caption in at.caption)
    assert _campaign_count(dashboard_engine) == 2


def test_controls_retry_needs_confirmation(dashboard_engine):
    at = _open(_with_failures(dashboard_engine))

    at.button(key="retry_failed").click().run()

    assert "Tick Confirm retry first" in at.error[0].value
    assert _campaign_count(dashboard_engine) == 1


def test_controls_retry_shows_count_and_cost(dashboard_engine):
    at = _open(_with_failures(dashboard_engine))

    captions = " ".join(caption.value for caption in at.caption)

    assert at.button(key="retry_failed").label == "Retry failed (2)"
    assert "for 2 recipients at once, estimated 0.07 EUR" in captions


def test_controls_retry_confirmation_resets_after_retry(dashboard_engine):
    at = _retry_confirmed(_open(_with_failures(dashboard_engine)))

    assert at.checkbox(key="confirm_retry").value is False


@pytest.mark.parametrize(
    ("key", "expected"),
    [("pause", "cannot be paused"), ("cancel", "cannot be cancelled")],
)
def test_controls_stale_click_shows_control_error(dashboard_engine, key, expected):
    campaign_id = seed_campaign(dashboard_engine, status="sending")
    at = _open(campaign_id)
    at.checkbox(key="confirm_cancel").check().run()

    # The dispatcher completes the campaign after the page drew the enabled button.
    with Session(dashboard_engine) as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status="completed"))
        session.commit()
    at.button(key=key).click().run()

    assert expected in at.error[0].value
    assert at.button(key=key).disabled


@pytest.mark.parametrize("status", ["completed", "cancelled"])
@pytest.mark.parametrize("key", ["pause", "resume", "cancel", "confirm_cancel"])
def test_controls_disabled_when_finished(dashboard_engine, status, key):
    campaign_id = seed_campaign(dashboard_engine, status=status)
    at = _open(campaign_id)

    widget = at.checkbox(key=key) if key.startswith("confirm") else at.button(key=key)

    assert widget.disabled


def test_controls_retry_disabled_without_failures(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="completed")

    assert _open(campaign_id).button(key="retry_failed").disabled


def _make_uncertain(engine, campaign_id: int, phones: list[str]) -> int:
    with Session(engine) as session:
        chunk = Chunk(campaign_id=campaign_id, seq=0, state="uncertain", shape="bulk")
        session.add(chunk)
        session.flush()
        session.execute(
            update(Recipient)
            .where(Recipient.phone.in_(phones))
            .values(chunk_id=chunk.id, status="UNCERTAIN")
        )
        session.commit()
        return chunk.id


def test_uncertain_chunks_listed_with_masked_phones(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="sending")
    _make_uncertain(dashboard_engine, campaign_id, ["+35799000001", "+35799000002"])

    at = _open(campaign_id)
    table = next(frame.value for frame in at.dataframe if "lookups" in frame.value.columns)

    assert table["recipients"].iloc[0] == 2
    assert table["phones"].iloc[0] == "+357******01, +357******02"
    assert at.button(key="resend").disabled


def test_uncertain_resend_needs_choice_and_confirmation(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine, status="sending")
    chunk_id = _make_uncertain(dashboard_engine, campaign_id, ["+35799000001"])
    at = _open(campaign_id)

    at.multiselect(key="resend_chunks").select(chunk_id).run()
    still_disabled = at.button(key="resend").disabled
    at.checkbox(key="resend_confirm").check().run()
    at.button(key="resend").click().run()

    with Session(dashboard_engine) as session:
        old_state = session.get(Chunk, chunk_id).state
        recipient = session.execute(select(Recipient).where(Recipient.phone == "+35799000001"))
        status = recipient.scalar_one().status
    assert still_disabled
    assert old_state == "resent"
    assert status == "PENDING"
    assert at.success[0].value == "Re-sending 1 chunk as new chunk 2."
