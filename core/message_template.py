"""Message templates with `{column}` placeholders, filled per row into the text to send.

A placeholder is a column name in braces, such as `{name}` or `{First name}`. Whitespace just
inside the braces is ignored. A literal brace is written twice: `{{` sends `{` and `}}` sends `}`.
A lone brace is an error, because it is almost always a typo and costs two septets.

`render` returns the exact text to send. It normalises line endings (CR LF and CR become LF) in
the template and in each value separately, so the counted text is the sent text. A CR that ends
one piece followed by an LF that starts the next becomes two line breaks, counted and sent.
"""

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import InputError
from core.sms_parts import normalise_text

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

# Characters that make a cell count as blank. They are listed one by one because RE2's \s
# matches ASCII only, and the vectorised path and the row loop must agree.
BLANK_CHARS = " \t\n\r\f\v\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
_BLANK = re.compile(f"[{BLANK_CHARS}]*")

EMPTY_MESSAGE = "The message is empty, and SMS.to rejects an empty message. Write the text to send."


@dataclass(frozen=True)
class Template:
    """A parsed template: `literals[i]` comes before `names[i]`, and `literals[-1]` ends it.

    Literals have their escaped braces resolved and line endings normalised. `spans` are the
    (start, end) positions of each placeholder, braces included, in the source template.
    """

    source: str
    literals: list[str]
    names: list[str]
    spans: list[tuple[int, int]] = field(default_factory=list)


def parse_template(template: str) -> Template:
    """Split a template into literal text and placeholder names, or raise InputError."""
    literals: list[str] = []
    names: list[str] = []
    spans: list[tuple[int, int]] = []
    pending: list[str] = []
    position = 0

    for match in _TOKEN.finditer(template):
        pending.append(template[position : match.start()])
        position = match.end()
        token = match.group()

        if token in ("{{", "}}"):
            pending.append(token[0])
        elif match.group(1) is not None:
            names.append(_placeholder_name(template, match))
            spans.append(match.span())
            literals.append(normalise_text("".join(pending)))
            pending = []
        else:
            raise InputError(
                f"The template has a lone {token!r} at position {match.start()}. Write "
                f"{token * 2!r} for a literal brace, or close the placeholder as in {{name}}."
            )

    pending.append(template[position:])
    literals.append(normalise_text("".join(pending)))
    return Template(template, literals, names, spans)


def _placeholder_name(template: str, match: re.Match[str]) -> str:
    name = match.group(1).strip()
    if not name:
        raise InputError(
            f"The template has an empty placeholder {match.group()!r} at position "
            f"{match.start()}. Put a column name inside as in {{name}}, or write {{{{ for a brace."
        )
    return name


def placeholders(template: str) -> list[str]:
    """List the distinct placeholder names of a template in order of first use."""
    return list(dict.fromkeys(parse_template(template).names))


def cell_text(value: object) -> str | None:
    """Return a cell's value as text for a placeholder, or None when it is missing or blank.

    Missing means absent, None, NaN or pandas NA, and blank means only whitespace. Text is used as
    given, and any other value goes through str() (so 7 becomes "7").
    """
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ == "NAType":
        return None

    text = value if isinstance(value, str) else str(value)
    return None if _BLANK.fullmatch(text) else text


def missing_placeholders(template: Template | str, fields: Mapping[str, object]) -> list[str]:
    """List the distinct placeholders whose column is absent from `fields` or blank."""
    parsed = parse_template(template) if isinstance(template, str) else template
    names = dict.fromkeys(parsed.names)
    return [name for name in names if cell_text(fields.get(name)) is None]


def render(
    template: Template | str, fields: Mapping[str, object], *, allow_missing: bool = False
) -> str:
    """Fill the placeholders from `fields` and return the text to send, line endings normalised.

    Raises InputError naming the first placeholder without a value, unless `allow_missing` is
    set, which renders it as an empty string (for previews only).
    """
    parsed = parse_template(template) if isinstance(template, str) else template
    pieces = [parsed.literals[0]]

    for name, literal in zip(parsed.names, parsed.literals[1:]):
        value = cell_text(fields.get(name))
        if value is None and not allow_missing:
            raise InputError(
                f"No value for the placeholder {{{name}}}, because the row has no column {name!r} "
                "or the cell is blank. Fill it in or remove the placeholder from the message."
            )
        pieces.append(normalise_text(value or ""))
        pieces.append(literal)
    return "".join(pieces)
