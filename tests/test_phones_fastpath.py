"""The fast path must give exactly phonenumbers' verdict, E.164 form, region and calling code.

A seeded generator writes numbers the way spreadsheets contain them: E.164, national with and
without trunk prefix, with the IDD, with the calling code but no "+", and in every punctuation.
It also writes broken ones: random digits, digits added or cut, unknown calling codes and stray
characters. Each batch is classified by the fast path and, value by value, by `classify_phone`,
the phonenumbers reference. The tests compare 158,500 values: 17 busy regions x 5,000, and every supported region
as the default x 300 (marked slow).
"""

import random

import phonenumbers
import pyarrow as pa
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from core.importing.normalise import classify_column
from core.importing.phones import classify_phone

_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)
_PUNCTUATION = ["", "", " ", "-", ".", "/", "(", ")"]
_BUSY_REGIONS = [
    "CY",
    "GR",
    "GB",
    "DE",
    "US",
    "FR",
    "IT",
    "RU",
    "IN",
    "BR",
    "CA",
    "ES",
    "NL",
    "AR",
    "JP",
    "GG",
    "AU",
]


def _examples() -> dict[str, list[phonenumbers.PhoneNumber]]:
    examples = {}
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        found = [phonenumbers.example_number_for_type(region, kind) for kind in _TYPES]
        examples[region] = [number for number in found if number is not None]
    return examples


_EXAMPLES = _examples()


def _mutate(digits: str, rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.3:
        return digits
    if choice < 0.6:
        keep = rng.randint(max(1, len(digits) - 4), len(digits))
        return digits[:keep] + "".join(rng.choice("0123456789") for _ in range(len(digits) - keep))
    if choice < 0.7:
        return digits + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 3)))
    if choice < 0.8:
        return digits[: max(1, len(digits) - rng.randint(1, 3))]
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 20)))


def _punctuate(text: str, rng: random.Random) -> str:
    if rng.random() < 0.4:
        return text
    pieces = []
    for char in text:
        if rng.random() < 0.25:
            pieces.append(rng.choice(_PUNCTUATION))
        pieces.append(char)
    return "".join(pieces)


def _written(number: phonenumbers.PhoneNumber, default_region: str, rng: random.Random) -> str:
    region = phonenumbers.region_code_for_number(number) or default_region
    national = _mutate(phonenumbers.national_significant_number(number), rng)
    code = str(number.country_code)
    prefix = phonenumbers.ndd_prefix_for_region(region, True) or ""
    form = rng.random()
    if form < 0.3:
        text = f"+{code}{national}"
    elif form < 0.45:
        text = f"00{code}{national}" if rng.random() < 0.7 else f"011{code}{national}"
    elif form < 0.6:
        text = f"{code}{national}"
    elif form < 0.8:
        text = f"{prefix}{national}"
    elif form < 0.9:
        text = national
    else:
        text = f"+{code}{prefix}{national}"
    if form < 0.3 and rng.random() < 0.2:
        text = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return _punctuate(text, rng)


def _junk(rng: random.Random) -> str:
    kind = rng.random()
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 22)))
    if kind < 0.3:
        return "+" + digits
    if kind < 0.5:
        return "0" * rng.randint(0, 3) + digits
    if kind < 0.6:
        return "+" + str(rng.choice([0, 99, 999, 388, 800, 881, 979, 1, 7, 44])) + digits
    if kind < 0.7:
        return digits[:3] + rng.choice(["#", "*", "+", ",", "~", "++", ";", ".."]) + digits[3:]
    if kind < 0.8:
        return rng.choice(["", "+", "-", "()", "00", "0", "1", "12"]) + digits[:2]
    return digits


def generate(default_region: str, count: int, seed: int) -> list[str]:
    """Return `count` phone cells for an operator whose default country is `default_region`."""
    rng = random.Random(f"{seed}-{default_region}")
    regions = sorted(_EXAMPLES)
    cells = []
    for _ in range(count):
        if rng.random() < 0.15:
            cells.append(_junk(rng))
            continue
        region = default_region if rng.random() < 0.5 else rng.choice(regions)
        examples = _EXAMPLES[region] or _EXAMPLES[default_region]
        # The first example is the mobile one where the region has mobiles: make it half of all.
        example = examples[0] if rng.random() < 0.5 else rng.choice(examples)
        cells.append(_written(example, default_region, rng))
    return cells


def _outcome(verdict) -> tuple:
    return (verdict.code, verdict.e164, verdict.region, verdict.calling_code)


def _differences(cells: list[str], default_region: str) -> tuple[list[tuple], int]:
    fast = classify_column(pa.array(cells, type=pa.string()), default_region)
    differences = []
    for position, cell in enumerate(cells):
        expected = _outcome(classify_phone(cell, default_region))
        got = (
            fast.code[position],
            fast.e164[position],
            fast.region[position],
            int(fast.calling_code[position]),
        )
        if got != expected:
            differences.append((cell, got, expected))
    return differences, fast.slow_rows


@pytest.mark.parametrize("default_region", _BUSY_REGIONS)
def test_fastpath_matches_phonenumbers_busy_regions(default_region):
    cells = generate(default_region, 5000, seed=1)

    differences, slow_rows = _differences(cells, default_region)

    assert differences[:5] == []
    assert slow_rows < len(cells) * 0.5


@pytest.mark.slow
def test_fastpath_matches_phonenumbers_every_region():
    # Every supported region is the default once, so each region's prefixes are exercised.
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    total = 0
    differences = []
    for default_region in regions:
        cells = generate(default_region, 300, seed=2)
        found, _ = _differences(cells, default_region)
        differences.extend(found)
        total += len(cells)

    assert total >= 70_000
    assert differences[:5] == []


def test_fastpath_needs_no_phonenumbers_for_plain_formats():
    cells = [
        "+35799000101",
        "+357 99 000101",
        "00357-99-000101",
        "(+357) 99.000.101",
        "99000101",
        "35799000101",
    ]
    cells += [
        "+44 7911 123456",
        "0044 (0)7911 123456",
        "+1 (201) 555-0123",
        "+30 691 234 5678",
        "22123456",
        "123",
    ]

    verdicts = classify_column(pa.array(cells * 100, type=pa.string()), "CY")

    assert verdicts.slow_rows == 0
