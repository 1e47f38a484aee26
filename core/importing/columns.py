"""Finding the phone column: by its header name (in several languages) and by its content.

Each column is scored on a sample of its filled cells spread over the whole file, so a phone
column that is empty in its first thousands of rows is still seen. The content score adds the
share of sampled values that are numbers the operator can text, half the share of valid numbers
of any type and a quarter of the share that merely look like numbers. It is then weighed by the
share of rows the column fills. A header that names a phone adds a bonus larger than any content
score, as long as the column's values look like numbers: a named phone column beats a full column
of order numbers that happen to be valid mobiles. The caller can name the column instead.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InputError
from core.importing.cleaning import SCIENTIFIC_PATTERN, spaced_form
from core.importing.normalise import classify_column

log = logging.getLogger(__name__)

# Header names that mean "phone number", normalised by `_normalise` (lower case, no accents,
# letters and digits only).
_PHONE_NAMES = {
    "phone",
    "phones",
    "phonenumber",
    "phoneno",
    "telephone",
    "telephonenumber",
    "tel",
    "telno",
    "mobile",
    "mobilephone",
    "mobilenumber",
    "mobileno",
    "mobil",
    "mobilnummer",
    "mobiltelefon",
    "msisdn",
    "cell",
    "cellphone",
    "cellular",
    "cellnumber",
    "gsm",
    "sms",
    "whatsapp",
    "number",
    "numbers",
    "to",
    "recipient",
    "recipients",
    "destination",
    "contact",
    "telefono",
    "numerodetelefono",
    "movil",
    "celular",
    "numerodecelular",
    "telefone",
    "telemovel",
    "telefon",
    "telefonnummer",
    "handy",
    "handynummer",
    "rufnummer",
    "telefoon",
    "telefoonnummer",
    "mobiel",
    "portable",
    "numerodetelephone",
    "cellulare",
    "numero",
    "nummer",
    "numer",
    "numertelefonu",
    "komorka",
    "telefonszam",
    "puhelin",
    "puhelinnumero",
    "cep",
    "ceptelefonu",
    "τηλεφωνο",
    "κινητο",
    "αριθμος",
    "αριθμοςτηλεφωνου",
    "τηλ",
    "телефон",
    "мобильный",
    "номер",
    "هاتف",
    "جوال",
    "رقمالهاتف",
    "טלפון",
    "電話",
    "電話番号",
    "手机",
    "手机号",
    "携帯",
    "전화번호",
}
# Fragments that mark a phone header inside a longer name ("Mobile no.", "Telefon privat").
_PHONE_FRAGMENTS = (
    "phone",
    "mobil",
    "msisdn",
    "telef",
    "teleph",
    "handy",
    "cellul",
    "celular",
    "τηλεφ",
    "κινητ",
    "телеф",
)
# Six or more digits with at most the usual phone punctuation, or scientific notation.
_PHONE_LIKE = re.compile(r"^\+?[0-9\-./()]{6,}$|" + SCIENTIFIC_PATTERN)
_MIN_DIGITS = 6
_SAMPLE_SIZE = 1000
_MIN_LIKE_SHARE = 0.3
# The content score is at most 1 + 0.5 + 0.25 = 1.75, so both bonuses outweigh it.
_HEADER_BONUS = {"exact": 2.0, "partial": 1.8}


@dataclass(frozen=True)
class ColumnCandidate:
    """A column that may hold the phone numbers, with the evidence for it."""

    name: str
    header_match: str  # "exact", "partial" or ""
    ok_share: float  # sampled values accepted for sending
    valid_share: float  # sampled values that are valid numbers of any type
    like_share: float  # sampled values that look like numbers
    score: float
    filled: int = 0  # rows whose cell in this column is not empty (whitespace counts)


def _normalise(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(
        char for char in decomposed if char.isalnum() and not unicodedata.combining(char)
    )


def header_match(name: str) -> str:
    """Return "exact" or "partial" when `name` names a phone column, else ""."""
    normalised = _normalise(name)
    if normalised in _PHONE_NAMES:
        return "exact"
    if any(fragment in normalised for fragment in _PHONE_FRAGMENTS):
        return "partial"
    words = [_normalise(word) for word in re.split(r"\W+", name) if word]
    if any(word in ("tel", "nr", "no") for word in words) and any(
        word in _PHONE_NAMES for word in words
    ):
        return "partial"
    return ""


def is_phone_header(name: str) -> bool:
    """Tell whether a header cell is exactly a phone column's name, e.g. "Phone" or "Τηλέφωνο"."""
    return header_match(name) == "exact"


