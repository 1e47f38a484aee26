"""Normalisation of a whole phone column: the cleaning checks, the fast path, and the fallback."""

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.importing.cleaning import precheck_column
from core.importing.fastpath import ELIGIBLE_PATTERN, MAX_ELIGIBLE_LENGTH, classify_digits
from core.importing.phones import check_region, classify_compact, number_checker

log = logging.getLogger(__name__)


@dataclass
class ColumnVerdicts:
    """Per-row outcome for a phone column: "ok" or a reason code, with E.164 form and region.

    `slow_rows` counts the rows that phonenumbers parsed one by one (the fast path was unsure).
    """

    code: np.ndarray
    detail: np.ndarray
    e164: np.ndarray
    region: np.ndarray
    calling_code: np.ndarray
    slow_rows: int


def classify_column(cells: pa.Array, default_region: str) -> ColumnVerdicts:
    """Clean, check and normalise every cell of a phone column for `default_region`."""
    region = check_region(default_region)
    if not isinstance(cells, pa.Array):
        cells = pa.array(cells, type=pa.string())
    checked = precheck_column(cells, number_checker(region))
    count = len(checked.code)
    verdicts = ColumnVerdicts(
        code=checked.code,
        detail=checked.detail,
        e164=np.full(count, None, dtype=object),
        region=np.full(count, None, dtype=object),
        calling_code=np.zeros(count, dtype=np.int32),
        slow_rows=0,
    )

    candidates = np.flatnonzero(checked.code == "")
    compact = checked.compact.take(pa.array(candidates, type=pa.int64()))
    digits = pc.replace_substring_regex(compact, "[^0-9]", "")
    eligible = _bool(pc.match_substring_regex(compact, ELIGIBLE_PATTERN))
    eligible &= pc.utf8_length(compact).to_numpy(zero_copy_only=False) <= MAX_ELIGIBLE_LENGTH
    eligible &= pc.utf8_length(digits).to_numpy(zero_copy_only=False) >= 3
    plus = _bool(pc.match_substring(compact, "+"))

    fast = classify_digits(digits.filter(pa.array(eligible)), plus[eligible], region)
    fast_rows = candidates[eligible]
    sure = ~fast.unsure
    _assign(
        verdicts,
        fast_rows[sure],
        fast.code[sure],
        fast.e164[sure],
        fast.region[sure],
        fast.calling_code[sure],
    )

    slow = np.concatenate([candidates[~eligible], fast_rows[fast.unsure]])
    _classify_slowly(verdicts, slow, compact, candidates, region)
    return verdicts


def _classify_slowly(
    verdicts: ColumnVerdicts, rows: np.ndarray, compact: pa.Array, candidates, region: str
) -> None:
    if rows.size == 0:
        return

    # `rows` are positions in the column; `compact` is aligned with `candidates`.
    values = compact.take(pa.array(np.searchsorted(candidates, rows), type=pa.int64())).to_pylist()
    results = [classify_compact(value, region) for value in values]
    _assign(
        verdicts,
        rows,
        [result.code for result in results],
        [result.e164 for result in results],
        [result.region for result in results],
        [result.calling_code for result in results],
    )
    verdicts.slow_rows = int(rows.size)
    log.debug("phonenumbers parsed %d of %d values one by one", rows.size, len(verdicts.code))


def _assign(verdicts: ColumnVerdicts, rows, code, e164, region, calling_code) -> None:
    if len(rows) == 0:
        return
    verdicts.code[rows] = code
    verdicts.e164[rows] = e164
    verdicts.region[rows] = region
    verdicts.calling_code[rows] = calling_code


def _bool(array: pa.Array) -> np.ndarray:
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)
