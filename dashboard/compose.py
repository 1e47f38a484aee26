"""Live checks of the New campaign page: encoding, parts, GSM-7 rewrite, sender ID and schedule.

Everything here is a plain function over core's results, so tests call it without Streamlit.
"""

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from core.errors import InputError
from core.gsm_rewrite import RewriteSuggestion, suggest_gsm_rewrite
from core.message_template import parse_template, render
from core.money import format_money
from core.preview import RowsPreview, preview_rows
from core.pricing import price_per_part
from core.sender_id import validate_sender_id
from core.sms_parts import PartsInfo, Ucs2Character, count_parts, find_ucs2_characters

log = logging.getLogger(__name__)

SAMPLE_ROWS = 20


@dataclass(frozen=True)
class MessageCheck:
    """The message as typed: its parts, the characters that force UCS-2, and a GSM-7 rewrite.

    `info` counts the text of `sample_line` when the message has placeholders (the first row
    that can be rendered), and the text itself otherwise. `ucs2_characters` are positions in the
    typed text, outside placeholders; `problem` is a sentence when the text cannot be sent.
    """

    placeholders: list[str]
    info: PartsInfo | None
    sample_line: int | None
    ucs2_characters: list[Ucs2Character]
    rewrite: RewriteSuggestion | None
    problem: str | None


def check_message(
    message: str,
    *,
    sample_fields: Mapping[str, object] | None,
    sample_line: int | None,
    region: str,
) -> MessageCheck:
    """Parse the template, count one rendered message and suggest a GSM-7 rewrite."""
    if not message.strip():
        return MessageCheck([], None, None, [], None, "Write the message to send.")
    try:
        template = parse_template(message)
    except InputError as exc:
        return MessageCheck([], None, None, [], None, str(exc))

    names = list(dict.fromkeys(template.names))
    personalised = bool(names) and sample_fields is not None
    # Without a list the placeholders count as empty, which gives the parts of the fixed text.
    info = count_parts(render(template, sample_fields or {}, allow_missing=True))

    spans = template.spans
    outside = [found for found in find_ucs2_characters(message) if not _inside(found.index, spans)]
    rewrite = None
    if outside:
        rewrite = suggest_gsm_rewrite(
            message, price_per_part=price_per_part(region), protected=spans
        )
    line = sample_line if personalised else None
    return MessageCheck(names, info, line, outside, rewrite, None)


def _inside(index: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= index < end for start, end in spans)


def highlight_html(message: str, characters: list[Ucs2Character]) -> str:
    """Return the message as escaped HTML with each character that forces UCS-2 marked."""
    marked = {found.index for found in characters}
    pieces = []
    for index, char in enumerate(message):
        escaped = html.escape(char)
        if index in marked:
            escaped = f'<mark title="position {index + 1}, U+{ord(char):04X}">{escaped}</mark>'
        pieces.append(escaped)
    text = "".join(pieces).replace("\n", "<br>")
    return f'<div style="white-space: pre-wrap; font-family: monospace">{text}</div>'


def ucs2_table(characters: list[Ucs2Character]) -> pd.DataFrame:
    """Build one row per distinct character that forces UCS-2, with its 1-based positions."""
    positions: dict[str, list[int]] = {}
    for found in characters:
        positions.setdefault(found.char, []).append(found.index + 1)
    rows = [
        {
            "character": char,
            "code point": f"U+{ord(char):04X}",
            "name": Ucs2Character(char, 0).name,
            "positions": ", ".join(map(str, places)),
        }
        for char, places in positions.items()
    ]
    return pd.DataFrame(rows, columns=["character", "code point", "name", "positions"])


# Words for the replacements that a table cell would show as blank.
_SHOWN_AS = {"": "(removed)", " ": "(space)", "\n": "(line break)"}


def rewrite_table(suggestion: RewriteSuggestion) -> pd.DataFrame:
    """Build one row per distinct replacement: the character, its code point and name, how many."""
    counts: dict[tuple[str, str], int] = {}
    for item in suggestion.replacements:
        pair = (item.original, item.replacement)
        counts[pair] = counts.get(pair, 0) + 1
    rows = [
        {
            "character": original if original.isprintable() and not original.isspace() else "",
            "code point": f"U+{ord(original):04X}",
            "name": Ucs2Character(original, 0).name,
            "replacement": _SHOWN_AS.get(replacement, replacement),
            "count": count,
        }
        for (original, replacement), count in counts.items()
    ]
    return pd.DataFrame(rows, columns=["character", "code point", "name", "replacement", "count"])


def preview_campaign(message: str, accepted: pd.DataFrame, *, region: str) -> RowsPreview:
    """Count the parts and cost of every row, priced by the country of its number."""
    return preview_rows(message, accepted, country_column="region", default_region=region)


def sample_preview(message: str, accepted: pd.DataFrame, *, region: str) -> pd.DataFrame:
    """Render the first rows with their parts, cost and problem, for the sample table."""
    head = accepted.head(SAMPLE_ROWS)
    preview = preview_rows(
        message, head, country_column="region", default_region=region, include_text=True
    )
    table = pd.DataFrame(
        {
            "line": head["line"],
            "text": preview.rows["text"],
            "encoding": preview.rows["encoding"],
            "parts": preview.rows["parts"],
            "cost": preview.rows["cost"].map(format_money),
            "problem": preview.rows["problem"].fillna(""),
        }
    )
    # A row with a problem is skipped at launch, so it costs nothing.
    table.loc[table["problem"] != "", "cost"] = ""
    return table.reset_index(drop=True)


def totals_table(preview: RowsPreview) -> pd.DataFrame:
    """Build the totals per country, exact costs as text, plus an "all" row."""
    table = preview.by_country.reset_index()
    table["cost"] = table["cost"].map(format_money)
    table["price_per_part"] = table["price_per_part"].map(format_money)
    total = {
        "region": "all",
        "recipients": preview.recipients,
        "parts": preview.parts,
        "cost": format_money(preview.cost),
        "price_per_part": "",
        "skipped": preview.skipped,
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def missing_value_lines(preview: RowsPreview, accepted: pd.DataFrame) -> pd.DataFrame:
    """List the lines whose placeholder values are blank, with the placeholders they lack."""
    flagged = preview.rows["missing"] != ""
    table = pd.DataFrame(
        {
            "line": accepted["line"][flagged],
            "missing placeholders": preview.rows["missing"][flagged],
        }
    )
    return table.reset_index(drop=True)


def count_noun(count: int, noun: str) -> str:
    """Return "1 row" or "3 rows"; `noun` is the singular, made plural by adding "s"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def check_sender_id(value: str) -> tuple[str | None, str | None]:
    """Return (the cleaned sender ID, None), or (None, the reason it is invalid).

    An empty value is valid and means the account's default sender ID.
    """
    if not value.strip():
        return None, None
    try:
        return validate_sender_id(value), None
    except InputError as exc:
        return None, str(exc)


def scheduled_utc(day: date, clock: time, zone: str, *, now: datetime | None = None) -> datetime:
    """Convert a local date, time and IANA zone to UTC, or raise InputError if it is not ahead."""
    try:
        local = datetime.combine(day, clock, tzinfo=ZoneInfo(zone))
    except ZoneInfoNotFoundError:
        raise InputError(f"Time zone {zone!r} is unknown; pick one from the list.") from None

    moment = local.astimezone(UTC)
    if moment <= (now or datetime.now(UTC)):
        raise InputError(
            f"The scheduled time {local:%Y-%m-%d %H:%M} ({zone}) is in the past; pick a later time."
        )
    return moment
