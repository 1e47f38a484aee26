from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.errors import InputError
from core.models import Campaign, Recipient
from core.money import format_money, parse_money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.015, Decimal("0.015")),
        ("0.015", Decimal("0.015")),
        (" 0.015 ", Decimal("0.015")),
        (1, Decimal(1)),
        (None, None),
        ("", None),
    ],
)
def test_parse_money_accepts_numbers_and_strings(value, expected):
    assert parse_money(value) == expected


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", True])
def test_parse_money_rejects_non_amounts(value):
    with pytest.raises(InputError, match="Price"):
        parse_money(value)


def test_money_sum_in_sql_is_exact(engine):
    with session_scope(engine) as session:
        campaign = Campaign(message="hi", launch_key="k1")
        session.add(campaign)
        session.flush()
        for index in range(3):
            session.add(
                Recipient(campaign_id=campaign.id, phone=f"+3579900000{index}", price=Decimal("0.015"))
            )

    with session_scope(engine) as session:
        total = session.exec(select(func.sum(Recipient.__table__.c.price))).scalar_one()

    assert total == Decimal("0.045")


def test_format_money_has_no_exponent():
    assert format_money(Decimal("0.0450000")) == "0.045"


def test_money_column_rejects_lost_precision(engine):
    with pytest.raises(Exception, match="decimal places"), session_scope(engine) as session:
        campaign = Campaign(message="hi", launch_key="k2")
        session.add(campaign)
        session.flush()
        session.add(Recipient(campaign_id=campaign.id, phone="+35799000001", price=Decimal("1e-12")))
