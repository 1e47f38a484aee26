"""SMS parts and encoding per GSM 03.38 (3GPP TS 23.038) and the usual concatenation limits.

A message is GSM-7 when every character is in the default alphabet or its extension table,
otherwise the whole message is UCS-2 (strictly UTF-16, because astral characters such as emoji
take a surrogate pair). Units are septets in GSM-7 and UTF-16 code units in UCS-2:

| encoding | single part | per part when concatenated | characters counting two units |
| --- | --- | --- | --- |
| GSM-7 | 160 septets | 153 septets | extension table: `^ { } \\ [ ~ ] | €` and form feed |
| UCS-2 | 70 units | 67 units | astral characters (emoji and others above U+FFFF) |

A part boundary never splits an escape pair or a surrogate pair, so a concatenated part may
hold 152 septets or 66 units. SMS.to does not publish its limits, and the figures above are the
industry norm. The `parts` of SMS.to's delivery report stays authoritative for billing.

Line endings: `count_parts` counts the text exactly as given, so CR LF is two septets. The
preview and the sending path both pass the text through `normalise_text` first, which turns
CR LF and a lone CR into LF, so each line break costs one septet and the counted text is the
sent text.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67
# The concatenation header counts parts in one octet (3GPP TS 23.040), so no message has more.
MAX_PARTS = 255

# The default alphabet in code order 0x00-0x7F, without ESC (0x1B). 0x09 is the capital C WITH
# CEDILLA, as in the 3GPP table. Some phones show it as the small letter, which is not in the table.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnop"
    "qrstuvwxyzäöñüà"
)

# Characters sent as ESC (0x1B) followed by a second septet, so each costs two septets.
GSM7_EXTENSION = "\f^{}\\[~]|€"

_GSM7_CHARS = frozenset(GSM7_BASIC + GSM7_EXTENSION)
_NON_GSM7 = re.compile("[^" + re.escape(GSM7_BASIC + GSM7_EXTENSION) + "]")
_EXTENSION = re.compile("[" + re.escape(GSM7_EXTENSION) + "]")
_LINE_ENDING = re.compile(r"\r\n?")
# U+D800..U+DFFF are halves of UTF-16 surrogate pairs, never characters, so no SMS can carry one
# alone. Python decodes command-line arguments with "surrogateescape", so each byte that is not
# UTF-8 (from a terminal in another locale) becomes U+DC80..U+DCFF, which UTF-8 cannot encode.
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


@dataclass(frozen=True)
class Ucs2Character:
    """One occurrence of a character outside GSM-7, at `index` in the Python str (code points)."""

    char: str
    index: int

    @property
    def codepoint(self) -> str:
        return f"U+{ord(self.char):04X}"

    @property
    def name(self) -> str:
        return unicodedata.name(self.char, "UNNAMED CHARACTER")

    def to_dict(self) -> dict[str, object]:
        return {
            "char": self.char,
            "codepoint": self.codepoint,
            "name": self.name,
            "index": self.index,
        }


@dataclass(frozen=True)
class PartsInfo:
    """Encoding and part count of one message, with the characters that forced UCS-2."""

    encoding: str
    parts: int
    units: int
    units_per_part: list[int]
    ucs2_characters: list[Ucs2Character] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return "septet" if self.encoding == GSM7 else "UTF-16 code unit"

    @property
    def is_empty(self) -> bool:
        return self.units == 0


def normalise_text(text: str) -> str:
    """Turn CR LF and lone CR into LF, the one line ending both counted and sent."""
    return _LINE_ENDING.sub("\n", text)


def is_gsm7(text: str) -> bool:
    """Tell whether every character of the text is in the GSM-7 alphabet or extension table."""
    return _NON_GSM7.search(text) is None


def is_gsm7_char(char: str) -> bool:
    return char in _GSM7_CHARS


def find_ucs2_characters(text: str) -> list[Ucs2Character]:
    """List each character outside GSM-7 with its index, in text order."""
    return [Ucs2Character(match.group(), match.start()) for match in _NON_GSM7.finditer(text)]


def count_septets(text: str) -> int:
    """Count GSM-7 septets, assuming the text is GSM-7: extension characters count two."""
    return len(text) + len(_EXTENSION.findall(text))


def count_utf16_units(text: str) -> int:
    # A lone surrogate counts as the one code unit it is, so counting never raises on a str.
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def describe_too_many_parts(parts: int) -> str | None:
    """Return a sentence when a message needs more than MAX_PARTS parts, otherwise None."""
    if parts <= MAX_PARTS:
        return None
    return (
        f"The message needs {parts} parts, but a concatenated SMS has at most {MAX_PARTS}. "
        "Shorten the text."
    )


def find_lone_surrogate(text: str) -> int | None:
    """Return the index of the text's first lone surrogate, or None when it has none."""
    match = _SURROGATE.search(text)
    return None if match is None else match.start()


