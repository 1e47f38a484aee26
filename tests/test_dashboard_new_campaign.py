"""The New campaign page through AppTest: upload, live checks, test send, launch and its guard."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from core.models import Campaign, RecipientList
from tests.dashboard_support import APP, fresh_dashboard_database

CSV = (
    b"phone,name,city\n"
    b"+35799000001,Anna,Nicosia\n"
    b"99000002,,Limassol\n"
    b"not a number,Bob,Paphos\n"
    b"+35799000001,Again,Larnaca\n"
    b"+306912345678,Eleni,Athens\n"
)


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("SMSTO_SENDER_ID", "ACME")
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


def _open(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=20)
    at.query_params.update(query or {})
    at.run()
    return at


def _upload(at: AppTest, data: bytes = CSV, name: str = "people.csv") -> AppTest:
    at.file_uploader[0].upload(name, data, "text/csv")
    return at.run()


def _type(at: AppTest, message: str) -> AppTest:
    return at.text_area(key="message").input(message).run()


def _campaigns(engine) -> list[Campaign]:
    with Session(engine) as session:
        return list(session.execute(select(Campaign).order_by(Campaign.id)).scalars())


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _frame_with(at: AppTest, column: str):
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def _errors(at: AppTest) -> str:
    return " ".join(error.value for error in at.error)


def test_new_campaign_without_upload_refuses_launch(dashboard_engine):
    at = _open()

    at.button(key="launch").click().run()

    assert "Upload a recipient list" in _errors(at)
    assert _campaigns(dashboard_engine) == []


def test_new_campaign_defaults_from_settings(dashboard_engine):
    at = _open()

    assert at.selectbox(key="country").value == "CY"
    assert at.text_input(key="sender_id").value == "ACME"


def test_new_campaign_verdict_counts(dashboard_engine):
    at = _type(_upload(_open()), "Hello {name}")
    metrics = _metrics(at)

    assert metrics["ok"] == "2"
    assert metrics["invalid"] == "1"
    assert metrics["duplicate"] == "1"
    assert metrics["suppressed"] == "0"
    assert metrics["missing value"] == "1"


def test_new_campaign_rejected_rows_with_lines_and_reasons(dashboard_engine):
    at = _type(_upload(_open()), "Hello {name}")
    rejected = _frame_with(at, "reason")

    assert list(rejected["line"]) == [3, 4, 5]
    assert list(rejected["verdict"]) == ["missing_value", "invalid", "duplicate"]
    assert "line 2" in rejected["reason"].iloc[2]
    assert at.get("download_button")


def test_new_campaign_lists_placeholders(dashboard_engine):
    at = _upload(_open())

    assert "`{name}`, `{city}`" in " ".join(caption.value for caption in at.caption)


def test_new_campaign_phone_column_override(dashboard_engine):
    data = b"id,mobile\n99000001,99000002\n99000003,99000004\n"
    at = _upload(_open(), data)
    detected = at.selectbox[1].value

    at.selectbox[1].select("id" if detected == "mobile" else "mobile").run()

    assert detected == "mobile"
    assert _metrics(at)["ok"] == "2"
    assert "`{mobile}`" in " ".join(caption.value for caption in at.caption)


def test_new_campaign_unreadable_file_reports_error(dashboard_engine):
    at = _upload(_open(), b"", "empty.csv")

    assert at.error
    assert not at.exception


@pytest.mark.parametrize(
    ("message", "encoding", "parts"),
    [("Hello", "GSM-7", "1"), ("a" * 161, "GSM-7", "2"), ("Καλημέρα", "UCS-2", "1")],
)
def test_new_campaign_live_encoding_and_parts(dashboard_engine, message, encoding, parts):
    metrics = _metrics(_type(_open(), message))

    assert metrics["Encoding"] == encoding
    assert metrics["Parts"] == parts


def test_new_campaign_highlights_ucs2_characters(dashboard_engine):
    at = _type(_open(), "Don’t")

    assert '<mark title="position 4, U+2019">’</mark>' in at.get("html")[0].proto.body


def test_new_campaign_rewrite_applied_only_by_button(dashboard_engine):
    at = _type(_open(), "Don’t miss it")
    before = at.text_area(key="message").value

    at.button(key="apply_rewrite").click().run()

    assert before == "Don’t miss it"
    assert at.text_area(key="message").value == "Don't miss it"
    assert _metrics(at)["Encoding"] == "GSM-7"


def test_new_campaign_rewrite_shows_campaign_saving(dashboard_engine):
    at = _type(_upload(_open()), "Don’t miss it, {city}! " * 4)

    info = " ".join(item.value for item in at.info)

    assert "saves 3 parts and 0.112 EUR over the 3 rows that will be sent." in info


def test_new_campaign_rewrite_counts_only_rows_sent(dashboard_engine):
    at = _type(_upload(_open()), "Don’t miss it, {name}! " * 4)

    info = " ".join(item.value for item in at.info)

    assert "over the 2 rows that will be sent (1 row skipped)" in info


def test_new_campaign_rewrite_table_lists_replacements(dashboard_engine):
    at = _type(_open(), "Don’t “wait” – it’s here")
    table = _frame_with(at, "replacement")

    rows = {row["code point"]: row for row in table.to_dict("records")}
    assert rows["U+2019"]["replacement"] == "'"
    assert rows["U+2019"]["count"] == 2
    assert rows["U+2013"]["name"] == "EN DASH"


def test_new_campaign_rewrite_same_parts_offered_for_encoding(dashboard_engine):
    at = _type(_open(), "Don’t miss it")
    info = " ".join(item.value for item in at.info)

    assert "The message stays at 1 part with the rewrite, so it saves nothing" in info
    assert at.button(key="apply_rewrite").label == "Apply the rewrite anyway (GSM-7, same parts)"


def test_new_campaign_rewrite_same_parts_over_list(dashboard_engine):
    at = _type(_upload(_open()), "Don’t miss it, {name}")
    info = " ".join(item.value for item in at.info)

    assert "The 2 rows that will be sent (1 row skipped) stay at 2 parts in all" in info


def test_new_campaign_rewrite_saving_nothing_not_offered(dashboard_engine):
    # The Cyrillic name keeps the message UCS-2, so replacing the quote changes nothing.
    at = _type(_open(), "Don’t miss it, Зоя")
    info = " ".join(item.value for item in at.info)

    assert "nothing to apply" in info
    assert not [button for button in at.button if button.key == "apply_rewrite"]


def test_new_campaign_totals_say_rows_skipped(dashboard_engine):
    at = _type(_upload(_open()), "Hello {name}")

    captions = " ".join(caption.value for caption in at.caption)

    assert "cover the 2 rows that will be sent. 1 row with a problem" in captions
    assert "is skipped and not counted" in captions


def test_new_campaign_preview_no_cost_for_skipped_row(dashboard_engine):
    at = _type(_upload(_open()), "Hello {name}")
    sample = _frame_with(at, "problem")

    skipped = sample[sample["line"] == 3].iloc[0]
    assert skipped["problem"] != ""
    assert skipped["cost"] == ""


def test_new_campaign_totals_per_country(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    totals = _frame_with(at, "price_per_part")

    rows = {row["region"]: row for row in totals.to_dict("records")}
    assert rows["CY"]["recipients"] == 2
    assert rows["GR"]["cost"] == "0.042"
    assert rows["all"]["cost"] == "0.112"


def test_new_campaign_unknown_placeholder_reports_error(dashboard_engine):
    at = _type(_upload(_open()), "Hello {surname}")

    assert "no such column" in _errors(at)


def test_new_campaign_invalid_sender_refuses_launch(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.text_input(key="sender_id").input("Bad sender!").run()

    at.button(key="launch").click().run()

    assert "The sender ID is invalid" in _errors(at)
    assert _campaigns(dashboard_engine) == []


def test_new_campaign_missing_values_refuse_launch_until_skipped(dashboard_engine):
    at = _type(_upload(_open()), "Hello {name}")

    at.button(key="launch").click().run()
    first_errors = _errors(at)
    at.checkbox(key="skip_missing").check().run()
    at.button(key="launch").click().run()

    (campaign,) = _campaigns(dashboard_engine)
    assert "Skip the rows with a missing value" in first_errors
    assert campaign.recipient_count == 2
    assert campaign.sender_id == "ACME"
    assert at.success[0].value.startswith("Campaign #1 launched: 2 recipients queued")


def test_new_campaign_refused_launch_stores_no_list(dashboard_engine):
    at = _type(_upload(_open()), "Hello {name}")

    at.button(key="launch").click().run()

    with Session(dashboard_engine) as session:
        assert list(session.execute(select(RecipientList)).scalars()) == []


def test_new_campaign_rerun_after_launch_stores_one_list(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.button(key="launch").click().run()
    at.run()

    with Session(dashboard_engine) as session:
        assert len(list(session.execute(select(RecipientList)).scalars())) == 1


def test_new_campaign_launch_stores_the_list(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.button(key="launch").click().run()

    with Session(dashboard_engine) as session:
        (stored,) = session.execute(select(RecipientList)).scalars()
    (campaign,) = _campaigns(dashboard_engine)
    assert campaign.list_id == stored.id
    assert stored.row_count == 5


def _captions(at: AppTest) -> str:
    return " ".join(caption.value for caption in at.caption)


def test_new_campaign_launch_shows_success_with_link(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")

    at.button(key="launch").click().run()

    assert at.success[0].value.startswith("Campaign #1 launched: 3 recipients queued")
    assert at.get("page_link")
    assert "launched it once" not in _captions(at)


def test_new_campaign_rerun_after_launch_shows_same_campaign(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.button(key="launch").click().run()

    at.run()

    assert len(_campaigns(dashboard_engine)) == 1
    assert at.success[0].value.startswith("Campaign #1 launched")
    assert "launched it once" in _captions(at)
    assert at.get("page_link")
    assert not at.error


def test_new_campaign_sidebar_return_starts_fresh_form(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.button(key="launch").click().run()
    old_key = at.session_state["launch_key"]

    # A sidebar link carries no query parameter, but AppTest keeps the last ones until cleared.
    at.query_params.clear()
    at.switch_page("app_pages/campaigns.py").run()
    at.switch_page("app_pages/new_campaign.py").run()

    assert not at.success
    assert at.file_uploader[0].value is None
    assert at.text_area(key="message").value == ""
    assert at.session_state["launch_key"] != old_key


def test_new_campaign_address_written_after_opening(dashboard_engine):
    at = _open()
    on_opening = dict(at.query_params)

    _upload(at)

    assert "launch" not in on_opening
    assert at.query_params["launch"] == at.session_state["launch_key"]


def test_new_campaign_reconnect_keeps_launch_key(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.button(key="launch").click().run()

    # A new session (browser reconnect after a server restart) keeps only the address.
    again = _open({"launch": at.query_params["launch"]})

    assert again.success[0].value.startswith("Campaign #1 launched")
    assert "launched it once" in _captions(again)
    assert not again.file_uploader
    assert len(_campaigns(dashboard_engine)) == 1


def test_new_campaign_two_sessions_same_key_launch_once(dashboard_engine):
    first = _type(_upload(_open()), "Hello {city}")
    second = _type(_upload(_open({"launch": first.query_params["launch"]})), "Hello {city}")

    first.button(key="launch").click().run()
    second.button(key="launch").click().run()

    assert len(_campaigns(dashboard_engine)) == 1
    assert second.success[0].value.startswith("Campaign #1 launched")


def test_new_campaign_start_another_gets_new_key(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.button(key="launch").click().run()
    old_key = at.query_params["launch"]

    at.button(key="start_another").click().run()

    assert at.query_params["launch"] != old_key
    assert at.file_uploader[0].value is None
    assert at.text_area(key="message").value == ""


def test_new_campaign_test_send_queues_one_recipient(dashboard_engine):
    at = _type(_upload(_open()), "Hello {name} from {city}")
    at.text_input(key="test_number").input("99 000 999").run()

    at.button(key="test_send").click().run()
    at.button(key="test_send").click().run()

    (campaign,) = _campaigns(dashboard_engine)
    assert campaign.name == "Test send"
    assert campaign.recipient_count == 1
    assert "already sent as campaign #1" in at.info[-1].value


def test_new_campaign_test_send_rejects_bad_number(dashboard_engine):
    at = _type(_open(), "Hello")
    at.text_input(key="test_number").input("12345").run()

    at.button(key="test_send").click().run()

    assert "cannot receive an SMS" in _errors(at)
    assert _campaigns(dashboard_engine) == []


def test_new_campaign_test_send_needs_list_for_placeholders(dashboard_engine):
    at = _type(_open(), "Hello {name}")
    at.text_input(key="test_number").input("+35799000999").run()

    at.button(key="test_send").click().run()

    assert "upload a list" in _errors(at)


def test_new_campaign_schedule_for_later(dashboard_engine):
    day = date.today() + timedelta(days=60)
    at = _type(_upload(_open()), "Hello {city}")
    at.checkbox(key="schedule").check().run()
    at.date_input(key="schedule_day").set_value(day).run()
    at.selectbox(key="schedule_zone").select("Europe/Nicosia").run()

    at.button(key="launch").click().run()

    (campaign,) = _campaigns(dashboard_engine)
    local = datetime.combine(day, time(9, 0), tzinfo=ZoneInfo("Europe/Nicosia"))
    assert campaign.status == "scheduled"
    assert campaign.scheduled_for.replace(tzinfo=UTC) == local.astimezone(UTC)
    assert campaign.timezone == "Europe/Nicosia"


def test_new_campaign_schedule_in_past_refuses_launch(dashboard_engine):
    at = _type(_upload(_open()), "Hello {city}")
    at.checkbox(key="schedule").check().run()
    at.date_input(key="schedule_day").set_value(date.today() - timedelta(days=1)).run()

    at.button(key="launch").click().run()

    assert "in the past" in _errors(at)
    assert _campaigns(dashboard_engine) == []
