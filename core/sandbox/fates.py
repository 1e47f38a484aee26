"""Number validation and the fate of each recipient, as plain functions for a worker process.

Validating a million numbers costs seconds of CPU, so the sandbox runs `decide_chunk` in a
separate process and its event loop stays free to respond to requests. Everything here is a pure
function of its arguments, which are cheap to pickle.

A fate depends only on the fate key (from the seed) and the number, so two runs with the same
seed and mix give each number the same fate whatever the order or timing of the requests.
"""

import bisect
import hashlib
import os
import re
import signal
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers

from core.sandbox.ledger import CODE, NOT_BILLED_CODES, Batch, region_code, region_of

UNKNOWN_REGION = "ZZ"
NOT_BILLED = ("REJECTED", "UNSUBSCRIBED")
_DIGITS = re.compile(r"[^0-9]")
# Below this many numbers, one phonenumbers call each is faster than the vectorised classifier.
VECTOR_MIN = 64


def calling_code_region(phone: str) -> str:
    """Guess the region from the country calling code of a "+..." number, without validating it."""
    text = phone.strip()
    if not text.startswith("+"):
        return UNKNOWN_REGION

    # Calling codes are prefix-free, so the first length that matches is the code.
    for length in (1, 2, 3):
        digits = text[1 : 1 + length]
        if not digits.isdigit():
            return UNKNOWN_REGION
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits))
        if regions:
            return regions[0]
    return UNKNOWN_REGION


def validate_number(phone: str) -> tuple[int, str] | None:
    """Return the E.164 digits as an int and the region of a valid number, or None if invalid.

    NOTE: only international numbers ("+" and a calling code) can be valid. SMS.to states that it
    corrects prefixes, but not for which country it would read a national number.
    """
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None

    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return int(e164[1:]), phonenumbers.region_code_for_number(parsed) or UNKNOWN_REGION


def validate_numbers(phones: list[str]) -> list[tuple[int, str] | None]:
    """Validate many numbers like `validate_number`, with the importer's vectorised classifier.

    The classifier needs a default region, which changes nothing for a "+" number it reads with
    the calling code as written. Every other "+" number goes to `validate_number`: one it finds
    invalid (it is stricter about stray letters), reread as national, or read without a national
    prefix. Invalid numbers are rare in a send, so this costs little and the results agree.
    """
    if len(phones) < VECTOR_MIN:
        return [validate_number(phone) for phone in phones]

    # Imported here because pyarrow takes about a second to load, which only the worker needs.
    from core.importing.normalise import classify_column

    results: list[tuple[int, str] | None] = [None] * len(phones)
    positions = [i for i, phone in enumerate(phones) if phone.lstrip().startswith("+")]
    verdicts = classify_column([phones[i] for i in positions], "CY")
    for position, e164, region in zip(positions, verdicts.e164, verdicts.region, strict=True):
        if e164 is not None and e164[1:] == _DIGITS.sub("", phones[position]):
            results[position] = (int(e164[1:]), region or UNKNOWN_REGION)
        else:
            results[position] = validate_number(phones[position])
    return results


def cumulative(mix: dict[str, float]) -> list[tuple[float, str]]:
    """Turn an outcome mix into (upper threshold, status) pairs over [0, 1)."""
    # Sorted by status so that the thresholds do not depend on the order the mix was given in.
    total = sum(mix.values())
    thresholds: list[tuple[float, str]] = []
    running = 0.0
    for status in sorted(mix):
        running += mix[status] / total
        thresholds.append((running, status))
    return thresholds


def draw_fate(fate_key: bytes, digits: int, outcomes: list[tuple[float, str]]) -> str:
    """Pick the final status of a number from a keyed hash of its digits."""
    digest = hashlib.blake2b(str(digits).encode(), digest_size=8, key=fate_key).digest()
    point = int.from_bytes(digest, "big") / 2**64
    for threshold, status in outcomes:
        if point < threshold:
            return status
    return outcomes[-1][1]


