"""Column-wise versions of phonenumbers' pattern tests: number type, region and national prefix."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneNumberType

from core.importing.rules import MAX_LENGTH, Desc, RegionRules, regions_of, rules_for


def types_and_regions(national: pa.Array, code: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each number's type and region, as phonenumbers' `region_code_for_number` finds it."""
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
    lengths = lengths_of(national, clip=True)
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


def strip_national_prefix(national: pa.Array, rules: RegionRules) -> tuple[pa.Array, np.ndarray]:
    """phonenumbers' `_maybe_strip_national_prefix_carrier_code`; also returns the unsure rows."""
    no_unsure = np.zeros(len(national), dtype=bool)
    if not rules.national_prefix_pattern or len(national) == 0:
        return national, no_unsure

    match = pc.extract_regex(national, rules.national_prefix_pattern)
    matched = as_mask(pc.is_valid(match))
    candidate = pc.fill_null(pc.struct_field(match, "rest"), "")
    if rules.transform_parts:
        if not rules.transform_supported:
            return national, matched
        candidate = _transformed(match, candidate, rules)

    # Stripping is undone when the number fitted the region's pattern before and no longer does.
    keep = (
        matched & pattern_match(national, rules.general) & ~pattern_match(candidate, rules.general)
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


def pattern_match(national: pa.Array, desc: Desc) -> np.ndarray:
    if desc.pattern is None:
        return np.zeros(len(national), dtype=bool)
    return as_mask(pc.match_substring_regex(national, desc.pattern))


def _match(values: pa.Array, pattern: str, *, among: np.ndarray) -> np.ndarray:
    matched = np.zeros(len(values), dtype=bool)
    rows = np.flatnonzero(among)
    if rows.size:
        matched[rows] = as_mask(pc.match_substring_regex(values.take(pa.array(rows)), pattern))
    return matched


def lengths_of(values: pa.Array, *, clip: bool = False) -> np.ndarray:
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
    if clip:
        return np.minimum(lengths, MAX_LENGTH)
    return lengths


def as_mask(array: pa.Array) -> np.ndarray:
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)
