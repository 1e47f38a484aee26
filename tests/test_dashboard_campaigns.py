"""The Campaigns page, driven through AppTest against a real SQLite file."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_support import APP, fresh_dashboard_database, seed_campaign, set_report


@pytest.fixture
def dashboard_engine(tmp_path, monkeypatch):
    yield from fresh_dashboard_database(tmp_path, monkeypatch)


PAGE = "app_pages/campaigns.py"


def _open(timeout: float = 10) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(PAGE).run()
    return at


def test_campaigns_empty_database_points_to_new_campaign(dashboard_engine):
    at = _open()

    assert not at.exception
    assert "No campaign yet" in at.info[0].value


def test_campaigns_one_row_per_campaign(dashboard_engine):
    seed_campaign(dashboard_engine, name="First", key="k1")
    seed_campaign(dashboard_engine, name="Second", key="k2", phones=["+35799000100"])

    frame = _open().dataframe[0].value

    assert list(frame["name"]) == ["Second", "First"]


def test_campaigns_counts_delivered_failed_pending(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)
    set_report(dashboard_engine, phone="+35799000001", status="DELIVERED", price="0.035")
    set_report(dashboard_engine, phone="+35799000002", status="UNDELIVERED", price="0.035")
    set_report(dashboard_engine, phone="+35799000003", status="SENT")

    row = _open().dataframe[0].value.iloc[0]

    assert row["delivered"] == 1
    assert row["failed"] == 1
    assert row["pending"] == 3
    assert row["cost"] == "0.07"
    assert row["estimated cost"] == "0.175"
    assert row["page"] == f"campaign?id={campaign_id}"


def test_campaigns_link_column_first(dashboard_engine):
    seed_campaign(dashboard_engine)

    frame = _open().dataframe[0].value

    assert next(iter(frame.columns)) == "page"


def test_campaigns_selecting_row_opens_campaign_page(dashboard_engine):
    campaign_id = seed_campaign(dashboard_engine)
    at = _open()

    at.session_state["campaigns_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()

    assert at.query_params["id"] == str(campaign_id)
    assert at.title[0].value == "Campaign"
