"""Prices per part, exact Decimal totals per country, and the check against SMS.to's estimate."""

from decimal import Decimal

import pytest

from core.errors import InputError
from core.preview import preview_rows
from core.pricing import (
    DEFAULT_PRICE_PER_PART,
    PRICE_PER_PART,
    compare_with_provider_estimate,
    normalise_region,
    price_per_part,
)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("CY", PRICE_PER_PART["CY"]),
        ("cy", PRICE_PER_PART["CY"]),
        (" gr ", PRICE_PER_PART["GR"]),
        ("US", PRICE_PER_PART["US"]),
        ("BR", DEFAULT_PRICE_PER_PART),
        ("ZZ", DEFAULT_PRICE_PER_PART),
        ("", DEFAULT_PRICE_PER_PART),
        ("Cyprus", DEFAULT_PRICE_PER_PART),
        (None, DEFAULT_PRICE_PER_PART),
    ],
)
def test_price_per_part_table(region, expected):
    assert price_per_part(region) == expected


def test_price_per_part_is_decimal():
    assert isinstance(price_per_part("CY"), Decimal)


def test_price_table_twenty_countries():
    assert len(PRICE_PER_PART) >= 20
    assert all(isinstance(price, Decimal) for price in PRICE_PER_PART.values())
    assert all(len(region) == 2 and region.isupper() for region in PRICE_PER_PART)


def test_default_price_above_table():
    assert DEFAULT_PRICE_PER_PART > max(PRICE_PER_PART.values())


def test_price_per_part_custom_table():
    assert price_per_part("CY", prices={"CY": Decimal("0.01")}) == Decimal("0.01")


@pytest.mark.parametrize("value", ["", "C", "CYP", "Cyprus", "3C", None, 35])
def test_normalise_region_rejects(value):
    with pytest.raises(InputError, match="region code"):
        normalise_region(value)


def test_normalise_region_upper():
    assert normalise_region(" de ") == "DE"


ROWS = [
    {"name": "Anna", "country": "CY"},
    {"name": "Bob", "country": "CY"},
    {"name": "Chris " + "x" * 160, "country": "CY"},
    {"name": "Dora", "country": "GR"},
    {"name": "Eve", "country": "BR"},
    {"name": "", "country": "GR"},
]


def test_preview_totals_per_country_exact():
    preview = preview_rows("Hi {name}", ROWS)
    table = preview.by_country

    assert table.loc["CY", "recipients"] == 3
    assert table.loc["CY", "parts"] == 4
    assert table.loc["CY", "cost"] == Decimal("0.0350") * 4
    assert table.loc["GR", "recipients"] == 1
    assert table.loc["GR", "skipped"] == 1
    assert table.loc["BR", "cost"] == DEFAULT_PRICE_PER_PART


def test_preview_grand_totals_exact():
    preview = preview_rows("Hi {name}", ROWS)

    assert preview.recipients == 5
    assert preview.parts == 6
    assert preview.cost == Decimal("0.1400") + Decimal("0.0420") + Decimal("0.0900")
    assert preview.skipped == 1
    assert isinstance(preview.cost, Decimal)


def test_preview_cost_per_row_is_parts_times_price():
    rows = preview_rows("Hi {name}", ROWS).rows

    assert rows["cost"].tolist()[:4] == [
        Decimal("0.0350"),
        Decimal("0.0350"),
        Decimal("0.0700"),
        Decimal("0.0420"),
    ]


def test_preview_totals_many_rows_no_float_drift():
    rows = [{"name": "A", "country": "CY"}] * 10_000

    preview = preview_rows("Hi {name}", rows, prices={"CY": Decimal("0.0001")})

    assert preview.cost == Decimal("1.0000")


ESTIMATES = [
    # (id, our parts, our cost, estimate, agrees, words in the explanation)
    ("match", 12, Decimal("0.4200"), {"sms_count": 12, "estimated_cost": 0.42}, True, "matches"),
    (
        "match_string_values",
        3,
        Decimal("0.105"),
        {"sms_count": "3", "estimated_cost": "0.105"},
        True,
        "matches",
    ),
    (
        "rounding_only",
        3,
        Decimal("0.1050"),
        {"sms_count": 3, "estimated_cost": "0.11"},
        True,
        "matches",
    ),
    (
        "more_parts",
        12,
        Decimal("0.42"),
        {"sms_count": 14, "estimated_cost": 0.49},
        False,
        "SMS.to counts 14 parts where we count 12",
    ),
    (
        "invalid_numbers",
        12,
        Decimal("0.42"),
        {"sms_count": 10, "estimated_cost": 0.35, "invalid_count": 2},
        False,
        "2 numbers it found invalid",
    ),
    (
        "price_higher",
        10,
        Decimal("0.35"),
        {"sms_count": 10, "estimated_cost": 0.40},
        False,
        "higher than core/pricing.py by about 0.0050 EUR per part",
    ),
    (
        "price_lower",
        10,
        Decimal("0.35"),
        {"sms_count": 10, "estimated_cost": 0.30},
        False,
        "lower than core/pricing.py",
    ),
]


@pytest.mark.parametrize(
    ("our_parts", "our_cost", "estimate", "agrees", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in ESTIMATES],
)
def test_compare_with_provider_estimate_table(our_parts, our_cost, estimate, agrees, words):
    result = compare_with_provider_estimate(
        our_parts=our_parts, our_cost=our_cost, estimate=estimate
    )

    assert result.agrees is agrees
    assert words in result.explanation


def test_compare_with_provider_estimate_decimal_cost():
    result = compare_with_provider_estimate(
        our_parts=1, our_cost=Decimal("0.035"), estimate={"sms_count": 1, "estimated_cost": 0.015}
    )

    assert result.provider_cost == Decimal("0.015")


@pytest.mark.parametrize(
    "estimate",
    [
        {"sms_count": 1},
        {"sms_count": "many", "estimated_cost": 1},
        {"estimated_cost": "abc", "sms_count": 1},
    ],
)
def test_compare_with_provider_estimate_rejects(estimate):
    with pytest.raises(InputError):
        compare_with_provider_estimate(our_parts=1, our_cost=Decimal("0.035"), estimate=estimate)
