"""Previews before sending: what a message costs, in how many parts, and why.

One message: `preview_message`. A personalised message over a recipient list: `preview_rows`
(see `core.preview_rows`). Templates: `render` and `placeholders` (see `core.message_template`).
"""

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.gsm_rewrite import RewriteSuggestion, suggest_gsm_rewrite
from core.message_template import EMPTY_MESSAGE, Template, parse_template, placeholders, render
from core.sms_parts import PartsInfo, count_parts, normalise_text

if TYPE_CHECKING:
    from core.preview_rows import RowsPreview, preview_rows, preview_rows_loop

log = logging.getLogger(__name__)

# Row previews need pandas, which takes about a second to import, so they load on first use
# and `smsto-console preview` stays quick.
_ROW_PREVIEW_NAMES = {"RowsPreview", "preview_rows", "preview_rows_loop"}


def __getattr__(name: str) -> object:
    if name in _ROW_PREVIEW_NAMES:
        from core import preview_rows

        return getattr(preview_rows, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MessagePreview",
    "RowsPreview",
    "Template",
    "parse_template",
    "placeholders",
    "preview_message",
    "preview_rows",
    "preview_rows_loop",
    "render",
]


@dataclass(frozen=True)
class MessagePreview:
    """One message as it will be sent, its parts and encoding, and what would make it cheaper."""

    text: str
    info: PartsInfo
    problem: str | None
    rewrite: RewriteSuggestion | None


def preview_message(text: str) -> MessagePreview:
    """Count the parts of a message exactly as the sending path sends it (line endings normalised).

    `problem` is a sentence when SMS.to would reject the message (it is empty), and `rewrite` a
    GSM-7 suggestion when characters force UCS-2 and have stand-ins.
    """
    sent = normalise_text(text)
    info = count_parts(sent)
    problem = EMPTY_MESSAGE if info.is_empty else None
    rewrite = suggest_gsm_rewrite(sent) if info.ucs2_characters else None
    return MessagePreview(sent, info, problem, rewrite)
