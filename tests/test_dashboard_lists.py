"""The Lists page through AppTest: stored lists, rows by verdict, and a launch on a stored list."""

import pytest
from sqlalchemy import select
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from core.importing import import_file, store_import
from core.models import Campaign
from tests.dashboard_support import APP, fresh_dashboard_database

CSV = (
    b"phone,name\n"
    b"+35799000001,Anna\n"
    b"+35799000002,\n"
    b"abc,Bob\n"
    b"+35799000001,Again\n"
    b"+35799000003,Chris\n"
)


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


def _store(engine, name: str = "Customers", data: bytes = CSV) -> int:
    result = import_file(data, filename="customers.csv", default_country="CY")
    with Session(engine) as session:
        stored = store_import(session, result=result, name=name)
        session.commit()
        return stored.id


def _open(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=20)
    at.run()
    at.switch_page("app_pages/lists.py")
    at.query_params.update(query or {})
    return at.run()


def _campaigns(engine) -> list[Campaign]:
    with Session(engine) as session:
        return list(session.execute(select(Campaign)).scalars())


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_lists_empty_database_says_so(dashboard_engine):
    at = _open()

    assert "No stored list yet" in at.info[0].value
    assert not at.exception


def test_lists_table_counts(dashboard_engine):
    _store(dashboard_engine)

    table = _open().dataframe[0].value

    row = table.iloc[0]
    assert row["name"] == "Customers"
    assert row["rows"] == 5
    assert row["ok"] == 3
    assert row["invalid"] == 1
    assert row["duplicate"] == 1


def test_lists_query_param_selects_list(dashboard_engine):
    first = _store(dashboard_engine, "First")
    _store(dashboard_engine, "Second")

    at = _open({"list": str(first)})

    assert at.selectbox[0].value == first
    assert at.subheader[0].value == f"List #{first} First"


def test_lists_accepted_rows_masked(dashboard_engine):
    _store(dashboard_engine)

    table = _open().dataframe[1].value

    assert list(table["phone"]) == ["+357******01", "+357******02", "+357******03"]


def test_lists_rejected_rows_with_reasons(dashboard_engine):
    _store(dashboard_engine)
    at = _open()

    at.selectbox(key="list_verdict").select("invalid").run()
    table = at.dataframe[1].value

    assert list(table["line"]) == [4]
    assert "letters" in table["reason"].iloc[0]
    assert at.get("download_button")


def test_lists_launch_on_stored_list_once(dashboard_engine):
    list_id = _store(dashboard_engine)
    at = _open()
    at.text_area(key="message").input("Hello").run()

    at.button(key="launch").click().run()
    at.run()

    (campaign,) = _campaigns(dashboard_engine)
    assert campaign.list_id == list_id
    assert campaign.recipient_count == 3
    assert at.success[0].value.startswith("Campaign #1 launched: 3 recipients queued")
    assert any("launched it once" in caption.value for caption in at.caption)


def test_lists_launch_missing_values_needs_skip(dashboard_engine):
    _store(dashboard_engine)
    at = _open()
    at.text_area(key="message").input("Hello {name}").run()

    at.button(key="launch").click().run()
    first_errors = " ".join(error.value for error in at.error)
    at.checkbox(key="skip_missing").check().run()
    at.button(key="launch").click().run()

    (campaign,) = _campaigns(dashboard_engine)
    assert "Skip the rows with a missing value" in first_errors
    assert campaign.recipient_count == 2
