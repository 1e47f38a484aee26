"""`smsto-console launch` and `smsto-console status`."""

import argparse
import json
import logging
from pathlib import Path

from core.campaigns import launch_campaign, summarise_campaign
from core.db import init_db, make_engine, session_scope
from core.dispatch.states import CAMPAIGN_COMPLETED
from core.errors import InputError, NotFoundError
from core.launching import LaunchOptions, build_request
from core.pricing import CURRENCY
from core.settings import get_settings
from core.statuses import DISPLAY_ORDER, awaiting_final_report

log = logging.getLogger(__name__)


def launch_command(args: argparse.Namespace) -> int:
    """Import FILE, check the launch, then store the list and queue a campaign on its accepted rows."""
    from core.importing import import_file, store_import, suppressed_numbers_for

    settings = get_settings()
    engine = make_engine(settings.database_url)
    init_db(engine)
    path = Path(args.file)
    country = (args.country or settings.default_country).upper()

    data = _read_file(path)
    with session_scope(engine) as session:
        suppressed = suppressed_numbers_for(session)
    result = import_file(
        data, filename=path.name, default_country=country, phone_column=args.phone_column, suppressed=suppressed
    )
    _require_accepted_rows(result, country)

    options = LaunchOptions(
        message=args.message,
        name=args.name or path.name,
        sender_id=args.sender_id or settings.smsto_sender_id,
        launch_key=args.launch_key,
        default_country=country,
        skip_missing_values=args.skip_missing,
    )
    # Every check runs before anything is written, so a refused launch leaves no stored list.
    # The list is written in the campaign's transaction, so a repeated launch key stores none.
    request = build_request(result.rows, options=options)
    launched = launch_campaign(
        engine,
        request,
        store_list=lambda session: store_import(session, result=result, name=options.name).id,
    )

    rejected = int((result.rows["verdict"] != "ok").sum())
    # Accepted rows left out by --skip-missing, so that the printed counts add up to the file's rows.
    skipped = len(result.rows) - rejected - len(request.recipients)
    _print_launch(args, launched, rejected, skipped)
    return 0


# The wording of each verdict in the launch error, in the order the error lists them.
_VERDICT_PHRASES = {
    "suppressed": "suppressed (opted out)",
    "invalid": "invalid",
    "duplicate": "repeated from an earlier row",
    "missing_value": "missing a placeholder value",
}


def _require_accepted_rows(result, country: str) -> None:
    counts = result.rows["verdict"].value_counts().to_dict()
    if counts.get("ok", 0) > 0:
        return

    total = len(result.rows)
    if total == 0:
        raise InputError(f"The file {result.filename!r} has no data rows; add recipients and launch again.")

    described = _describe_verdicts(counts, total)
    raise InputError(f"No row of {result.filename!r} can be sent: {described}. {_advice(result, counts, country)}")


def _advice(result, counts: dict[str, int], country: str) -> str:
    # Only invalid numbers hint at a wrong column or country, because opted-out numbers are valid.
    if counts.get("invalid", 0):
        return (
            f"Check --phone-column ({result.phone_column!r} was read) and --country (default {country}); "
            f"the file's columns: {', '.join(result.columns)}."
        )
    if counts.get("suppressed", 0):
        return "Opted-out numbers are never sent; launch a file with other recipients."
    return "Correct the file and launch again."


def _describe_verdicts(counts: dict[str, int], total: int) -> str:
    """Name the row count of each verdict, e.g. "all 3 numbers are suppressed (opted out)"."""
    present = [(verdict, counts[verdict]) for verdict in _VERDICT_PHRASES if counts.get(verdict)]
    if len(present) == 1:
        phrase = _VERDICT_PHRASES[present[0][0]]
        return f"its only number is {phrase}" if total == 1 else f"all {total} numbers are {phrase}"

    described = [f"{count} {'is' if count == 1 else 'are'} {_VERDICT_PHRASES[verdict]}" for verdict, count in present]
    return f"of its {total} numbers, " + ", ".join(described)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read {str(path)!r}: {exc.strerror}; check the path and permissions.") from None


def _print_launch(args: argparse.Namespace, launched, rejected: int, skipped: int) -> None:
    campaign = launched.campaign
    if args.json:
        counts = {"recipients": campaign.recipient_count, "rejected": rejected, "skipped": skipped}
        print(json.dumps({"campaign_id": campaign.id, **counts}))
        return

    verb = "queued" if launched.created else "was already launched with this launch key"
    line = f"Campaign {campaign.id} {verb}: {campaign.recipient_count} recipients, {rejected} rows rejected"
    if skipped:
        line += f", {skipped} rows skipped for a missing placeholder value"
    print(line + ".")


def status_command(args: argparse.Namespace) -> int:
    """Print a campaign's counts per status, cost and unmatched reports."""
    engine = make_engine(get_settings().database_url)
    init_db(engine)
    with session_scope(engine) as session:
        summary = summarise_campaign(session, campaign_id=args.campaign_id)
    if summary is None:
        database = engine.url.render_as_string(hide_password=True)
        raise NotFoundError(
            f"No campaign with id {args.campaign_id} in {database}. `smsto-console status` takes the id that "
            "`launch` printed, and reads the database that DATABASE_URL names (a relative SQLite path "
            "starts from the current folder)."
        )

    payload = summary.as_json()
    payload["status"] = summary.status
    payload["by_status"] = _with_every_status(summary.by_status)
    payload["currency"] = CURRENCY
    payload["awaiting_final_report"] = awaiting_final_report(summary.by_status)
    if args.json:
        print(json.dumps(payload))
        return 0

    state = summary.status
    if state == CAMPAIGN_COMPLETED and payload["awaiting_final_report"]:
        state = f"handed over to SMS.to, {payload['awaiting_final_report']} awaiting a final report"
    print(f"Campaign {summary.campaign_id} ({state}): {summary.recipients} recipients, cost {payload['cost']} {CURRENCY}")
    for status, count in payload["by_status"].items():
        print(f"  {status:<13} {count}")
    print(f"  unmatched reports: {summary.unmatched_reports}")
    return 0


def _with_every_status(by_status: dict[str, int]) -> dict[str, int]:
    # Zero counts are printed too, so scripts can read any key without a default.
    ordered = {status: by_status.get(status, 0) for status in DISPLAY_ORDER}
    ordered.update({status: count for status, count in by_status.items() if status not in ordered})
    return ordered
