"""Per-region numbering rules taken from phonenumbers' metadata, in a form for vectorised matching.

The patterns are the metadata's own regular expressions, which pyarrow's RE2 kernels accept (all
of them in phonenumbers 9.0.43; libphonenumber's C++ library can match them with RE2 too). Each
is anchored the way phonenumbers matches it: `re.match` as `^(?:...)`, `fullmatch` as
`^(?:...)$`. Capturing groups become named groups, the only kind pyarrow extracts. Length rules
are tabulated by calling phonenumbers' own length test once per length.
"""

import functools
import re
from dataclasses import dataclass

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, _test_number_length

NON_GEO_REGION = "001"

# Maximum length the tables cover; phonenumbers rejects longer input before it checks lengths.
MAX_LENGTH = 256

# The order in which phonenumbers' `_number_type_helper` tries the special number types.
_SPECIAL_TYPES = (
    (PhoneNumberType.PREMIUM_RATE, "premium_rate"),
    (PhoneNumberType.TOLL_FREE, "toll_free"),
    (PhoneNumberType.SHARED_COST, "shared_cost"),
    (PhoneNumberType.VOIP, "voip"),
    (PhoneNumberType.PERSONAL_NUMBER, "personal_number"),
    (PhoneNumberType.PAGER, "pager"),
    (PhoneNumberType.UAN, "uan"),
    (PhoneNumberType.VOICEMAIL, "voicemail"),
)

# An opening bracket that starts a capturing group (not escaped, not followed by "?").
_CAPTURING_GROUP = re.compile(r"(?<!\\)\((?!\?)")


@dataclass(frozen=True)
class Desc:
    """One number description: a full-match pattern and the lengths it allows."""

    pattern: str | None  # None: matches nothing
    length_allowed: np.ndarray  # bool by length


@dataclass(frozen=True)
class RegionRules:
    """The metadata of one region (or non-geographic calling code) that the fast path uses."""

    region: str
    country_code: int
    idd_pattern: str | None  # extracts field "rest" after the international prefix
    national_prefix_pattern: str | None  # extracts groups "g1".."gN" and "rest" after the prefix
    national_prefix_groups: int
    # The transform rule as literal text and group numbers; None when the region has none.
    transform_parts: tuple[str | int, ...] | None
    # False when a group can match the empty string. A missing group then looks like an empty
    # one, so the fast path leaves such numbers to phonenumbers.
    transform_supported: bool
    general: Desc
    special: tuple[tuple[int, Desc], ...]
    fixed_line: Desc
    mobile: Desc
    same_mobile_and_fixed_line_pattern: bool
    leading_digits: str | None
    length_result: np.ndarray  # ValidationResult by length, for the number type UNKNOWN


def _desc(metadata_desc) -> Desc:
    allowed = np.ones(MAX_LENGTH + 1, dtype=bool)
    if metadata_desc is None or not metadata_desc.national_number_pattern:
        return Desc(None, allowed)

    lengths = [length for length in metadata_desc.possible_length if 0 <= length <= MAX_LENGTH]
    if metadata_desc.possible_length:
        allowed[:] = False
        allowed[lengths] = True
    return Desc(f"^(?:{metadata_desc.national_number_pattern})$", allowed)


def _named_groups(pattern: str) -> tuple[str, int]:
    # pyarrow's extraction kernel takes named groups only; numbering follows Python's.
    count = 0

    def rename(_match: re.Match) -> str:
        nonlocal count
        count += 1
        return f"(?P<g{count}>"

    return _CAPTURING_GROUP.sub(rename, pattern), count


def _transform_parts(rule: str | None) -> tuple[str | int, ...] | None:
    if not rule:
        return None
    pieces = re.split(r"\\(\d)", rule)
    return tuple(int(piece) if index % 2 else piece for index, piece in enumerate(pieces) if piece)


def _groups_never_empty(pattern: str) -> bool:
    compiled = re.compile(pattern)
    groups = [match.start() for match in _CAPTURING_GROUP.finditer(pattern)]
    return all(
        _group_text_never_empty(pattern, start) for start in groups
    ) and compiled.groups == len(groups)


def _group_text_never_empty(pattern: str, start: int) -> bool:
    depth = 0
    for index in range(start, len(pattern)):
        if pattern[index] == "(" and pattern[index - 1 : index] != "\\":
            depth += 1
        elif pattern[index] == ")" and pattern[index - 1 : index] != "\\":
            depth -= 1
            if depth == 0:
                return re.fullmatch(pattern[start + 1 : index], "") is None
    return False


def _rules(metadata) -> RegionRules:
    national_prefix = metadata.national_prefix_for_parsing or None
    groups = 0
    transform_supported = True
    if national_prefix:
        transform_supported = _groups_never_empty(national_prefix)
        named, groups = _named_groups(national_prefix)
        national_prefix = f"^(?:{named})(?P<rest>.*)$"
    idd = metadata.international_prefix
    length_result = np.array(
        [_test_number_length("0" * length, metadata) for length in range(MAX_LENGTH + 1)],
        dtype=np.int8,
    )

    return RegionRules(
        region=metadata.id,
        country_code=metadata.country_code,
        idd_pattern=f"^(?:{_CAPTURING_GROUP.sub('(?:', idd)})(?P<rest>.*)$" if idd else None,
        national_prefix_pattern=national_prefix,
        national_prefix_groups=groups,
        transform_parts=_transform_parts(metadata.national_prefix_transform_rule),
        transform_supported=transform_supported,
        general=_desc(metadata.general_desc),
        special=tuple(
            (number_type, _desc(getattr(metadata, name))) for number_type, name in _SPECIAL_TYPES
        ),
        fixed_line=_desc(metadata.fixed_line),
        mobile=_desc(metadata.mobile),
        same_mobile_and_fixed_line_pattern=bool(metadata.same_mobile_and_fixed_line_pattern),
        leading_digits=f"^(?:{metadata.leading_digits})" if metadata.leading_digits else None,
        length_result=length_result,
    )


@functools.cache
def rules_for(country_code: int, region: str) -> RegionRules | None:
    """Rules of `region`, or of the non-geographic calling code when `region` is "001"."""
    if region == NON_GEO_REGION:
        metadata = PhoneMetadata.metadata_for_nongeo_region(country_code, None)
    else:
        metadata = PhoneMetadata.metadata_for_region(region, None)
    return _rules(metadata) if metadata is not None else None


def main_region(country_code: int) -> str:
    """Return the region whose metadata phonenumbers uses to parse a calling code's numbers."""
    return phonenumbers.region_code_for_country_code(country_code)


def regions_of(country_code: int) -> tuple[str, ...]:
    """Return the regions sharing a calling code, in the order phonenumbers tries them."""
    return tuple(COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()))


@functools.cache
def calling_code_table() -> tuple[np.ndarray, np.ndarray]:
    """Calling code and its digit count for each 3-digit prefix 000..999 (0 when none)."""
    codes = np.zeros(1000, dtype=np.int32)
    lengths = np.zeros(1000, dtype=np.int8)
    for prefix in range(100, 1000):
        for digits in (1, 2, 3):
            candidate = prefix // 10 ** (3 - digits)
            if candidate in COUNTRY_CODE_TO_REGION_CODE:
                codes[prefix], lengths[prefix] = candidate, digits
                break
    return codes, lengths
