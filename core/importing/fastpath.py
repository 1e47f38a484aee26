"""Vectorised phone classification: phonenumbers' parsing and validation rules, run per column.

Calling phonenumbers once per row (parse, validity and type) costs 25 to 40 µs on the 2-core
benchmark machine (bench/bench_import.py), so a million rows would take half a minute. This
module applies the same steps to whole columns with pyarrow's RE2 kernels and numpy, grouped by
region and calling code, using the metadata tables of `rules.py`:

1. a leading "+" or the default region's international prefix (IDD) marks an international
   number, whose calling code is read from its first 1 to 3 digits;
2. otherwise the number is national, unless it starts with the default region's calling code and
   reads better without it (phonenumbers' own test, repeated here);
3. the national prefix (trunk prefix, e.g. the 0 of 07911...) is stripped when what remains has
   a possible length;
4. the region is chosen among the regions sharing the calling code, and the number type is found
   by the metadata's patterns in phonenumbers' order.

Values outside what the steps model are marked unsure and go to `phones.classify_compact`, which
calls phonenumbers once per distinct value. These are cells with characters other than digits,
"+" and `-./()`, and cells with fewer than 3 digits or more than 250 characters. National
prefixes of regions whose transform rule has a group that can match the empty string are unsure
too, but no region in phonenumbers 9.0.43 has one.
"""

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneNumberType, ValidationResult, country_code_for_region

from core.importing.matching import (
    as_mask,
    lengths_of,
    pattern_match,
    strip_national_prefix,
    types_and_regions,
)
from core.importing.phones import LENGTH_CODES, NON_GEOGRAPHIC, NON_GEOGRAPHIC_REGION, TYPE_CODES
from core.importing.rules import (
    RegionRules,
    calling_code_table,
    main_region,
    rules_for,
)

log = logging.getLogger(__name__)

# Digits with "+" first and the punctuation phonenumbers ignores; anything else takes the slow path.
ELIGIBLE_PATTERN = r"^[-./()]*(?:\+[-./()]*)?[0-9][-./()0-9]*$"
MAX_ELIGIBLE_LENGTH = 250  # phonenumbers rejects longer input as TOO_LONG before parsing

_MIN_NATIONAL_LENGTH = 2
_MAX_NATIONAL_LENGTH = 17
_KEEP_UNSTRIPPED = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)


def _lookup(codes: dict[int, str]) -> np.ndarray:
    table = np.full(max(codes) + 1, "", dtype=object)
    for value, name in codes.items():
        table[value] = name
    return table


_TYPE_NAMES = _lookup(TYPE_CODES)
_LENGTH_NAMES = _lookup(LENGTH_CODES)


@dataclass
class FastResult:
    """Per-row outcome of the fast path; rows with `unsure` set carry no outcome."""

    code: np.ndarray
    e164: np.ndarray
    region: np.ndarray
    calling_code: np.ndarray
    unsure: np.ndarray

    @classmethod
    def empty(cls, count: int) -> "FastResult":
        return cls(
            code=np.full(count, "", dtype=object),
            e164=np.full(count, None, dtype=object),
            region=np.full(count, None, dtype=object),
            calling_code=np.zeros(count, dtype=np.int32),
            unsure=np.zeros(count, dtype=bool),
        )


def classify_digits(digits: pa.Array, plus: np.ndarray, default_region: str) -> FastResult:
    """Classify digit strings for `default_region`; `plus` marks cells that had a leading "+"."""
    result = FastResult.empty(len(digits))
    home = rules_for(country_code_for_region(default_region), default_region)
    positions = np.arange(len(digits))

    retry = _international(result, positions[plus], digits.filter(pa.array(plus)), via_idd=False)
    _without_plus(result, positions[~plus], digits.filter(pa.array(~plus)), home, retry=False)
    # phonenumbers reads a "+" number with an unknown calling code again without the "+", and
    # accepts it only if it then finds a calling code (after an IDD or the home calling code).
    _without_plus(result, *retry, home, retry=True)
    return result


def _without_plus(
    result: FastResult, positions: np.ndarray, digits: pa.Array, home: RegionRules, *, retry: bool
) -> None:
    if home.idd_pattern and len(digits):
        match = pc.extract_regex(digits, home.idd_pattern)
        rest = pc.struct_field(match, "rest")
        # A 0 right after the IDD means the IDD was not one, since no calling code starts with 0.
        is_idd = as_mask(pc.is_valid(match)) & ~as_mask(pc.starts_with(rest, "0"))
        _international(result, positions[is_idd], rest.filter(pa.array(is_idd)), via_idd=True)
        positions, digits = positions[~is_idd], digits.filter(pa.array(~is_idd))
    _national(result, positions, digits, home, retry=retry)


