"""Vectorised phone classification: phonenumbers' parsing and validation rules, run per column.

Calling phonenumbers once per row costs about 40 µs, so a million rows would take 40 s. This
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

Values outside what the steps model are marked unsure and go to `phones.classify_compact`, one
phonenumbers call per distinct value: cells with characters other than digits, "+" and
`-./()`, and
national prefixes of regions whose transform rule has a group that can match nothing (none
in phonenumbers 9.0).
"""

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneNumberType, ValidationResult, country_code_for_region

from core.importing.phones import LENGTH_CODES, TYPE_CODES
from core.importing.rules import (
    Desc,
    RegionRules,
    calling_code_table,
    main_region,
    regions_of,
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
    """Classify digit strings (with `plus` set where the cell had a leading "+") for `default_region`."""
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
        is_idd = _bool(pc.is_valid(match)) & ~_bool(pc.starts_with(rest, "0"))
        _international(result, positions[is_idd], rest.filter(pa.array(is_idd)), via_idd=True)
        positions, digits = positions[~is_idd], digits.filter(pa.array(~is_idd))
    _national(result, positions, digits, home, retry=retry)


def _international(result: FastResult, positions: np.ndarray, digits: pa.Array, *, via_idd: bool):
    """Classify numbers after their "+" or IDD; return the "+" numbers phonenumbers reads again."""
    lengths = _lengths(digits)
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
    starts = _bool(pc.starts_with(digits, prefix))
    full = digits.filter(pa.array(starts))
    without_code, unsure = _strip_national_prefix(pc.utf8_slice_codeunits(full, len(prefix)), home)

    # phonenumbers reads a leading calling code without "+" as one when the number only fits
    # the region's pattern without it, or is too long with it.
    better = ~_pattern_match(full, home.general) & _pattern_match(without_code, home.general)
    better |= home.length_result[_lengths(full, clip=True)] == ValidationResult.TOO_LONG
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

    too_short = _lengths(national) < _MIN_NATIONAL_LENGTH
    result.code[positions[too_short]] = "too_short"
    positions, national = positions[~too_short], national.filter(pa.array(~too_short))

    stripped, unsure = _strip_national_prefix(national, rules)
    result.unsure[positions[unsure]] = True
    use_stripped = ~np.isin(rules.length_result[_lengths(stripped, clip=True)], _KEEP_UNSTRIPPED)
    national = pc.if_else(pa.array(use_stripped), stripped, national)

    keep = ~unsure
    too_long = _lengths(national) > _MAX_NATIONAL_LENGTH
    result.code[positions[keep & too_long]] = "too_long"
    keep &= ~too_long
    _validate(result, positions[keep], national.filter(pa.array(keep)), code)


def _validate(result: FastResult, positions: np.ndarray, national: pa.Array, code: int) -> None:
    if len(positions) == 0:
        return

    types, regions = _types_and_regions(national, code)
    valid = types != PhoneNumberType.UNKNOWN
    result.calling_code[positions] = code

    valid_positions = positions[valid]
    result.code[valid_positions] = _TYPE_NAMES[types[valid]]
    result.region[valid_positions] = regions[valid]
    e164 = pc.binary_join_element_wise(f"+{code}", national.filter(pa.array(valid)), "")
    result.e164[valid_positions] = e164.to_numpy(zero_copy_only=False)

    # An invalid number's reason comes from the lengths of the calling code's main region.
    main_rules = rules_for(code, main_region(code))
    length_results = main_rules.length_result[
        _lengths(national.filter(pa.array(~valid)), clip=True)
    ]
    result.code[positions[~valid]] = _LENGTH_NAMES[length_results]


def _types_and_regions(national: pa.Array, code: int) -> tuple[np.ndarray, np.ndarray]:
    types = np.full(len(national), PhoneNumberType.UNKNOWN, dtype=np.int16)
    regions = np.full(len(national), None, dtype=object)
    pending = np.ones(len(national), dtype=bool)

    for region in regions_of(code):
        rules = rules_for(code, region)
        if rules is None or not pending.any():
            continue
        if rules.leading_digits:
            # phonenumbers assigns the region by its leading digits alone, then validates there.
            claimed = pending & _match(national, rules.leading_digits, among=pending)
            types[claimed] = number_types(national, rules, among=claimed)[claimed]
        else:
            region_types = number_types(national, rules, among=pending)
            claimed = pending & (region_types != PhoneNumberType.UNKNOWN)
            types[claimed] = region_types[claimed]
        regions[claimed] = region
        pending &= ~claimed
    return types, regions


def number_types(national: pa.Array, rules: RegionRules, *, among: np.ndarray) -> np.ndarray:
    """phonenumbers' `_number_type_helper` for the rows in `among`; UNKNOWN elsewhere."""
    lengths = _lengths(national, clip=True)
    types = np.full(len(national), PhoneNumberType.UNKNOWN, dtype=np.int16)
    pending = among & _desc_match(national, lengths, rules.general, among)

    for number_type, desc in rules.special:
        matched = _desc_match(national, lengths, desc, pending)
        types[matched] = number_type
        pending &= ~matched

    fixed = _desc_match(national, lengths, rules.fixed_line, pending)
    if rules.same_mobile_and_fixed_line_pattern:
        types[fixed] = PhoneNumberType.FIXED_LINE_OR_MOBILE
    else:
        types[fixed] = PhoneNumberType.FIXED_LINE
        types[_desc_match(national, lengths, rules.mobile, fixed)] = (
            PhoneNumberType.FIXED_LINE_OR_MOBILE
        )
        pending &= ~fixed
        types[_desc_match(national, lengths, rules.mobile, pending)] = PhoneNumberType.MOBILE
    return types


def _strip_national_prefix(national: pa.Array, rules: RegionRules) -> tuple[pa.Array, np.ndarray]:
    """phonenumbers' `_maybe_strip_national_prefix_carrier_code`; also returns the unsure rows."""
    no_unsure = np.zeros(len(national), dtype=bool)
    if not rules.national_prefix_pattern or len(national) == 0:
        return national, no_unsure

    match = pc.extract_regex(national, rules.national_prefix_pattern)
    matched = _bool(pc.is_valid(match))
    candidate = pc.fill_null(pc.struct_field(match, "rest"), "")
    if rules.transform_parts:
        if not rules.transform_supported:
            return national, matched
        candidate = _transformed(match, candidate, rules)

    # Stripping is undone when the number fitted the region's pattern before and no longer does.
    keep = (
        matched
        & _pattern_match(national, rules.general)
        & ~_pattern_match(candidate, rules.general)
    )
    strip = matched & ~keep
    return pc.if_else(pa.array(strip), candidate, national), no_unsure


def _transformed(match: pa.Array, rest: pa.Array, rules: RegionRules) -> pa.Array:
    # The rule applies only when the last group took part in the match; otherwise the prefix is
    # simply removed. Groups never match the empty string here (`transform_supported`), so an
    # empty group is one that did not take part.
    def group(number: int) -> pa.Array:
        return pc.fill_null(pc.struct_field(match, f"g{number}"), "")

    last_group = group(rules.national_prefix_groups)
    parts = [group(part) if isinstance(part, int) else part for part in rules.transform_parts]
    transformed = pc.binary_join_element_wise(*parts, rest, "")
    return pc.if_else(pc.not_equal(last_group, ""), transformed, rest)


def _desc_match(
    national: pa.Array, lengths: np.ndarray, desc: Desc, among: np.ndarray
) -> np.ndarray:
    if desc.pattern is None:
        return np.zeros(len(national), dtype=bool)
    return _match(national, desc.pattern, among=among & desc.length_allowed[lengths])


def _pattern_match(national: pa.Array, desc: Desc) -> np.ndarray:
    if desc.pattern is None:
        return np.zeros(len(national), dtype=bool)
    return _bool(pc.match_substring_regex(national, desc.pattern))


def _match(values: pa.Array, pattern: str, *, among: np.ndarray) -> np.ndarray:
    matched = np.zeros(len(values), dtype=bool)
    rows = np.flatnonzero(among)
    if rows.size:
        matched[rows] = _bool(pc.match_substring_regex(values.take(pa.array(rows)), pattern))
    return matched


def _lengths(values: pa.Array, *, clip: bool = False) -> np.ndarray:
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
    if clip:
        return np.minimum(lengths, 256)
    return lengths


def _bool(array: pa.Array) -> np.ndarray:
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)
