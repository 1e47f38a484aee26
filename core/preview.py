"""Previews before sending: what a message costs, in how many parts, and why.

One message: `preview_message`. A personalised message over a recipient list: `preview_rows`
(see `core.preview_rows`). Templates: `render` and `placeholders` (see `core.message_template`).
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.errors import InputError
from core.gsm_rewrite import RewriteSuggestion, suggest_gsm_rewrite
from core.message_template import EMPTY_MESSAGE, Template, parse_template, placeholders, render
from core.sms_parts import (
    PartsInfo,
    count_parts,
    describe_lone_surrogate,
    describe_too_many_parts,
    find_ucs2_characters,
    normalise_text,
)

if TYPE_CHECKING:
    import pandas as pd

    from core.preview_rows import RowsPreview, preview_rows, preview_rows_loop

log = logging.getLogger(__name__)

# Row previews need pandas and pyarrow, which take about a second to import on 2 CPUs, so they
# load on first use and `smsto-console preview` stays quick.
_ROW_PREVIEW_NAMES = {"RowsPreview", "preview_rows", "preview_rows_loop"}


def __getattr__(name: str) -> object:
    if name in _ROW_PREVIEW_NAMES:
        from core import preview_rows

        return getattr(preview_rows, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CampaignRewrite",
    "MessagePreview",
    "RowsPreview",
    "Template",
    "parse_template",
    "placeholders",
    "preview_message",
    "preview_rows",
    "preview_rows_loop",
    "preview_template",
    "render",
    "suggest_campaign_rewrite",
]


@dataclass(frozen=True)
class MessagePreview:
    """One message as it will be sent, its parts and encoding, and what would make it cheaper.

    `placeholders` are the template's placeholder names, which `preview_template` counts as empty.
    """

    text: str
    info: PartsInfo
    problem: str | None
    rewrite: RewriteSuggestion | None
    placeholders: list[str] = field(default_factory=list)


def preview_message(text: str) -> MessagePreview:
    """Count the parts of a message exactly as the sending path sends it (line endings normalised).

    `problem` is a sentence when the message cannot be sent (it is empty, has a lone surrogate or
    needs more than MAX_PARTS parts), and `rewrite` a GSM-7 suggestion when characters force
    UCS-2 and have stand-ins.
    """
    sent = normalise_text(text)
    info = count_parts(sent)
    rewrite = suggest_gsm_rewrite(sent) if info.ucs2_characters else None
    return MessagePreview(sent, info, _problem_of(sent, info), rewrite)


def _problem_of(sent: str, info: PartsInfo) -> str | None:
    if info.is_empty:
        return EMPTY_MESSAGE
    return describe_lone_surrogate(sent) or describe_too_many_parts(info.parts)


def preview_template(template: str) -> MessagePreview:
    """Count a launch's message as the launch sends it, with each placeholder rendered empty.

    A doubled brace counts as the one brace that is sent. With placeholders, the count covers the
    fixed text only, and each recipient's values add to it. `info.ucs2_characters` are positions
    in the template, outside its placeholders. Raises InputError for a template that a launch
    rejects, such as one with a lone brace.
    """
    parsed = parse_template(template)
    names = list(dict.fromkeys(parsed.names))
    sent = render(parsed, {}, allow_missing=True)
    typed = [found for found in find_ucs2_characters(template) if not _inside(found.index, parsed.spans)]
    info = replace(count_parts(sent), ucs2_characters=typed)

    if not sent.strip() and not names:
        problem = EMPTY_MESSAGE
    else:
        problem = describe_lone_surrogate(template) or describe_too_many_parts(info.parts)
    rewrite = _template_rewrite(parsed, info) if typed else None
    return MessagePreview(sent, info, problem, rewrite, names)


def _inside(index: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= index < end for start, end in spans)


def _template_rewrite(parsed: Template, info: PartsInfo) -> RewriteSuggestion | None:
    suggestion = suggest_gsm_rewrite(parsed.source, protected=parsed.spans)
    if suggestion is None:
        return None

    # The suggestion counted the template's own text; count the rendered texts instead.
    try:
        after = count_parts(render(suggestion.text, {}, allow_missing=True))
    except InputError:
        # A stand-in made a brace (NFKC turns "｛" into "{"), so the rewrite is no valid template.
        return None
    return replace(suggestion, before=info, after=after)


@dataclass(frozen=True)
class CampaignRewrite:
    """A GSM-7 rewrite of a template and what it saves over all rows that can be sent."""

    suggestion: RewriteSuggestion
    parts_saved: int
    cost_saved: Decimal


def suggest_campaign_rewrite(
    template: str, rows: "pd.DataFrame | Iterable[Mapping[str, object]]", **options: Any
) -> CampaignRewrite | None:
    """Suggest a GSM-7 rewrite of the template's own text and total its saving over the rows.

    Placeholders are left alone, so values that force UCS-2 (a name such as "Ελένη") still do.
    `options` go to `preview_rows` (country_column, default_region, prices). Returns None when
    no character of the template has a stand-in. Nothing is applied. The suggestion's own
    `before` and `after` count the template text with its placeholders unfilled.
    """
    from core.preview_rows import preview_rows

    parsed = parse_template(template)
    suggestion = suggest_gsm_rewrite(template, protected=parsed.spans)
    if suggestion is None:
        return None

    # The rows are read twice, so an iterator is turned into a list first.
    table = rows if hasattr(rows, "columns") else list(rows)
    before = preview_rows(template, table, **options)
    after = preview_rows(suggestion.text, table, **options)
    return CampaignRewrite(suggestion, before.parts - after.parts, before.cost - after.cost)
