"""The one launch path: checks that refuse a launch, and the launch key's guarantees."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlmodel import Session, func, select

from core.campaigns import LaunchRequest, RecipientInput, launch_campaign, summarise_campaign
from core.errors import InputError, LaunchError
from core.launching import LaunchOptions, build_request, launch_rows
from core.models import RecipientList


def _rows(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line": list(range(2, 2 + len(names))),
            "raw_phone": [f"+3579900{index:04d}" for index in range(len(names))],
            "e164": [f"+3579900{index:04d}" for index in range(len(names))],
            "region": ["CY"] * len(names),
            "verdict": ["ok"] * len(names),
            "reason_code": [""] * len(names),
            "reason": [""] * len(names),
            "duplicate_of_line": [None] * len(names),
            "name": names,
        }
    )


def test_build_request_empty_message_refused():
    with pytest.raises(LaunchError, match="message is empty"):
        build_request(_rows(["Anna"]), options=LaunchOptions(message="   "))


def test_build_request_unknown_placeholder_names_columns():
    with pytest.raises(LaunchError, match=r"no column 'city' \(its columns: name\)"):
        build_request(_rows(["Anna"]), options=LaunchOptions(message="Hi {city}"))


def test_build_request_missing_value_refused_in_singular():
    with pytest.raises(LaunchError, match=r"1 row cannot be sent as written \(line 3\)"):
        build_request(_rows(["Anna", ""]), options=LaunchOptions(message="Hi {name}"))


def test_build_request_missing_value_skipped_on_request():
    request = build_request(_rows(["Anna", ""]), options=LaunchOptions(message="Hi {name}", skip_missing_values=True))

    assert [recipient.line for recipient in request.recipients] == [2]


def test_build_request_invalid_sender_id_refused():
    with pytest.raises(InputError, match="sender"):
        build_request(_rows(["Anna"]), options=LaunchOptions(message="Hi", sender_id="Much too long sender"))


def test_build_request_estimates_cost_per_row():
    request = build_request(_rows(["Anna", "Bob"]), options=LaunchOptions(message="Hi {name}"))

    assert all(recipient.estimated_parts == 1 for recipient in request.recipients)
    assert all(recipient.estimated_cost is not None for recipient in request.recipients)


def test_launch_key_reused_with_other_message_refused(engine):
    launch_rows(engine, rows=_rows(["Anna"]), options=LaunchOptions(message="First", launch_key="k"))

    with pytest.raises(LaunchError, match="already launched campaign"):
        launch_rows(engine, rows=_rows(["Anna"]), options=LaunchOptions(message="Second", launch_key="k"))


def test_launch_key_repeated_returns_same_campaign(engine):
    first = launch_rows(engine, rows=_rows(["Anna"]), options=LaunchOptions(message="Same", launch_key="k"))
    second = launch_rows(engine, rows=_rows(["Anna"]), options=LaunchOptions(message="Same", launch_key="k"))

    assert second.created is False
    assert second.campaign.id == first.campaign.id


def test_launch_schedule_in_past_refused(engine):
    request = LaunchRequest(
        launch_key="past",
        message="Hi",
        recipients=[RecipientInput(phone="+35799000001")],
        scheduled_for=datetime.now(UTC) - timedelta(days=1),
    )

    with pytest.raises(LaunchError, match="in the past"):
        launch_campaign(engine, request)


def test_launch_schedule_in_future_is_scheduled(engine):
    request = LaunchRequest(
        launch_key="future",
        message="Hi",
        recipients=[RecipientInput(phone="+35799000001")],
        scheduled_for=datetime.now(UTC) + timedelta(days=1),
    )

    assert launch_campaign(engine, request).campaign.status == "scheduled"


def _count_lists(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(RecipientList)).one()


def _store_empty_list(session: Session) -> int:
    recipient_list = RecipientList(name="people.csv", default_country="CY")
    session.add(recipient_list)
    session.flush()
    return recipient_list.id


def test_launch_key_repeated_stores_no_list(engine):
    request = build_request(_rows(["Anna"]), options=LaunchOptions(message="Same", launch_key="k"))
    launch_campaign(engine, request, store_list=_store_empty_list)

    repeated = launch_campaign(engine, request, store_list=_store_empty_list)

    assert repeated.created is False
    assert _count_lists(engine) == 1


def test_launch_key_lost_race_rolls_list_back(engine):
    request = build_request(_rows(["Anna"]), options=LaunchOptions(message="Same", launch_key="k"))

    stored_ids = []

    def store_after_rival_launch(session: Session) -> int:
        # A rival launch with the same key commits after this launch found the key unused.
        launch_campaign(engine, request)
        stored_ids.append(_store_empty_list(session))
        return stored_ids[-1]

    launched = launch_campaign(engine, request, store_list=store_after_rival_launch)

    assert len(stored_ids) == 1
    assert launched.created is False
    assert _count_lists(engine) == 0


@pytest.mark.parametrize("campaign_id", [0, -1, 2**63, -(2**63) - 1, 10**30], ids=str)
def test_summarise_campaign_id_out_of_range_none(engine, campaign_id):
    with Session(engine) as session:
        summary = summarise_campaign(session, campaign_id=campaign_id)

    assert summary is None


def test_build_request_lone_surrogate_refused():
    with pytest.raises(LaunchError, match="byte 0xE9 at index 6, which is not valid UTF-8"):
        build_request(_rows(["Anna"]), options=LaunchOptions(message="Hi caf\udce9 {name}"))


def test_build_request_template_over_255_parts_refused():
    with pytest.raises(LaunchError, match="needs 262 parts, but a concatenated SMS has at most 255"):
        build_request(_rows(["Anna"]), options=LaunchOptions(message="a" * 40_000 + " {name}"))


def test_build_request_value_over_255_parts_refused():
    with pytest.raises(LaunchError, match=r"\(line 3\)\. The first: The message needs more than 255 parts"):
        build_request(_rows(["Anna", "a" * 39_100]), options=LaunchOptions(message="Hi {name}"))