def describe_lone_surrogate(text: str) -> str | None:
    """Return a sentence naming the text's first lone surrogate, or None when it has none."""
    index = find_lone_surrogate(text)
    if index is None:
        return None

    code = ord(text[index])
    if code in _ESCAPED_BYTES:
        return (
            f"The message has the byte 0x{code - 0xDC00:02X} at index {index}, which is "
            "not valid UTF-8, so there is no character to send. Set the terminal to UTF-8 (for "
            "example LANG=C.UTF-8) and type the text again."
        )
    return (
        f"The message has U+{code:04X} at index {index}, half of a UTF-16 surrogate pair "
        "and not a character, so it cannot be sent. Remove it or type the character again."
    )


def count_parts(text: str) -> PartsInfo:
    """Count the parts, units and encoding of the text exactly as given.

    An empty text gives 0 parts and 0 units. SMS.to rejects it, and `core.preview` reports it
    as invalid. Call `normalise_text` first to count what the sending path sends.
    """
    ucs2_characters = find_ucs2_characters(text)

    if ucs2_characters:
        units = count_utf16_units(text)
        has_wide = units > len(text)
        encoding, single, multi = UCS2, UCS2_SINGLE, UCS2_MULTI
    else:
        units = count_septets(text)
        has_wide = units > len(text)
        encoding, single, multi = GSM7, GSM7_SINGLE, GSM7_MULTI

    units_per_part = _split_units(text, encoding, units, has_wide, single, multi)
    return PartsInfo(encoding, len(units_per_part), units, units_per_part, ucs2_characters)


def _split_units(
    text: str, encoding: str, units: int, has_wide: bool, single: int, multi: int
) -> list[int]:
    if units == 0:
        return []
    if units <= single:
        return [units]

    # Without two-unit characters no boundary can fall inside a pair, so arithmetic suffices.
    if not has_wide:
        full, rest = divmod(units, multi)
        return [multi] * full + ([rest] if rest else [])
    return _pack_greedily(text, encoding, multi)


def _pack_greedily(text: str, encoding: str, capacity: int) -> list[int]:
    # Fill each part until the next character no longer fits, so a two-unit character that would
    # straddle the boundary starts the next part and leaves one unit of the previous part unused.
    sizes: list[int] = []
    filled = 0
    for char in text:
        width = _char_width(char, encoding)
        if filled + width > capacity:
            sizes.append(filled)
            filled = 0
        filled += width
    sizes.append(filled)
    return sizes


def _char_width(char: str, encoding: str) -> int:
    if encoding == GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def parts_for_units(units: int, *, encoding: str) -> int:
    """Count parts from units alone, which is exact when the text has no two-unit character.

    With two-unit characters the result P is a lower bound. Each concatenated part except the
    last contains at least (limit - 1) units, so P is still exact when units <= P * limit - (P - 1),
    and otherwise the true count is P or P + 1.
    """
    if units == 0:
        return 0
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == GSM7 else (UCS2_SINGLE, UCS2_MULTI)
    if units <= single:
        return 1
    return -(-units // multi)
