"""Parts and cost of a personalised message over every row of a recipient list.

A row preview gives, per row, the region, encoding, units, parts, cost, missing placeholders,
the characters that forced UCS-2 and a problem sentence, plus totals per country. Rows with a
problem (a placeholder without a value, an empty message, more than 255 parts, no valid country)
are left out of the totals and counted as skipped, because they must not be sent as they are.

`preview_rows` is the vectorised path used by the dashboard. `preview_rows_loop` computes the
same result row by row, as the reference that the tests and the benchmark compare against.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from core.errors import InputError
from core.message_template import (
    EMPTY_MESSAGE,
    Template,
    cell_text,
    missing_placeholders,
    parse_template,
    render,
)
from core.preview_fast import RowCounts, count_rows, group_rows
from core.pricing import CURRENCY, PRICE_PER_PART, normalise_region, price_per_part
from core.sms_parts import GSM7, MAX_PARTS, UCS2, count_parts

log = logging.getLogger(__name__)

ENCODINGS = [GSM7, UCS2]

# Per row the part count differs, so the sentence names only the limit and groups rows well.
TOO_MANY_PARTS = (
    f"The message needs more than {MAX_PARTS} parts, the most a concatenated SMS can have. "
    "Shorten the text or the row's values."
)

ROW_COLUMNS = [
    "region",
    "encoding",
    "units",
    "parts",
    "cost",
    "missing",
    "ucs2_characters",
    "problem",
]


@dataclass(frozen=True)
class RowsPreview:
    """Parts and cost of a personalised message for every row, with totals per country.

    `rows` has the input's index and the columns of ROW_COLUMNS, plus `text` on request:

    - region: the ISO code, or None when the row has no valid country;
    - encoding: a categorical of "GSM-7" and "UCS-2";
    - units and parts;
    - cost: a Decimal, or None without a country;
    - missing: the blank placeholders, joined by ", ";
    - ucs2_characters: the distinct characters that forced UCS-2, in code point order;
    - problem: a sentence, or None when the row can be sent.

    `by_country` is indexed by region, with recipients, parts and cost of the rows that can be
    sent, price_per_part, and skipped (rows of that country with a problem). The totals cover
    the rows that can be sent, and `skipped` counts all others, those without a country included.
    """

    placeholders: list[str]
    rows: pd.DataFrame
    by_country: pd.DataFrame
    recipients: int
    parts: int
    cost: Decimal
    skipped: int
    currency: str = CURRENCY


def preview_rows(
    template: str,
    rows: pd.DataFrame | Iterable[Mapping[str, object]],
    *,
    country_column: str | None = "country",
    default_region: str | None = None,
    prices: Mapping[str, Decimal] = PRICE_PER_PART,
    include_text: bool = False,
) -> RowsPreview:
    """Preview a personalised message over every row, vectorised, and total it per country.

    `rows` is a DataFrame or an iterable of mappings from column name to cell value. The region
    of a row is the ISO code in `country_column`. `default_region` fills blank cells, or every
    row when the column is absent or None. Each row costs parts x `price_per_part(region)`.
    `include_text` adds the rendered `text` of each row. Raises InputError for an invalid
    template, or when neither a country column nor a default region is available.
    """
    parsed = parse_template(template)
    frame = _as_frame(rows)
    column = _country_column(frame, country_column, default_region)

    counts = count_rows(parsed, frame, with_text=include_text)
    outcomes, outcome_per_row = _resolve_regions(frame, column, default_region)
    regions = sorted({code for code, _ in outcomes if code})
    region_id = np.array([regions.index(code) if code else -1 for code, _ in outcomes])
    region_id = region_id[outcome_per_row]
    missing, problem = _problems_per_row(counts, outcomes, outcome_per_row)

    table = {
        "region": np.array([*regions, None], dtype=object)[region_id],
        "encoding": pd.Categorical.from_codes(counts.is_ucs2.astype(np.int8), ENCODINGS),
        "units": counts.units,
        "parts": counts.parts,
        "cost": _cost_per_row(regions, region_id, counts.parts, prices),
        "missing": missing,
        "ucs2_characters": counts.ucs2_characters,
        "problem": problem,
    }
    if include_text:
        table["text"] = counts.texts

    sendable = np.equal(problem, None)
    totals = _totals_from_arrays(regions, region_id, counts.parts, sendable, prices)
    return _summarise(parsed, _rows_frame(frame.index, table), totals, prices)


def preview_rows_loop(
    template: str,
    rows: pd.DataFrame | Iterable[Mapping[str, object]],
    *,
    country_column: str | None = "country",
    default_region: str | None = None,
    prices: Mapping[str, Decimal] = PRICE_PER_PART,
    include_text: bool = False,
) -> RowsPreview:
    """Compute the same result as `preview_rows`, rendering and counting one row at a time."""
    parsed = parse_template(template)
    frame = _as_frame(rows)
    column = _country_column(frame, country_column, default_region)
    table: dict[str, list[object]] = {name: [] for name in [*ROW_COLUMNS, "text"]}
    totals: dict[str, list] = {}

    for fields in frame.to_dict("records"):
        missing = missing_placeholders(parsed, fields)
        text = render(parsed, fields, allow_missing=True)
        info = count_parts(text)
        region, region_problem = _region_of(fields.get(column) if column else None, default_region)
        cost = info.parts * price_per_part(region, prices=prices) if region else None
        problem = _describe_problem(missing, info.is_empty, info.parts > MAX_PARTS, region_problem)

        row = [region, info.encoding, info.units, info.parts, cost, ", ".join(missing)]
        row += ["".join(sorted({found.char for found in info.ucs2_characters})), problem, text]
        for name, value in zip(table, row):
            table[name].append(value)
        if region:
            _add_to_totals(totals, region, info.parts, cost, problem is None)

    if not include_text:
        del table["text"]
    frame_out = _rows_frame(frame.index, table)
    return _summarise(parsed, frame_out, totals, prices)


def _add_to_totals(totals: dict[str, list], region: str, parts: int, cost, sendable: bool) -> None:
    entry = totals.setdefault(region, [0, 0, Decimal(0), 0])
    if sendable:
        entry[0] += 1
        entry[1] += parts
        entry[2] += cost
    else:
        entry[3] += 1


def _as_frame(rows: pd.DataFrame | Iterable[Mapping[str, object]]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame.from_records(list(rows))


def _country_column(frame: pd.DataFrame, column: str | None, default: str | None) -> str | None:
    if default is not None:
        normalise_region(default)
    if column is not None and column in frame.columns:
        return column
    if default is None:
        listed = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(
            f"The list has no country column {column!r} (its columns: {listed}). Name the "
            "column with the ISO region codes, or give a default country such as 'CY'."
        )
    return None


def _region_of(value: object, default: str | None) -> tuple[str | None, str | None]:
    """Return (region code, None), or (None, a problem sentence) when the row has no valid one."""
    text = cell_text(value)
    if text is None:
        if default is None:
            return None, "The row has no country. Fill in its ISO region code, such as 'CY'."
        return normalise_region(default), None
    try:
        return normalise_region(text), None
    except InputError as exc:
        return None, str(exc)


def _describe_problem(
    missing: list[str], empty: bool, too_long: bool, region_problem: str | None
) -> str | None:
    sentences = []
    if missing:
        listed = ", ".join(f"{{{name}}}" for name in missing)
        sentences.append(f"No value for {listed}. Fill in the cell or remove the placeholder.")
    if empty:
        sentences.append(EMPTY_MESSAGE)
    if too_long:
        sentences.append(TOO_MANY_PARTS)
    if region_problem:
        sentences.append(region_problem)
    return " ".join(sentences) or None


def _resolve_regions(
    frame: pd.DataFrame, column: str | None, default: str | None
) -> tuple[list[tuple[str | None, str | None]], np.ndarray]:
    # Each distinct cell is resolved once. The extra last outcome is the one of a missing cell.
    if column is None:
        return [_region_of(None, default)], np.zeros(len(frame), dtype=np.int64)

    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    outcomes = [_region_of(value, default) for value in uniques]
    outcomes.append(_region_of(None, default))
    return outcomes, np.where(codes < 0, len(uniques), codes)


def _cost_per_row(
    regions: list[str], region_id: np.ndarray, parts: np.ndarray, prices: Mapping[str, Decimal]
) -> np.ndarray:
    cost = np.full(len(parts), None, dtype=object)
    priced = np.flatnonzero(region_id >= 0)
    if not len(priced):
        return cost

    # A few (region, parts) pairs cover all rows, so each Decimal is computed once per pair.
    width = int(parts.max()) + 1
    inverse, keys = pd.factorize(region_id[priced] * width + parts[priced])
    amounts = np.empty(len(keys), dtype=object)
    for index, key in enumerate(keys):
        region, count = divmod(int(key), width)
        amounts[index] = count * price_per_part(regions[region], prices=prices)
    cost[priced] = amounts[inverse]
    return cost


def _problems_per_row(
    counts: RowCounts, outcomes: list[tuple[str | None, str | None]], outcome_per_row: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    size = len(counts.units)
    names = list(counts.missing)
    # One flag column per placeholder, then "empty" and "too many parts".
    flags = np.column_stack(
        [counts.missing[name] for name in names] + [counts.units == 0, counts.parts > MAX_PARTS]
    )
    region_problem = np.array([i if problem else -1 for i, (_, problem) in enumerate(outcomes)])
    region_problem = region_problem[outcome_per_row]

    missing = np.full(size, "", dtype=object)
    problem = np.full(size, None, dtype=object)
    rows = np.flatnonzero(flags.any(axis=1) | (region_problem >= 0))
    if not len(rows):
        return missing, problem

    # Rows with a problem share a few combinations of causes, so each gets its sentence once.
    keys = [flags[rows, column].astype(np.int64) for column in range(flags.shape[1])]
    groups, first_rows = group_rows([*keys, region_problem[rows] + 1], len(rows))
    missing_text = np.empty(len(first_rows), dtype=object)
    problem_text = np.empty(len(first_rows), dtype=object)
    for group, row in enumerate(rows[first_rows]):
        absent = [name for name, flag in zip(names, flags[row]) if flag]
        region_index = region_problem[row]
        region_sentence = outcomes[region_index][1] if region_index >= 0 else None
        missing_text[group] = ", ".join(absent)
        empty, too_long = bool(flags[row, -2]), bool(flags[row, -1])
        problem_text[group] = _describe_problem(absent, empty, too_long, region_sentence)

    missing[rows] = missing_text[groups]
    problem[rows] = problem_text[groups]
    return missing, problem


def _totals_from_arrays(
    regions: list[str],
    region_id: np.ndarray,
    parts: np.ndarray,
    sendable: np.ndarray,
    prices: Mapping[str, Decimal],
) -> dict[str, list]:
    priced = region_id >= 0
    sent = priced & sendable
    size = len(regions)
    recipients = np.bincount(region_id[sent], minlength=size)
    part_sums = np.bincount(region_id[sent], weights=parts[sent], minlength=size)
    skipped = np.bincount(region_id[priced & ~sendable], minlength=size)

    totals: dict[str, list] = {}
    for index, region in enumerate(regions):
        if recipients[index] or skipped[index]:
            count = int(part_sums[index])
            cost = count * price_per_part(region, prices=prices)
            totals[region] = [int(recipients[index]), count, cost, int(skipped[index])]
    return totals


# Text columns stay object arrays of str: converting a million strings to an Arrow-backed
# column would cost more than the whole count.
_DTYPES = {
    "region": object,
    "encoding": pd.CategoricalDtype(ENCODINGS),
    "units": "int64",
    "parts": "int64",
    "cost": object,
    "missing": object,
    "ucs2_characters": object,
    "problem": object,
    "text": object,
}


def _rows_frame(index: pd.Index, table: Mapping[str, object]) -> pd.DataFrame:
    columns = {
        name: pd.Series(values, index=index, dtype=_DTYPES[name]) for name, values in table.items()
    }
    return pd.DataFrame(columns, index=index)


def _summarise(
    template: Template, rows: pd.DataFrame, totals: dict[str, list], prices: Mapping[str, Decimal]
) -> RowsPreview:
    records = [
        {
            "region": region,
            "recipients": recipients,
            "parts": parts,
            "cost": cost,
            "price_per_part": price_per_part(region, prices=prices),
            "skipped": skipped,
        }
        for region, (recipients, parts, cost, skipped) in sorted(totals.items())
    ]
    columns = ["region", "recipients", "parts", "cost", "price_per_part", "skipped"]
    by_country = pd.DataFrame.from_records(records, columns=columns).set_index("region")

    recipients = sum(entry[0] for entry in totals.values())
    return RowsPreview(
        placeholders=list(dict.fromkeys(template.names)),
        rows=rows,
        by_country=by_country,
        recipients=recipients,
        parts=sum(entry[1] for entry in totals.values()),
        cost=sum((entry[2] for entry in totals.values()), Decimal(0)),
        skipped=len(rows) - recipients,
    )
