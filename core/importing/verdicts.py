"""Row verdicts: invalid numbers, opted-out numbers, duplicates after normalisation, and the
separate check of placeholder values that runs once the message is known.

Order of precedence: a number that cannot be used is `invalid`. A valid number on the
suppression list is `suppressed` on every row where it appears. Among the remaining rows, the
first occurrence of each E.164 number is `ok`, and every later one is a `duplicate` that names
the line kept.
"""

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InputError
from core.importing.phones import describe_number
from core.importing.reasons import (
    DUPLICATE,
    INVALID,
    MISSING_VALUE,
    OK,
    SUPPRESSED,
    VERDICTS,
    reason_sentence,
)

# Columns every rows frame has, in this order; the file's other columns follow.
ROW_COLUMNS = (
    "line",
    "raw_phone",
    "e164",
    "region",
    "verdict",
    "reason_code",
    "reason",
    "duplicate_of_line",
)


def assign_verdicts(
    code: np.ndarray, e164: np.ndarray, lines: np.ndarray, suppressed: Iterable[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return verdicts, reason codes and the line each duplicate repeats (0 when not one)."""
    ok = code == OK
    verdict = np.full(len(code), INVALID, dtype=object)
    verdict[ok] = OK
    reason_code = code.copy()
    reason_code[ok] = ""
    duplicate_of = np.zeros(len(code), dtype=np.int64)

    suppressed = list(suppressed)
    if suppressed and ok.any():
        on_list = _bool(
            pc.is_in(
                pa.array(e164, type=pa.string()), value_set=pa.array(suppressed, type=pa.string())
            )
        )
        hit = ok & on_list
        verdict[hit], reason_code[hit] = SUPPRESSED, SUPPRESSED
        ok &= ~hit

    remaining = np.flatnonzero(ok)
    codes = (
        pa.array(e164[remaining], type=pa.string())
        .dictionary_encode()
        .indices.to_numpy(zero_copy_only=False)
    )
    _, first = np.unique(codes, return_index=True)
    first_of_row = first[codes]
    repeated = first_of_row != np.arange(len(remaining))
    rows = remaining[repeated]
    verdict[rows], reason_code[rows] = DUPLICATE, DUPLICATE
    duplicate_of[rows] = lines[remaining[first_of_row[repeated]]]
    return verdict, reason_code, duplicate_of


def reason_sentences(
    reason_code: np.ndarray,
    detail: np.ndarray,
    calling_code: np.ndarray,
    duplicate_of: np.ndarray,
    default_region: str,
) -> np.ndarray:
    """Return the operator sentence of every row ("" for accepted rows)."""
    sentences = np.full(len(reason_code), "", dtype=object)
    duplicates = reason_code == DUPLICATE
    if duplicates.any():
        lines = pc.cast(pa.array(duplicate_of[duplicates]), pa.string())
        before, after = reason_sentence(DUPLICATE, detail="\0").split("\0")
        sentences[duplicates] = pc.binary_join_element_wise(before, lines, after, "").to_numpy(
            zero_copy_only=False
        )

    # Other reasons repeat: build each distinct sentence once.
    rows = np.flatnonzero((reason_code != "") & ~duplicates)
    code_ids, codes = pd.factorize(reason_code[rows])
    detail_ids, details = pd.factorize(detail[rows])
    calling_ids, callings = pd.factorize(calling_code[rows])
    keys = (code_ids.astype(np.int64) * len(details) + detail_ids) * len(callings) + calling_ids
    _, first, group_ids = np.unique(keys, return_index=True, return_inverse=True)
    texts = np.array(
        [
            reason_sentence(
                codes[code_ids[row]],
                number=describe_number(int(callings[calling_ids[row]]), default_region),
                detail=details[detail_ids[row]],
            )
            for row in first
        ]
        + [""],
        dtype=object,
    )
    sentences[rows] = texts[group_ids]
    return sentences


def count_verdicts(verdicts: pd.Series) -> dict[str, int]:
    """Count rows per verdict, with every verdict present."""
    counts = verdicts.value_counts()
    return {verdict: int(counts.get(verdict, 0)) for verdict in VERDICTS}


def check_placeholders(rows: pd.DataFrame, placeholders: Iterable[str]) -> pd.DataFrame:
    """Return a copy of `rows` where every `ok` row with an empty value for a placeholder the
    message uses has the verdict `missing_value`, naming the empty columns.

    Runs on the rows of `import_file` or of `read_list_rows`, since the import may happen before
    the message is written. Raises InputError when a placeholder names no column of the list.
    """
    needed = list(dict.fromkeys(placeholders))
    fields = [column for column in rows.columns if column not in ROW_COLUMNS]
    unknown = [name for name in needed if name not in fields]
    if unknown:
        raise InputError(
            f"The message uses {', '.join('{' + name + '}' for name in unknown)}, but the list has no such "
            f"column; its columns are: {', '.join(fields) or 'none besides the phone'}."
        )

    result = rows.copy()
    ok = (result["verdict"] == OK).to_numpy()
    empty = {
        name: (result[name].fillna("").astype(str).str.strip() == "").to_numpy() for name in needed
    }
    missing = (
        ok & np.logical_or.reduce([empty[name] for name in needed])
        if needed
        else np.zeros(len(result), bool)
    )

    for row in np.flatnonzero(missing):
        names = [repr(name) for name in needed if empty[name][row]]
        detail = (
            f"column {names[0]}"
            if len(names) == 1
            else f"columns {', '.join(names[:-1])} and {names[-1]}"
        )
        result.iat[row, result.columns.get_loc("reason")] = reason_sentence(
            MISSING_VALUE, detail=detail
        )
    result.loc[missing, "verdict"] = MISSING_VALUE
    result.loc[missing, "reason_code"] = MISSING_VALUE
    return result


def _bool(array: pa.Array) -> np.ndarray:
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)