def _international(result: FastResult, positions: np.ndarray, digits: pa.Array, *, via_idd: bool):
    """Classify numbers after their "+" or IDD; return the "+" numbers phonenumbers reads again."""
    lengths = lengths_of(digits)
    too_short = lengths <= _MIN_NATIONAL_LENGTH
    result.code[positions[too_short]] = "too_short"

    keep = ~too_short
    positions, digits = positions[keep], digits.filter(pa.array(keep))
    prefixes = pc.cast(pc.utf8_slice_codeunits(digits, 0, 3), pa.int32()).to_numpy(
        zero_copy_only=False
    )
    table_codes, table_lengths = calling_code_table()
    codes, code_lengths = table_codes[prefixes], table_lengths[prefixes]

    unknown = codes == 0
    if via_idd:
        result.code[positions[unknown]] = "invalid_country_code"

    for code in np.unique(codes[~unknown]):
        rows = codes == code
        national = pc.utf8_slice_codeunits(
            digits.filter(pa.array(rows)), int(code_lengths[rows][0])
        )
        rules = rules_for(int(code), main_region(int(code)))
        _finish(result, positions[rows], national, int(code), rules)
    return positions[unknown], digits.filter(pa.array(unknown))


def _national(
    result: FastResult, positions: np.ndarray, digits: pa.Array, home: RegionRules, *, retry: bool
) -> None:
    prefix = str(home.country_code)
    starts = as_mask(pc.starts_with(digits, prefix))
    full = digits.filter(pa.array(starts))
    without_code, unsure = strip_national_prefix(pc.utf8_slice_codeunits(full, len(prefix)), home)

    # phonenumbers reads a leading calling code without "+" as one when the number only fits
    # the region's pattern without it, or is too long with it.
    better = ~pattern_match(full, home.general) & pattern_match(without_code, home.general)
    better |= home.length_result[lengths_of(full, clip=True)] == ValidationResult.TOO_LONG
    better &= ~unsure

    starts_positions = positions[starts]
    result.unsure[starts_positions[unsure]] = True
    main_rules = rules_for(home.country_code, main_region(home.country_code))
    _finish(
        result,
        starts_positions[better],
        without_code.filter(pa.array(better)),
        home.country_code,
        main_rules,
    )

    as_is = np.ones(len(digits), dtype=bool)
    as_is[np.flatnonzero(starts)[better | unsure]] = False
    if retry:
        result.code[positions[as_is]] = "invalid_country_code"
    else:
        _finish(result, positions[as_is], digits.filter(pa.array(as_is)), home.country_code, home)


def _finish(
    result: FastResult, positions: np.ndarray, national: pa.Array, code: int, rules: RegionRules
) -> None:
    if len(positions) == 0:
        return

    too_short = lengths_of(national) < _MIN_NATIONAL_LENGTH
    result.code[positions[too_short]] = "too_short"
    positions, national = positions[~too_short], national.filter(pa.array(~too_short))

    stripped, unsure = strip_national_prefix(national, rules)
    result.unsure[positions[unsure]] = True
    use_stripped = ~np.isin(rules.length_result[lengths_of(stripped, clip=True)], _KEEP_UNSTRIPPED)
    national = pc.if_else(pa.array(use_stripped), stripped, national)

    keep = ~unsure
    too_long = lengths_of(national) > _MAX_NATIONAL_LENGTH
    result.code[positions[keep & too_long]] = "too_long"
    keep &= ~too_long
    _validate(result, positions[keep], national.filter(pa.array(keep)), code)


def _validate(result: FastResult, positions: np.ndarray, national: pa.Array, code: int) -> None:
    if len(positions) == 0:
        return

    types, regions = types_and_regions(national, code)
    valid = types != PhoneNumberType.UNKNOWN
    result.calling_code[positions] = code

    valid_positions = positions[valid]
    codes = _TYPE_NAMES[types[valid]]
    codes[(codes == "ok") & (regions[valid] == NON_GEOGRAPHIC_REGION)] = NON_GEOGRAPHIC
    result.code[valid_positions] = codes
    result.region[valid_positions] = regions[valid]
    e164 = pc.binary_join_element_wise(f"+{code}", national.filter(pa.array(valid)), "")
    result.e164[valid_positions] = e164.to_numpy(zero_copy_only=False)

    # An invalid number's reason comes from the lengths of the calling code's main region.
    main_rules = rules_for(code, main_region(code))
    length_results = main_rules.length_result[
        lengths_of(national.filter(pa.array(~valid)), clip=True)
    ]
    result.code[positions[~valid]] = _LENGTH_NAMES[length_results]
