"""Finding the phone column: by its header name (in several languages) and by its content.

Each column is scored on a sample of its first values. The score adds the share of values that
are numbers the operator can text, half the share of valid numbers of any type, a quarter of the
share that merely look like numbers, and a bonus when the header names a phone. The caller can name the column instead.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass

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
_SAMPLE_SIZE = 500
_MIN_LIKE_SHARE = 0.3


@dataclass(frozen=True)
class ColumnCandidate:
    """A column that may hold the phone numbers, with the evidence for it."""

    name: str
    header_match: str  # "exact", "partial" or ""
    ok_share: float  # sampled values accepted for sending
    valid_share: float  # sampled values that are valid numbers of any type
    like_share: float  # sampled values that look like numbers
    score: float


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
    candidates = []
    for name, column in cells.items():
        sample = _sample(column)
        if len(sample) == 0:
            shares = (0.0, 0.0, 0.0)
        else:
            verdicts = classify_column(sample, default_region)
            ok = float((verdicts.code == "ok").mean())
            valid = float(sum(value is not None for value in verdicts.e164) / len(sample))
            like = sum(is_phone_like(value) for value in sample.to_pylist()) / len(sample)
            shares = (ok, valid, like)

        match = header_match(name)
        bonus = {"exact": 1.0, "partial": 0.5}.get(match, 0.0)
        score = shares[0] + 0.5 * shares[1] + 0.25 * shares[2] + bonus
        if match or shares[2] >= _MIN_LIKE_SHARE:
            candidates.append(ColumnCandidate(name, match, *shares, score=round(score, 4)))
    return sorted(candidates, key=lambda candidate: -candidate.score)


def _sample(column: pa.Array) -> pa.Array:
    head = column.slice(0, _SAMPLE_SIZE * 4)
    filled = head.filter(pc.not_equal(pc.utf8_trim_whitespace(pc.fill_null(head, "")), ""))
    return filled.slice(0, _SAMPLE_SIZE)


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
