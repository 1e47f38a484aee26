"""Exact money: `Decimal` in Python, an integer count of nano-units in the database.

SQLite has no exact decimal type (SQLAlchemy's Numeric goes through REAL there), so prices are
stored as integers of 10^-9 currency units. Sums then stay exact in SQL on SQLite and PostgreSQL
alike, and aggregates never need to load rows into Python.
"""

from decimal import Decimal, InvalidOperation

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

from core.errors import InputError

SCALE = 9
_UNIT = Decimal(1).scaleb(-SCALE)


def parse_money(value: object) -> Decimal | None:
    """Parse a price given as a number or a string; None or an empty string gives None.

    A float is converted through its shortest repr (0.015 stays 0.015, not 0.01499999...).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InputError(f"Price {value!r} is a boolean, not an amount; send a number such as 0.015.")

    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InputError(f"Price {value!r} is not a number; send an amount such as 0.015.") from None

    if not amount.is_finite():
        raise InputError(f"Price {value!r} is not a finite amount; send an amount such as 0.015.")
    return amount


def to_units(amount: Decimal) -> int:
    """Convert an amount to integer nano-units, refusing any precision that would be lost."""
    units = amount.scaleb(SCALE)
    if units != units.to_integral_value():
        raise InputError(
            f"Price {amount} has more than {SCALE} decimal places and cannot be stored exactly."
        )
    return int(units)


def from_units(units: int | None) -> Decimal | None:
    """Convert integer nano-units (as stored or summed in SQL) back to a normalised Decimal."""
    if units is None:
        return None
    return _normalise(Decimal(int(units)) * _UNIT)


def _normalise(amount: Decimal) -> Decimal:
    # Drop trailing zeros but never switch to exponent notation: 0.045, not 4.5E-2.
    text = format(amount.normalize(), "f")
    return Decimal(text)


def format_money(amount: Decimal | None) -> str:
    """Render an amount as a plain decimal string ("0.045"), or "" when unknown."""
    if amount is None:
        return ""
    return format(_normalise(amount), "f")


class Money(TypeDecorator):
    """A `Decimal` column stored as a BIGINT of nano-units."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return to_units(Decimal(value))

    def process_result_value(self, value, dialect):
        return from_units(value)
