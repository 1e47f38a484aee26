"""Cleaning of phone cells and the checks that reject a cell before any number parsing.

A cell is cleaned in two forms. The spaced form keeps line breaks and spaces, so that a cell with
several numbers can still be split. The compact form has every invisible character removed:
Unicode format characters (category Cf: bidi marks, zero-width spaces, the BOM), control
characters, variation selectors and all whitespace. Digits of any script (category Nd, e.g.
Arabic-Indic or full-width) become ASCII digits.

The checks run in this order, and the first that fails gives the reason: empty, scientific
notation, several numbers, letters. A cell that passes all four is handed to number parsing.
Scientific notation is rejected and never expanded, because the spreadsheet has already replaced
the last digits with zeros. A cell with several numbers (separated by / , ; | & a line break, or
" or ") is rejected with all of them listed, never split: splitting would send the row's
personalised text to each number, and the operator should decide which one is meant.

`precheck` handles one cell. `precheck_column` gives the same results for a whole column: ASCII
cells go through vectorised pyarrow kernels, and the rare others through `precheck`.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# A spreadsheet's scientific notation, with a decimal point or a decimal comma: 3.5799E+10.
SCIENTIFIC_PATTERN = r"^[+-]?[0-9]+(?:[.,][0-9]*)?[eE][+-]?[0-9]+$"

# Separators between numbers in one cell. A "/" also groups the digits of one number
# (0049 151/12345678), so a cell counts as several numbers only when two or more of its parts are
# each a valid number on their own.
_SPLIT = re.compile(r"\s*(?:[,;/|&\n]|\s(?:or|and)\s)\s*|(?<=[0-9])[ ]+(?=\+)", re.IGNORECASE)
_SPLIT_TRIGGER = r"[,;/|&\n]|[ ](?:[oO][rR]|[aA][nN][dD])[ ]|[0-9][ ]+\+"
_SPLIT_TRIGGER_SCALAR = re.compile(_SPLIT_TRIGGER)
_MIN_DIGITS_PER_PART = 3

# A function telling whether a compact value is a valid phone number. The caller supplies it,
# because validity depends on the default region.
IsNumber = Callable[[str], bool]

_SCIENTIFIC = re.compile(SCIENTIFIC_PATTERN)
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_VARIATION_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))

# Cells that only need their spaces removed: digits, a leading "+", spaces and ().-
_PLAIN = r"^[ (]*\+?[ 0-9().\-]*$"
# The vectorised path handles ASCII cells whose only control characters are TAB and line breaks;
# every other cell takes the scalar path.
_RARE_CONTROL = r"[\x00-\x08\x0e-\x1f\x7f]"
_ASCII_LINE_BREAKS = r"[\n\r\x0b\x0c]"
_ASCII_INVISIBLE = r"[\t\n\r\x0b\x0c ]"


@dataclass(frozen=True, slots=True)
class Precheck:
    """The cleaned cell, and the reason code when a check already rejects it."""

    compact: str
    code: str = ""
    detail: str = ""


class _SpacedTable(dict):
    """A `str.translate` table that maps each character on first use, not all of Unicode upfront."""

    def __missing__(self, codepoint: int) -> str | int | None:
        self[codepoint] = _translate_char(chr(codepoint))
        return self[codepoint]


def _translate_char(char: str) -> str | int | None:
    codepoint = ord(char)
    if char in _LINE_BREAKS:
        return "\n"
    if char.isspace():
        return " "
    if any(low <= codepoint <= high for low, high in _VARIATION_SELECTORS):
        return None
    category = unicodedata.category(char)
    if category in ("Cf", "Cc", "Zs", "Zl", "Zp"):
        return None if category in ("Cf", "Cc") else " "
    if category == "Nd":
        return str(unicodedata.digit(char))
    return codepoint


_SPACED = _SpacedTable()


def spaced_form(cell: str) -> str:
    """Return `cell` without invisible characters, with ASCII digits and plain spaces and breaks."""
    # A leading apostrophe marks a cell as text in spreadsheets, and the rejected-rows export adds one.
    return cell.strip().removeprefix("'").translate(_SPACED)


def precheck(cell: str, is_number: IsNumber) -> Precheck:
    """Clean one phone cell and apply the checks that come before parsing the number itself."""
    spaced = spaced_form(cell)
    compact = spaced.replace(" ", "").replace("\n", "")

    if not compact:
        return Precheck(compact, "empty")
    if _SCIENTIFIC.match(compact):
        return Precheck(compact, "scientific_notation_digits_lost", compact)

    numbers = several_numbers(spaced, is_number)
    if numbers:
        return Precheck(compact, "several_numbers", ", ".join(numbers))

    letters = [char for char in compact if char.isalpha()]
    if letters:
        return Precheck(compact, "letters", ", ".join(dict.fromkeys(letters)))
    return Precheck(compact)


def several_numbers(spaced: str, is_number: IsNumber) -> list[str]:
    """Return the valid numbers among the parts of a cell when there are two or more, else []."""
    if not _SPLIT_TRIGGER_SCALAR.search(spaced):
        return []
    parts = [part.strip() for part in _SPLIT.split(spaced) if part and part.strip()]
    if len(parts) < 2:
        return []

    numbers = [part for part in parts if _is_number_part(part, is_number)]
    return numbers if len(numbers) >= 2 else []


def _is_number_part(part: str, is_number: IsNumber) -> bool:
    if sum(char.isdigit() for char in part) < _MIN_DIGITS_PER_PART:
        return False
    return is_number(part.replace(" ", "").replace("\n", ""))


@dataclass
class PrecheckedColumn:
    """`precheck` of a whole column: compact forms, reason codes and details ("" when none)."""

    compact: pa.Array
    code: np.ndarray
    detail: np.ndarray


def precheck_column(cells: pa.Array, is_number: IsNumber) -> PrecheckedColumn:
    """Apply `precheck` to every cell; ASCII cells go through vectorised kernels."""
    cells = pc.fill_null(cells, "")
    count = len(cells)
    code = np.full(count, "", dtype=object)
    detail = np.full(count, "", dtype=object)

    # Most cells hold digits with a leading "+" and spaces or ().- only: removing the spaces is
    # all their cleaning, and only emptiness can reject them.
    plain = _bool(pc.match_substring_regex(cells, _PLAIN))
    compact = pc.replace_substring(cells, " ", "")
    code[plain & _bool(pc.equal(compact, ""))] = "empty"

    others = np.flatnonzero(~plain)
    if others.size:
        checked = _precheck_ascii(cells.take(pa.array(others)), is_number)
        code[others], detail[others] = checked.code, checked.detail
        compact = pc.replace_with_mask(compact, pa.array(~plain), checked.compact)
    return PrecheckedColumn(compact=compact, code=code, detail=detail)


def _precheck_ascii(cells: pa.Array, is_number: IsNumber) -> PrecheckedColumn:
    count = len(cells)
    code = np.full(count, "", dtype=object)
    detail = np.full(count, "", dtype=object)

    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(cells), "^'", "", max_replacements=1)
    spaced = pc.replace_substring_regex(text, _ASCII_LINE_BREAKS, "\n")
    spaced = pc.replace_substring(spaced, "\t", " ")
    compact = pc.replace_substring_regex(text, _ASCII_INVISIBLE, "")

    _mark(code, pc.equal(compact, ""), "empty")
    scientific = _unmarked(code, pc.match_substring_regex(compact, SCIENTIFIC_PATTERN))
    code[scientific] = "scientific_notation_digits_lost"
    detail[scientific] = np.asarray(
        compact.take(pa.array(np.flatnonzero(scientific))).to_pylist(), dtype=object
    )

    # Cells that may hold several numbers or letters, and non-ASCII cells, take the scalar path.
    needs_scalar = ~_bool(pc.string_is_ascii(cells))
    needs_scalar |= _bool(pc.match_substring_regex(cells, _RARE_CONTROL))
    needs_scalar |= _bool(pc.match_substring_regex(spaced, _SPLIT_TRIGGER))
    needs_scalar |= _bool(pc.match_substring_regex(compact, "[A-Za-z]"))
    needs_scalar &= code == ""
    compact = _scalar_rows(cells, compact, code, detail, np.flatnonzero(needs_scalar), is_number)
    return PrecheckedColumn(compact=compact, code=code, detail=detail)


def _scalar_rows(cells, compact, code, detail, rows: np.ndarray, is_number: IsNumber) -> pa.Array:
    if rows.size == 0:
        return compact

    results = [precheck(cell, is_number) for cell in cells.take(pa.array(rows)).to_pylist()]
    code[rows] = [result.code for result in results]
    detail[rows] = [result.detail for result in results]

    values = compact.to_numpy(zero_copy_only=False).astype(object)
    values[rows] = [result.compact for result in results]
    return pa.array(values, type=pa.string())


def _bool(array: pa.Array) -> np.ndarray:
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def _mark(code: np.ndarray, condition: pa.Array, value: str) -> None:
    code[_unmarked(code, condition)] = value


def _unmarked(code: np.ndarray, condition: pa.Array) -> np.ndarray:
    return _bool(condition) & (code == "")