def is_phone_like(value: str) -> bool:
    """Tell whether a cell looks like a phone number (or one a spreadsheet wrote in E notation)."""
    text = spaced_form(value).replace(" ", "").replace("\n", "")
    digits = sum(char.isdigit() for char in text)
    return bool(_PHONE_LIKE.match(text)) and (digits >= _MIN_DIGITS or "E" in text.upper())


def resolve_column(columns: list[str], requested: str) -> str:
    """Return the requested column, matched exactly, then ignoring case, then as a 1-based number."""
    if requested in columns:
        return requested
    folded = {column.strip().casefold(): column for column in columns}
    if requested.strip().casefold() in folded:
        return folded[requested.strip().casefold()]
    if requested.strip().isdigit() and 1 <= int(requested) <= len(columns):
        return columns[int(requested) - 1]
    raise InputError(
        f"Column {requested!r} is not in the file; its columns are: {', '.join(columns)}. "
        "Name one of them, or give its number counting from 1."
    )


def rank_columns(cells: dict[str, pa.Array], default_region: str) -> list[ColumnCandidate]:
    """Score every column; return the likely phone columns, best first."""
    rows = max((len(column) for column in cells.values()), default=0)
    candidates = []
    for name, column in cells.items():
        candidate = _score_column(name, column, rows, default_region)
        if candidate is not None:
            candidates.append(candidate)
    return sorted(candidates, key=lambda candidate: -candidate.score)


def _score_column(
    name: str, column: pa.Array, rows: int, default_region: str
) -> ColumnCandidate | None:
    match = header_match(name)
    filled, sample = _spread_sample(column)
    like = _share(sum(is_phone_like(value) for value in sample.to_pylist()), len(sample))
    if not match and like < _MIN_LIKE_SHARE:
        return None

    ok = valid = 0.0
    if len(sample):
        verdicts = classify_column(sample, default_region)
        ok = float((verdicts.code == "ok").mean())
        valid = _share(sum(value is not None for value in verdicts.e164), len(sample))

    content = (ok + 0.5 * valid + 0.25 * like) * _share(filled, rows)
    # A phone header counts fully once 30% of the values look like numbers, so a column
    # named "Contact" that contains names cannot win over a column of numbers.
    bonus = _HEADER_BONUS.get(match, 0.0) * min(1.0, like / _MIN_LIKE_SHARE)
    return ColumnCandidate(
        name, match, ok, valid, like, score=round(content + bonus, 4), filled=filled
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _spread_sample(column: pa.Array) -> tuple[int, pa.Array]:
    """Return the count of non-empty cells and up to _SAMPLE_SIZE of them, spread evenly.

    Empty cells are found by length, which is cheap on a million rows. Cells of only
    whitespace are rare, so they count as filled but are dropped from the sample.
    """
    lengths = pc.fill_null(pc.utf8_length(column), 0).to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(lengths > 0)
    if len(positions) > _SAMPLE_SIZE:
        positions = positions[np.linspace(0, len(positions) - 1, _SAMPLE_SIZE).astype(np.int64)]
    sample = column.take(pa.array(positions, type=pa.int64()))
    sample = sample.filter(pc.not_equal(pc.utf8_trim_whitespace(sample), ""))
    return int((lengths > 0).sum()), sample


def choose_phone_column(
    cells: dict[str, pa.Array], default_region: str, requested: str | None, *, name: str
) -> tuple[str, list[ColumnCandidate]]:
    """Return the phone column (the requested one, else the best candidate) and the candidates."""
    candidates = rank_columns(cells, default_region)
    if requested:
        return resolve_column(list(cells), requested), candidates
    if not candidates:
        raise InputError(
            f"No column of {name!r} looks like phone numbers (columns: {', '.join(cells)}); "
            "name the phone column explicitly."
        )
    log.info("phone column %r chosen among %d candidates", candidates[0].name, len(candidates))
    return candidates[0].name, candidates


def rival_column_warnings(candidates: list[ColumnCandidate]) -> list[str]:
    """Warn when a column other than the chosen one (the first) has many more sendable numbers.

    The header bonus can choose a sparse named column over a full one, which is right for order
    numbers that happen to be valid mobiles, but the operator should see that choice.
    """
    if len(candidates) < 2:
        return []
    chosen, *others = candidates
    chosen_count = round(chosen.ok_share * chosen.filled)
    warnings = []
    for other in others:
        other_count = round(other.ok_share * other.filled)
        if other_count > 2 * chosen_count:
            warnings.append(
                f"Column {chosen.name!r} was read as the phone column, but column {other.name!r} "
                f"contains more numbers that can be texted (about {other_count:,} against "
                f"{chosen_count:,}); name the phone column explicitly if that is wrong."
            )
    return warnings
