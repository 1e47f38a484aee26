"""The campaign's recipients CSV export: every row, formulas neutralised, phones masked by default."""

import csv
import io

import pytest
from sqlalchemy import update

from core.models import Recipient
from dashboard.exports import recipients_csv, recipients_csv_callback
from tests.dashboard_support import seed_campaign, set_report


def _read(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_recipients_csv_masks_phones_by_default(engine):
    campaign_id = seed_campaign(engine)

    rows = _read(recipients_csv(engine, campaign_id=campaign_id, full_phone=False))

    # The apostrophe keeps a spreadsheet from reading a cell that starts with + as a formula.
    assert [row["phone"] for row in rows][:2] == ["'+357******01", "'+357******02"]


def test_recipients_csv_full_phones_on_request(engine):
    campaign_id = seed_campaign(engine)

    rows = _read(recipients_csv(engine, campaign_id=campaign_id, full_phone=True))

    assert rows[0]["phone"] == "'+35799000001"


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("status", {"status": "=1+1"}, "'=1+1"),
        ("status", {"status": "@SUM(A1)"}, "'@SUM(A1)"),
        ("fields", {"fields_json": '{"=cmd": "x"}'}, "'=cmd=x"),
        ("fields", {"fields_json": '{"name": "-2+3"}'}, "name=-2+3"),
    ],
)
def test_recipients_csv_neutralises_formulas(engine, column, values, expected):
    campaign_id = seed_campaign(engine)
    with engine.begin() as connection:
        connection.execute(
            update(Recipient).where(Recipient.phone == "+35799000001").values(**values)
        )

    rows = _read(recipients_csv(engine, campaign_id=campaign_id, full_phone=False))

    assert rows[0][column] == expected


def test_recipients_csv_every_row_across_batches(engine):
    phones = [f"+357990{index:05d}" for index in range(12_000)]
    campaign_id = seed_campaign(engine, phones=phones)
    set_report(engine, phone=phones[-1], status="DELIVERED", price="0.035")

    rows = _read(recipients_csv(engine, campaign_id=campaign_id, full_phone=False))

    assert len(rows) == 12_000
    assert rows[-1]["status"] == "DELIVERED"
    assert rows[-1]["cost"] == "0.035"


def test_recipients_csv_callback_builds_on_call(engine):
    campaign_id = seed_campaign(engine)

    build = recipients_csv_callback(engine, campaign_id=campaign_id, full_phone=False)

    assert len(_read(build())) == 5
