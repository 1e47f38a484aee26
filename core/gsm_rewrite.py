"""A suggested GSM-7 rewrite of the characters that force a message into UCS-2.

The suggestion is only returned, never applied: the operator decides whether "’" may become "'".
Each character outside GSM-7 is replaced, in this order, by:

1. a typographic stand-in: curly quotes, dashes, ellipsis, bullets, primes, Unicode spaces
   and invisible characters (zero-width spaces, soft hyphens, which are removed);
2. for Greek letters, the capital without accents. GSM-7 has Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ, and the other
   capitals become the Latin capital of the same shape (Α to A), the usual way to write Greek
   in GSM-7;
3. the compatibility form (NFKC), when it is GSM-7: full-width letters, ligatures such as "ﬁ";
4. the letter without its accents (NFKD without combining marks), when that is GSM-7: "á" to "a".

Characters with no GSM-7 stand-in (emoji, Cyrillic, CJK) stay and are listed as unresolved. The
text then stays UCS-2, and the rewrite may save nothing or even add a part ("…" becomes "..."),
which a negative `parts_saved` shows.
"""

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.sms_parts import PartsInfo, Ucs2Character, count_parts, is_gsm7, is_gsm7_char

log = logging.getLogger(__name__)

_SPACES = "\t\u00a0\u1680\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"

TYPOGRAPHIC: dict[str, str] = {
    **{char: " " for char in _SPACES},
    **{char: "" for char in _INVISIBLE},
    **{char: "'" for char in "‘’‚‛′‵‹›`´"},
    **{char: '"' for char in "“”„‟″‶«»"},
    **{char: "-" for char in "‐‑‒–—―−⁃•‣◦∙●▪"},
    "…": "...",
    "·": ".",
    "⁄": "/",
    "×": "x",
    "÷": "/",
    "™": "TM",
    "©": "(C)",
    "®": "(R)",
    "\u000b": "\n",
    "\u2028": "\n",
    "\u2029": "\n",
}

# Greek capitals missing from GSM-7, written with the Latin capital of the same shape.
_GREEK_TO_LATIN = dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX"))


@dataclass(frozen=True)
class Replacement:
    """One character of the original text and its suggested GSM-7 stand-in ("" removes it)."""

    index: int
    original: str
    replacement: str


@dataclass(frozen=True)
class RewriteSuggestion:
    """A GSM-7 rewrite of a text, what it changes and the parts and cost it saves per message."""

    text: str
    replacements: list[Replacement]
    unresolved: list[Ucs2Character]
    before: PartsInfo
    after: PartsInfo
    cost_saved: Decimal | None

    @property
    def parts_saved(self) -> int:
        return self.before.parts - self.after.parts

    @property
    def makes_gsm7(self) -> bool:
        return not self.unresolved


def suggest_gsm_rewrite(
    text: str,
    *,
    price_per_part: Decimal | None = None,
    protected: Sequence[tuple[int, int]] = (),
) -> RewriteSuggestion | None:
    """Suggest GSM-7 stand-ins for the characters of `text` that force UCS-2.

    Returns None when nothing can be replaced (the text is GSM-7 already, or no character has a
    stand-in). `cost_saved` is parts saved x `price_per_part` for one message, or None without a
    price. Characters inside a `protected` span (start, end) are left alone, such as the column
    names of placeholders in a template.
    """
    pieces: list[str] = []
    replacements: list[Replacement] = []
    for index, char in enumerate(text):
        stand_in = None if _is_protected(index, protected) else gsm7_stand_in(char)
        if stand_in is not None and stand_in != char:
            replacements.append(Replacement(index, char, stand_in))
            char = stand_in
        pieces.append(char)

    if not replacements:
        return None

    rewritten = "".join(pieces)
    before = count_parts(text)
    after = count_parts(rewritten)
    cost_saved = None
    if price_per_part is not None:
        cost_saved = (before.parts - after.parts) * price_per_part
    return RewriteSuggestion(
        rewritten, replacements, after.ucs2_characters, before, after, cost_saved
    )


def gsm7_stand_in(char: str) -> str | None:
    """Return the GSM-7 text suggested for one character, or None when there is none.

    A GSM-7 character is returned unchanged.
    """
    if is_gsm7_char(char):
        return char
    if char in TYPOGRAPHIC:
        return TYPOGRAPHIC[char]
    if _is_greek(char):
        return _greek_stand_in(char)

    compatible = unicodedata.normalize("NFKC", char)
    if compatible != char and is_gsm7(compatible):
        return compatible
    return _strip_accents(char)


def _is_protected(index: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start <= index < end for start, end in spans)


def _is_greek(char: str) -> bool:
    return unicodedata.name(char, "").startswith("GREEK")


def _greek_stand_in(char: str) -> str | None:
    capital = _remove_marks(char.upper())
    if capital and is_gsm7(capital):
        return capital
    latin = "".join(_GREEK_TO_LATIN.get(letter, "") for letter in capital)
    return latin if len(latin) == len(capital) else None


def _strip_accents(char: str) -> str | None:
    base = _remove_marks(char)
    if base and base != char and is_gsm7(base):
        return base
    return None


def _remove_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(part for part in decomposed if not unicodedata.combining(part))
