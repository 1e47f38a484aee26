"""Price per SMS part by destination country, and checks of our estimate against SMS.to's.

Every part of a concatenated message is billed, so a message costs parts x price per part of the
recipient's country. Amounts are `Decimal` in the account currency, EUR.

NOTE: the prices below are illustrative list prices, not SMS.to's tariff, which depends on the
account and changes over time. Replace them with the account's price list before relying on a
preview's cost. `compare_with_provider_estimate` shows how far they are off.
"""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.errors import InputError
from core.money import parse_money

log = logging.getLogger(__name__)

CURRENCY = "EUR"

# Price of one SMS part in EUR, keyed by ISO 3166-1 alpha-2 region code.
PRICE_PER_PART: Mapping[str, Decimal] = {
    "AE": Decimal("0.0520"),
    "AT": Decimal("0.0790"),
    "AU": Decimal("0.0480"),
    "BE": Decimal("0.0850"),
    "BG": Decimal("0.0700"),
    "CA": Decimal("0.0120"),
    "CH": Decimal("0.0560"),
    "CY": Decimal("0.0350"),
    "DE": Decimal("0.0750"),
    "ES": Decimal("0.0650"),
    "FR": Decimal("0.0690"),
    "GB": Decimal("0.0380"),
    "GR": Decimal("0.0420"),
    "IE": Decimal("0.0640"),
    "IL": Decimal("0.0300"),
    "IT": Decimal("0.0720"),
    "NL": Decimal("0.0890"),
    "PL": Decimal("0.0330"),
    "PT": Decimal("0.0310"),
    "RO": Decimal("0.0560"),
    "SE": Decimal("0.0540"),
    "US": Decimal("0.0110"),
}

# Price for a region missing from the table, including "ZZ" (the phonenumbers code for a number
# whose country is unknown) and "". It is above every table price so that an estimate errs high.
DEFAULT_PRICE_PER_PART = Decimal("0.0900")

_REGION = re.compile(r"[A-Z]{2}")


def normalise_region(region: str) -> str:
    """Return the region code in upper case, or raise InputError unless it is two ASCII letters."""
    if not isinstance(region, str):
        raise InputError(
            f"Country {region!r} is not a region code. Give a two-letter ISO code such as 'CY'."
        )

    code = region.strip().upper()
    if not _REGION.fullmatch(code):
        raise InputError(
            f"Country {region!r} is not a two-letter ISO region code. Write it as 'CY' or 'GR'."
        )
    return code


def price_per_part(region: str, *, prices: Mapping[str, Decimal] = PRICE_PER_PART) -> Decimal:
    """Return the price of one SMS part to the region, or the default price if it is not listed.

    The region is an ISO 3166-1 alpha-2 code in either case ("CY", "gr"). Any other value, such
    as "" or None for a number whose country is unknown, gets the default price, because callers
    price delivery reports and launches that must not fail on a missing region.
    """
    if not isinstance(region, str):
        return DEFAULT_PRICE_PER_PART
    return prices.get(region.strip().upper(), DEFAULT_PRICE_PER_PART)


@dataclass(frozen=True)
class EstimateComparison:
    """Our estimate beside SMS.to's `/sms/estimate` response, with a sentence on any difference."""

    our_parts: int
    our_cost: Decimal
    provider_parts: int
    provider_cost: Decimal
    agrees: bool
    explanation: str


def compare_with_provider_estimate(
    *, our_parts: int, our_cost: Decimal, estimate: Mapping[str, object]
) -> EstimateComparison:
    """Compare our total parts and cost with SMS.to's estimate and explain any disagreement.

    `estimate` is the JSON body of `POST /sms/estimate`. Its `sms_count` is the total number of
    parts over all recipients and `estimated_cost` the cost in the account currency. The costs
    agree when they differ by at most half a unit of SMS.to's last decimal place (at least the
    second, because a JSON number such as 0.40 arrives as 0.4), so rounding alone never counts
    as a disagreement.
    """
    provider_parts = _parse_count(estimate.get("sms_count"))
    provider_cost = parse_money(estimate.get("estimated_cost"))
    if provider_cost is None:
        raise InputError(
            f"SMS.to's estimate has no estimated_cost ({estimate!r}). Request the estimate again."
        )

    parts_agree = provider_parts == our_parts
    cost_agrees = abs(our_cost - provider_cost) <= _rounding_tolerance(provider_cost)
    invalid = _parse_count(estimate.get("invalid_count") or 0)
    explanation = _explain(our_parts, our_cost, provider_parts, provider_cost, cost_agrees, invalid)

    return EstimateComparison(
        our_parts=our_parts,
        our_cost=our_cost,
        provider_parts=provider_parts,
        provider_cost=provider_cost,
        agrees=parts_agree and cost_agrees,
        explanation=explanation,
    )


def _parse_count(value: object) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise InputError(
            f"SMS.to's estimate has sms_count {value!r}, not a whole number. Request it again."
        ) from None


def _rounding_tolerance(amount: Decimal) -> Decimal:
    exponent = amount.as_tuple().exponent
    places = max(-exponent, 2) if isinstance(exponent, int) else 2
    return Decimal(1).scaleb(-places) / 2


def _explain(
    our_parts: int,
    our_cost: Decimal,
    provider_parts: int,
    provider_cost: Decimal,
    cost_agrees: bool,
    invalid: int,
) -> str:
    if provider_parts == our_parts and cost_agrees:
        return f"SMS.to's estimate matches ours: {our_parts} parts for {provider_cost} {CURRENCY}."

    if provider_parts != our_parts:
        reason = (
            f"SMS.to counts {provider_parts} parts where we count {our_parts}, so it splits or "
            "encodes the text differently (for example line endings or extension characters)"
        )
        if invalid:
            reason += f" or leaves out the {invalid} numbers it found invalid"
        return reason + f". Its cost is {provider_cost} {CURRENCY} against our {our_cost}."

    difference = provider_cost - our_cost
    per_part = abs(difference / provider_parts) if provider_parts else abs(difference)
    direction = "higher" if difference > 0 else "lower"
    return (
        f"Both count {our_parts} parts, but SMS.to prices them at {provider_cost} {CURRENCY} "
        f"against our {our_cost}, so the account's tariff is {direction} than core/pricing.py "
        f"by about {per_part:.4f} {CURRENCY} per part on average."
    )
