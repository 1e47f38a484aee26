"""Vectorised parts counting for personalised messages, with exactly the row loop's results.

A rendered message is the template's literals plus one value per placeholder, and its units add
up piece by piece: code points, extension characters (two septets in GSM-7) and astral characters
(two UTF-16 units). So each column is counted once per distinct value with Arrow string kernels,
and each row adds its values' counts to the literals' counts with numpy.

Parts follow from units by arithmetic except where a boundary could split an escape or surrogate
pair (see `core.sms_parts.parts_for_units`). Those few rows are rendered and counted one by one.
"""

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.message_template import BLANK_CHARS, Template, render
from core.sms_parts import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM7_MULTI,
    GSM7_SINGLE,
    UCS2_MULTI,
    UCS2_SINGLE,
    count_parts,
    count_septets,
    count_utf16_units,
    find_ucs2_characters,
)

log = logging.getLogger(__name__)


def _re2_class(chars: str) -> str:
    # Escape every character as \x{...} so no character has a special meaning to RE2.
    return "".join(f"\\x{{{ord(char):x}}}" for char in chars)


_NON_GSM7 = "[^" + _re2_class(GSM7_BASIC + GSM7_EXTENSION) + "]"
_GSM7 = "[" + _re2_class(GSM7_BASIC + GSM7_EXTENSION) + "]"
_EXTENSION = "[" + _re2_class(GSM7_EXTENSION) + "]"
_ASTRAL = "[\\x{10000}-\\x{10ffff}]"
_BLANK = "^[" + BLANK_CHARS + "]*$"


@dataclass
class ValueCounts:
    """Counts per row for one column's values, or for the template's literals."""

    chars: np.ndarray
    extension: np.ndarray
    astral: np.ndarray
    non_gsm: np.ndarray
    missing: np.ndarray
    ucs2_chars: list[str]
    ucs2_codes: np.ndarray
    texts: pa.Array | None


@dataclass
class RowCounts:
    """Encoding, units and parts per row, plus the per-column missing flags and UCS-2 characters."""

    is_ucs2: np.ndarray
    units: np.ndarray
    parts: np.ndarray
    missing: dict[str, np.ndarray]
    ucs2_characters: np.ndarray
    texts: np.ndarray | None


def count_column(values: pd.Series, *, with_text: bool = False) -> ValueCounts:
    """Count each distinct value of a column once and spread the counts over its rows.

    A missing or blank cell counts as an empty value, as `render(..., allow_missing=True)` does.
    """
    codes, strings = _distinct_values(values)

    blank = pc.match_substring_regex(strings, _BLANK).to_numpy(zero_copy_only=False)
    if pc.any(pc.match_substring(strings, "\r")).as_py():
        strings = pc.replace_substring_regex(strings, "\r\n?", "\n")
    strings = pc.if_else(pa.array(blank), "", strings)
    counts = _count_strings(strings)

    # Code -1 (a missing cell) takes one extra slot at the end, which counts as an empty value.
    slots = np.where(codes < 0, len(strings), codes)
    texts = None
    if with_text:
        texts = pc.take(pa.concat_arrays([strings, pa.array([""], strings.type)]), slots)

    return ValueCounts(
        chars=np.append(counts.chars, 0)[slots],
        extension=np.append(counts.extension, 0)[slots],
        astral=np.append(counts.astral, 0)[slots],
        non_gsm=np.append(counts.non_gsm, False)[slots],
        missing=np.append(blank, True)[slots],
        ucs2_chars=counts.ucs2_chars,
        ucs2_codes=np.append(counts.ucs2_codes, 0)[slots],
        texts=texts,
    )


