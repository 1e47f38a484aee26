"""`smsto-console preview`: the encoding and parts of one message, before anything is sent."""

import argparse
import json
import logging

from core.errors import InputError
from core.preview import MessagePreview, preview_template

log = logging.getLogger(__name__)


def preview_command(args: argparse.Namespace) -> int:
    """Print the encoding, parts, units and UCS-2 characters of `args.message`.

    The message is read as the template that `launch` takes and counted as it is sent: "{{"
    sends "{", line endings become LF, and placeholders count as empty. Raises InputError for a
    message that a launch rejects (a lone brace, an empty text, more than 255 parts).
    """
    preview = preview_template(args.message)
    if preview.problem:
        raise InputError(preview.problem)

    if args.json:
        print(json.dumps(preview_as_json(preview), ensure_ascii=False))
    else:
        print(format_preview(preview))
    return 0


def preview_as_json(preview: MessagePreview) -> dict[str, object]:
    """Return the JSON shape of the command: encoding, parts, units, ucs2_characters, placeholders.

    Each item of ucs2_characters is {"char", "codepoint" ("U+2019"), "name", "index"}, where
    index is the position in the message as a Python string (code points, not UTF-16 units).
    placeholders lists the placeholder names, which the counts leave out.
    """
    info = preview.info
    return {
        "encoding": info.encoding,
        "parts": info.parts,
        "units": info.units,
        "ucs2_characters": [found.to_dict() for found in info.ucs2_characters],
        "placeholders": preview.placeholders,
    }


def format_preview(preview: MessagePreview) -> str:
    """Describe a message preview in a few lines for a terminal."""
    info = preview.info
    sizes = ", ".join(str(size) for size in info.units_per_part)
    lines = [
        f"Encoding: {info.encoding}",
        f"Parts: {info.parts} ({sizes} {info.unit}s)",
        f"Units: {info.units} {info.unit}s",
    ]
    if preview.placeholders:
        names = ", ".join(f"{{{name}}}" for name in preview.placeholders)
        lines.append(f"Placeholders: {names} (counted as empty; each recipient's values add to the count)")

    if info.ucs2_characters:
        lines.append("Characters that forced UCS-2:")
        for found in info.ucs2_characters:
            lines.append(f"  {found.char!r} {found.codepoint} {found.name} at index {found.index}")

    rewrite = preview.rewrite
    if rewrite is not None:
        saved = rewrite.parts_saved
        effect = f"saves {saved}" if saved >= 0 else f"adds {-saved}"
        lines.append(
            f"Suggested rewrite, not applied ({rewrite.after.encoding}, parts: "
            f"{rewrite.after.parts}, {effect} per message):"
        )
        lines.append(f"  {rewrite.text}")
    return "\n".join(lines)
