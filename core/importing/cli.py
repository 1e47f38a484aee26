"""`smsto-console import`: check a recipient file, print every row's verdict, store it as a list.

The options are declared in `core/cli.py`.
"""

import argparse
import json
import logging
from pathlib import Path

from core.errors import InputError
from core.importing.importer import ImportResult, import_file
from core.importing.reasons import VERDICTS

log = logging.getLogger(__name__)

_SHOWN_REJECTS = 20
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def import_command(args: argparse.Namespace) -> int:
    """Run `smsto-console import`; InputError reaches the CLI's handler, which exits with 2."""
    from core.settings import get_settings

    settings = get_settings()
    path = Path(args.file)
    country = args.country or settings.default_country
    data = _read(path)

    engine = None if args.no_store else _engine(settings.database_url)
    suppressed = _suppressed(engine)
    result = import_file(
        data,
        filename=path.name,
        default_country=country,
        phone_column=args.phone_column,
        suppressed=suppressed,
        sheet=args.sheet,
    )
    list_id = None if engine is None else _store(engine, result, args.name or path.name)

    if args.json:
        print(json.dumps({**result.as_json(), "list_id": list_id}, ensure_ascii=False))
    else:
        print(summary(result, list_id))
    return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"Cannot read {str(path)!r}: {exc.strerror}; check the path and permissions."
        ) from None


def _engine(url: str):
    from core.db import init_db, make_engine

    engine = make_engine(url)
    init_db(engine)
    return engine


def _suppressed(engine) -> set[str]:
    if engine is None:
        return set()
    from core.db import session_scope
    from core.importing.store import suppressed_numbers_for

    with session_scope(engine) as session:
        return suppressed_numbers_for(session)


def _store(engine, result: ImportResult, name: str) -> int:
    from core.db import session_scope
    from core.importing.store import store_import

    with session_scope(engine) as session:
        return store_import(session, result=result, name=name).id


def summary(result: ImportResult, list_id: int | None) -> str:
    """Return the readable report the command prints without --json."""
    if result.file_format == "xlsx":
        source = f"xlsx, sheet {result.sheet!r}"
    else:
        source = f"{result.encoding}, {_DELIMITER_NAMES.get(result.delimiter, repr(result.delimiter))}-separated"
    header = "with a header row" if result.has_header else "without a header row"
    counts = ", ".join(
        f"{result.counts[verdict]} {verdict}" for verdict in VERDICTS if result.counts[verdict]
    )
    lines = [
        f"Read {result.filename} ({source}, {header}); phone column {result.phone_column!r}.",
        f"{len(result.rows)} rows: {counts or 'none'}.",
    ]
    lines += [f"Warning: {warning}" for warning in result.warnings]

    rejected = result.rejected
    if len(rejected):
        lines.append(
            f"Rows not sent (first {min(len(rejected), _SHOWN_REJECTS)} of {len(rejected)}):"
        )
        for row in rejected.head(_SHOWN_REJECTS).itertuples(index=False):
            lines.append(f"  line {row.line}: {row.raw_phone!r}: {row.reason}")
    lines.append("Not stored (--no-store)." if list_id is None else f"Stored as list {list_id}.")
    return "\n".join(lines)
