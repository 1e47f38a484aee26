"""Hostile messages given to `smsto-console preview`, in process and as a real process."""

import json
import os
import subprocess
import sys

import pytest

from core.cli import main
from core.sms_parts import GSM7_EXTENSION
from tests.processes import ROOT


def preview_json(capsys, message: str) -> dict:
    code = main(["preview", "--message", message, "--json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def run_preview(message: bytes) -> subprocess.CompletedProcess:
    # Arguments as bytes reach Python the way a terminal in a non-UTF-8 locale passes them.
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"core.cli", b"preview", b"--message", message, b"--json"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
        check=False,
    )


# Defects.


def test_cli_preview_invalid_utf8_argument():
    completed = run_preview(b"caf\xe9")

    assert completed.returncode == 2
    assert b"Traceback" not in completed.stderr


def test_cli_preview_over_255_parts_flagged(capsys):
    code = main(["preview", "--message", "a" * 40_000, "--json"])
    captured = capsys.readouterr()

    assert code == 2
    assert "255" in captured.err


def test_cli_preview_literal_braces_as_sent(capsys):
    # Launch sends "Code {A1}", which is 5 septets for "Code ", 2 per brace and 2 for "A1".
    payload = preview_json(capsys, "Code {{A1}}")

    assert payload["units"] == 11


# Messages the preview handles.


@pytest.mark.parametrize("extension", list(GSM7_EXTENSION), ids=lambda char: f"U+{ord(char):04X}")
@pytest.mark.parametrize("position", [*range(148, 157), *range(300, 305)])
def test_cli_preview_extension_on_boundary(capsys, extension, position):
    # 305 characters and 306 septets fill two parts of 153 exactly. An escape pair that starts
    # at septet 153 (position 152) may not be split, so it moves and a third part begins.
    # The preview reads the message as a launch template, where "{{" sends one "{".
    typed = {"{": "{{", "}": "}}"}.get(extension, extension)
    message = "a" * position + typed + "b" * (304 - position)

    payload = preview_json(capsys, message)

    assert payload["encoding"] == "GSM-7"
    assert payload["units"] == 306
    assert payload["parts"] == (3 if position == 152 else 2)


LENGTHS = [
    ("one_char", "a", "GSM-7", 1, 1),
    ("six_full_parts", "a" * 918, "GSM-7", 918, 6),
    ("one_over_six_parts", "a" * 919, "GSM-7", 919, 7),
    ("ten_thousand", "a" * 10_000, "GSM-7", 10_000, 66),
    ("emoji_35", "😀" * 35, "UCS-2", 70, 1),
    ("emoji_36", "😀" * 36, "UCS-2", 72, 2),
    ("astral_math_letter", "𝐀" * 34 + "b", "UCS-2", 69, 1),
    ("combining_marks", "e\u0301" * 35, "UCS-2", 70, 1),
    ("combining_marks_over", "e\u0301" * 35 + "x", "UCS-2", 71, 2),
    ("rtl_hebrew", "שלום " * 14, "UCS-2", 70, 1),
    ("rtl_mark_in_gsm_text", "Hello\u200f", "UCS-2", 6, 1),
    ("crlf_counted_as_lf", "a" * 159 + "\r\n", "GSM-7", 160, 1),
]


@pytest.mark.parametrize(
    "message, encoding, units, parts",
    [case[1:] for case in LENGTHS],
    ids=[case[0] for case in LENGTHS],
)
def test_cli_preview_length_table(capsys, message, encoding, units, parts):
    payload = preview_json(capsys, message)

    assert payload["encoding"] == encoding
    assert payload["units"] == units
    assert payload["parts"] == parts


def test_cli_preview_names_invisible_rtl_mark(capsys):
    payload = preview_json(capsys, "Hello\u200f")

    assert [item["codepoint"] for item in payload["ucs2_characters"]] == ["U+200F"]
    assert payload["ucs2_characters"][0]["index"] == 5
