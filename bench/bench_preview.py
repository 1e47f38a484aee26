"""Benchmark the vectorised row preview against the plain per-row loop, in the same run.

Generates a recipient list (full name, city, an order code, country) and previews a personalised
message over it twice: `core.preview.preview_rows` (vectorised) and `preview_rows_loop` (the
baseline, one row at a time). Asserts that both give the same per-row parts, costs and totals,
then prints both times and their ratio.

    .venv/bin/python bench/bench_preview.py              # 1,000,000 rows
    .venv/bin/python bench/bench_preview.py --rows 100000 --repeat 5
"""

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.preview import RowsPreview, preview_rows, preview_rows_loop

log = logging.getLogger(__name__)

TEMPLATE = (
    "Hi {name}, your order {code} is ready at our {city} store. Your 20€ deposit is paid. "
    "Show this message at the desk. Reply STOP to opt out."
)
GOAL_SECONDS = 2.0

FIRST_NAMES = [
    "Anna",
    "Maria",
    "Eleni",
    "Andreas",
    "Giorgos",
    "Nikos",
    "Christos",
    "Sophia",
    "James",
    "Oliver",
    "Emma",
    "Lukas",
    "Zoë",
    "José",
    "François",
    "Björn",
    "Ελένη",
    "Γιώργος",
    "Μαρία",
    "Νίκος",
    "Δήμητρα",
    "Chloé",
    "Siobhán",
    "Łukasz",
    "Mohammed",
    "Wei",
    "Priya",
    "Aleksandr",
]
LAST_NAMES = [
    "Georgiou",
    "Papadopoulos",
    "Christodoulou",
    "Ioannou",
    "Smith",
    "Jones",
    "Müller",
    "Schmidt",
    "Rossi",
    "García",
    "Dubois",
    "Andersson",
    "O'Brien",
    "Παπαδόπουλος",
    "Κωνσταντίνου",
    "Nowak",
    "Kowalski",
    "Ivanova",
    "Hadjipetrou",
    "Constantinou-Vasiliadis",
    "Lee",
]
CITIES = [
    "Nicosia",
    "Limassol",
    "Larnaca",
    "Paphos",
    "Famagusta",
    "Athens",
    "Thessaloniki",
    "Λευκωσία",
    "Λεμεσός",
    "London",
    "Manchester",
    "Berlin",
    "München",
    "Paris",
    "New York",
    "Zürich",
    "Kraków",
    "Madrid",
    "A Coruña",
    "Köln",
    "Dublin",
    "Rome",
]
COUNTRIES = ["CY", "CY", "CY", "GR", "GR", "GB", "DE", "FR", "US", "PL", "ES", "IE", "it", "BR"]


def make_rows(count: int, seed: int) -> pd.DataFrame:
    """Generate `count` recipients; about 0.1% have a blank name or no country."""
    rng = np.random.default_rng(seed)
    first = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), count)]
    last = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), count)]
    names = first + " " + last
    names[rng.random(count) < 0.001] = ""

    countries = np.array(COUNTRIES, dtype=object)[rng.integers(0, len(COUNTRIES), count)]
    countries[rng.random(count) < 0.001] = None
    codes = [f"A{value:07d}" for value in rng.integers(0, 10**7, count)]

    return pd.DataFrame(
        {
            "name": pd.Series(names, dtype="str"),
            "city": pd.Series(
                np.array(CITIES, dtype=object)[rng.integers(0, len(CITIES), count)], dtype="str"
            ),
            "code": pd.Series(codes, dtype="str"),
            "country": pd.Series(countries, dtype="str"),
        }
    )


def timed(function, *args, **kwargs) -> tuple[float, RowsPreview]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def assert_same(fast: RowsPreview, loop: RowsPreview) -> None:
    """Fail unless both previews give the same rows, per-country table and totals."""
    for column in loop.rows.columns:
        assert fast.rows[column].equals(loop.rows[column]), f"column {column} differs"
    assert fast.by_country.equals(loop.by_country), "per-country totals differ"
    fast_totals = (fast.recipients, fast.parts, fast.cost, fast.skipped)
    loop_totals = (loop.recipients, loop.parts, loop.cost, loop.skipped)
    assert fast_totals == loop_totals, f"totals differ: {fast_totals} != {loop_totals}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="number of rows (default: 1000000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the fast path; the median is reported"
    )
    parser.add_argument("--seed", type=int, default=2024, help="random seed of the generated list")
    args = parser.parse_args()

    rows = make_rows(args.rows, args.seed)
    distinct = {column: rows[column].nunique() for column in ("name", "city", "code")}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"rows: {len(rows):,}; distinct values: {distinct}")

    fast_times = []
    for _ in range(args.repeat):
        seconds, fast = timed(preview_rows, TEMPLATE, rows)
        fast_times.append(seconds)
    fast_seconds = statistics.median(fast_times)
    loop_seconds, loop = timed(preview_rows_loop, TEMPLATE, rows)
    assert_same(fast, loop)

    ucs2_share = (fast.rows["encoding"] == "UCS-2").mean()
    print(
        f"UCS-2 rows: {ucs2_share:.0%}; rows per part count: {fast.rows['parts'].value_counts().to_dict()}"
    )
    print(f"fast path (median of {args.repeat}): {fast_seconds:.3f} s")
    print(f"per-row loop (baseline): {loop_seconds:.3f} s")
    print(f"ratio loop / fast: {loop_seconds / fast_seconds:.1f}x")
    print(
        f"identical rows and totals: yes ({fast.recipients:,} recipients, {fast.parts:,} parts, "
        f"{fast.cost} {fast.currency}, {fast.skipped:,} skipped)"
    )
    if args.rows >= 1_000_000:
        verdict = "met" if fast_seconds <= GOAL_SECONDS else "NOT met"
        print(f"goal: at most {GOAL_SECONDS:.0f} s for 1,000,000 rows: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