def _distinct_values(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    # Returns a code per row (-1 for a missing cell) and the strings the codes point to.
    if values.dtype == "str" and _mostly_distinct(values):
        # Deduplicating codes or ids would cost more than counting every row once.
        codes = np.arange(len(values), dtype=np.int64)
        codes[values.isna().to_numpy()] = -1
        strings = pa.array(values, type=pa.large_string())
        return codes, pc.fill_null(strings, "")

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if uniques.dtype == "str":
        return codes, pa.array(uniques, type=pa.large_string())
    # Other values go through str(), as `cell_text` does for one cell.
    return codes, pa.array([str(value) for value in uniques], type=pa.large_string())


def _mostly_distinct(values: pd.Series, sample_size: int = 4096) -> bool:
    sample = values.iloc[:: max(1, len(values) // sample_size)]
    return len(sample) > 0 and sample.nunique() > len(sample) // 2


def _count_strings(strings: pa.Array) -> ValueCounts:
    size = len(strings)
    chars = pc.utf8_length(strings).to_numpy(zero_copy_only=False).astype(np.int64)
    non_gsm = pc.match_substring_regex(strings, _NON_GSM7).to_numpy(zero_copy_only=False)
    extension = pc.count_substring_regex(strings, _EXTENSION).to_numpy(zero_copy_only=False)
    astral = np.zeros(size, dtype=np.int64)
    ucs2_codes = np.zeros(size, dtype=np.int64)
    ucs2_chars = [""]

    # Astral and UCS-2 characters occur only in values outside GSM-7, usually a few of them.
    outside = np.flatnonzero(non_gsm)
    if len(outside):
        subset = strings.take(pa.array(outside))
        astral[outside] = pc.count_substring_regex(subset, _ASTRAL).to_numpy(zero_copy_only=False)
        leftovers = pc.replace_substring_regex(subset, _GSM7, "").to_pylist()
        distinct = ["".join(sorted(set(text))) for text in leftovers]
        codes, uniques = pd.factorize(pd.Series(distinct, dtype=object))
        ucs2_codes[outside] = codes + 1
        ucs2_chars += list(uniques)

    return ValueCounts(
        chars=chars,
        extension=extension.astype(np.int64),
        astral=astral,
        non_gsm=non_gsm,
        missing=np.zeros(size, bool),
        ucs2_chars=ucs2_chars,
        ucs2_codes=ucs2_codes,
        texts=None,
    )


def count_rows(template: Template, frame: pd.DataFrame, *, with_text: bool = False) -> RowCounts:
    """Count encoding, units and parts of every row of `frame` rendered into `template`.

    The result equals `count_parts(render(template, row, allow_missing=True))` row by row.
    """
    size = len(frame)
    literal = "".join(template.literals)
    literal_ucs2 = "".join(sorted({found.char for found in find_ucs2_characters(literal)}))
    total = ValueCounts(
        chars=np.full(size, len(literal), dtype=np.int64),
        extension=np.full(size, count_septets(literal) - len(literal), dtype=np.int64),
        astral=np.full(size, count_utf16_units(literal) - len(literal), dtype=np.int64),
        non_gsm=np.full(size, bool(literal_ucs2)),
        missing=np.zeros(size, bool),
        ucs2_chars=[],
        ucs2_codes=np.zeros(size, dtype=np.int64),
        texts=None,
    )

    columns = _count_columns(template, frame, with_text)
    for name in template.names:
        counted = columns[name]
        if counted is not None:
            total.chars += counted.chars
            total.extension += counted.extension
            total.astral += counted.astral
            total.non_gsm |= counted.non_gsm

    units = np.where(total.non_gsm, total.chars + total.astral, total.chars + total.extension)
    parts = _parts_for_units(units, total)
    _recount_uncertain_rows(template, frame, units, parts, total)

    missing = {
        name: counted.missing if counted is not None else np.ones(size, bool)
        for name, counted in columns.items()
    }
    ucs2 = _ucs2_per_row(columns, total.non_gsm, literal_ucs2)
    texts = _join_texts(template, columns, size) if with_text else None
    return RowCounts(total.non_gsm, units, parts, missing, ucs2, texts)


def _count_columns(
    template: Template, frame: pd.DataFrame, with_text: bool
) -> dict[str, ValueCounts | None]:
    columns: dict[str, ValueCounts | None] = {}
    for name in dict.fromkeys(template.names):
        present = name in frame.columns
        columns[name] = count_column(frame[name], with_text=with_text) if present else None
    return columns


def _parts_for_units(units: np.ndarray, total: ValueCounts) -> np.ndarray:
    single = np.where(total.non_gsm, UCS2_SINGLE, GSM7_SINGLE)
    multi = np.where(total.non_gsm, UCS2_MULTI, GSM7_MULTI)
    parts = np.where(units <= single, 1, -(-units // multi))
    return np.where(units == 0, 0, parts).astype(np.int64)


def _recount_uncertain_rows(
    template: Template,
    frame: pd.DataFrame,
    units: np.ndarray,
    parts: np.ndarray,
    total: ValueCounts,
) -> None:
    # A row whose two-unit characters could fall on a part boundary is counted by packing its
    # text, because arithmetic alone cannot tell whether a pair straddles the boundary.
    single = np.where(total.non_gsm, UCS2_SINGLE, GSM7_SINGLE)
    multi = np.where(total.non_gsm, UCS2_MULTI, GSM7_MULTI)
    wide = np.where(total.non_gsm, total.astral > 0, total.extension > 0)
    uncertain = wide & (units > single) & (units > parts * multi - (parts - 1))

    rows = np.flatnonzero(uncertain)
    if not len(rows):
        return
    log.debug("recounting %d of %d rows by packing their text", len(rows), len(units))

    names = [name for name in dict.fromkeys(template.names) if name in frame.columns]
    values = {name: frame[name].to_numpy(dtype=object) for name in names}
    for row in rows:
        fields = {name: values[name][row] for name in names}
        parts[row] = count_parts(render(template, fields, allow_missing=True)).parts


def _ucs2_per_row(
    columns: dict[str, ValueCounts | None], non_gsm: np.ndarray, literal_ucs2: str
) -> np.ndarray:
    result = np.full(len(non_gsm), "", dtype=object)
    rows = np.flatnonzero(non_gsm)
    counted = [column for column in columns.values() if column is not None]
    if not len(rows):
        return result

    # Rows share a few combinations of UCS-2 character sets, so each combination is joined once.
    groups, first_rows = group_rows([column.ucs2_codes[rows] for column in counted], len(rows))

    joined = np.empty(len(first_rows), dtype=object)
    for group, row in enumerate(first_rows):
        chars = set(literal_ucs2)
        for column in counted:
            chars.update(column.ucs2_chars[column.ucs2_codes[rows[row]]])
        joined[group] = "".join(sorted(chars))
    result[rows] = joined[groups]
    return result


def group_rows(keys: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct combinations of integer keys per row, hashing instead of sorting.

    Returns the group of each row (in order of first appearance) and the first row of each group.
    """
    groups = np.zeros(size, dtype=np.int64)
    for key in keys:
        width = int(key.max()) + 1 if len(key) else 1
        groups, _ = pd.factorize(groups * width + key)

    if not size:
        return groups, np.zeros(0, dtype=np.int64)

    # pd.factorize numbers groups by first appearance, so a group's first row is where the
    # group number exceeds every number before it.
    earlier_max = np.maximum.accumulate(np.concatenate([[-1], groups[:-1]]))
    return groups, np.flatnonzero(groups > earlier_max)


def _join_texts(
    template: Template, columns: dict[str, ValueCounts | None], size: int
) -> np.ndarray:
    pieces: list[object] = [template.literals[0]]
    for name, literal in zip(template.names, template.literals[1:]):
        counted = columns[name]
        pieces.append(counted.texts if counted is not None else "")
        pieces.append(literal)

    arrays = [piece for piece in pieces if isinstance(piece, pa.Array)]
    if not arrays:
        return np.full(size, "".join(str(piece) for piece in pieces), dtype=object)
    scalars = [
        pa.scalar(piece, pa.large_string()) if isinstance(piece, str) else piece for piece in pieces
    ]
    joined = pc.binary_join_element_wise(*scalars, pa.scalar("", pa.large_string()))
    return np.asarray(joined.to_pylist(), dtype=object)