@dataclass
class ChunkFates:
    """Validation results and fates of consecutive recipients, from `decide_chunk`."""

    # E.164 digits as array("q") bytes, -1 for an invalid number.
    e164: bytes
    # Region of each number, "" for an invalid one.
    regions: list[str]
    # Status code of each fate (see core.sandbox.ledger.STATUSES).
    fates: bytes
    # Positions (in the chunk) of the invalid numbers.
    invalid: list[int]
    # Parts billed per region, over the recipients whose fate is billed.
    billed_parts: dict[str, int]


def decide_chunk(
    phones: list[str], parts: list[int], outcomes: list[tuple[float, str]], fate_key: bytes
) -> ChunkFates:
    """Validate each number and draw its fate, REJECTED for an invalid number.

    Opt-outs are left to the caller, which has the send's bypass_optout.
    """
    e164 = array("q")
    regions: list[str] = []
    fates = bytearray(len(phones))
    invalid: list[int] = []
    billed: dict[str, int] = {}

    for index, valid in enumerate(validate_numbers(phones)):
        if valid is None:
            e164.append(-1)
            regions.append("")
            fates[index] = CODE["REJECTED"]
            invalid.append(index)
            continue

        digits, region = valid
        e164.append(digits)
        regions.append(region)
        fate = draw_fate(fate_key, digits, outcomes)
        fates[index] = CODE[fate]
        if fate not in NOT_BILLED:
            billed[region] = billed.get(region, 0) + parts[index]

    return ChunkFates(e164.tobytes(), regions, bytes(fates), invalid, billed)


def merge_fates(first: ChunkFates, second: ChunkFates, *, offset: int) -> ChunkFates:
    """Append the fates of `second`, which starts at recipient `offset`, to those of `first`."""
    billed = dict(first.billed_parts)
    for region, parts in second.billed_parts.items():
        billed[region] = billed.get(region, 0) + parts
    return ChunkFates(
        first.e164 + second.e164,
        first.regions + second.regions,
        first.fates + second.fates,
        first.invalid + [offset + position for position in second.invalid],
        billed,
    )


def store_fates(
    batch: Batch,
    decided: ChunkFates,
    start: int,
    optouts: frozenset[str],
    price_of: Callable[[str], Decimal],
) -> Decimal:
    """Copy a batch's fates (from recipient `start` of `decided`) into its arrays.

    Opted-out numbers become UNSUBSCRIBED unless the send set bypass_optout. Returns what they
    would have cost, which `decided.billed_parts` still counts.
    """
    end = start + batch.size
    raw_phones = batch.raw_phones or []
    batch.e164.frombytes(decided.e164[start * 8 : end * 8])
    batch.fates[:] = decided.fates[start:end]
    regions = decided.regions[start:end]
    codes = {region: region_code(region) for region in set(regions) if region}
    batch.regions[:] = bytes(codes.get(region, 0) for region in regions)
    low, high = bisect.bisect_left(decided.invalid, start), bisect.bisect_left(decided.invalid, end)
    for position in decided.invalid[low:high]:
        batch.odd_phones[position - start] = raw_phones[position - start]

    refund = Decimal(0)
    if optouts and not batch.bypass_optout:
        for index, digits in enumerate(batch.e164):
            if digits >= 0 and f"+{digits}" in optouts:
                if batch.fates[index] not in NOT_BILLED_CODES:
                    refund += batch.parts[index] * price_of(region_of(batch.regions[index]))
                batch.fates[index] = CODE["UNSUBSCRIBED"]

    batch.raw_phones = None
    batch.processed = True
    return refund


def start_worker() -> None:
    """Prepare a worker process: ignore Ctrl-C and SIGTERM, exit with the parent, load the classifier."""
    # Ctrl-C, or a SIGTERM sent to the whole process group, would break the pool in the middle of
    # a chunk. The parent shuts the worker down itself, after its last chunk.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    validate_numbers([f"+3579900{index:04d}" for index in range(VECTOR_MIN)])


def _exit_when_orphaned(parent: int) -> None:
    # A worker whose sandbox was killed would otherwise wait for work forever.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
